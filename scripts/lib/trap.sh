# Sourced by every script in scripts/ right after `set -euo pipefail`:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib/trap.sh"
#
# so that a command that stops a script under `set -e` says so on stderr
# instead of the script just ending:
#
#   scripts/stack: error: command 'mvn -B ...' failed with status 1 at line 312 (in kafka_jars)
#
# What is not an error stays quiet, exactly as `set -e` treats it: commands
# guarded by `|| true`, tested by `if`/`while`/`&&`/`||`/`!`, and deliberate
# `exit N` (usage errors, die). A script that dies in a child (another script,
# a subshell, a pipeline) is reported by each shell that dies, innermost first.

# errtrace: the trap also fires for commands inside functions and subshells.
set -o errtrace

# The script's path from the repo root (scripts/stack), whatever the caller's cwd.
tally_trap_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
tally_trap_name=$(cd "$(dirname "$0")" && pwd -P)/${0##*/}
tally_trap_name=${tally_trap_name#"$tally_trap_root"/}

# tally_on_err STATUS PIPESTATUS COMMAND LINE
tally_on_err() {
  local status=$1 statuses=$2 command=$3 line=$4 where=""
  # Bash turns -e off inside $(...) (no inherit_errexit), and errtrace still
  # runs this trap there: a failure that does not stop the shell is not ours
  # to report. The assignment that used the $(...) is, if it stops the script.
  if [[ $- != *e* ]]; then
    return "$status"
  fi
  if [[ -n "${FUNCNAME[1]:-}" && "${FUNCNAME[1]}" != main ]]; then
    where=" (in ${FUNCNAME[1]})"
  fi
  # For a failed pipeline BASH_COMMAND is only the last command the shell
  # started, so the statuses of every part are shown too.
  if [[ "$statuses" == *" "* ]]; then
    where+=" (pipeline statuses: $statuses)"
  fi
  printf '%s: error: command '\''%s'\'' failed with status %d at line %d%s\n' \
    "$tally_trap_name" "$command" "$status" "$line" "$where" >&2
  return "$status"
}

# $? and PIPESTATUS first: anything else run before them would replace them.
trap 'tally_on_err "$?" "${PIPESTATUS[*]}" "$BASH_COMMAND" "$LINENO"' ERR
