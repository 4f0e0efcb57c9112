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

# bench_nested NAME BUDGET INNER...: INNER inside tools/nested-kvm (3 GiB, 2 CPUs, BUDGET seconds),
# its output also in .cache/NAME.txt. Returns the nested run's status.
bench_nested() {
  local name="$1" budget="$2"; shift 2
  mkdir -p .cache
  # 3 GiB: every L1 given more (RAM above 4 GiB) crashed at least once in the TCG host ("stack guard
  # page was hit" in L1), with QEMU and tandem alike; 3 GiB L1s crash far less often (seen in the
  # 10-cycle vhost-pci restart test), but not never.
  set +e
  bench_locked tools/nested-kvm --memory 3072 --cpus 2 --timeout "$budget" -- "$@" 2>&1 | tee ".cache/$name.txt"
  local rc=${PIPESTATUS[0]}
  set -e
  [[ $rc -eq 0 ]] || echo "$(basename "$0"): the nested run ended with status $rc (124: timed out after $budget s)" >&2
  return "$rc"
}
