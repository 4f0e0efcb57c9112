#!/bin/bash
# bench/lib/options.sh: the command-line options of the bench scripts' inner halves.

# bench_options WHO OPTION=VARIABLE... -- ARGS...: for each "OPTION VALUE" in ARGS, sets VARIABLE
# (a global) to VALUE. An option not named, or one without a value, ends the script with status 2.
bench_options() {
  local who="$1"; shift
  local -A var=()
  while [[ "$1" != -- ]]; do var["${1%%=*}"]="${1#*=}"; shift; done
  shift
  while [[ $# -gt 0 ]]; do
    if [[ -z "${var[$1]:-}" || $# -lt 2 ]]; then
      echo "$who: unknown option '$1' (or no value after it)" >&2
      exit 2
    fi
    printf -v "${var[$1]}" '%s' "$2"
    shift 2
  done
}

# bench_choice WHO OPTION VALUE CHOICE...: ends the script with status 2 unless VALUE is one of the
# CHOICEs (the values OPTION takes).
bench_choice() {
  local who="$1" opt="$2" val="$3" c; shift 3
  for c in "$@"; do [[ $val == "$c" ]] && return 0; done
  echo "$who: $opt must be one of $*, not '$val'" >&2
  exit 2
}
