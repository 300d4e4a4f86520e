# shellcheck shell=bash
# Shared by the bench/*.sh scripts (sourced, not run).
#
#   BUILD=DIR   use the binaries in DIR (cli/tally, ingest/tally-ingest, bench/…)
#               as they are; unset: `scripts/build release` first and use build/.
#
# Every script prints the machine (nproc, CPU model, RAM, load average) and the
# exact command it was started with, so its output can be pasted as is.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tally"
. "$ROOT/scripts/versions" # KAFKA_VERSION
KAFKA_LIBS="$STACK_CACHE/kafka-$KAFKA_VERSION/libs"

bench_die() {
  printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}

# The build directory, built first unless BUILD is given.
bench_build() {
  if [ -n "${BUILD:-}" ]; then
    [ -d "$BUILD" ] || bench_die "BUILD=$BUILD is not a directory"
  else
    BUILD=$("$ROOT/scripts/build" release) || bench_die "scripts/build release failed"
  fi
}

bench_loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# The header every script prints: what ran, where, and how loaded the machine was.
bench_header() {
  local model mem
  model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
  mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
  echo "== $1"
  echo "command:  $BENCH_COMMAND"
  echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine:  nproc=$(nproc), ${model:-unknown CPU}, RAM $mem"
  echo "kernel:   $(uname -sr)"
  echo "load:     $(bench_loadavg) (1/5/15 min) at start"
  echo "tree:     $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(
    [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' + uncommitted changes')"
  echo "build:    $BUILD"
}

# The exact command line, quoted, with the environment variables that change it.
bench_command() {
  local v out=""
  for v in "$@"; do
    [ -n "${!v:-}" ] || continue
    case "${!v}" in
      *[[:space:]]*) out+="$v=\"${!v}\" " ;;
      *) out+="$v=${!v} " ;;
    esac
  done
  BENCH_COMMAND="$out$0"
  shift $#
}

# Total CPU seconds (user+sys) a live process has used so far, threads included.
proc_cpu_s() {
  local pid=$1 tck
  tck=$(getconf CLK_TCK)
  [ -r "/proc/$pid/stat" ] || {
    echo 0
    return
  }
  # Fields 14 and 15 (utime, stime) counted after the ")" that ends the name.
  sed 's/^.*) //' "/proc/$pid/stat" | awk -v t="$tck" '{printf "%.2f", ($12 + $13) / t}'
}

# Busy CPU seconds of the whole machine so far (every core, every process).
machine_busy_s() {
  local tck
  tck=$(getconf CLK_TCK)
  awk -v t="$tck" '/^cpu / {printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / t}' /proc/stat
}

# Seconds since the epoch with nanoseconds.
now_s() { date +%s.%N; }

# Kafka's own TopicCommand, from the jars `scripts/stack up` cached.
kafka_topic() {
  [ -d "$KAFKA_LIBS" ] || bench_die "no Kafka jars in $KAFKA_LIBS; run scripts/stack up"
  java -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$ROOT/.stack/kafka/tools-log4j.properties" \
    -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$TALLY_KAFKA_BROKERS" "$@"
}

topic_create() { # NAME PARTITIONS
  kafka_topic --create --topic "$1" --partitions "$2" --replication-factor 1 \
    --config max.message.bytes=8388608 >/dev/null
}

topic_delete() { kafka_topic --delete --if-exists --topic "$1" >/dev/null 2>&1 || true; }

# The stack's addresses (TALLY_KAFKA_BROKERS, TALLY_PG_URL, TALLY_MONGO_URL).
# The stack's addresses; also MONGO_BASE and PG_BASE, the server parts of its
# URLs, for naming a bench's own databases ("$PG_BASE/bench_x").
bench_stack_env() {
  eval "$("$ROOT/scripts/stack" env)"
  "$ROOT/scripts/stack" status >/dev/null 2>&1 ||
    bench_die "the local stack does not answer; run scripts/stack up"
  MONGO_BASE=$(sed 's#^\(mongodb://[^/?]*\).*#\1#' <<<"$TALLY_MONGO_URL")
  PG_BASE=$(sed 's#^\(postgres[a-z]*://[^/?]*\).*#\1#' <<<"$TALLY_PG_URL")
}

# /usr/bin/time (for peak RSS), installed when missing.
bench_need_time() {
  [ -x /usr/bin/time ] && return
  echo "installing /usr/bin/time (Debian package 'time')" >&2
  { apt-get install -y -qq time || sudo -n apt-get install -y -qq time; } >/dev/null 2>&1 ||
    bench_die "/usr/bin/time is missing and could not be installed (apt-get install time)"
}

# tally-api on 127.0.0.1 at any free port, logging to $BENCH_TMP/api.log and
# stopped on exit (after bench_tmpdir); the caller's environment, prefix
# assignments included (TALLY_PG_URL=… bench_start_api), is its. Sets
# BENCH_API_PORT once its "listening" line names the port; dies if it exits
# first or says nothing within 10 s.
bench_start_api() {
  local pid
  "$BUILD/analytics/tally-api" --http-addr 127.0.0.1:0 >"$BENCH_TMP/api.log" 2>&1 &
  pid=$!
  BENCH_CLEANUP+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null")
  BENCH_API_PORT=
  for _ in $(seq 1 100); do
    BENCH_API_PORT=$(sed -n 's/.*msg="listening".* port=\([0-9]*\).*/\1/p' "$BENCH_TMP/api.log" | head -n1)
    [ -n "$BENCH_API_PORT" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$BENCH_TMP/api.log"; bench_die "tally-api exited"; }
    sleep 0.1
  done
  [ -n "$BENCH_API_PORT" ] || { cat "$BENCH_TMP/api.log"; bench_die "tally-api did not say where it listens"; }
}

# A temporary folder under $TMPDIR (or /tmp), removed on exit with what
# BENCH_CLEANUP names (a list of commands).
BENCH_CLEANUP=()
bench_tmpdir() {
  BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tally-bench.XXXXXX")
  trap bench_on_exit EXIT
  trap 'exit 130' INT TERM
}
bench_on_exit() {
  local c
  for c in "${BENCH_CLEANUP[@]}"; do eval "$c" || true; done
  rm -rf "$BENCH_TMP"
}
