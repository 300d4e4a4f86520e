#!/usr/bin/env bash
# The house rules that the compiler does not check, held by a test:
#
#   1. Calls go only downward. A file of a layer includes its own layer's
#      headers and the one public header of a layer on a lower floor, nothing
#      else of the tree. Floors, bottom up (docs/architecture.md, "Layers"):
#        0 common · 1 stream, relational, documents · 2 ingest, analytics, alerts, gen · 3 cli
#      Layers on one floor never include each other.
#   2. With a build directory: the archives export no symbol outside the
#      tally_ namespace (internal ones are static or tally__-prefixed), and
#      tally-aggregate, tally-api and tally-alerts link neither the ingest daemon
#      nor the traffic generator.
#
#   tests/scripts/check_layers.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

declare -A FLOOR=([common]=0 [stream]=1 [relational]=1 [documents]=1
                  [ingest]=2 [analytics]=2 [alerts]=2 [gen]=2 [cli]=3)
declare -A PUBLIC=([common]=tally_common.h [stream]=tally_stream.h [relational]=tally_pg.h
                   [documents]=tally_docs.h [ingest]=tally_ingest.h
                   [analytics]=tally_analytics.h [alerts]=tally_alerts.h [gen]=tally_gen.h
                   [cli]=tally_cli.h)
# header file name -> the layer it belongs to
declare -A OWNER=()
for layer in "${!FLOOR[@]}"; do
  for h in "$layer"/*.h; do OWNER[$(basename "$h")]=$layer; done
done

failures=0 checks=0
fail() { echo "check_layers: $*" >&2; failures=$((failures + 1)); }

for layer in "${!FLOOR[@]}"; do
  [[ -f "$layer/${PUBLIC[$layer]}" ]] || fail "$layer/ has no public header ${PUBLIC[$layer]}"
  while IFS=: read -r file _ header; do
    checks=$((checks + 1))
    owner=${OWNER[$header]:-}
    [[ -z $owner || $owner == "$layer" ]] && continue  # not ours (generated, system) or its own
    if [[ $header != "${PUBLIC[$owner]}" ]]; then
      fail "$file includes $header, an internal header of $owner/ (use ${PUBLIC[$owner]})"
    elif (( FLOOR[$owner] >= FLOOR[$layer] )); then
      fail "$file includes $header: $owner/ is not below $layer/"
    fi
  done < <(grep -Ho '^#include "[^"]*"' "$layer"/*.c "$layer"/*.h |
           sed 's/#include "\(.*\)"$/\1/' | sed 's/:/::/')
done

if [[ $# -ge 1 ]]; then
  BUILD=$1
  for lib in "$BUILD"/{common,stream,relational,documents,ingest,analytics,alerts,gen,cli}/libtally_*.a; do
    checks=$((checks + 1))
    # (AddressSanitizer adds an __odr_asan.<name> twin of each global: not ours to name.)
    bad=$(nm -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' | grep -v -e '^tally_' -e '^__odr_asan\.' || true)
    [[ -z $bad ]] || fail "$(basename "$lib") exports symbols outside tally_: $(echo $bad)"
  done
  for bin in analytics/tally-aggregate analytics/tally-api alerts/tally-alerts; do
    checks=$((checks + 1))
    bad=$(nm "$BUILD/$bin" | awk '{ print $NF }' | grep -E '^tally_(ingester|gen)_' | head -3 || true)
    [[ -z $bad ]] || fail "$bin links the ingest daemon or the generator: $(echo $bad)"
  done
fi

echo "check_layers: $checks checks"
if (( failures )); then
  echo "0 passed, $failures failed"
  exit 1
fi
echo "$checks passed, 0 failed"
