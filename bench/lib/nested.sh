# bench/lib/nested.sh: what the benchmark front-ends (bench/net, bench/vhost-pci) share on the host
# side (sourced): preparing tandem and the guest image, and running an inner script inside
# tools/nested-kvm, serialized with every other nested run on this machine.

# bench_prepare: tools/setup, the tandem build, the guest image (exports TANDEM_GUEST_KERNEL/INITRD).
bench_prepare() {
  tools/setup || die 2 "tools/setup failed"
  bazel build --color=no --curses=no //vmm:tandem //bench:ring_ref >/dev/null 2>&1 \
    || die 1 "the build failed (bazel build //vmm:tandem //bench:ring_ref)"
  eval "$(guest-images/build --env)" || die 1 "cannot build the guest image"
  export TANDEM_GUEST_KERNEL TANDEM_GUEST_INITRD
}

# bench_locked CMD...: runs CMD under /tmp/tandem-nested.lock (two nested runs at once on 2 cores
# cause soft lockups). When an ancestor already holds the lock (its fd is inherited), taking it
# again would wait for ourselves: run directly then.
bench_locked() {
  local lock=/tmp/tandem-nested.lock held=0 fd
  for fd in /proc/$$/fd/*; do
    [[ "$(readlink "$fd" 2>/dev/null)" == "$lock" ]] && held=1
  done
  if [[ $held -eq 1 ]]; then
    "$@"
  else
    flock -n "$lock" true 2>/dev/null || echo "$(basename "$0"): waiting for $lock (another nested run is going)" >&2
    flock "$lock" "$@"
  fi
}

# host_sample: "BUSY QEMU PIDS" now: the host's busy CPU ticks (/proc/stat), the qemu-system
# processes' user+system ticks (the nested host) and their pids, comma-joined.
host_sample() {
  local busy q=0 pids="" pid t
  busy=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat)
  for pid in $(pgrep '^qemu-system' || true); do
    t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || continue
    q=$((q + t)); pids+="$pid,"
  done
  echo "$busy $q ${pids:-none}"
}

# host_watch OUT: until killed, every 10 s one line "EPOCH PERCENT" in OUT: how much of one CPU the
# host spent on anything but the nested host's QEMU in those 10 s (a build, another benchmark). An
# interval in which a QEMU started or ended is left out (its ticks cannot be split).
host_watch() {
  local out="$1" hz b0 q0 p0 b1 q1 p1
  hz=$(getconf CLK_TCK)
  read -r b0 q0 p0 < <(host_sample)
  while sleep 10 && kill -0 $$ 2>/dev/null; do   # $$: the front-end, which may end without killing us
    read -r b1 q1 p1 < <(host_sample)
    [[ $p1 == "$p0" ]] && echo "$(date +%s) $(( ((b1 - b0) - (q1 - q0)) * 100 / (10 * hz) ))" >> "$out"
    b0=$b1; q0=$q1; p0=$p1
  done
}

# host_load_report FILE: one line on how busy the host was besides the nested run, and a warning
# when it was busy enough to slow the nested guests (a mean above 15% of a CPU, or 30 s above 50%).
host_load_report() {
  [[ -s "$1" ]] || { echo "host load besides the nested host: not measured (no whole 10 s interval)"; return 0; }
  awk '{ n++; s += ($2 > 0 ? $2 : 0); if ($2 > m) m = $2; if ($2 > 50) hi++ }
    END {
      printf "host load besides the nested host: mean %d%% of a CPU, highest %d%% (10 s samples, %d of them)\n", s / n, m, n
      if (s / n > 15 || hi >= 3)
        print "WARNING: the host was busy besides this run (a build? another benchmark?): its guests ran slower than on an idle host; compare ratios only within a run, and rerun on an idle host"
    }' "$1"
}

# bench_nested NAME BUDGET INNER...: INNER inside tools/nested-kvm (3 GiB, 2 CPUs, BUDGET seconds),
# its output also in .cache/NAME.txt, then how busy the host was besides it (host_watch: a run
# that shares the host, as bench/chain's of 2026-11-26 did with a Bazel build, says so). Returns
# the nested run's status.
bench_nested() {
  local name="$1" budget="$2"; shift 2
  mkdir -p .cache
  # 3 GiB: every L1 given more (RAM above 4 GiB) crashed at least once in the TCG host ("stack guard
  # page was hit" in L1), with QEMU and tandem alike; 3 GiB L1s crash far less often (seen in the
  # 10-cycle vhost-pci restart test), but not never.
  local load=".cache/$name.load" watch
  : > "$load"
  host_watch "$load" </dev/null >/dev/null 2>&1 &
  watch=$!
  set +e
  bench_locked tools/nested-kvm --memory 3072 --cpus 2 --timeout "$budget" -- "$@" 2>&1 | tee ".cache/$name.txt"
  local rc=${PIPESTATUS[0]}
  set -e
  kill "$watch" 2>/dev/null || true
  wait "$watch" 2>/dev/null || true
  host_load_report "$load" | tee -a ".cache/$name.txt"
  [[ $rc -eq 0 ]] || echo "$(basename "$0"): the nested run ended with status $rc (124: timed out after $budget s)" >&2
  return "$rc"
}
