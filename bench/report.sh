#!/usr/bin/env bash
# Report latency: a tenant's month from the rollups (in process and over HTTP)
# beside the naive report over the raw history (docs/benchmarks.md,
# "Reports (aggregate and API)").
#
#   bench/report.sh                     50 tenants x 20 reports, 10 naive tenants x 5
#   TENANTS=20 REPS=50 bench/report.sh
#   NAIVE_TENANTS=5 NAIVE_REPS=10 bench/report.sh
#   EXPLAIN=0 bench/report.sh           skip the EXPLAIN ANALYZE of the report query
#   ANALYZE=0 bench/report.sh           no ANALYZE first: planner statistics as left
#   BUILD=build bench/report.sh         use build/ as it is, without rebuilding
#
# Needs the local stack and the PostgreSQL database bench_report that
# bench/aggregate.sh leaves (>= MIN_INTERACTIONS, default 1 000 000,
# interactions counted over 100 tenants, with the entities and ratings). Steps:
#  1. ANALYZE of bench_report (the steady state: autovacuum's statistics,
#     which a fresh bulk load may not have yet); the tenants: all of
#     bench_report's, ranked by interactions; TENANTS of them evenly spread
#     over the ranking (big and small), and NAIVE_TENANTS evenly spread over
#     those;
#  2. the naive side's history: `tally generate` again with the options that
#     made bench_report (--events <its interactions> --tenants 100 --seed 3;
#     the same options give the same bytes), the naive tenants' interactions
#     kept and bulk inserted with bench/bench_mongo_ceiling (the ingester's
#     document shape and indexes) into a fresh history database
#     bench_report_naive. FerretDB takes ~2k docs/s, hence only a few tenants;
#     each of those has all of its interactions there, as in production;
#  3. tally-api started on bench_report (TALLY_ADMIN_KEY=bench, any free port);
#  4. bench/bench_report: every tenant's month
#     (from=2026-03-01&to=2026-04-01&granularity=day&group_by=model) once
#     untimed each way (and the naive sums checked against the rollups'),
#     then REPS rounds of: tally_report_usage in process, the same GET over
#     HTTP, and for the naive tenants (first NAIVE_REPS rounds)
#     tally_docs_naive_usage — interleaved, so all sides share the machine's
#     load. p50/p99/max per side, and naive/rollup on the same tenants;
#  5. EXPLAIN ANALYZE (auto_explain, from the server log) of the report query
#     of the biggest tenant, for where the time goes.
# bench_report_naive and tally-api are removed at the end; bench_report stays.
# Targets: rollup p99 < 20 ms; naive / rollup >= 50x.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TENANTS=${TENANTS:-50}
REPS=${REPS:-20}
NAIVE_TENANTS=${NAIVE_TENANTS:-10}
NAIVE_REPS=${NAIVE_REPS:-5}
MIN_INTERACTIONS=${MIN_INTERACTIONS:-1000000}
EXPLAIN=${EXPLAIN:-1}
ANALYZE=${ANALYZE:-1}
bench_command TENANTS REPS NAIVE_TENANTS NAIVE_REPS MIN_INTERACTIONS EXPLAIN ANALYZE BUILD
bench_build
bench_stack_env
bench_tmpdir
[ -x "$BUILD/bench/bench_report" ] || bench_die "$BUILD/bench/bench_report is missing"
bench_header "report: usage report latency, rollups (in process, HTTP) vs naive over raw history"

PG_REPORT="$PG_BASE/bench_report"
MONGO_NAIVE="$MONGO_BASE/bench_report_naive"
WINDOW="from=2026-03-01&to=2026-04-01&granularity=day&group_by=model"
BENCH_CLEANUP+=("$BUILD/bench/bench_mongo_ceiling --drop-database $MONGO_NAIVE 2>/dev/null")

# -- 1. tenants ------------------------------------------------------------------
psql "$PG_REPORT" -X -At -c "SELECT 1" >/dev/null 2>&1 ||
  bench_die "no database bench_report: run bench/aggregate.sh first"
psql "$PG_REPORT" -X -At -F' ' -c "SELECT tenant_id, sum(requests) FROM usage_rollup
  GROUP BY 1 ORDER BY 2 DESC, 1" >"$BENCH_TMP/ranked"
total=$(awk '{s += $2} END {print s + 0}' "$BENCH_TMP/ranked")
n_all=$(wc -l <"$BENCH_TMP/ranked")
[ "$total" -ge "$MIN_INTERACTIONS" ] ||
  bench_die "bench_report counts $total interactions, fewer than $MIN_INTERACTIONS: run bench/aggregate.sh"
[ "$(psql "$PG_REPORT" -X -At -c "SELECT count(*) FROM tenants")" -gt 0 ] ||
  bench_die "bench_report has no tenants (entities): run bench/aggregate.sh again"
# Planner statistics: autovacuum gathers them after a bulk load, but maybe not
# yet; the steady state has them, so ANALYZE (ANALYZE=0: measure as left).
psql "$PG_REPORT" -X -At -F' ' -c "SELECT relname, coalesce(greatest(last_analyze, last_autoanalyze)::text,
  'never') FROM pg_stat_user_tables WHERE relname IN ('usage_rollup', 'agg_interactions', 'feedback')
  ORDER BY 1" | sed 's/^/stats:    analyzed /'
if [ "$ANALYZE" = 1 ]; then
  psql "$PG_REPORT" -X -q -c "ANALYZE" && echo "stats:    ANALYZE run on bench_report now (ANALYZE=0 skips it)"
fi
# pick K of the lines of a file, evenly spread (the first, then every n/K-th).
spread() { awk -v k="$1" '{l[NR] = $0} END {if (k > NR) k = NR; for (i = 0; i < k; i++) print l[int(i * NR / k) + 1]}' "$2"; }
spread "$TENANTS" "$BENCH_TMP/ranked" >"$BENCH_TMP/chosen"
spread "$NAIVE_TENANTS" "$BENCH_TMP/chosen" >"$BENCH_TMP/naive_chosen"
cut -d' ' -f1 "$BENCH_TMP/chosen" >"$BENCH_TMP/tenants"
cut -d' ' -f1 "$BENCH_TMP/naive_chosen" >"$BENCH_TMP/naive_tenants"
echo "data:     $PG_REPORT: $total interactions of $n_all tenants in" \
  "$(psql "$PG_REPORT" -X -At -c "SELECT count(*) FROM usage_rollup") usage_rollup rows," \
  "$(psql "$PG_REPORT" -X -At -c "SELECT count(*) FROM feedback") ratings"
echo "tenants:  $(wc -l <"$BENCH_TMP/tenants") of them, spread over the ranking by interactions" \
  "($(head -n1 "$BENCH_TMP/chosen" | cut -d' ' -f2) .. $(tail -n1 "$BENCH_TMP/chosen" | cut -d' ' -f2) each);" \
  "naive side: $(wc -l <"$BENCH_TMP/naive_tenants") of those ($(awk '{s += $2} END {print s}' "$BENCH_TMP/naive_chosen") interactions)"

# -- 2. the naive side's history ---------------------------------------------------
t0=$(now_s)
file="$BENCH_TMP/events.ndjson"
"$BUILD/cli/tally" generate --events "$total" --tenants 100 --seed 3 >"$file"
sed 's/.*/"subject":"&",/' "$BENCH_TMP/naive_tenants" >"$BENCH_TMP/patterns"
grep '"type":"interaction.recorded"' "$file" | grep -F -f "$BENCH_TMP/patterns" >"$BENCH_TMP/naive.ndjson" || true
rm -f "$file"
echo "history:  tally generate --events $total --tenants 100 --seed 3, the naive tenants'" \
  "$(wc -l <"$BENCH_TMP/naive.ndjson") interactions kept ($(du -m "$BENCH_TMP/naive.ndjson" | cut -f1) MB)"
"$BUILD/bench/bench_mongo_ceiling" "$MONGO_NAIVE" "$BENCH_TMP/naive.ndjson" >"$BENCH_TMP/load.out" 2>&1 ||
  { cat "$BENCH_TMP/load.out"; bench_die "loading $MONGO_NAIVE failed"; }
echo "          bulk inserted into $MONGO_NAIVE with bench_mongo_ceiling (+ its indexes):" \
  "$(grep '^RESULT' "$BENCH_TMP/load.out" | sed 's/^RESULT //')" \
  "in $(awk -v a="$t0" -v b="$(now_s)" 'BEGIN {printf "%.0f s", b - a}') (not timed)"

# -- 3. tally-api ------------------------------------------------------------------
export TALLY_ADMIN_KEY=bench
TALLY_PG_URL="$PG_REPORT" TALLY_MONGO_URL="$MONGO_NAIVE" bench_start_api
API="http://127.0.0.1:$BENCH_API_PORT"
echo "api:      TALLY_ADMIN_KEY=bench TALLY_PG_URL=$PG_REPORT $BUILD/analytics/tally-api" \
  "--http-addr 127.0.0.1:0  ->  $API ($(sed -n 's/.*msg="listening".* \(pg_connections=[0-9]*\).*/\1/p' "$BENCH_TMP/api.log"))"
echo "request:  GET /v1/tenants/{id}/usage?$WINDOW"
echo

# -- 4. the measurement ----------------------------------------------------------------
args=(--pg-url "$PG_REPORT" --tenants "$BENCH_TMP/tenants" --reps "$REPS" --api-url "$API"
  --naive-tenants "$BENCH_TMP/naive_tenants" --mongo-url "$MONGO_NAIVE" --naive-reps "$NAIVE_REPS")
echo "run:      $BUILD/bench/bench_report ${args[*]}"
echo "          load $(bench_loadavg) before"
rc=0
"$BUILD/bench/bench_report" "${args[@]}" >"$BENCH_TMP/report.out" 2>"$BENCH_TMP/report.err" || rc=$?
echo "          load $(bench_loadavg) after"
grep -v '^bench_report: round' "$BENCH_TMP/report.err" | sed 's/^/          | /' || true
echo
cat "$BENCH_TMP/report.out"
[ "$rc" = 0 ] || echo "WARNING: bench_report exited $rc"
echo

# -- 5. where the report query's time goes ---------------------------------------------
if [ "$EXPLAIN" = 1 ]; then
  biggest=$(head -n1 "$BENCH_TMP/tenants")
  echo "$biggest" >"$BENCH_TMP/one"
  log="$ROOT/.stack/postgres.log"
  offset=$(stat -c %s "$log" 2>/dev/null || echo 0)
  PGOPTIONS="-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c auto_explain.log_analyze=on -c auto_explain.log_buffers=on" \
    "$BUILD/bench/bench_report" --pg-url "$PG_REPORT" --tenants "$BENCH_TMP/one" --reps 3 \
    --naive-reps 1 >/dev/null 2>&1 || true
  echo "EXPLAIN ANALYZE of the report query, tenant $biggest (the last of 4 runs, auto_explain):"
  tail -c +"$((offset + 1))" "$log" | awk '
    function flush() { if (inblk && blk ~ /usage_rollup/) last = blk }
    /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9:.]+ [A-Z]+ \[/ {
      flush(); inblk = ($0 ~ /@bench_report LOG:  duration: .* plan:/); blk = "" }
    inblk { blk = blk $0 "\n" }
    END { flush(); printf "%s", last }' |
    grep -v '^\s*Query Text:' | sed 's/^/  /' | head -n 120
  echo
fi

echo "load:     $(bench_loadavg) at end"
awk '/^RESULT rollup / {for (i = 1; i <= NF; i++) if ($i ~ /^p99_ms=/) {sub(/p99_ms=/, "", $i); p99 = $i}}
     /^RESULT ratio / {for (i = 1; i <= NF; i++) if ($i ~ /^p50=/) {sub(/p50=/, "", $i); sub(/x/, "", $i); if (r == "") r = $i}}
END {
  printf "target (rollup p99 < 20 ms): %s (%s ms)\n", (p99 != "" && p99 + 0 < 20) ? "MET" : "NOT MET", p99
  printf "target (naive / rollup >= 50x, p50 on the same tenants): %s (%sx)\n", (r != "" && r + 0 >= 50) ? "MET" : "NOT MET", r
}' "$BENCH_TMP/report.out"
