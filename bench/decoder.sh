#!/usr/bin/env bash
# What validating an event costs on top of parsing it (docs/benchmarks.md, "Decoder").
#
#   bench/decoder.sh                 200 000 events, best of 5 passes
#   N=1000000 REPEATS=3 bench/decoder.sh
#   BUILD=build bench/decoder.sh     use build/ as it is, without rebuilding
#
# Generates N events (`tally generate --seed 1 --events N`) into a temporary
# file and runs bench/bench_decode on it: bare json_loadb, json_loadb with the
# flags the decoder used when it parsed with jansson, tally_event_decode, and
# tally_json_parse (the reader under the decoder now), in one process,
# alternating. Target: decoding (validation included) costs at most +50% over
# the bare parse of the reader it uses.
# No servers needed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-200000}
REPEATS=${REPEATS:-5}
bench_command N REPEATS BUILD
bench_build
bench_tmpdir
bench_header "decoder: tally_event_decode vs json_loadb"

file="$BENCH_TMP/events.ndjson"
"$BUILD/cli/tally" generate --seed 1 --events "$N" >"$file"
echo "input:    tally generate --seed 1 --events $N  ->  $(wc -l <"$file") lines, $(du -m "$file" | cut -f1) MB"
echo "run:      $BUILD/bench/bench_decode FILE $REPEATS"
echo
out=$("$BUILD/bench/bench_decode" "$file" "$REPEATS")
echo "$out"
echo "load:     $(bench_loadavg) at end"
echo

rate() { sed -n "s/^($1) .* \([0-9][0-9]*\) events\/s.*/\1/p" <<<"$out"; }
a=$(rate a)
b=$(rate b)
c=$(rate c)
d=$(rate d)
if [ -z "$a" ] || [ -z "$b" ] || [ -z "$c" ] || [ -z "$d" ]; then
  bench_die "could not read bench_decode's output"
fi
awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" 'BEGIN {
  over_d = (d / c - 1) * 100
  printf "decode time over its bare parse (tally_json): %+.1f%%\n", over_d
  printf "decode rate / jansson parse rate (flags 0):   %.2f\n", c / a
  printf "decode rate / jansson parse rate (old flags): %.2f\n", c / b
  if (over_d <= 50) print "target (<= +50% over the bare parse): MET"
  else printf "target (<= +50%% over the bare parse): NOT MET, by %.1f points\n", over_d - 50
}'
