#!/usr/bin/env bash
# Aggregator throughput, beside the ingester on the same topic
# (docs/benchmarks.md, "Reports (aggregate and API)").
#
#   bench/aggregate.sh                  1 000 000 interactions, 100 tenants
#   N=200000 bench/aggregate.sh         a quicker run
#   INGEST_EVENTS=100000 bench/aggregate.sh   the ingester's slice (default 200 000)
#   BUILD=build bench/aggregate.sh      use build/ as it is, without rebuilding
#   bench/aggregate.sh --clean          drop bench_report too at the end
#
# Needs the local stack (scripts/stack up). Steps:
#  1. `tally generate --events N --tenants 100 --seed 3` into a file under
#     $TMPDIR (N interactions, ~5% feedback events, the entity events first);
#  2. a fresh topic of 6 partitions (+ a DLQ topic), the file published with
#     `tally produce` (timed, for information); fresh PostgreSQL databases
#     bench_report, bench_report_slice and bench_report_ingest and a fresh
#     history database bench_report_ingest, migrated with `tally migrate`;
#  3. aggregate: `tally-aggregate --max-events <lines> --stats-interval 5`
#     into bench_report, under /usr/bin/time -v: wall time from process start
#     to exit, CPU user+sys, peak RSS, and the PostgreSQL server's CPU beside;
#  4. ingest, on the same topic: `tally-ingest --max-events INGEST_EVENTS`
#     into bench_report_ingest (PostgreSQL and history). The history store
#     (FerretDB locally, ~2k docs/s) makes 1M take ~10 min, so the ingester
#     reads only the first INGEST_EVENTS events; the aggregator reads the same
#     slice again into bench_report_slice, for a rate at the same event count;
#  5. not timed: the entity and feedback events (everything but interactions)
#     ingested into bench_report, so that step 2 (bench/report.sh) reports
#     with prices, FX rates, time zones and ratings as in production.
# bench_report is kept for bench/report.sh unless --clean; the other
# databases, topics and consumer groups are removed at the end.
# Target: the aggregator's events/s >= the ingester's.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLEAN=
for a in "$@"; do
  case "$a" in
    --clean) CLEAN=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) bench_die "unknown argument $a (see --help)" ;;
  esac
done
N=${N:-1000000}
INGEST_EVENTS=${INGEST_EVENTS:-200000}
bench_command N INGEST_EVENTS BUILD
[ -n "$CLEAN" ] && BENCH_COMMAND+=" --clean"
bench_build
bench_stack_env
bench_tmpdir
bench_need_time
bench_header "aggregate: tally-aggregate throughput, beside tally-ingest on the same topic"

PG_REPORT="$PG_BASE/bench_report"
PG_SLICE="$PG_BASE/bench_report_slice"
PG_INGEST="$PG_BASE/bench_report_ingest"
MONGO_INGEST="$MONGO_BASE/bench_report_ingest"
TOPIC="bench.report.events.$$"
ENT_TOPIC="bench.report.entities.$$"
DLQ="bench.report.dlq.$$"
KGROUPS=("bench-aggregate-$$" "bench-aggregate-slice-$$" "bench-ingest-$$" "bench-entities-$$")
psql_admin() { psql "$PG_BASE/postgres" -X -q -v ON_ERROR_STOP=1 "$@"; }
fresh_pg() { # DB
  psql_admin -c "SET client_min_messages TO warning" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" \
    -c "CREATE DATABASE $1" >/dev/null
  TALLY_PG_URL="$PG_BASE/$1" "$BUILD/cli/tally" migrate >/dev/null
}
drop_scratch() {
  psql_admin -c "DROP DATABASE IF EXISTS bench_report_slice WITH (FORCE)" \
    -c "DROP DATABASE IF EXISTS bench_report_ingest WITH (FORCE)" >/dev/null 2>&1 || true
  "$BUILD/bench/bench_mongo_ceiling" --drop-database "$MONGO_INGEST" 2>/dev/null || true
}
group_delete() {
  local g
  for g in "${KGROUPS[@]}"; do
    java -Djava.awt.headless=true -Dlog4j.configuration="file:$ROOT/.stack/kafka/tools-log4j.properties" \
      -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
      --bootstrap-server "$TALLY_KAFKA_BROKERS" --delete --group "$g" >/dev/null 2>&1 || true
  done
}

# -- CPU beside a phase -------------------------------------------------------
pg_pid() { head -n1 "$ROOT/.stack/postgres.pid" 2>/dev/null || echo 0; }
ferret_pid() { head -n1 "$ROOT/.stack/ferretdb.pid" 2>/dev/null || echo 0; }
# The PostgreSQL server: the postmaster, its exited children and its live ones.
pg_cpu() {
  local pid=$1 tck total child
  tck=$(getconf CLK_TCK)
  [ -r "/proc/$pid/stat" ] || { echo 0; return; }
  total=$(sed 's/^.*) //' "/proc/$pid/stat" | awk -v t="$tck" '{printf "%.2f", ($12 + $13 + $14 + $15) / t}')
  for child in $(pgrep -P "$pid" || true); do
    total=$(awk -v a="$total" -v b="$(proc_cpu_s "$child")" 'BEGIN {printf "%.2f", a + b}')
  done
  echo "$total"
}
snap() { echo "$(now_s) $(machine_busy_s) $(pg_cpu "$(pg_pid)") $(proc_cpu_s "$(ferret_pid)")"; }
side_cpu() { # NAME BEFORE AFTER
  awk -v n="$1" -v b="$2" -v a="$3" -v ncpu="$(nproc)" 'BEGIN {
    split(b, x, " "); split(a, y, " "); w = y[1] - x[1]
    printf "%-9s beside: PostgreSQL server %.1f CPU-s (every database), FerretDB %.1f CPU-s;" \
      " machine busy %.1f of %.1f core-s (%.0f%%)\n", n, y[3] - x[3], y[4] - x[4], y[2] - x[2],
      w * ncpu, 100 * (y[2] - x[2]) / (w * ncpu)
  }'
}

# `/usr/bin/time -v` output -> "wall user sys maxrss_kb".
time_v() {
  awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i]}
    /User time/ {u = $2} /System time/ {s = $2} /Maximum resident/ {m = $2}
    END {print w, u, s, m}' "$1"
}
# The last progress line's key=value.
progress_val() { grep 'msg="progress"' "$1" | tail -n1 | sed -n "s/.* $2=\([0-9]*\).*/\1/p"; }
# The median of the rate= of the progress lines but the first and last (the steady state).
steady_rate() {
  grep 'msg="progress"' "$1" | sed -n 's/.* rate=\([0-9]*\)\/s.*/\1/p' | sed '1d;$d' |
    sort -n | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print "n/a"}'
}

# run NAME EXPECT CMD...: time CMD (env already set by the caller) and print
# its RESULT line; the log is in $BENCH_TMP/NAME.log.
run_timed() {
  local name=$1 expect=$2 before after
  shift 2
  local env="TALLY_TOPIC_EVENTS=$TALLY_TOPIC_EVENTS TALLY_PG_URL=$TALLY_PG_URL"
  [ "$name" = ingest ] && env+=" TALLY_TOPIC_DLQ=$TALLY_TOPIC_DLQ TALLY_MONGO_URL=$TALLY_MONGO_URL"
  echo "$name:  $env $*"
  echo "          load $(bench_loadavg) before"
  before=$(snap)
  /usr/bin/time -v -o "$BENCH_TMP/time.$name" "$@" 2>&1 |
    tee "$BENCH_TMP/$name.log" | grep --line-buffered 'msg="progress"' | sed -u 's/^/          | /' || true
  after=$(snap)
  echo "          load $(bench_loadavg) after"
  local wall user sys rss events
  read -r wall user sys rss < <(time_v "$BENCH_TMP/time.$name")
  events=$(progress_val "$BENCH_TMP/$name.log" events)
  awk -v n="$name" -v ev="${events:-0}" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" \
    -v st="$(steady_rate "$BENCH_TMP/$name.log")" 'BEGIN {
    printf "RESULT %-9s %8.0f events/s  (steady %s/s)  events=%d  %7.1f s wall  %6.1f s CPU = %.1f CPU-s per million events  peak RSS %.1f MB\n",
      n, ev / w, st, ev, w, u + s, (u + s) / (ev > 0 ? ev : 1) * 1e6, m / 1024
  }' | tee -a "$BENCH_TMP/results"
  side_cpu "$name" "$before" "$after"
  grep -q 'Exit status: 0' "$BENCH_TMP/time.$name" && [ "${events:-0}" = "$expect" ] ||
    echo "WARNING: $name: events=${events:-?} of $expect ($(grep 'Exit status' "$BENCH_TMP/time.$name"))"
  echo
}

# -- 1. events -----------------------------------------------------------------
file="$BENCH_TMP/events.ndjson"
"$BUILD/cli/tally" generate --events "$N" --tenants 100 --seed 3 >"$file"
lines=$(wc -l <"$file")
interactions=$(grep -c '"type":"interaction.recorded"' "$file" || true)
feedback=$(grep -c '"type":"feedback.recorded"' "$file" || true)
echo "input:    tally generate --events $N --tenants 100 --seed 3  ->  $lines lines ($interactions" \
  "interactions, $feedback feedback, $((lines - interactions - feedback)) entity events)," \
  "$(du -m "$file" | cut -f1) MB"
[ "$INGEST_EVENTS" -le "$lines" ] || INGEST_EVENTS=$lines

# -- 2. topic and stores -------------------------------------------------------
BENCH_CLEANUP+=("group_delete" "topic_delete $TOPIC" "topic_delete $ENT_TOPIC" "topic_delete $DLQ"
  "drop_scratch")
[ -n "$CLEAN" ] && BENCH_CLEANUP+=("psql_admin -c 'DROP DATABASE IF EXISTS bench_report WITH (FORCE)'")
drop_scratch
topic_create "$TOPIC" 6
topic_create "$DLQ" 1
fresh_pg bench_report
fresh_pg bench_report_slice
fresh_pg bench_report_ingest
t0=$(now_s)
"$BUILD/cli/tally" produce --quiet -t "$TOPIC" "$file"
echo "produce:  $lines events into $TOPIC (6 partitions) in" \
  "$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN {printf "%.1f s", b - a}') (not part of any rate below)"
echo "stores:   PostgreSQL $PG_REPORT, $PG_SLICE, $PG_INGEST (fresh, migrated);" \
  "history $MONGO_INGEST (fresh)"
echo

# -- 3. the aggregator over everything -----------------------------------------
TALLY_TOPIC_EVENTS="$TOPIC" TALLY_PG_URL="$PG_REPORT" \
  run_timed aggregate "$lines" "$BUILD/analytics/tally-aggregate" -g "${KGROUPS[0]}" \
  --max-events "$lines" --stats-interval 5
counted=$(psql "$PG_REPORT" -X -At -c "SELECT sum(requests) FROM usage_rollup")
echo "check:    usage_rollup counts $counted requests for $interactions interactions in the file"
echo

# -- 4. the ingester and the aggregator over the same slice ---------------------
echo "slice:    the first $INGEST_EVENTS of the topic's $lines events: FerretDB takes ~2k docs/s," \
  "so the ingester does not read all of them; the aggregator reads the same slice again"
TALLY_TOPIC_EVENTS="$TOPIC" TALLY_TOPIC_DLQ="$DLQ" TALLY_PG_URL="$PG_INGEST" \
  TALLY_MONGO_URL="$MONGO_INGEST" \
  run_timed ingest "$INGEST_EVENTS" "$BUILD/ingest/tally-ingest" -g "${KGROUPS[2]}" \
  --max-events "$INGEST_EVENTS" --stats-interval 5
TALLY_TOPIC_EVENTS="$TOPIC" TALLY_PG_URL="$PG_SLICE" \
  run_timed agg-slice "$INGEST_EVENTS" "$BUILD/analytics/tally-aggregate" -g "${KGROUPS[1]}" \
  --max-events "$INGEST_EVENTS" --stats-interval 5

# -- 5. entities and ratings into bench_report (not timed) ----------------------
grep -v '"type":"interaction.recorded"' "$file" >"$BENCH_TMP/entities.ndjson" || true
ent_lines=$(wc -l <"$BENCH_TMP/entities.ndjson")
topic_create "$ENT_TOPIC" 6
"$BUILD/cli/tally" produce --quiet -t "$ENT_TOPIC" "$BENCH_TMP/entities.ndjson"
TALLY_TOPIC_EVENTS="$ENT_TOPIC" TALLY_TOPIC_DLQ="$DLQ" TALLY_PG_URL="$PG_REPORT" \
  TALLY_MONGO_URL="$MONGO_INGEST" "$BUILD/ingest/tally-ingest" -g "${KGROUPS[3]}" \
  --max-events "$ent_lines" --stats-interval 0 >"$BENCH_TMP/entities.log" 2>&1 ||
  { tail -n 5 "$BENCH_TMP/entities.log"; bench_die "loading the entities into bench_report failed"; }
psql "$PG_REPORT" -X -At -F' ' -c "SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM model_prices),
  (SELECT count(*) FROM fx_rates), (SELECT count(*) FROM feedback), (SELECT count(*) FROM usage_rollup),
  (SELECT count(DISTINCT tenant_id) FROM usage_rollup), pg_size_pretty(pg_database_size(current_database()))" |
  { read -r t p f fb r rt sz
    echo "report db: $PG_REPORT kept for bench/report.sh: $counted interactions of $rt tenants in $r" \
      "usage_rollup rows; $t tenants, $p price versions, $f FX rates, $fb ratings (ingested from the" \
      "$ent_lines non-interaction events, not timed); $sz"; }
echo "load:     $(bench_loadavg) at end"
echo

# -- summary ---------------------------------------------------------------------
# The ingester's rate from the ingest benchmark (docs/benchmarks.md), when it is there.
doc_ingest=$(grep -m1 '^RESULT ingest ' "$ROOT/docs/benchmarks.md" 2>/dev/null || true)
awk -v doc="$doc_ingest" '
  /^RESULT aggregate / {agg = $3; aggn = $0; sub(/.*events=/, "", aggn); sub(/ .*/, "", aggn)}
  /^RESULT ingest /    {ing = $3; ingn = $0; sub(/.*events=/, "", ingn); sub(/ .*/, "", ingn)}
  /^RESULT agg-slice / {sl = $3}
END {
  if (agg == "" || ing == "") { print "summary: a side is missing"; exit 1 }
  printf "summary: aggregator %.0f events/s over %d events; ingester %.0f events/s over the first %d;" \
    " aggregator over the same %d: %.0f events/s\n", agg, aggn, ing, ingn, ingn, sl
  printf "         aggregator / ingester = %.1fx (full run), %.1fx (same slice)\n", agg / ing, sl / ing
  if (doc != "") {
    n = split(doc, f, " "); d = f[3]
    printf "         docs/benchmarks.md ingest: %s events/s -> aggregator / that = %.1fx\n", d, agg / d
  } else print "         docs/benchmarks.md has no \"RESULT ingest\" line to compare with"
  printf "target (aggregator events/s >= ingester events/s): %s\n", (agg >= ing && sl >= ing) ? "MET" : "NOT MET"
}' "$BENCH_TMP/results"
