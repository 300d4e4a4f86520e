#!/usr/bin/env bash
# scripts/lib/trap.sh, the ERR trap every script in scripts/ sources: a command
# that stops a script under `set -e` is named on stderr; what `set -e` lets
# pass (|| true, if, &&, $(...) inside a word, exit N) prints nothing.
#
#   tests/scripts/test_err_trap.sh      (exit 0 when every case passed)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0

# check NAME WANT_STATUS WANT_STDERR BODY: BODY as a script (line 4 onward,
# after the shebang, `set -euo pipefail` and the source line) must exit
# WANT_STATUS with stderr matching the extended regex WANT_STDERR ("" = empty).
check() {
  local name=$1 want_status=$2 want_err=$3 body=$4 script="$WORK/case.sh" status=0 err good=1
  printf '#!/usr/bin/env bash\nset -euo pipefail\n. %q\n%s\n' "$ROOT/scripts/lib/trap.sh" "$body" >"$script"
  chmod +x "$script"
  "$script" >/dev/null 2>"$WORK/err" || status=$?
  err=$(<"$WORK/err")
  [ "$status" -eq "$want_status" ] || good=0
  if [ -z "$want_err" ]; then
    [ -z "$err" ] || good=0
  else
    # [[ =~ ]], not grep: ^ and $ anchor the whole of stderr, not one line.
    [[ "$err" =~ $want_err ]] || good=0
  fi
  if [ "$good" -eq 1 ]; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    echo "       exit status $status (wanted $want_status); stderr: ${err:-(empty)}"
  fi
}

E=": error: command"

check "a failing command is named, with its status and line" 3 \
  "^[^ ]*case\.sh$E 'sh -c \"exit 3\"' failed with status 3 at line 5\$" \
  'echo fine
sh -c "exit 3"
echo not reached'

check "in a function: the function is named" 1 \
  "$E 'false' failed with status 1 at line 5 \(in step_two\)\$" \
  'step_two() {
  false
}
step_two'

check "a failed pipeline shows every status" 1 \
  "failed with status 1 at line 4 \(pipeline statuses: 1 0\)\$" \
  'false | cat'

check "an assignment from a failing \$(...) is named once" 4 \
  "^[^ ]*case\.sh$E 'x=\\\$\(sh -c \"exit 4\"\)' failed with status 4 at line 4\$" \
  'x=$(sh -c "exit 4")'

check "exit 2 (a usage error) prints nothing more" 2 "" \
  'echo "usage: ..." >/dev/null
exit 2'

check "die (message, then exit 1) prints nothing more" 1 "^die: oops\$" \
  'die() { echo "die: $*" >&2; exit 1; }
die oops'

check "what set -e lets pass prints nothing" 0 "" \
  'false || true
if false; then :; fi
false && true
! true
while false; do :; done
f() { return 1; }
f || :
if f; then :; fi
g() { false; echo after; }
g || :
v=$(false; echo set -e is off in here)
echo "$(false)" >/dev/null
test "$(sh -c "exit 1")" = x || :
printf "a\n" | grep -q a'

check "stack status style: a status passed on with || exit \$? is not an error" 1 "" \
  'status() { return 1; }
status || exit $?'

# (Two commands: a subshell of one simple command execs it, and no trap runs there.)
check "errtrace: a failure in a subshell is reported there and by the shell it stops" 6 \
  "^[^ ]*$E 'sh -c \"exit 6\"' failed with status 6 at line 4"$'\n'"[^ ]*$E '\( cd /; sh -c \"exit 6\" \)' failed with status 6 at line 4\$" \
  '( cd /; sh -c "exit 6" )'

# The real scripts' own usage errors: nothing but their own message. (These
# paths stop before touching any state.)
real() {
  local name=$1 want_status=$2 status=0 err
  shift 2
  "$@" >/dev/null 2>"$WORK/err" || status=$?
  err=$(<"$WORK/err")
  if [ "$status" -eq "$want_status" ] && ! grep -q "$E" <<<"$err"; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    echo "       exit status $status (wanted $want_status); stderr: ${err:-(empty)}"
  fi
}
real "scripts/stack with an unknown command: exit 2, no ERR trap message" 2 "$ROOT/scripts/stack" bogus
real "scripts/run with an unknown flag: exit 1 (die), no ERR trap message" 1 "$ROOT/scripts/run" --bogus
real "scripts/install-deps with an unknown flag: exit 2, no ERR trap message" 2 "$ROOT/scripts/install-deps" --bogus

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
