#!/usr/bin/env bash
# End to end ingest: tally-ingest from Kafka into PostgreSQL + the history
# store, beside the store's own insert ceiling (docs/benchmarks.md, "Ingest").
#
#   bench/ingest.sh                   1 000 000 interactions (FerretDB: ~10 min a side)
#   N=200000 bench/ingest.sh          a quicker run
#   ORDER="ceiling ingest" bench/ingest.sh   which side runs first (default ingest first)
#   N=200000 ORDER="ingest ceiling ceiling ingest" bench/ingest.sh
#                                     each side twice, A-B-B-A, so that a load that
#                                     drifts during the run weighs on both alike
#   KEEP=1 bench/ingest.sh            leave the bench databases for a look afterwards
#   BUILD=build bench/ingest.sh       use build/ as it is, without rebuilding
#   INGEST_ARGS="--batch-size 500" bench/ingest.sh   extra tally-ingest flags
#
# Needs the local stack (scripts/stack up). Steps:
#  1. `tally generate --seed 1 --events N --feedback 0` into a file under $TMPDIR
#     (N interactions plus the generator's entity events);
#  2. a fresh topic (6 partitions) and DLQ topic, a fresh PostgreSQL database
#     bench_ingest (migrated with `tally migrate`, not timed) and fresh history
#     databases bench_ingest and bench_ceiling; the file published with
#     `tally produce` (timed, for information);
#  3. ingest: `tally-ingest --max-events <lines> --stats-interval 5` in a fresh
#     consumer group (from the second ingest run on, with fresh stores too),
#     under /usr/bin/time: wall time from process start to exit (connecting,
#     joining the group, creating the indexes included), CPU user+sys, peak
#     RSS; the RSS is also sampled every 2 s;
#  4. ceiling: bench/bench_mongo_ceiling inserting the same interactions as the
#     same documents, unordered bulks of 2000, same indexes, no Kafka, no
#     validation, only the insert phase timed (a batch that fails because a
#     server restarted is retried; the failed attempts are left out).
# Beside each side: CPU used by FerretDB and by the PostgreSQL server under it
# (every backend, so other users of that server count too) and the whole
# machine's busy CPU, which shows where a 2-core machine's time went.
# With a side run more than once, the summary compares the mean rates and
# takes the highest peak RSS.
# Targets: ingest >= 70% of the ceiling; peak RSS < 100 MB.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-1000000}
ORDER=${ORDER:-ingest ceiling}
bench_command N ORDER INGEST_ARGS KEEP BUILD
bench_build
bench_stack_env
bench_tmpdir
bench_need_time
bench_header "ingest: tally-ingest end to end vs the history store's insert ceiling"

PG_BENCH="$PG_BASE/bench_ingest"
MONGO_INGEST="$MONGO_BASE/bench_ingest"
MONGO_CEILING="$MONGO_BASE/bench_ceiling"
TOPIC="bench.ingest.events.$$"
DLQ="bench.ingest.dlq.$$"
GROUP_BASE="bench-ingest-$$"
GROUP="$GROUP_BASE-1"
INGEST_RUNS=0
psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql "$PG_BASE/postgres" -X -q -v ON_ERROR_STOP=1 "$@"; }
drop_stores() {
  psql_admin -c "DROP DATABASE IF EXISTS bench_ingest WITH (FORCE)" >/dev/null 2>&1 || true
  "$BUILD/bench/bench_mongo_ceiling" --drop-database "$MONGO_INGEST" 2>/dev/null || true
  "$BUILD/bench/bench_mongo_ceiling" --drop-database "$MONGO_CEILING" 2>/dev/null || true
}

# -- CPU of the store's processes ---------------------------------------------
# The pids are read again at every snapshot: a server restarted by someone
# else during a phase makes its CPU figure meaningless, and side_cpu says so.
ferret_pid() { head -n1 "$ROOT/.stack/ferretdb.pid" 2>/dev/null || echo 0; }
pg_pid() { head -n1 "$ROOT/.stack/postgres.pid" 2>/dev/null || echo 0; }
# The PostgreSQL server: the postmaster, its exited children (cutime, cstime)
# and its live children.
pg_cpu() {
  local pid=$1 tck total child
  tck=$(getconf CLK_TCK)
  [ -r "/proc/$pid/stat" ] || {
    echo 0
    return
  }
  total=$(sed 's/^.*) //' "/proc/$pid/stat" | awk -v t="$tck" '{printf "%.2f", ($12 + $13 + $14 + $15) / t}')
  for child in $(pgrep -P "$pid" || true); do
    total=$(awk -v a="$total" -v b="$(proc_cpu_s "$child")" 'BEGIN {printf "%.2f", a + b}')
  done
  echo "$total"
}
snap() {
  local f p
  f=$(ferret_pid)
  p=$(pg_pid)
  echo "$(now_s) $(machine_busy_s) $(proc_cpu_s "$f") $(pg_cpu "$p") $f $p"
}
# side NAME BEFORE AFTER: the store-side CPU line of a phase.
side_cpu() {
  awk -v n="$1" -v b="$2" -v a="$3" -v ncpu="$(nproc)" 'BEGIN {
    split(b, x, " "); split(a, y, " ")
    w = y[1] - x[1]
    if (x[5] != y[5] || x[6] != y[6]) {
      printf "%-8s store CPU: unknown (FerretDB or PostgreSQL restarted during the phase)\n", n
    } else {
      printf "%-8s store CPU: FerretDB %.1f s, PostgreSQL %.1f s (all its databases)\n", n, y[3] - x[3], y[4] - x[4]
    }
    printf "%-8s machine busy: %.1f of %.1f core-s (%.0f%%), other users included\n",
      n, y[2] - x[2], w * ncpu, 100 * (y[2] - x[2]) / (w * ncpu)
  }'
}

# -- 1. events -----------------------------------------------------------------
file="$BENCH_TMP/events.ndjson"
"$BUILD/cli/tally" generate --seed 1 --events "$N" --feedback 0 >"$file"
lines=$(wc -l <"$file")
interactions=$(grep -c '"type":"interaction.recorded"' "$file" || true)
echo "input:    tally generate --seed 1 --events $N --feedback 0  ->  $lines lines" \
  "($interactions interactions, $((lines - interactions)) entity events), $(du -m "$file" | cut -f1) MB"

# -- 2. fresh topic and stores ---------------------------------------------------
group_delete() {
  local groups=() i
  for i in $(seq 1 "$INGEST_RUNS"); do groups+=(--group "$GROUP_BASE-$i"); done
  [ "${#groups[@]}" -gt 0 ] || return 0
  java -Djava.awt.headless=true -Dlog4j.configuration="file:$ROOT/.stack/kafka/tools-log4j.properties" \
    -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
    --bootstrap-server "$TALLY_KAFKA_BROKERS" --delete "${groups[@]}" >/dev/null 2>&1 || true
}
BENCH_CLEANUP+=("group_delete" "topic_delete $TOPIC" "topic_delete $DLQ")
[ -n "${KEEP:-}" ] || BENCH_CLEANUP+=("drop_stores")
drop_stores
topic_create "$TOPIC" 6
topic_create "$DLQ" 1
fresh_pg() {
  psql_admin -c "DROP DATABASE IF EXISTS bench_ingest WITH (FORCE)" >/dev/null
  psql_admin -c "CREATE DATABASE bench_ingest" >/dev/null
  TALLY_PG_URL="$PG_BENCH" "$BUILD/cli/tally" migrate >/dev/null
}
fresh_pg
t0=$(now_s)
"$BUILD/cli/tally" produce --quiet -t "$TOPIC" "$file"
echo "produce:  $lines events into $TOPIC (6 partitions) in" \
  "$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN {printf "%.1f s", b - a}') (not part of the ingest time)"
echo "stores:   PostgreSQL $PG_BENCH (fresh, migrated), history $MONGO_INGEST and $MONGO_CEILING (fresh)"
echo

# -- 3. ingest -------------------------------------------------------------------
# The RSS of the running tally-ingest every 2 s ("seconds kB"), to tell a
# plateau from a growth.
rss_sampler() {
  local out=$1 pid="" t0 i
  t0=$(now_s)
  for i in $(seq 1 100); do
    pid=$(pgrep -f -- "^$BUILD/ingest/tally-ingest -g $GROUP " | head -n1 || true)
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || return 0
  while [ -r "/proc/$pid/status" ]; do
    awk -v t="$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN {printf "%.0f", b - a}')" \
      '/^VmRSS:/ {print t, $2}' "/proc/$pid/status" 2>/dev/null >>"$out" || true
    sleep 2
  done
}

# Four numbers from a /usr/bin/time -f '%e %U %S %M' file: its last line (a
# failed command adds a "Command exited with non-zero status" line first).
read_time() { tail -n1 "$1"; }

run_ingest() {
  INGEST_RUNS=$((INGEST_RUNS + 1))
  GROUP="$GROUP_BASE-$INGEST_RUNS"
  if [ "$INGEST_RUNS" -gt 1 ]; then # a second run starts from empty stores too
    fresh_pg
    "$BUILD/bench/bench_mongo_ceiling" --drop-database "$MONGO_INGEST"
  fi
  local args=(-g "$GROUP" --max-events "$lines" --stats-interval 5) extra=()
  read -ra extra <<<"${INGEST_ARGS:-}"
  args+=("${extra[@]}")
  echo "ingest:   TALLY_TOPIC_EVENTS=$TOPIC TALLY_TOPIC_DLQ=$DLQ TALLY_PG_URL=$PG_BENCH" \
    "TALLY_MONGO_URL=$MONGO_INGEST $BUILD/ingest/tally-ingest ${args[*]}"
  echo "          load $(bench_loadavg) before"
  local before after rc=0
  before=$(snap)
  : >"$BENCH_TMP/rss.ingest"
  rss_sampler "$BENCH_TMP/rss.ingest" &
  local sampler=$!
  TALLY_TOPIC_EVENTS="$TOPIC" TALLY_TOPIC_DLQ="$DLQ" TALLY_PG_URL="$PG_BENCH" \
    TALLY_MONGO_URL="$MONGO_INGEST" \
    /usr/bin/time -f '%e %U %S %M' -o "$BENCH_TMP/time.ingest" \
    "$BUILD/ingest/tally-ingest" "${args[@]}" \
    2>&1 | tee "$BENCH_TMP/ingest.log" | sed -u 's/^/          | /' || rc=$?
  after=$(snap)
  wait "$sampler" || true
  echo "          load $(bench_loadavg) after"
  local last
  last=$(grep 'progress' "$BENCH_TMP/ingest.log" | tail -n1)
  read -r wall user sys rss < <(read_time "$BENCH_TMP/time.ingest") || bench_die "tally-ingest did not run"
  local stored events retries
  # Interactions handled: inserted now plus those a retried batch found stored.
  stored=$(sed -n 's/.*interactions=\([0-9]*\) duplicates=\([0-9]*\).*/\1 \2/p' <<<"$last" |
    awk '{print $1 + $2}')
  retries=$(sed -n 's/.*retries=\([0-9]*\).*/\1/p' <<<"$last")
  events=$(sed -n 's/.*[^a-z_]events=\([0-9]*\).*/\1/p' <<<"$last")
  awk -v ev="${events:-0}" -v st="${stored:-0}" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" 'BEGIN {
    printf "RESULT ingest  %9.0f events/s  %9.0f interactions/s  %8.1f s wall  %7.1f s CPU (%.1f s per million events)  peak RSS %.1f MB  events=%d interactions=%d (inserted or found stored)\n",
      ev / w, st / w, w, u + s, (u + s) / (ev > 0 ? ev : 1) * 1e6, m / 1024, ev, st
  }' | tee -a "$BENCH_TMP/results"
  if [ -s "$BENCH_TMP/rss.ingest" ]; then
    # RSS at a tenth, a quarter, half, three quarters and the end of the run.
    awk '{t[NR] = $1; r[NR] = $2} END {
      printf "ingest   RSS over the run:"
      split("0.1 0.25 0.5 0.75 1", q, " ")
      for (i = 1; i <= 5; i++) { k = int(NR * q[i]); if (k < 1) k = 1; printf "  %ds %.0f MB", t[k], r[k] / 1024 }
      printf "\n"
    }' "$BENCH_TMP/rss.ingest"
  fi
  side_cpu ingest "$before" "$after"
  [ "${retries:-0}" = 0 ] ||
    echo "NOTE: $retries store retries: a store failed or restarted during the run (lines above)"
  [ "$rc" = 0 ] && [ "${events:-0}" = "$lines" ] ||
    echo "WARNING: tally-ingest exit $rc, events=${events:-?} of $lines"
  echo
}

# -- 4. ceiling ------------------------------------------------------------------
run_ceiling() {
  echo "ceiling:  $BUILD/bench/bench_mongo_ceiling $MONGO_CEILING FILE"
  echo "          load $(bench_loadavg) before"
  local before after rc=0
  before=$(snap)
  /usr/bin/time -f '%e %U %S %M' -o "$BENCH_TMP/time.ceiling" \
    "$BUILD/bench/bench_mongo_ceiling" "$MONGO_CEILING" "$file" \
    >"$BENCH_TMP/ceiling.out" 2> >(sed -u 's/^/          | /' >&2) || rc=$?
  after=$(snap)
  sed 's/^/          | /' "$BENCH_TMP/ceiling.out"
  echo "          load $(bench_loadavg) after"
  local res
  res=$(grep '^RESULT' "$BENCH_TMP/ceiling.out" || true)
  [ -n "$res" ] || bench_die "bench_mongo_ceiling failed (exit $rc)"
  read -r wall user sys rss < <(read_time "$BENCH_TMP/time.ceiling")
  awk -v r="$res" -v u="$user" -v s="$sys" -v m="$rss" -v want="$interactions" 'BEGIN {
    n = split(r, f, " "); for (i = 2; i <= n; i++) { split(f[i], kv, "="); v[kv[1]] = kv[2] }
    printf "RESULT ceiling %9.0f docs/s (insert phase %.1f s, %d stored, %d retries)  process CPU %.1f s  peak RSS %.1f MB\n",
      v["rate"], v["insert_s"], v["stored"], v["retries"], u + s, m / 1024
    if (v["stored"] != want)
      printf "WARNING: the ceiling stored %d of %d interactions: its rate covers only those\n", v["stored"], want > "/dev/stderr"
    if (v["retries"] > 0)
      printf "NOTE: %d failed insert attempts: the store failed or restarted during the run\n", v["retries"] > "/dev/stderr"
  }' 2>&1 | tee -a "$BENCH_TMP/results"
  side_cpu ceiling "$before" "$after"
  echo
}

for side in $ORDER; do
  case "$side" in
    ingest) run_ingest ;;
    ceiling) run_ceiling ;;
    *) bench_die "ORDER: unknown side '$side'" ;;
  esac
done
echo "load:     $(bench_loadavg) at end"
echo

awk '/^RESULT ingest/ {
       ing += $5; ni++; r = $0; sub(/.*peak RSS /, "", r); sub(/ MB.*/, "", r)
       if (r + 0 > rss) rss = r + 0
     }
     /^RESULT ceiling/ {cei += $3; nc++}
END {
  if (!ni || !nc) { print "summary: a side is missing"; exit 1 }
  ing /= ni; cei /= nc
  printf "summary: ingest %.0f interactions/s (mean of %d), ceiling %.0f docs/s (mean of %d): ingest = %.0f%% of the ceiling\n", ing, ni, cei, nc, 100 * ing / cei
  printf "target (ingest >= 70%% of the ceiling): %s\n", (ing >= 0.7 * cei) ? "MET" : "NOT MET"
  printf "target (peak RSS < 100 MB): %s (highest %.1f MB)\n", (rss < 100) ? "MET" : "NOT MET", rss
}' "$BENCH_TMP/results"
