#!/usr/bin/env bash
# `tally produce` against kcat, publishing the same file (docs/benchmarks.md, "Producer").
#
#   bench/produce.sh                  1 000 000 events (~900 MB file), 2 repetitions
#   N=200000 REPS=4 bench/produce.sh
#   BUILD=build bench/produce.sh      use build/ as it is, without rebuilding
#
# Needs the local stack (scripts/stack up). Generates N events into a file under
# $TMPDIR (or /tmp), then, for each repetition, creates two fresh topics of 6
# partitions and publishes the whole file to one with `tally produce` and to
# the other with `kcat -P`, alternating which goes first. What each does:
#   tally produce  decodes and validates every line against the contract, keys
#                  it by subject, idempotent producer, lz4, linger 20 ms;
#   kcat -P -l     sends each line as it is, no key, no validation, with the
#                  same producer settings (idempotence, lz4, linger, batches).
# Both wait for every delivery report before exiting; the time is the process's
# wall time (/usr/bin/time), the count is read back from the topic's offsets.
# Target: tally's rate >= kcat's. Topics and file are deleted at the end.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-1000000}
REPS=${REPS:-2}
bench_command N REPS BUILD
bench_build
bench_stack_env
bench_tmpdir
command -v kcat >/dev/null || bench_die "kcat is missing (apt-get install kcat)"
bench_need_time
bench_header "producer: tally produce vs kcat -P"

file="$BENCH_TMP/events.ndjson"
t0=$(now_s)
"$BUILD/cli/tally" generate --seed 1 --events "$N" >"$file"
lines=$(wc -l <"$file")
echo "input:    tally generate --seed 1 --events $N  ->  $lines lines, $(du -m "$file" | cut -f1) MB" \
  "(generated in $(awk -v a="$t0" -v b="$(now_s)" 'BEGIN {printf "%.1f", b - a}') s)"

KCAT_OPTS=(-X enable.idempotence=true -X linger.ms=20 -X batch.num.messages=10000
  -X batch.size=4000000 -X queue.buffering.max.messages=500000
  -X queue.buffering.max.kbytes=1048576 -X message.max.bytes=8388608 -z lz4)
echo "tally:    $BUILD/cli/tally produce --quiet -b $TALLY_KAFKA_BROKERS -t TOPIC FILE"
echo "kcat:     kcat -P -b $TALLY_KAFKA_BROKERS -t TOPIC ${KCAT_OPTS[*]} -l FILE"
echo "topics:   fresh per repetition, 6 partitions, max.message.bytes=8388608"
echo

# Messages in a topic: the sum of its partitions' end offsets.
topic_count() {
  java -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$ROOT/.stack/kafka/tools-log4j.properties" \
    -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.GetOffsetShell \
    --bootstrap-server "$TALLY_KAFKA_BROKERS" --topic "$1" --time -1 2>/dev/null |
    awk -F: '{s += $NF} END {print s + 0}'
}

# run NAME TOPIC CMD...: time CMD; prints one result line, appends to $BENCH_TMP/results.
run() {
  local name=$1 topic=$2 tfile="$BENCH_TMP/time.$1" rc=0
  shift 2
  local l0
  l0=$(bench_loadavg | cut -d' ' -f1)
  /usr/bin/time -f '%e %U %S %M' -o "$tfile" "$@" >"$BENCH_TMP/out.$name" 2>&1 || rc=$?
  local got
  got=$(topic_count "$topic")
  read -r wall user sys rss < <(tail -n1 "$tfile") || true
  awk -v n="$name" -v r="$rep" -v lines="$lines" -v got="$got" -v w="$wall" -v u="$user" \
    -v s="$sys" -v m="$rss" -v l0="$l0" -v rc="$rc" 'BEGIN {
      printf "rep %d  %-6s %9.0f events/s  %7.2f s wall  %6.2f s CPU  %4.0f MB RSS  %d/%d in topic  load %s  exit %d\n",
        r, n, lines / w, w, u + s, m / 1024, got, lines, l0, rc
    }' | tee -a "$BENCH_TMP/results"
  if [ "$rc" != 0 ] || [ "$got" != "$lines" ]; then
    sed 's/^/    /' "$BENCH_TMP/out.$name" | tail -n 5
  fi
}

for rep in $(seq 1 "$REPS"); do
  ta="bench.produce.tally.$$.$rep"
  tb="bench.produce.kcat.$$.$rep"
  BENCH_CLEANUP+=("topic_delete $ta" "topic_delete $tb")
  topic_create "$ta" 6
  topic_create "$tb" 6
  sleep 1
  do_tally() { run tally "$ta" "$BUILD/cli/tally" produce --quiet -b "$TALLY_KAFKA_BROKERS" -t "$ta" "$file"; }
  do_kcat() { run kcat "$tb" kcat -P -b "$TALLY_KAFKA_BROKERS" -t "$tb" "${KCAT_OPTS[@]}" -l "$file"; }
  if [ $((rep % 2)) = 1 ]; then
    do_tally
    do_kcat
  else
    do_kcat
    do_tally
  fi
  topic_delete "$ta"
  topic_delete "$tb"
done
echo "load:     $(bench_loadavg) at end"
echo

awk '{
  rate[$3] += $4; n[$3]++
  if ($3 == "tally") t[$2] = $4; else k[$2] = $4
} END {
  for (r in t) if (r in k) printf "rep %d  tally/kcat = %.2f\n", r, t[r] / k[r]
  mt = rate["tally"] / n["tally"]; mk = rate["kcat"] / n["kcat"]
  printf "mean     tally %.0f events/s, kcat %.0f events/s, ratio %.2f\n", mt, mk, mt / mk
  printf "target (tally >= kcat): %s\n", (mt >= mk) ? "MET" : "NOT MET"
}' "$BENCH_TMP/results"
