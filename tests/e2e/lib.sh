# tests/e2e/lib.sh: helpers for tandem's end-to-end tests (sourced by tests/e2e/*.sh).
#
# An e2e test is an executable script in tests/e2e/ that tools/test runs inside tools/nested-kvm
# (so /dev/kvm works, /tmp is private, the repository is the working directory). Exit 0 = passed,
# anything else = failed; a header line "# timeout: SECONDS" sets its time limit (default 300).
# Guest kernel and image: TANDEM_GUEST_KERNEL and TANDEM_GUEST_INITRD (tools/test sets them from
# guest-images/build --env).
set -uo pipefail

E2E_NAME="$(basename "$0" .sh)"
E2E_TMP="$(mktemp -d "/tmp/e2e-$E2E_NAME.XXXXXX")"
E2E_PIDS=()

# On exit: stop what the test started, then keep its guests' consoles and tandem's logs (every
# regular file of E2E_TMP) in TANDEM_E2E_KEEP when tools/test set it (a directory inside the
# working directory, the one place of the host the nested host can write).
e2e_cleanup() {
  local p
  for p in "${E2E_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.2
  for p in "${E2E_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  if [[ -n "${TANDEM_E2E_KEEP:-}" ]] && mkdir -p "$TANDEM_E2E_KEEP" 2>/dev/null; then
    (cd "$E2E_TMP" && find . -maxdepth 2 -type f -size -64M -exec cp --parents -t "$TANDEM_E2E_KEEP" {} +) 2>/dev/null
  fi
}
trap e2e_cleanup EXIT
# Killed at its time limit (tools/test's timeout signals the whole process group): exit, so that
# the EXIT trap above still keeps the consoles and logs of what hung.
trap 'exit 143' TERM

log() { echo "[$E2E_NAME] $*"; }

# skip WHY: one case of the test cannot run here; tools/test counts each such line as a skip (the
# test's other cases still pass or fail).
skip() { echo "[$E2E_NAME] SKIP: $*"; }

# The arm64 nested host's busybox has no pgrep: `pgrep -f PATTERN` and `pgrep -af PATTERN` (ERE,
# matched against the whole command line) from ps.
if ! command -v pgrep >/dev/null; then
  pgrep() {
    local all=0
    [[ "$1" == -af ]] && all=1
    local pat="${!#}"
    ps -o pid,args | awk -v p="$pat" -v self="$$" -v all="$all" '
      NR > 1 && $1 != self && $0 !~ /awk -v p=/ { line = $0; sub(/^ *[0-9]+ /, "", line);
        if (line ~ p) { found = 1; if (all) print $1, line; else print $1 } }
      END { exit found ? 0 : 1 }'
  }
fi
# fail MESSAGE: the test failed. Also names the first seccomp stop or tandem error of any VM the
# test started (their stderr logs), since a CI summary quotes only these lines.
fail() {
  local f why
  echo "[$E2E_NAME] FAIL: $*"
  for f in "$E2E_TMP"/*.stderr; do
    [[ -f "$f" ]] || continue
    why="$(grep -a -m1 -E "^tandem: (seccomp|error):" "$f")"
    [[ -n "$why" ]] && echo "[$E2E_NAME] FAIL-CAUSE $(basename "$f" .stderr): $why"
  done
  exit 1
}

# require_kvm: the test needs a working /dev/kvm (tools/nested-kvm provides one).
require_kvm() {
  [[ -c /dev/kvm ]] || fail "no /dev/kvm: run this test through tools/nested-kvm (tools/test does)"
}

# guest_image: sets TANDEM_GUEST_KERNEL/TANDEM_GUEST_INITRD when the caller did not.
guest_image() {
  if [[ -z "${TANDEM_GUEST_INITRD:-}" || -z "${TANDEM_GUEST_KERNEL:-}" ]]; then
    eval "$(guest-images/build --env)" || fail "cannot build the guest image"
    export TANDEM_GUEST_KERNEL TANDEM_GUEST_INITRD
  fi
  [[ -f "$TANDEM_GUEST_KERNEL" ]] || fail "missing guest kernel $TANDEM_GUEST_KERNEL"
  [[ -f "$TANDEM_GUEST_INITRD" ]] || fail "missing guest image $TANDEM_GUEST_INITRD"
}

# wait_for FILE PATTERN SECONDS [PID]: wait until FILE contains PATTERN (grep -E); fails early when
# PID (the process writing FILE) has ended. Returns 0 when found, 1 otherwise. SECONDS are the
# clock's, however long each look takes (on a slow nested host a grep alone may take most of 0.1 s).
wait_for() {
  local file="$1" pattern="$2" end=$((SECONDS + $3)) pid="${4:-}"
  while :; do
    grep -qE "$pattern" "$file" 2>/dev/null && return 0
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      grep -qE "$pattern" "$file" 2>/dev/null && return 0
      return 1
    fi
    (( SECONDS < end )) || return 1
    sleep 0.1
  done
}

# poll_until SECONDS CMD...: runs CMD every 0.2 s until it succeeds (0) or SECONDS pass (1; counted
# by the clock, however long CMD itself takes). For
# host-side effects of a guest's action, which a slow nested host may take many seconds to show.
poll_until() {
  local end=$((SECONDS + $1)); shift
  until "$@"; do
    (( SECONDS < end )) || return 1
    sleep 0.2
  done
}

# now_ms: milliseconds since the epoch, for reporting (never asserted on).
# bash's own clock: busybox's date (the arm64 nested host) has no %N.
now_ms() { local t="${EPOCHREALTIME/[.,]/}"; echo $(( t / 1000 )); }

# require_debian_image: the Debian guest disk, kernel and initramfs, built by tools/test on the
# machine itself (guest-images/debian/build --env; the nested host has no network), exported.
require_debian_image() {
  [[ -f "${TANDEM_DEBIAN_DISK:-}" && -f "${TANDEM_DEBIAN_KERNEL:-}" && -f "${TANDEM_DEBIAN_INITRD:-}" ]] \
    || fail "no Debian guest disk (TANDEM_DEBIAN_DISK, set by tools/test from guest-images/debian/build --env)"
  export TANDEM_DEBIAN_DISK TANDEM_DEBIAN_KERNEL TANDEM_DEBIAN_INITRD
}

# The tandem binary (tools/test sets TANDEM_BIN_DIR to bazel-bin).
TANDEM="${TANDEM_BIN_DIR:-$(pwd)/bazel-bin}/vmm/tandem"
require_tandem() {
  [[ -x "$TANDEM" ]] || fail "no tandem binary at $TANDEM (bazel build //vmm:tandem)"
}

# boot_tandem LOG ARGS...: runs tandem vm with the guest image in the background, serial to LOG.
# Sets TANDEM_PID. The caller waits with wait_for and `wait $TANDEM_PID`.
boot_tandem() {
  local log="$1"; shift
  "$TANDEM" vm --kernel "$TANDEM_GUEST_KERNEL" --initrd "$TANDEM_GUEST_INITRD" --serial "file:$log" "$@" \
    </dev/null 2>"$log.stderr" &
  TANDEM_PID=$!
  E2E_PIDS+=("$TANDEM_PID")
}

# boot_tandem_ready LOG SECONDS ARGS...: boot_tandem, then wait (at most SECONDS) for the guest's
# TANDEM-GUEST-READY marker. Returns 0 when ready; otherwise prints the console tail and tandem's
# stderr and returns 1. A guest that triple-faults is a failure like any other: nothing boots it
# again (tools/test retries a test only when its nested host itself failed).
boot_tandem_ready() {
  local log="$1" seconds="$2"; shift 2
  boot_tandem "$log" "$@"
  guest_ready "$log" "$seconds" "$TANDEM_PID"
}

# guest_ready LOG SECONDS PID: wait (at most SECONDS) for the TANDEM-GUEST-READY marker of the guest
# that PID (started by boot_tandem) runs. Returns 0 when ready; otherwise prints the console tail,
# tandem's stderr and a FAIL-CAUSE line on where the boot stood (boot_state), and returns 1.
guest_ready() {
  local t0=$SECONDS
  wait_for "$1" "TANDEM-GUEST-READY" "$2" "$3" && return 0
  tail -n 30 "$1"; cat "$1.stderr"
  echo "[$E2E_NAME] FAIL-CAUSE $(basename "$1"): no TANDEM-GUEST-READY after $((SECONDS - t0)) s; $(boot_state "$1" "$3")" | cut -c1-400
  return 1
}

# boot_state LOG PID: one line on a guest that did not come up: how much its console holds and its
# last line, whether its tandem still runs and how much CPU its vCPUs used, and the nested host's load
# (a guest that used no CPU was not run; one that used it all and printed nothing is stuck in itself).
boot_state() {
  local lines last
  lines=$({ wc -l < "$1"; } 2>/dev/null || echo 0)
  last="$(tr -d '\r' < "$1" 2>/dev/null | grep -av '^ *$' | tail -n 1 | cut -c1-80)"
  printf "console: %s lines, last '%s'; " "$lines" "$last"
  if kill -0 "$2" 2>/dev/null; then
    printf 'tandem runs: vCPU time %s s, other threads %s s; ' \
      "$(awk -v t="$(cpu_ticks "$2" vcpu)" 'BEGIN { printf "%.1f", t / 100 }')" \
      "$(awk -v t="$(cpu_ticks "$2" other)" 'BEGIN { printf "%.1f", t / 100 }')"
  else
    printf 'tandem has exited; '
  fi
  printf 'nested host: up %s s, load %s' "$(cut -d' ' -f1 /proc/uptime)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# boot_tandem_listening LOG SOCKET ARGS...: boot_tandem, then wait (at most 60 s) until its tandem
# listens on SOCKET, so that the peer can start while this guest boots: two guests boot side by
# side (docs/nested-host.md: as reliably as one after another since L1's KVM runs npt=0). Sets
# TANDEM_PID; fails the test when the socket does not appear.
boot_tandem_listening() {
  local log="$1" sock="$2"; shift 2
  boot_tandem "$log" "$@"
  poll_until 60 test -S "$sock" || { cat "$log.stderr"; fail "$(basename "$log"): its tandem does not listen on $sock"; }
}

# proc_state PID: one line on what a process that should have ended is doing (state, threads,
# each thread's kernel wait channel and the main thread's kernel stack).
proc_state() {
  local p="$1" t
  printf 'state %s, threads:' "$(sed -n 's/^State:\t//p' "/proc/$p/status" 2>/dev/null)"
  for t in /proc/"$p"/task/*; do printf ' %s:%s' "${t##*/}" "$(cat "$t/wchan" 2>/dev/null)"; done
  printf '; stack: %s' "$(tr '\n' ' ' < "/proc/$p/stack" 2>/dev/null)"
}

# wait_exit PID SECONDS: wait until PID ends (at most SECONDS, then kill it) and set RC to its status.
wait_exit() {
  local pid="$1" end=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null && (( SECONDS < end )); do sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { log "process $pid still runs after $2 s: killing it; $(proc_state "$pid")"; kill -KILL "$pid"; }
  wait "$pid"; RC=$?
}

# run_tandem LOG SECONDS ARGS...: boots, waits for tandem to exit (at most SECONDS), sets RC.
run_tandem() {
  local log="$1" end=$((SECONDS + $2)); shift 2
  boot_tandem "$log" "$@"
  while kill -0 "$TANDEM_PID" 2>/dev/null && (( SECONDS < end )); do sleep 0.1; done
  if kill -0 "$TANDEM_PID" 2>/dev/null; then
    kill -KILL "$TANDEM_PID"; wait "$TANDEM_PID" 2>/dev/null
    tail -n 20 "$log"; cat "$log.stderr"
    fail "tandem did not exit within $2 s"
  fi
  wait "$TANDEM_PID"; RC=$?
  sed -i 's/\r$//' "$log"
}

# ctxt_switches PID vcpu|other: context switches, voluntary and involuntary, summed over PID's vCPU
# threads (named vcpuN) or over all its other threads, from /proc/PID/task/*/status (one awk: cheap
# in the nested host, where the guests may be using every CPU).
ctxt_switches() {
  local v
  v="$(awk -v want="$2" '/^Name:/ { vcpu = ($2 ~ /^vcpu[0-9]+$/) }
    /^(non)?voluntary_ctxt_switches:/ { if ((want == "vcpu") == vcpu) s += $2 } END { print s + 0 }' /proc/"$1"/task/*/status 2>/dev/null)"
  echo "${v:-0}"
}

# cpu_ticks PID vcpu|other: CPU time (utime + stime, in clock ticks of 1/100 s) summed over PID's
# vCPU threads or over all its other threads, from /proc/PID/task/*/stat (the fields after the
# parenthesised name: state is 3rd, utime 14th, stime 15th).
cpu_ticks() {
  local t name sum=0 rest is_vcpu
  for t in /proc/"$1"/task/*; do
    name="$(cat "$t/comm" 2>/dev/null)" || continue
    is_vcpu=0; [[ "$name" =~ ^vcpu[0-9]+$ ]] && is_vcpu=1
    if [[ "$2" == vcpu ]]; then (( is_vcpu )) || continue; else (( is_vcpu )) && continue; fi
    rest="$(sed 's/^.*) //' "$t/stat" 2>/dev/null)" || continue
    read -r -a f <<<"$rest"
    (( ${#f[@]} > 12 )) && sum=$((sum + f[11] + f[12]))
  done
  echo "$sum"
}

# ctxt_by_thread PID: "name:switches/ticks" for each thread of PID (voluntary + involuntary context
# switches, utime + stime), on one line (for logs).
ctxt_by_thread() {
  local t out="" sw rest
  for t in /proc/"$1"/task/*; do
    sw="$(awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }' "$t/status" 2>/dev/null)"
    rest="$(sed 's/^.*) //' "$t/stat" 2>/dev/null)" || continue
    read -r -a f <<<"$rest"
    out+="${out:+ }$(cat "$t/comm" 2>/dev/null):${sw}/$(( ${f[11]:-0} + ${f[12]:-0} ))"
  done
  echo "$out"
}

# sigterm_power_off LOG ARGS...: boots a guest with ARGS (its script sleeps), sends its tandem
# SIGTERM, and checks that the power button was pressed, the guest saw it and powered off, and
# tandem exited 0. Returns with the guest's tandem gone.
sigterm_power_off() {
  local log_file="$1"; shift
  boot_tandem_ready "$log_file" 300 "$@" --cmdline "console=ttyS0 quiet tandem.run=\"sleep 600\"" \
    || fail "the guest did not boot"
  kill -TERM "$TANDEM_PID"
  wait_exit "$TANDEM_PID" 90
  [[ $RC -eq 0 ]] || { tail -n 10 "$log_file"; cat "$log_file.stderr"; fail "SIGTERM: exit status $RC, want 0 (the guest powers off)"; }
  grep -q "pressed the guest's power button" "$log_file.stderr" || { cat "$log_file.stderr"; fail "SIGTERM did not press the power button"; }
  grep -q "TANDEM-POWER-BUTTON" "$log_file" || { tail -n 10 "$log_file"; fail "the guest did not see the power button"; }
}

# sigterm_button_ignored LOG ARGS...: the same with a guest that ignores the power button
# (tandem.acpid=0): tandem stops it after --shutdown-timeout 3, exit 143, and says why.
sigterm_button_ignored() {
  local log_file="$1"; shift
  boot_tandem_ready "$log_file" 300 "$@" --shutdown-timeout 3 \
    --cmdline "console=ttyS0 quiet tandem.acpid=0 tandem.run=\"sleep 600\"" || fail "the guest did not boot"
  kill -TERM "$TANDEM_PID"
  wait_exit "$TANDEM_PID" 60
  [[ $RC -eq 143 ]] || { cat "$log_file.stderr"; fail "SIGTERM ignored by the guest: exit status $RC, want 143"; }
  grep -q "stopped by signal SIGTERM: the guest did not power off within 3 s" "$log_file.stderr" \
    || { cat "$log_file.stderr"; fail "the stop after the shutdown timeout was not reported"; }
}

# check_line FILE PATTERN WHAT: fail with the console tail unless FILE has a line matching PATTERN.
check_line() {
  grep -qE "$2" "$1" || { tail -n 25 "$1"; [[ -f "$1.stderr" ]] && cat "$1.stderr"; fail "$3"; }
}

# run_up LOG SECONDS ARGS...: runs `tandem up ARGS` in the background with its output in LOG and
# sets UP_PID. The caller waits with wait_exit.
run_up() {
  local log="$1"; shift 2
  "$TANDEM" up "$@" </dev/null >"$log" 2>&1 &
  UP_PID=$!
  E2E_PIDS+=("$UP_PID")
}

# up_vm_pid LOG VM: the pid of VM's latest tandem, from `tandem up`'s "started (pid N)" line.
up_vm_pid() { sed -n "s/^tandem up: vm \"$2\" started (pid \([0-9]*\)).*/\1/p" "$1" | tail -n 1; }

# pair_manifest FILE VM1_MEMORY VM1_RESTART VM1_CMDLINE VM2_CMDLINE: the `tandem up` manifest of a
# vhost-pci pair: vm1 with a vhost-pci-net, vm2 (512M, restart = "on-failure") with a virtio-net
# whose peer is vm1. VM1_RESTART "" gives vm1 no restart policy. Both boot at once, 20 s to shut
# down.
pair_manifest() {
  local restart=""
  [[ -n "$3" ]] && restart="restart = \"$3\""
  cat > "$1" <<TOML
run_dir = "$E2E_TMP/run"
shutdown_timeout = 20
[[vm]]
name = "vm1"
memory = "$2"
$restart
cmdline = "$4"
  [[vm.vhost-pci-net]]
[[vm]]
name = "vm2"
memory = "512M"
restart = "on-failure"
cmdline = "$5"
  [[vm.virtio-net]]
  peer = "vm1"
TOML
}

# up_leftovers RUN_DIR: fails when a `tandem up` left its run directory or a tandem process behind.
up_leftovers() {
  [[ ! -e "$1" ]] || { ls -la "$1"; fail "the run directory $1 is still there"; }
  local left
  left="$(pgrep -af "vmm/tandem (vm|up)" || true)"
  [[ -z "$left" ]] || fail "tandem processes are left: $left"
}

# hostile_vm1 EXTRA: the start of the vhost-pci hostile-peer tests. Sets SCRIBBLER (the hostile
# front-end, tests/tools/vhost_user_scribbler), S (VM1's socket), v1 (its console) and pid1: VM1
# booted with --vhost-pci socket=$S$EXTRA, running guest-images/scripts/vhost-pci-hostile and
# waiting for its first peer.
hostile_vm1() {
  SCRIBBLER="${TANDEM_BIN_DIR:-$(pwd)/bazel-bin}/tests/tools/vhost_user_scribbler"
  [[ -x "$SCRIBBLER" ]] || fail "no $SCRIBBLER (bazel build //tests/tools:vhost_user_scribbler)"
  S="$E2E_TMP/vpci.sock"
  v1="$E2E_TMP/vm1.log"
  boot_tandem_ready "$v1" 300 --memory 768M --vhost-pci "socket=$S$1" \
    --cmdline "console=ttyS0 panic=-1 tandem.net=vpn0:10.2.0.1/24 tandem.peer=10.2.0.2 tandem.script=vhost-pci-hostile" \
    || fail "VM1 did not boot"
  pid1=$TANDEM_PID
  wait_for "$v1" "HOSTILE-WAITING" 120 "$pid1" || { tail -n 20 "$v1"; fail "VM1's script did not start"; }
}

# hostile_recovery VM1_LOG VM1_PID SOCKET CLEAN_LOG: the end of the vhost-pci hostile tests. VM1 runs
# guest-images/scripts/vhost-pci-hostile and has seen the hostile peer go (HOSTILE-DOWN); a clean
# VM2 (stock virtio_net, net-sink) connects to SOCKET, VM1 must ping it, both power off with 0 and
# VM1's dmesg shows no BUG/WARNING/Oops. Then sets RING_ERRORS, TX_BAD (bad chains in VM2's RX
# ring) and RX_BAD (bad chains, lengths and headers in VM2's TX ring) from VM1's ethtool counters.
hostile_recovery() {
  local v1="$1" pid1="$2" sock="$3" clean="$4" pidc rc1 rcc
  boot_tandem_ready "$clean" 300 --memory 512M --net "vhost-user=$sock" \
    --cmdline "console=ttyS0 panic=-1 tandem.ip=10.2.0.2/24 tandem.script=net-sink" || fail "the clean VM2 did not boot"
  pidc=$TANDEM_PID
  wait_exit "$pid1" 300; rc1=$RC
  wait_exit "$pidc" 60; rcc=$RC
  tr -d '\r' < "$v1" > "$v1.txt"
  grep -E "^(HOSTILE|LINK|PING|DMESG)" "$v1.txt"
  [[ $rc1 -eq 0 ]] || { tail -n 30 "$v1.txt"; cat "$v1.stderr"; fail "VM1's tandem exited with $rc1"; }
  [[ $rcc -eq 0 ]] || { tail -n 30 "$clean"; cat "$clean.stderr"; fail "the clean VM2's tandem exited with $rcc"; }
  check_line "$v1.txt" "^PING-OK 10.2.0.2" "VM1 could not ping the clean VM2 after the hostile one"
  if grep -qE "^DMESG .*(BUG|WARNING|Call Trace|Oops)" "$v1.txt"; then fail "VM1's dmesg shows a BUG/WARNING/Oops"; fi
  RING_ERRORS=$(hostile_counter "$v1.txt" ring_errors)
  TX_BAD=$(hostile_counter "$v1.txt" tx_bad_chain)
  RX_BAD=$(( $(hostile_counter "$v1.txt" rx_bad_chain) + $(hostile_counter "$v1.txt" rx_bad_len) \
    + $(hostile_counter "$v1.txt" rx_bad_hdr) ))
}
# kernel_alarms FILE: the lines of a guest's console log that say its kernel went wrong (BUG, Oops,
# WARNING), one per line; empty when there are none. A WARNING raised in the timer code
# (kernel/time/) is the nested host's doing, not the guest's drivers' (seen once in a local CI run:
# hrtimer.c in the idle task, no driver on the stack): it is logged and not counted.
kernel_alarms() {
  local t
  t="$(grep -aE "WARNING: .* at kernel/time/" "$1" | head -n 1)"
  [[ -n "$t" ]] && log "ignored, from the nested host's timers: $t" >&2
  grep -aE "(BUG:|Oops|WARNING:)" "$1" | grep -avE "WARNING: .* at kernel/time/" | head -n 10
}
hostile_counter() { local v; v=$(sed -n "s/^LINK $2: \([0-9]*\).*/\1/p" "$1" | head -n 1); echo "${v:-0}"; }
