#!/usr/bin/env bash
# scripts/lib/output.sh: matching a command's output under `set -o pipefail`.
# The stand-in prints the line looked for, then more lines a moment later --
# as `ferretdb --version` does -- which is what made `cmd | grep -q` fail now
# and then (grep gone, the next write dies of SIGPIPE, pipefail reports it).
#
#   tests/scripts/test_output.sh      (exit 0 when every case passed)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib/output.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cat >"$WORK/version" <<'SH'
#!/usr/bin/env bash
echo "version: v1.24.2-tally.1"
sleep 0.05
echo "commit: unknown"
echo "branch: unknown"
SH
cat >"$WORK/fails" <<'SH'
#!/usr/bin/env bash
echo "version: v1.24.2-tally.1"
exit 3
SH
chmod +x "$WORK/version" "$WORK/fails"

passed=0 failed=0
check() { # NAME WANT(0|1) COMMAND…
  local name=$1 want=$2 got=0
  shift 2
  "$@" || got=1
  if [ "$got" = "$want" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1))
    echo "FAIL $name: status $got, want $want" >&2
  fi
}

for i in 1 2 3 4 5; do
  check "whole line, command writing after it ($i)" 0 \
    output_has_line "version: v1.24.2-tally.1" "$WORK/version"
done
check "another version" 1 output_has_line "version: v1.24.2" "$WORK/version"
check "part of a line is not the line" 1 output_has_line "version: v1.24" "$WORK/version"
check "exit status ignored" 0 output_has_line "version: v1.24.2-tally.1" "$WORK/fails"
check "missing command" 1 output_has_line "x" "$WORK/missing"
check "contains" 0 output_contains "tally.1" "$WORK/version"
check "does not contain" 1 output_contains "tally.2" "$WORK/version"
check "stdin passed through" 0 output_contains "b c" tr '\0' ' ' < <(printf 'a\0b\0c')

# What output_has_line replaces fails here, the test's premise: under
# pipefail, `version | grep -q` reports the SIGPIPE of the stand-in.
old_way() { "$WORK/version" 2>/dev/null | grep -qxF "version: v1.24.2-tally.1"; }
check "the old pipe fails (premise)" 1 old_way

echo "test_output: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
