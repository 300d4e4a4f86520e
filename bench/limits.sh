#!/usr/bin/env bash
# Limits latency: GET /v1/tenants/{id}/limits for a tenant with >= 1 M
# interactions counted, budgets in all three periods and a BRL one, plan
# limits for the tenant and a user — beside the usage report over HTTP in the
# same run (docs/benchmarks.md, "Limits").
#
#   bench/limits.sh                  1 000 000 interactions, 2 000 rounds
#   N=200000 REPS=500 bench/limits.sh
#   FRESH=1 bench/limits.sh          drop and reload bench_limits first
#   BUILD=build bench/limits.sh      use build/ as it is, without rebuilding
#
# Needs the local stack. Steps:
#  1. the PostgreSQL database bench_limits (kept between runs; created,
#     migrated with `tally migrate` and loaded by `bench_limits --load N` when
#     missing or FRESH=1): the interactions are counted through the
#     aggregator's own transaction (tally_rollup_apply), limits included, and
#     the load prints that rate;
#  2. ANALYZE, then tally-api on bench_limits (TALLY_ADMIN_KEY=bench, any free port);
#  3. bench_limits --api-url: REPS rounds of the tenant's limits, a user's
#     limits, the usage report (March by day and model) over HTTP and the
#     limits answer in process, interleaved. Target: limits p99 < 5 ms over HTTP.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-1000000}
REPS=${REPS:-2000}
FRESH=${FRESH:-0}
bench_command N REPS FRESH BUILD
bench_build
bench_stack_env
bench_tmpdir
bench_header "limits: GET /limits latency (tenant with $N interactions) beside the usage report"

PG_LIMITS="$PG_BASE/bench_limits"
if [ "$FRESH" = 1 ]; then
  psql "$PG_BASE/postgres" -X -q -c "DROP DATABASE IF EXISTS bench_limits" >/dev/null
fi
if ! psql "$PG_LIMITS" -X -At -c "SELECT 1" >/dev/null 2>&1; then
  psql "$PG_BASE/postgres" -X -q -c "CREATE DATABASE bench_limits" >/dev/null
  TALLY_PG_URL="$PG_LIMITS" "$BUILD/cli/tally" migrate >/dev/null
  echo "load:     $BUILD/bench/bench_limits --pg-url $PG_LIMITS --load $N"
  "$BUILD/bench/bench_limits" --pg-url "$PG_LIMITS" --load "$N" 2>"$BENCH_TMP/load.err" |
    sed 's/^/          /' || { cat "$BENCH_TMP/load.err"; bench_die "loading failed"; }
fi
counted=$(psql "$PG_LIMITS" -X -At -c "SELECT coalesce(sum(requests), 0) FROM limit_usage
  WHERE tenant_id = 'bench-big' AND user_id = ''")
echo "data:     bench_limits: $counted interactions of bench-big counted;" \
  "$(psql "$PG_LIMITS" -X -At -c "SELECT count(*) FROM limit_usage") limit_usage rows," \
  "$(psql "$PG_LIMITS" -X -At -c "SELECT count(*) FROM alert_outbox") alerts raised"
psql "$PG_LIMITS" -X -q -c "ANALYZE"

export TALLY_ADMIN_KEY=bench
TALLY_PG_URL="$PG_LIMITS" bench_start_api
port=$BENCH_API_PORT
echo "api:      TALLY_ADMIN_KEY=bench TALLY_PG_URL=$PG_LIMITS tally-api -> http://127.0.0.1:$port"
echo "run:      $BUILD/bench/bench_limits --pg-url $PG_LIMITS --api-url http://127.0.0.1:$port --reps $REPS"
echo "          load $(bench_loadavg) before"
"$BUILD/bench/bench_limits" --pg-url "$PG_LIMITS" --api-url "http://127.0.0.1:$port" \
  --reps "$REPS" >"$BENCH_TMP/out" 2>"$BENCH_TMP/err" || { cat "$BENCH_TMP/err"; bench_die "bench_limits failed"; }
echo "          load $(bench_loadavg) after"
echo
cat "$BENCH_TMP/out"
awk '/^RESULT limits_http / {for (i = 1; i <= NF; i++) if ($i ~ /^p99_ms=/) {sub(/p99_ms=/, "", $i); p = $i}}
END { printf "target (limits p99 < 5 ms over HTTP): %s (%s ms)\n", (p != "" && p + 0 < 5) ? "MET" : "NOT MET", p }' "$BENCH_TMP/out"
