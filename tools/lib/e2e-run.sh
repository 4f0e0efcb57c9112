# tools/lib/e2e-run.sh: how tools/test runs the e2e tests (sourced by tools/test, not run).
#
# tests/host/*.sh run one by one on this machine (they drive tools/nested-kvm themselves).
# tests/e2e/*.sh run in batches: one nested host boots and runs them one after another
# (tools/lib/e2e-batch), until one fails; the rest then go on in a fresh nested host. A test is
# retried only when its nested host itself failed (tools/nested-kvm's status 125, with the kernel's
# console line or nested-kvm's watchdog line as the evidence), at most twice and within RETRY_BUDGET.
#
# Uses and updates tools/test's counters: passed failed skipped retries summary retry_causes, and
# reads logs, start_all and RETRY_BUDGET.

# e2e_header TEST KEY DEFAULT: the value of the test's "# KEY: N" header line, else DEFAULT.
e2e_header() {
  local v
  v="$(sed -n "s/^# $2: *\([0-9]*\).*/\1/p" "$1" | head -n1)"
  echo "${v:-$3}"
}

# e2e_past_deadline NAME LIMIT LOG: true, with a "[NAME] SKIP: not run: ..." line on stdout and in
# LOG, when tools/test's time budget (TANDEM_E2E_DEADLINE, epoch seconds) is set and a test of
# LIMIT seconds (counted as at most 600) could not end before it. Also used inside the nested host
# (tools/lib/e2e-batch sources this file).
e2e_past_deadline() {
  [[ -n "${TANDEM_E2E_DEADLINE:-}" ]] || return 1
  (( $(date +%s) + ($2 < 600 ? $2 : 600) > TANDEM_E2E_DEADLINE )) || return 1
  echo "[$1] SKIP: not run: the time budget (TANDEM_TEST_DEADLINE) would end during it" | tee "$3"
}

# e2e_l1_why LOG: the nested host's failure as tools/nested-kvm printed it into LOG: its kernel's
# console line first, else nested-kvm's own watchdog line (empty when neither is there).
e2e_l1_why() {
  local why
  why="$(tr -d '\r' < "$1" | grep -a -m1 -E "^nested-kvm: L1 kernel: " \
    | sed 's/^nested-kvm: L1 kernel: //; s/^\[ *[0-9.]*\] //' | cut -c1-200)"
  [[ -n "$why" ]] || why="$(tr -d '\r' < "$1" \
    | grep -a -m1 -E "^nested-kvm: (the nested host|the nested KVM host|the command ended)" \
    | sed 's/^nested-kvm: //; s/; killed.*//; s/; last output:.*//; s/\. Last output:.*//; s/ Last output:.*//' | cut -c1-200)"
  echo "$why"
}

# e2e_may_retry ATTEMPT SECONDS: another attempt is allowed (at most 3 in all, and one as long as
# the failed one still ends within RETRY_BUDGET of the start).
e2e_may_retry() {
  (( $1 < 3 && SECONDS - start_all + $2 < RETRY_BUDGET ))
}

# e2e_record NAME RC ATTEMPT SECONDS WHY CAUSES...: counts the test's last attempt in the summary:
# its skips (lines "[test] SKIP: ..." in its log), its retries with their causes, passed or failed.
e2e_record() {
  local name="$1" rc="$2" attempt="$3" dt="$4" why="$5"; shift 5
  local log="$logs/$name.attempt-$attempt.log" retry_note="" skip_note="" skips nskip=0 detail
  if (( $# > 0 )); then
    retries=$((retries + $#))
    retry_causes+=("$name: $(join "; " "$@")")
    retry_note=" (retried $# time(s): $(join "; " "$@"))"
  fi
  skips="$(tr -d '\r' < "$log" 2>/dev/null | grep -a -E "^\[[^]]*\] SKIP: " | sed 's/^\[[^]]*\] SKIP: //')"
  [[ -n "$skips" ]] && nskip=$(wc -l <<<"$skips")
  (( nskip > 0 )) && { skipped=$((skipped + nskip)); skip_note="; $nskip case(s) skipped: $(paste -sd ';' <<<"$skips")"; }
  if [[ $rc -eq 0 ]] && grep -qa "^\[$name\] SKIP: not run: " "$log" 2>/dev/null; then
    summary+=("e2e   $name: not run, counted as skipped: $(sed -n "s/^\[$name\] SKIP: not run: //p" "$log" | head -n1)")
    return
  fi
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1)); summary+=("e2e   $name: passed in ${dt} s on attempt $attempt$retry_note$skip_note")
    return
  fi
  # the test's own FAIL line and the VMM errors it names (FAIL-CAUSE): at most three lines
  detail="$(tr -d '\r' < "$log" 2>/dev/null | grep -a -E "\] FAIL(: |-CAUSE )" | head -n 3 | tr '\n' ' ' | cut -c1-500)"
  [[ -n "$detail" ]] && why="$why (${detail% })"
  failed=$((failed + 1))
  summary+=("e2e   $name: FAILED on attempt $attempt: $why$retry_note; logs $logs/$name.attempt-$attempt.*")
}

# e2e_why RC LIMIT SECONDS L1WHY: the words for a failed attempt.
e2e_why() {
  case $1 in
    124) echo "hung past its time limit of $2 s" ;;
    125) echo "its nested KVM host failed${4:+ (L1: \"$4\")}" ;;
    *) echo "failed with status $1 after $3 s" ;;
  esac
}

# e2e_run_host TEST: a tests/host test, on this machine, retried only on its nested host's failure.
e2e_run_host() {
  local t="$1" name limit attempt rc dt t0 l1_why="" log causes=()
  name="$(basename "$t" .sh)"
  limit="$(e2e_header "$t" timeout 300)"
  if e2e_past_deadline "$name" "$limit" "$logs/$name.attempt-1.log"; then
    e2e_record "$name" 0 1 0 ""
    return
  fi
  for attempt in 1 2 3; do
    echo "-- $name (attempt $attempt, limit ${limit} s)"
    t0=$SECONDS
    log="$logs/$name.attempt-$attempt.log"
    TANDEM_E2E_KEEP="$logs/$name.attempt-$attempt.files" timeout -k 10 "$limit" "$t" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    dt=$((SECONDS - t0))
    [[ $rc -eq 0 ]] && break
    l1_why=""
    [[ $rc -eq 125 ]] && l1_why="$(e2e_l1_why "$log")"
    if [[ -n "$l1_why" ]] && e2e_may_retry "$attempt" "$dt"; then
      causes+=("L1: \"$l1_why\"")
      echo "-- $name: its nested host failed (${l1_why}); retrying"
      continue
    fi
    break
  done
  e2e_record "$name" "$rc" "$attempt" "$dt" "$(e2e_why "$rc" "$limit" "$dt" "$l1_why")" "${causes[@]}"
}

# e2e_run_batches TEST...: tests/e2e tests in batches, each batch in one nested host. A batch runs
# the tests still queued, in order, until one fails; the next batch starts after it (after the
# failed test itself when its nested host failed and it may be retried).
e2e_run_batches() {
  local -a queue=()
  local -A path=() limit=() mem=() attempt=() causes=() final=()
  local t name n=0
  for t in "$@"; do
    name="$(basename "$t" .sh)"
    if [[ ! -x "$t" ]]; then
      summary+=("e2e   $t: FAILED (no such executable test)"); failed=$((failed + 1)); continue
    fi
    queue+=("$name"); path[$name]="$t"; attempt[$name]=1; causes[$name]=""
    limit[$name]="$(e2e_header "$t" timeout 300)"
    mem[$name]="$(e2e_header "$t" nested-memory 3072)"
  done
  while (( ${#queue[@]} > 0 )); do
    n=$((n + 1))
    e2e_batch "$n"
    local rest=()
    for name in "${queue[@]}"; do [[ -n "${final[$name]:-}" ]] || rest+=("$name"); done
    queue=("${rest[@]}")
  done
}

# e2e_batch N: one nested host for the queued tests (see e2e_run_batches).
e2e_batch() {
  local n="$1" specs=() nested_mem=0 total=90 name rc
  for name in "${queue[@]}"; do
    specs+=("$name:${attempt[$name]}:${limit[$name]}:${path[$name]}")
    (( mem[$name] > nested_mem )) && nested_mem=${mem[$name]}
    total=$((total + limit[$name] + 20))
  done
  local results="$logs/batch-$n.results" blog="$logs/batch-$n.log" console="$logs/batch-$n.l1-console.log"
  : > "$results"
  echo "-- batch $n: ${#queue[@]} test(s) in one nested host of ${nested_mem} MiB"
  tools/nested-kvm --memory "$nested_mem" --timeout "$total" --console "$console" \
    -- tools/lib/e2e-batch "$results" "$logs" "${specs[@]}" 2>&1 | tee "$blog"
  rc=${PIPESTATUS[0]}
  e2e_batch_results "$rc" "$results" "$blog" "$console" "$(date +%s)"
}

# e2e_batch_results RC RESULTS BATCHLOG CONSOLE NOW: counts each test the batch ran. Every test that
# ended with status 0 passed. The one that failed, or was running when the batch ended, failed,
# or is queued again when its nested host failed (RC 125) and e2e_may_retry allows it. When the
# nested host failed before any test started, that counts against the first queued test.
e2e_batch_results() {
  local rc="$1" results="$2" blog="$3" console="$4" now="$5"
  local kind nm at x y last="" last_rc="" last_dt=0
  while read -r kind nm at x y; do
    cp -f "$console" "$logs/$nm.attempt-$at.l1-console.log" 2>/dev/null
    if [[ "$kind" == start ]]; then last="$nm"; last_rc=""; last_dt=$((now - x)); continue; fi
    if [[ "$kind" == skip ]]; then e2e_finish "$nm" 0 0 ""; continue; fi
    [[ "$kind" == end ]] || continue
    if [[ "$x" -eq 0 ]]; then
      e2e_finish "$nm" 0 "$y" ""
      last=""
    else
      last_rc="$x"; last_dt="$y"
    fi
  done < "$results"
  if [[ -z "$last" ]]; then
    (( rc == 0 )) && return
    last="${queue[0]}"
    for nm in "${queue[@]}"; do [[ -z "${final[$nm]:-}" ]] && { last="$nm"; break; }; done
    last_dt=0
  fi
  e2e_batch_failed "$last" "$rc" "$last_rc" "$last_dt" "$blog"
}

# e2e_finish NAME RC SECONDS WHY: NAME's last attempt is counted.
e2e_finish() {
  local -a c=()
  [[ -n "${causes[$1]}" ]] && mapfile -t c < <(printf '%s' "${causes[$1]}" | tr '\037' '\n')
  e2e_record "$1" "$2" "${attempt[$1]}" "$3" "$4" "${c[@]}"
  final[$1]=1
}

# e2e_batch_failed NAME BATCHRC TESTRC SECONDS BATCHLOG: NAME failed or its nested host did.
e2e_batch_failed() {
  local name="$1" rc="$2" test_rc="$3" dt="$4" blog="$5" l1_why="" log
  log="$logs/$name.attempt-${attempt[$name]}.log"
  # what tools/nested-kvm itself said goes with the test's own output
  grep -a -E "^nested-kvm: " "$blog" | grep -a -v "^nested-kvm: | " >> "$log"
  [[ $rc -eq 125 ]] && l1_why="$(e2e_l1_why "$log")"
  if [[ -n "$l1_why" ]] && e2e_may_retry "${attempt[$name]}" "$dt"; then
    causes[$name]+="${causes[$name]:+$'\037'}L1: \"$l1_why\""
    echo "-- $name: its nested host failed (${l1_why}); retrying"
    attempt[$name]=$((attempt[$name] + 1))
    return
  fi
  if [[ $rc -ne 125 && -n "$test_rc" ]]; then
    e2e_finish "$name" "$test_rc" "$dt" "$(e2e_why "$test_rc" "${limit[$name]}" "$dt" "")"
  elif [[ $rc -eq 125 || $rc -eq 124 ]]; then
    e2e_finish "$name" "$rc" "$dt" "$(e2e_why "$rc" "${limit[$name]}" "$dt" "$l1_why")"
  else
    e2e_finish "$name" "$rc" "$dt" "its nested host's run ended with status $rc (tools/nested-kvm)"
    # nested-kvm itself could not run (bad usage, a missing prerequisite): so would the rest
    for name in "${queue[@]}"; do
      [[ -n "${final[$name]:-}" ]] || e2e_finish "$name" "$rc" 0 "not run: tools/nested-kvm ended with status $rc"
    done
  fi
}
