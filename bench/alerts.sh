#!/usr/bin/env bash
# Alerts throughput: tally-alerts publishing the alert outbox to the alerts
# topic (one Kafka transaction per batch, each batch marked in PostgreSQL),
# and webhook deliveries to a local receiver (docs/benchmarks.md, "Alerts").
#
#   bench/alerts.sh                   20 000 alerts, 2 000 webhooks
#   N=5000 WEBHOOKS=500 bench/alerts.sh
#   BATCH=100 bench/alerts.sh         alerts per Kafka transaction (default 500)
#   BUILD=build bench/alerts.sh       use build/ as it is, without rebuilding
#
# Needs the local stack (scripts/stack up) and python3. Steps:
#  1. a fresh database bench_alerts (migrated with `tally migrate`) and a
#     fresh 3-partition topic; N outbox rows inserted with SQL (10 tenants,
#     BRL budgets), as tally-aggregate would record them;
#  2. publish: `tally-alerts --once` until the outbox is drained, under
#     /usr/bin/time: alerts/s over the process's life (start, fencing and
#     read-back included) and between its "started" and "stopped" lines;
#  3. webhooks: WEBHOOKS more rows with a webhook_url to a local receiver
#     (python3's ThreadingHTTPServer on loopback, answering 200 at once),
#     their tenant given a secret; `tally-alerts --once` with
#     TALLY_WEBHOOK_ALLOW_PRIVATE=1 publishes and delivers them: deliveries/s
#     between the first try and the last delivery (PostgreSQL's times).
#     The receiver is one Python process: it may be the bottleneck; its CPU
#     is printed beside.
# The database and the topic are removed at the end.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for a in "$@"; do
  case "$a" in
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) bench_die "unknown argument $a (see --help)" ;;
  esac
done
N=${N:-20000}
WEBHOOKS=${WEBHOOKS:-2000}
BATCH=${BATCH:-500}
bench_command N WEBHOOKS BATCH BUILD
bench_build
bench_stack_env
bench_tmpdir
bench_need_time
command -v python3 >/dev/null || bench_die "python3 is needed for the webhook receiver"
bench_header "alerts: tally-alerts publishing the outbox, and webhook deliveries"

DB=bench_alerts
TOPIC="bench.alerts.$$"
export TALLY_PG_URL="$PG_BASE/$DB"
psql_admin() { psql "$PG_BASE/postgres" -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_db() { psql "$TALLY_PG_URL" -X -q -t -A -v ON_ERROR_STOP=1 "$@"; }
psql_admin -c "SET client_min_messages TO warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
  -c "CREATE DATABASE $DB" >/dev/null
"$BUILD/cli/tally" migrate >/dev/null
topic_create "$TOPIC" 3
BENCH_CLEANUP+=("topic_delete $TOPIC"
  "psql_admin -c 'DROP DATABASE IF EXISTS $DB WITH (FORCE)' >/dev/null 2>&1")

# outbox ROWS FROM [URL]: rows FROM..FROM+ROWS-1, with a webhook when URL is given.
outbox() {
  local hook=NULL
  [ -n "${3:-}" ] && hook="'$3'"
  psql_db -c "
    WITH o AS (
      INSERT INTO alert_outbox (alert_id, tenant_id, limit_id, user_id, metric, period,
        period_start, period_end, zone, threshold, limit_value, used, paused, crossed_at,
        webhook_url)
      SELECT 'bench-' || (k % 10) || '/budget:b' || k || ':brl/_/2026-03-01T03:00:00Z/80',
        'bench-' || (k % 10), 'budget:b' || k || ':brl', NULL, 'brl', 'monthly',
        '2026-03-01T03:00:00Z', '2026-04-01T03:00:00Z', 'America/Sao_Paulo', 80,
        1000, 800.1234565, false, '2026-03-10T12:00:00Z'::timestamptz + k * interval '1 s',
        $hook
      FROM generate_series($2, $2 + $1 - 1) k
      RETURNING alert_id, tenant_id, webhook_url)
    INSERT INTO webhook_deliveries (alert_id, tenant_id, url)
    SELECT alert_id, tenant_id, webhook_url FROM o WHERE webhook_url IS NOT NULL" >/dev/null
}

# The seconds between two log lines' timestamps (the first of each message).
log_span() { # LOG MSG_FROM MSG_TO
  local a b
  a=$(grep -m1 "msg=\"$2\"" "$1" | cut -d' ' -f1)
  b=$(grep "msg=\"$3\"" "$1" | tail -n1 | cut -d' ' -f1)
  python3 -c "from datetime import datetime as d; f=lambda s: d.fromisoformat(s.replace('Z','+00:00')); print('%.3f' % (f('$b')-f('$a')).total_seconds())"
}

echo
echo "-- publish: $N alerts, batches of $BATCH"
outbox "$N" 0
echo "load:     $(bench_loadavg) before"
/usr/bin/time -f "%e %U %S %M" -o "$BENCH_TMP/time.publish" \
  "$BUILD/alerts/tally-alerts" --topic "$TOPIC" --batch-size "$BATCH" --once --stats-interval 1 \
  2>"$BENCH_TMP/publish.log"
read -r wall user sys rss <"$BENCH_TMP/time.publish"
left=$(psql_db -c "SELECT count(*) FROM alert_outbox WHERE published_at IS NULL")
[ "$left" = 0 ] || bench_die "$left alerts left unpublished; see $BENCH_TMP/publish.log"
span=$(log_span "$BENCH_TMP/publish.log" started stopped)
awk -v n="$N" -v w="$wall" -v s="$span" -v u="$user" -v y="$sys" -v m="$rss" 'BEGIN {
  printf "RESULT publish   %8.0f alerts/s over the process (%.2f s wall, start included), %8.0f alerts/s from started to stopped (%.2f s); %.2f CPU-s, peak RSS %.1f MB\n",
    n / w, w, n / s, s, u + y, m / 1024 }'

echo
echo "-- webhooks: $WEBHOOKS deliveries to a local receiver"
cat >"$BENCH_TMP/receiver.py" <<'EOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
# A backlog of 5 (the default) drops the SYNs of 50 connections at once.
http.server.ThreadingHTTPServer.request_queue_size = 256
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
EOF
python3 "$BENCH_TMP/receiver.py" "$BENCH_TMP/port" &
RECEIVER=$!
BENCH_CLEANUP+=("kill $RECEIVER")
for _ in $(seq 1 50); do [ -s "$BENCH_TMP/port" ] && break; sleep 0.1; done
[ -s "$BENCH_TMP/port" ] || bench_die "the receiver did not start"
url="http://127.0.0.1:$(cat "$BENCH_TMP/port")/hook"
psql_db -c "INSERT INTO webhook_secrets (tenant_id, secret)
  SELECT 'bench-' || k, 'whsec_bench' FROM generate_series(0, 9) k" >/dev/null
outbox "$WEBHOOKS" "$N" "$url"
rx_before=$(proc_cpu_s "$RECEIVER")
TALLY_WEBHOOK_ALLOW_PRIVATE=1 /usr/bin/time -f "%e %U %S %M" -o "$BENCH_TMP/time.hooks" \
  "$BUILD/alerts/tally-alerts" --topic "$TOPIC" --batch-size "$BATCH" --once --stats-interval 1 \
  2>"$BENCH_TMP/hooks.log"
rx_after=$(proc_cpu_s "$RECEIVER")
read -r wall user sys rss <"$BENCH_TMP/time.hooks"
read -r delivered span failed < <(psql_db -F ' ' -c "
  SELECT count(delivered_at), extract(epoch FROM max(delivered_at) - min(last_attempt_at)),
         (SELECT count(*) FROM webhook_attempts WHERE status <> '200')
  FROM webhook_deliveries" | tr '|' ' ')
[ "$delivered" = "$WEBHOOKS" ] || bench_die "$delivered of $WEBHOOKS delivered; see $BENCH_TMP/hooks.log"
awk -v n="$WEBHOOKS" -v s="$span" -v f="$failed" -v w="$wall" -v u="$user" -v y="$sys" \
  -v r="$(awk -v a="$rx_before" -v b="$rx_after" 'BEGIN {print b - a}')" 'BEGIN {
  printf "RESULT webhooks  %8.0f deliveries/s (%d in %.2f s, first try to last delivery; %d failed tries); tally-alerts %.2f s wall, %.2f CPU-s; receiver %.2f CPU-s\n",
    n / s, n, s, f, w, u + y, r }'
echo "load:     $(bench_loadavg) after"
