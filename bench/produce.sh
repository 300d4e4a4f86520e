#!/usr/bin/env bash
# Three ways of getting the same file into the events topic, side by side:
# kcat -P, `tally produce` and tally-api's POST /v1/events (docs/benchmarks.md,
# "Producer" and "Ingestion: kcat, tally produce and POST /v1/events").
#
#   bench/produce.sh                  1 000 000 events (~900 MB file), 2 repetitions
#   N=200000 REPS=4 bench/produce.sh
#   BUILD=build bench/produce.sh      use build/ as it is, without rebuilding
#   THREADS=1 bench/produce.sh        tally produce --threads 1 (default: its own, = cores)
#   HTTP=0 bench/produce.sh           leave out the HTTP side
#   BATCH=500 CONNECTIONS=8 bench/produce.sh   the HTTP client's batch size and connections
#                                     (8 by default: a gateway posts from many
#                                     requests at once; each connection waits
#                                     for Kafka's acknowledgement of its batch)
#
# Needs the local stack (scripts/stack up). Generates N events into a file under
# $TMPDIR (or /tmp), then, for each repetition, creates fresh topics of 6
# partitions and publishes the whole file to one with `tally produce`, to
# another with `kcat -P` and (HTTP) through tally-api to a third, in the order
# tally-kcat-http on odd repetitions and http-kcat-tally on even ones. What
# each does:
#   tally produce  decodes and validates every line against the contract on
#                  THREADS worker threads, keys it by subject, publishes in
#                  input order, idempotent producer, lz4, linger 20 ms;
#   kcat -P -l     sends each line as it is, no key, no validation, with the
#                  same producer settings (idempotence, lz4, linger, batches);
#   http           bench/bench_http_events: batches of BATCH lines as one JSON
#                  array each (application/cloudevents-batch+json), admin key,
#                  CONNECTIONS keep-alive connections, each sending its next
#                  batch when the last is answered; tally-api (started here,
#                  as bench_start_api does, publishing to the repetition's
#                  topic) validates every event and answers 202 once Kafka
#                  acknowledged the batch (its own producer: idempotent,
#                  linger 1 ms).
# Each waits for every acknowledgement before exiting; the time is the
# process's wall time (/usr/bin/time), the count is read back from the
# topic's offsets. The HTTP side is left out (and said so) while
# POST /v1/events does not answer.
# Targets: tally's rate >= kcat's; HTTP >= 0.5 x kcat. Topics and file are
# deleted at the end.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-1000000}
REPS=${REPS:-2}
HTTP=${HTTP:-1}
BATCH=${BATCH:-500}
CONNECTIONS=${CONNECTIONS:-8}
bench_command N REPS THREADS HTTP BATCH CONNECTIONS BUILD
bench_build
bench_stack_env
bench_tmpdir
command -v kcat >/dev/null || bench_die "kcat is missing (apt-get install kcat)"
bench_need_time
bench_header "producer: kcat -P vs tally produce vs POST /v1/events"

file="$BENCH_TMP/events.ndjson"
t0=$(now_s)
"$BUILD/cli/tally" generate --seed 1 --events "$N" >"$file"
lines=$(wc -l <"$file")
echo "input:    tally generate --seed 1 --events $N  ->  $lines lines, $(du -m "$file" | cut -f1) MB" \
  "(generated in $(awk -v a="$t0" -v b="$(now_s)" 'BEGIN {printf "%.1f", b - a}') s)"

KCAT_OPTS=(-X enable.idempotence=true -X linger.ms=20 -X batch.num.messages=10000
  -X batch.size=4000000 -X queue.buffering.max.messages=500000
  -X queue.buffering.max.kbytes=1048576 -X message.max.bytes=8388608 -z lz4)
TALLY_OPTS=(--quiet)
[ -z "${THREADS:-}" ] || TALLY_OPTS+=(--threads "$THREADS")
echo "tally:    $BUILD/cli/tally produce ${TALLY_OPTS[*]} -b $TALLY_KAFKA_BROKERS -t TOPIC FILE" \
  "(threads: ${THREADS:-default = nproc = $(nproc)})"
echo "kcat:     kcat -P -b $TALLY_KAFKA_BROKERS -t TOPIC ${KCAT_OPTS[*]} -l FILE"

# The HTTP side: is POST /v1/events there? An empty batch is no event; only a
# server without the route (404, 405, 501) leaves the side out.
http_ready() {
  local code
  code=$(curl -s -o "$BENCH_TMP/probe" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $TALLY_ADMIN_KEY" \
    -H 'Content-Type: application/cloudevents-batch+json' --data-binary '[]' \
    "http://127.0.0.1:$BENCH_API_PORT/v1/events" || true)
  case "$code" in
    404 | 405 | 501 | 000) echo "http:     left out: POST /v1/events answers $code ($(head -c 200 "$BENCH_TMP/probe"))" >&2; return 1 ;;
  esac
}
if [ "$HTTP" = 1 ]; then
  [ -x "$BUILD/bench/bench_http_events" ] || bench_die "$BUILD/bench/bench_http_events is missing"
  [ -n "${TALLY_ADMIN_KEY:-}" ] || bench_die "TALLY_ADMIN_KEY is not set (scripts/stack env)"
  HTTP_TOPIC="bench.produce.http.$$"
  BENCH_CLEANUP+=("topic_delete $HTTP_TOPIC")
  topic_create "$HTTP_TOPIC" 6
  TALLY_TOPIC_EVENTS="$HTTP_TOPIC" bench_start_api
  http_ready || HTTP=0
fi
if [ "$HTTP" = 1 ]; then
  echo "api:      TALLY_TOPIC_EVENTS=$HTTP_TOPIC $BUILD/analytics/tally-api --http-addr 127.0.0.1:0" \
    "(port $BENCH_API_PORT; one topic for every repetition, counted by its offsets before and after)"
  echo "http:     $BUILD/bench/bench_http_events --batch $BATCH --connections $CONNECTIONS" \
    "http://127.0.0.1:$BENCH_API_PORT \$TALLY_ADMIN_KEY FILE"
fi
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
# The count is what the topic gained during CMD.
run() {
  local name=$1 topic=$2 tfile="$BENCH_TMP/time.$1" rc=0
  shift 2
  local l0 base
  base=$(topic_count "$topic")
  l0=$(bench_loadavg | cut -d' ' -f1)
  /usr/bin/time -f '%e %U %S %M' -o "$tfile" "$@" >"$BENCH_TMP/out.$name" 2>&1 || rc=$?
  local got
  got=$(($(topic_count "$topic") - base))
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
  do_tally() { run tally "$ta" "$BUILD/cli/tally" produce "${TALLY_OPTS[@]}" -b "$TALLY_KAFKA_BROKERS" -t "$ta" "$file"; }
  do_kcat() { run kcat "$tb" kcat -P -b "$TALLY_KAFKA_BROKERS" -t "$tb" "${KCAT_OPTS[@]}" -l "$file"; }
  do_http() {
    [ "$HTTP" = 1 ] || return 0
    run http "$HTTP_TOPIC" "$BUILD/bench/bench_http_events" --batch "$BATCH" \
      --connections "$CONNECTIONS" "http://127.0.0.1:$BENCH_API_PORT" "$TALLY_ADMIN_KEY" "$file"
    sed -n 's/^RESULT /         client: /p' "$BENCH_TMP/out.http"
  }
  if [ $((rep % 2)) = 1 ]; then
    do_tally
    do_kcat
    do_http
  else
    do_http
    do_kcat
    do_tally
  fi
  topic_delete "$ta"
  topic_delete "$tb"
done
echo "load:     $(bench_loadavg) at end"
echo

awk -v http="$HTTP" '{
  rate[$3] += $4; n[$3]++; r[$2, $3] = $4; reps[$2] = 1
} END {
  for (p in reps) {
    line = sprintf("rep %d  tally/kcat = %.2f", p, r[p, "tally"] / r[p, "kcat"])
    if (http == 1) line = line sprintf("  http/kcat = %.2f", r[p, "http"] / r[p, "kcat"])
    print line
  }
  mk = rate["kcat"] / n["kcat"]; mt = rate["tally"] / n["tally"]
  printf "mean     kcat %.0f events/s, tally %.0f events/s (%.2f x kcat)", mk, mt, mt / mk
  if (http == 1) { mh = rate["http"] / n["http"]; printf ", http %.0f events/s (%.2f x kcat)", mh, mh / mk }
  printf "\n"
  printf "target (tally >= kcat): %s\n", (mt >= mk) ? "MET" : "NOT MET"
  if (http == 1) printf "target (http >= 0.5 x kcat): %s\n", (mh >= 0.5 * mk) ? "MET" : "NOT MET"
  else print "target (http >= 0.5 x kcat): not measured (HTTP side left out)"
}' "$BENCH_TMP/results"
