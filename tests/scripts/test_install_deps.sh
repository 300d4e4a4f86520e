#!/usr/bin/env bash
# scripts/install-deps on machines it cannot touch: each case runs it with a
# PATH of stand-ins only (dpkg-query, apt-get, id, pg_lsclusters, pg_ctlcluster,
# tee; java, mvn and go when the case has them) plus the few real tools it
# needs (bash, dirname, sed, grep). Nothing is installed, nothing outside a
# temp dir is written. Asserts what apt-get was asked for.
#
#   tests/scripts/test_install_deps.sh      (exit 0 when every case passed)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
INSTALL_DEPS="$ROOT/scripts/install-deps"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The script's own package list (its PACKAGES=( ... ) block), so the test
# follows the list as it changes.
eval "$(sed -n '/^PACKAGES=(/,/^)/p' "$INSTALL_DEPS")"
[ "${#PACKAGES[@]}" -gt 10 ] || { echo "could not read PACKAGES from $INSTALL_DEPS" >&2; exit 1; }
# What install-deps asks for when `java`, `mvn` or `go` is not found.
EXTRAS=(openjdk-17-jre-headless maven golang-go)

passed=0
failed=0
errors=()
expect() { errors+=("$*"); }

# sandbox NAME: a fresh $dir with $dir/bin holding the stand-ins. Every
# stand-in appends what it was asked to $dir/<name>.log.
sandbox() {
  dir="$WORK/$1"
  bin="$dir/bin"
  mkdir -p "$bin"
  local t
  for t in bash dirname sed grep; do
    ln -s "$(command -v "$t")" "$bin/$t"
  done
  # dpkg-query -W -f=FORMAT PKG...: like the real one, a line in FORMAT for
  # each package in $dir/dpkg-status ("name status" lines), a complaint on
  # stderr for any other, and exit 1 if there was any other.
  stub dpkg-query <<'EOF'
fmt='${Package}\n' rc=0
for a in "$@"; do
  case "$a" in
    -W | --show) ;;
    -f=* | --showformat=*) fmt=${a#*=} ;;
    -*) echo "dpkg-query stand-in: unexpected option $a" >&2; exit 2 ;;
    *)
      status=""
      while read -r name st; do
        if [ "$name" = "$a" ]; then status=$st; fi
      done <"$DIR/dpkg-status"
      if [ -z "$status" ]; then
        echo "dpkg-query: no packages found matching $a" >&2
        rc=1
        continue
      fi
      line=${fmt//'${Package}'/$a}
      line=${line//'${Status}'/$status}
      printf '%b' "$line"
      ;;
  esac
done
exit "$rc"
EOF
  stub apt-get <<<'exit "${APT_GET_STATUS:-0}"'
  stub id <<<'if [ "${1:-}" = -u ]; then echo 0; else echo root; fi'
  # A packaged "main" cluster, online, as Debian's postinst leaves it.
  stub pg_lsclusters <<<'echo "15 main 5432 online postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log"; exit "${PG_LSCLUSTERS_STATUS:-0}"'
  stub pg_ctlcluster <<<'exit 0'
  # Never the real tee: install-deps may write /etc/postgresql/*/main/start.conf.
  stub tee <<<'while IFS= read -r l; do printf "stdin: %s\n" "$l" >>"$DIR/tee.log"; done'
  # npm, and a python3 whose venv works: there unless a case takes them away.
  stub npm <<<'exit 0'
  stub python3 <<<'exit 0'
  : >"$dir/dpkg-status"
}

# stub NAME: a stand-in in $bin from stdin, logging its arguments first.
stub() {
  {
    printf '#!%s\nDIR=%q\n' "$BASH" "$dir"
    printf 'printf "%%s\\n" "$*" >>"$DIR/%s.log"\n' "$1"
    cat
  } >"$bin/$1"
  chmod +x "$bin/$1"
}

# installed PKG...: dpkg has these installed.
installed() {
  local p
  for p in "$@"; do echo "$p install ok installed" >>"$dir/dpkg-status"; done
}

# have CMD...: `CMD` is on PATH (java, mvn, go).
have() {
  local c
  for c in "$@"; do stub "$c" <<<'exit 0'; done
}

# run_install_deps [ARG...]: sets rc, out, err.
run_install_deps() {
  rc=0
  env -i PATH="$bin" HOME="$dir" TALLY_GO_FALLBACK="${GO_FALLBACK:-$dir/no-such/go}" \
    APT_GET_STATUS="${APT_GET_STATUS:-0}" PG_LSCLUSTERS_STATUS="${PG_LSCLUSTERS_STATUS:-0}" \
    "$INSTALL_DEPS" "$@" >"$dir/out" 2>"$dir/err" || rc=$?
  out=$(<"$dir/out")
  err=$(<"$dir/err")
}

# The packages of the `apt-get install` call, one a line, sorted; duplicates kept.
apt_installed() {
  [ -f "$dir/apt-get.log" ] || return 0
  local line w skip
  line=$(grep '^install ' "$dir/apt-get.log" || true)
  skip=0
  for w in $line; do
    if [ "$skip" -eq 1 ]; then skip=0; continue; fi
    case "$w" in
      install) ;;
      -o) skip=1 ;;
      -*) ;;
      *) echo "$w" ;;
    esac
  done | sort
}

# Everything in PACKAGES but the arguments, plus EXTRAS_WANTED.
all_but() {
  local p q keep
  for p in "${PACKAGES[@]}"; do
    keep=1
    for q in "$@"; do [ "$p" = "$q" ] && keep=0; done
    [ "$keep" -eq 1 ] && echo "$p"
  done
  printf '%s\n' "${EXTRAS_WANTED[@]}"
}

expect_status() {
  [ "$rc" -eq "$1" ] || expect "exit status $rc, expected $1; stderr: $err"
}
expect_no_error_message() {
  if grep -q 'error:' <<<"$err"; then expect "unexpected error on stderr: $err"; fi
}
# expect_apt_calls N: apt-get ran N times in all.
expect_apt_calls() {
  local n=0
  [ -f "$dir/apt-get.log" ] && n=$(grep -c '' "$dir/apt-get.log")
  [ "$n" -eq "$1" ] || expect "apt-get ran $n times, expected $1: $(cat "$dir/apt-get.log" 2>/dev/null)"
}
# expect_update_then_install: `apt-get update` first, then one `apt-get install`.
expect_update_then_install() {
  expect_apt_calls 2
  grep -qx 'update -qq' <(sed -n 1p "$dir/apt-get.log" 2>/dev/null) ||
    expect "the first apt-get call was not 'update -qq'"
  grep -q '^install ' <(sed -n 2p "$dir/apt-get.log" 2>/dev/null) ||
    expect "the second apt-get call was not 'install'"
}
# expect_installs PKG...: apt-get install asked for exactly these, each once.
expect_installs() {
  local d
  if ! d=$(diff <(printf '%s\n' "$@" | sort) <(apt_installed)); then
    expect "apt-get install, expected (<) vs asked (>): $(tr '\n' ' ' <<<"$d")"
  fi
}
# expect_dpkg_asked_about_all: one dpkg-query call naming every package.
expect_dpkg_asked_about_all() {
  local p
  for p in "${PACKAGES[@]}"; do
    grep -qw -- "$p" "$dir/dpkg-query.log" 2>/dev/null || expect "dpkg-query was not asked about $p"
  done
}

# case NAME FUNCTION: run one case, count it, say how it went.
case_() {
  errors=()
  EXTRAS_WANTED=()
  unset GO_FALLBACK APT_GET_STATUS PG_LSCLUSTERS_STATUS
  "$2"
  if [ "${#errors[@]}" -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok   $1"
  else
    failed=$((failed + 1))
    echo "FAIL $1"
    printf '       %s\n' "${errors[@]}"
  fi
}

# ---------------------------------------------------------------------------

# A minimal image: a few of the packages installed, one removed (its config
# files left), one known to dpkg but never installed, the rest unknown (so
# dpkg-query exits 1). No java, mvn or go.
SOME=(make python3 ca-certificates git procps util-linux curl)
t_some_installed() {
  sandbox some
  installed "${SOME[@]}"
  echo "postgresql-client deinstall ok config-files" >>"$dir/dpkg-status"
  echo "cmake unknown ok not-installed" >>"$dir/dpkg-status"
  EXTRAS_WANTED=("${EXTRAS[@]}")
  run_install_deps
  expect_status 0
  expect_no_error_message
  expect_dpkg_asked_about_all
  expect_update_then_install
  expect_installs $(all_but "${SOME[@]}")
  # postgresql was not there: the packaged cluster is stopped.
  grep -qx '15 main stop' "$dir/pg_ctlcluster.log" 2>/dev/null ||
    expect "the packaged cluster 15/main was not stopped"
  grep -q 'install-deps: done' <<<"$err" || expect "no 'install-deps: done'"
}

# Nothing at all: dpkg-query prints nothing on stdout and exits 1, as the real
# one does on a fresh machine. (Before the fix this ended the script silently.)
t_nothing_installed() {
  sandbox nothing
  EXTRAS_WANTED=("${EXTRAS[@]}")
  run_install_deps
  expect_status 0
  expect_no_error_message
  expect_update_then_install
  expect_installs $(all_but)
}

# Everything there: no apt-get at all, not even update.
t_everything_installed() {
  sandbox everything
  installed "${PACKAGES[@]}"
  have java mvn go
  run_install_deps
  expect_status 0
  expect_no_error_message
  expect_apt_calls 0
  [ -z "$out$err" ] || expect "expected no output, got: $out$err"
  [ ! -f "$dir/pg_lsclusters.log" ] || expect "pg_lsclusters ran, though nothing was installed"
}

# Only the tools found by command: java, mvn and go missing; then go present
# only at TALLY_GO_FALLBACK (/usr/local/go/bin/go on a real machine).
t_only_tools_missing() {
  sandbox tools
  installed "${PACKAGES[@]}"
  EXTRAS_WANTED=("${EXTRAS[@]}")
  run_install_deps
  expect_status 0
  expect_update_then_install
  expect_installs $(all_but "${PACKAGES[@]}")
  [ ! -f "$dir/pg_lsclusters.log" ] || expect "pg_lsclusters ran, though postgresql was installed"
}
t_go_fallback() {
  sandbox go-fallback
  installed "${PACKAGES[@]}"
  have java mvn
  mkdir -p "$dir/local-go/bin"
  printf '#!/bin/sh\n' >"$dir/local-go/bin/go"
  chmod +x "$dir/local-go/bin/go"
  GO_FALLBACK="$dir/local-go/bin/go"
  run_install_deps
  expect_status 0
  expect_apt_calls 0
}

# No npm and a python3 without venv (scripts/api-check needs both): Debian's
# nodejs, npm and python3-venv are asked for, nothing else.
t_node_venv_missing() {
  sandbox node-venv
  installed "${PACKAGES[@]}"
  have java mvn go
  rm "$bin/npm"
  stub python3 <<<'exit 1'
  run_install_deps
  expect_status 0
  expect_update_then_install
  expect_installs nodejs npm python3-venv
}

# pg_lsclusters failing after a good install is not the install failing.
t_pg_lsclusters_fails() {
  sandbox lsclusters-fails
  installed "${PACKAGES[@]}"
  sed -i '/^postgresql /d' "$dir/dpkg-status"
  have java mvn go
  PG_LSCLUSTERS_STATUS=1
  run_install_deps
  expect_status 0
  expect_no_error_message
  expect_installs postgresql
  grep -q 'install-deps: done' <<<"$err" || expect "no 'install-deps: done'"
}

# --check: says what is missing, exit 1, installs nothing, and that exit 1 is
# not reported as an error by the ERR trap.
t_check() {
  sandbox check
  installed "${PACKAGES[@]}"
  sed -i '/^kcat /d' "$dir/dpkg-status"
  have java mvn go
  run_install_deps --check
  expect_status 1
  expect_no_error_message
  expect_apt_calls 0
  [ "$out" = "install-deps: missing: kcat" ] || expect "--check printed '$out'"
}

# A usage error is exit 2 and its own message, not the ERR trap's.
t_usage() {
  sandbox usage
  run_install_deps --bogus
  expect_status 2
  [ "$err" = "install-deps: unknown argument '--bogus'" ] || expect "stderr: $err"
}

# apt-get failing stops the script, and the ERR trap says which command failed.
t_apt_get_fails() {
  sandbox apt-fails
  have java mvn go
  APT_GET_STATUS=100
  run_install_deps
  expect_status 100
  grep -q "^scripts/install-deps: error: command '.*apt-get update -qq' failed with status 100 at line [0-9]" <<<"$err" ||
    expect "no ERR trap message naming apt-get update; stderr: $err"
}

case_ "a few packages installed, the rest unknown to dpkg: installs exactly the rest" t_some_installed
case_ "nothing installed (dpkg-query exits 1, prints nothing): installs everything" t_nothing_installed
case_ "everything installed: asks apt-get for nothing" t_everything_installed
case_ "java, mvn and go missing: asks for their packages" t_only_tools_missing
case_ "go only at TALLY_GO_FALLBACK: golang-go not asked for" t_go_fallback
case_ "npm missing, python3 without venv: asks for nodejs, npm, python3-venv" t_node_venv_missing
case_ "pg_lsclusters fails after installing postgresql: still exit 0" t_pg_lsclusters_fails
case_ "--check with kcat missing: exit 1, prints it, installs nothing" t_check
case_ "unknown argument: exit 2, no ERR trap message" t_usage
case_ "apt-get fails: exit 100 and the ERR trap names the command" t_apt_get_fails

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
