# shellcheck shell=bash
# Reading a command's output under `set -o pipefail` (sourced by scripts).
#
# `cmd | grep -q pattern` is wrong there: grep -q exits at its first match,
# the command's next write then fails with SIGPIPE, and pipefail turns that
# into a failure of the whole test -- now and then, depending on how the
# command's writes are timed (scripts/stack once rebuilt FerretDB on a loaded
# machine because `ferretdb --version | grep -q …` failed so). Capture first,
# then match.

# output_has_line LINE CMD [ARGS…]: CMD (stderr dropped, exit status ignored)
# printed LINE as one whole line.
output_has_line() {
  local want=$1 out
  shift
  out=$("$@" 2>/dev/null) || true
  grep -qxF -- "$want" <<<"$out"
}

# output_contains TEXT CMD [ARGS…]: CMD's output contains TEXT anywhere.
output_contains() {
  local want=$1 out
  shift
  out=$("$@" 2>/dev/null) || true
  [[ $out == *"$want"* ]]
}
