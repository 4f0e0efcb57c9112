# bench/lib/vm-pair.sh: what bench/net and bench/vhost-pci share inside the nested host (sourced by
# bench/lib/net-inner.sh and bench/lib/vpci-inner.sh after their option parsing): the guest image,
# addresses and MACs of the VM pair A and B, the data paths between them (tap+bridge, vhost-net,
# dpdk-testpmd, OVS-DPDK, vhost-pci) with backend_up/backend_down, launching one VM under QEMU or
# tandem, waiting for console markers, and clean-up of everything started here.
# Expects: BENCH_TAG (prefix of messages, e.g. "[bench/net]"), logs (a directory or empty).
K="${TANDEM_GUEST_KERNEL:?TANDEM_GUEST_KERNEL is not set (guest-images/build --env)}"
I="${TANDEM_GUEST_INITRD:?TANDEM_GUEST_INITRD is not set (guest-images/build --env)}"
TANDEM="${TANDEM_BIN:-$(pwd)/bazel-bin/vmm/tandem}"
[[ -c /dev/kvm ]] || { echo "$BENCH_TAG: no /dev/kvm (run through tools/nested-kvm)" >&2; exit 2; }

MAC_A=52:54:00:12:34:0a
MAC_B=52:54:00:12:34:0b
IP_A=10.77.0.1
IP_B=10.77.0.2
MEM=${BENCH_NET_GUEST_MEM:-768M}
tmp="$(mktemp -d /tmp/bench-pair.XXXXXX)"
L="$tmp"   # consoles and switch logs: the --logs directory when given (they outlive a crashed L1)
if [[ -n "$logs" ]]; then mkdir -p "$logs"; L="$logs"; fi
S="$tmp/sock"
mkdir -p "$S"

PIDS=()          # VMMs and switches started by this script
CUR=""           # vmm-backend-attempt, for log names
OVS_DIR=""
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  [[ -n "$OVS_DIR" ]] && ovs_stop
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  ip link del tbr0 2>/dev/null || true
  ip link del tapA 2>/dev/null || true
  ip link del tapB 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "$BENCH_TAG: interrupted" >&2; exit 130' INT TERM

say() { echo "$BENCH_TAG $*"; }
. "$(dirname "${BASH_SOURCE[0]}")/ovs.sh"   # wait_sockets, ovs_up, ovs_down, ovs_stop
. "$(dirname "${BASH_SOURCE[0]}")/chart.sh"  # bench_name

# --- Kernel side: modules (autoloading does not reach modprobe from the nested host's chroot) -----
for m in tun bridge vhost_net; do
  modprobe "$m" || { echo "$BENCH_TAG: modprobe $m failed" >&2; exit 1; }
done
ip link set lo up

# --- Backends --------------------------------------------------------------------------------------
# Each backend_up NAME prepares the data path and sets NET_A/NET_B (QEMU arguments) and TNET_A/TNET_B
# (tandem --net values); backend_down undoes it.
tap_up() {
  ip link add tbr0 type bridge
  ip link set tbr0 up
  local t
  for t in tapA tapB; do
    ip tuntap add dev "$t" mode tap
    ip link set "$t" master tbr0
    ip link set "$t" up
  done
}
tap_down() {
  ip link del tapA 2>/dev/null || true
  ip link del tapB 2>/dev/null || true
  ip link del tbr0 2>/dev/null || true
}

# The waits below read the clock (bash's SECONDS): counting 0.1 s sleeps ran several times longer
# than asked in a loaded nested host.

TESTPMD_PID=""
# testpmd_up [PORTS]: dpdk-testpmd with PORTS (default 2, even) vhost-user ports $S/v0.sock ...;
# io forwarding in pairs: port 0 <-> 1, 2 <-> 3, ...
testpmd_up() {
  local n="${1:-2}" i
  local -a vdevs=() socks=()
  for (( i = 0; i < n; i++ )); do
    rm -f "$S/v$i.sock"
    vdevs+=(--vdev "net_vhost$i,iface=$S/v$i.sock,client=0")
    socks+=("$S/v$i.sock")
  done
  # The command line verified in the nested host (docs: shared/notes/environment.md): vhost ports
  # in server mode, io forwarding between paired ports, no hugepages, one forwarding lcore.
  dpdk-testpmd -l 0-1 --no-huge -m 256 --no-pci --file-prefix=benchnet "${vdevs[@]}" \
    -- --total-num-mbufs=$(( 4096 * n )) --forward-mode=io --port-topology=paired --auto-start --stats-period 30 \
    </dev/null >"$L/$CUR-testpmd.log" 2>&1 &
  TESTPMD_PID=$!
  PIDS+=("$TESTPMD_PID")
  if ! wait_sockets 120 "$TESTPMD_PID" "${socks[@]}"; then
    tail -n 20 "$L/$CUR-testpmd.log" >&2
    echo "$BENCH_TAG: dpdk-testpmd did not create its vhost-user sockets" >&2
    return 1
  fi
}
testpmd_down() {
  [[ -n "$TESTPMD_PID" ]] || return 0
  kill -INT "$TESTPMD_PID" 2>/dev/null || true
  local i=0
  while kill -0 "$TESTPMD_PID" 2>/dev/null && (( i < 100 )); do sleep 0.1; i=$((i + 1)); done
  kill -KILL "$TESTPMD_PID" 2>/dev/null || true
  wait "$TESTPMD_PID" 2>/dev/null || true
  grep -E 'RX-packets|TX-packets|RX-dropped|TX-dropped' "$L/$CUR-testpmd.log" | tail -n 6 | sed "s|^|$BENCH_TAG   testpmd: |" || true
  TESTPMD_PID=""
}

backend_up() {
  case "$1" in
    tap|vhost)
      tap_up
      local v=off; [[ "$1" == vhost ]] && v=on
      # BENCH_NET_QEMU_TAP_OPTS: more of QEMU's tap options, e.g. ",poll-us=50"
      NET_A=(-netdev "tap,id=n0,ifname=tapA,script=no,downscript=no,vhost=$v${BENCH_NET_QEMU_TAP_OPTS:-}")
      NET_B=(-netdev "tap,id=n0,ifname=tapB,script=no,downscript=no,vhost=$v${BENCH_NET_QEMU_TAP_OPTS:-}")
      if [[ $v == on ]]; then
        TNET_A="tap=tapA,vhost=on"; TNET_B="tap=tapB,vhost=on"
      else  # BENCH_NET_TAP_OPTS: more of tandem's tap options, e.g. ",coalesce=0"
        TNET_A="tap=tapA${BENCH_NET_TAP_OPTS:-}"; TNET_B="tap=tapB${BENCH_NET_TAP_OPTS:-}"
      fi
      ;;
    testpmd)
      testpmd_up || return 1
      NET_A=(-chardev "socket,id=c0,path=$S/v0.sock" -netdev vhost-user,id=n0,chardev=c0)
      NET_B=(-chardev "socket,id=c0,path=$S/v1.sock" -netdev vhost-user,id=n0,chardev=c0)
      TNET_A="vhost-user=$S/v0.sock"; TNET_B="vhost-user=$S/v1.sock"
      ;;
    ovs)
      ovs_up || return 1
      NET_A=(-chardev "socket,id=c0,path=$OVS_DIR/vhuA" -netdev vhost-user,id=n0,chardev=c0)
      NET_B=(-chardev "socket,id=c0,path=$OVS_DIR/vhuB" -netdev vhost-user,id=n0,chardev=c0)
      TNET_A="vhost-user=$OVS_DIR/vhuA"; TNET_B="vhost-user=$OVS_DIR/vhuB"
      ;;
    vpci)
      # vhost-pci-net 2.0, no switch: B (the receiver) has the vhost-pci-net device and listens;
      # A's virtio-net is a vhost-user front-end of B's tandem. tandem only.
      rm -f "$S/vpci.sock"
      TNET_A="vhost-user=$S/vpci.sock"; TNET_B="vpci:$S/vpci.sock"
      ;;
    vsym)
      # vhost-pci-net 2.1, symmetric, no switch: both VMs have the device and our driver; B's
      # tandem listens, A's dials. tandem only.
      rm -f "$S/vsym.sock"
      TNET_A="vsym-dial:$S/vsym.sock"; TNET_B="vsym:$S/vsym.sock"
      ;;
  esac
}
backend_down() {
  case "$1" in
    tap|vhost) tap_down ;;
    testpmd) testpmd_down ;;
    ovs) ovs_down ;;
    vpci) rm -f "$S/vpci.sock" ;;
    vsym) rm -f "$S/vsym.sock" ;;
  esac
}

# --- VMs -------------------------------------------------------------------------------------------
# launch VMM ROLE LOG CMDLINE: start one guest (ROLE a or b) in the background; sets VM_PID.
launch() {
  local vmm="$1" role="$2" log="$3" cmdline="$4" mac net
  local -a qnet
  if [[ $role == a ]]; then mac=$MAC_A; qnet=("${NET_A[@]}"); net="$TNET_A"; else mac=$MAC_B; qnet=("${NET_B[@]}"); net="$TNET_B"; fi
  : > "$log"
  case "$vmm" in
    qemu)
      # Same RAM discipline as tandem: one shared memfd (vhost-user needs it; used for every backend).
      # QMP on stdio writes QEMU's SHUTDOWN event into LOG.stderr: "guest-reset" is a reset by the
      # guest, a triple fault included (-no-reboot turns it into an exit), so a lost QEMU guest is
      # told apart like tandem's. The writer holds stdin open (QMP drops events once it reads EOF);
      # it is a process substitution, not a pipe, so that `wait` on VM_PID waits for QEMU alone.
      qemu-system-x86_64 -qmp stdio -accel kvm -cpu host -smp 1 -m "$MEM" -name "$role,debug-threads=on" \
        -object "memory-backend-memfd,id=mem,size=$MEM,share=on" -machine memory-backend=mem \
        -nodefaults -no-user-config -display none -no-reboot -serial "file:$log" \
        -kernel "$K" -initrd "$I" -append "$cmdline" \
        "${qnet[@]}" -device "virtio-net-pci,netdev=n0,mac=$mac" >"$log.stderr" 2>&1 \
        < <(printf '{"execute":"qmp_capabilities"}\n'; exec sleep 3600 >/dev/null 2>&1) &
      ;;
    tandem)
      local -a dev=(--net "$net,mac=$mac")
      [[ $net == vpci:* ]] && dev=(--vhost-pci "socket=${net#vpci:}")
      [[ $net == vsym:* ]] && dev=(--vhost-pci "socket=${net#vsym:},mode=symmetric,section=$VSYM_SECTION")
      [[ $net == vsym-dial:* ]] && dev=(--vhost-pci "socket=${net#vsym-dial:},mode=symmetric,listen=off,section=$VSYM_SECTION")
      "$TANDEM" vm --kernel "$K" --initrd "$I" --cmdline "$cmdline" --memory "$MEM" --cpus 1 \
        --serial "file:$log" "${dev[@]}" </dev/null >"$log.stderr" 2>&1 &
      ;;
  esac
  VM_PID=$!
  PIDS+=("$VM_PID")
}

# vhost_worker_dir PID: /proc/N of VMM PID's vhost-net worker when it is a kernel thread of its own
# ("vhost-PID", kernels before 6.4; from 6.4 on it is one of the VMM's threads); empty when none.
vhost_worker_dir() {
  grep -lx "vhost-$1" /proc/[0-9]*/comm 2>/dev/null | sed 's|/comm$||' || true
}

# pin_vm PID ROLE SPEC: pins VM ROLE's threads as SPEC says, e.g.
# "A.vcpu=0,A.vhost=1,A.rest=1,B.vcpu=1,B.vhost=0,B.rest=0": its vCPU threads (tandem's "vcpuN",
# QEMU's "CPU N/KVM"), its vhost-net worker ("vhost-PID", a kernel thread) and the VMM's other threads
# (QEMU's main loop, tandem's net-tap and event-loop threads) each to the CPU or range named; a key
# left out leaves those threads where the scheduler puts them. Prints one PIN line per thread.
pin_vm() {
  local pid="$1" role="${2^^}" spec="$3" t comm cpu vh
  [[ -n "$spec" ]] || return 0
  want() { sed -n "s/.*\(^\|,\)$role\.$1=\([0-9-]*\).*/\2/p" <<<"$spec"; }
  for t in /proc/"$pid"/task/*; do
    comm="$(cat "$t/comm" 2>/dev/null)" || continue
    case "$comm" in
      vcpu[0-9]*|"CPU "*/KVM) cpu="$(want vcpu)" ;;
      vhost-*) cpu="$(want vhost)" ;;  # kernels from 6.4 on run the worker as a thread of the VMM
      *) cpu="$(want rest)" ;;
    esac
    [[ -n "$cpu" ]] && taskset -p -c "$cpu" "${t##*/}" >/dev/null && echo "PIN $role ${comm// /_} cpu=$cpu"
  done
  vh="$(vhost_worker_dir "$pid")"
  cpu="$(want vhost)"
  [[ -n "$vh" && -n "$cpu" ]] && taskset -p -c "$cpu" "${vh##*/}" >/dev/null && echo "PIN $role vhost cpu=$cpu"
  return 0
}

# pin_name BACKEND: the placement the global $pin (auto, split, shared, cpu0 or none) gives BACKEND;
# pin_spec NAME: pin_vm's SPEC for it. L1 has two CPUs, and where the scheduler puts each VM's vCPU
# and I/O threads decides a run's speed more than the data path does (unpinned, two guests that wake
# each other often end up on one CPU):
#   split   A's vCPU on CPU 0 and its I/O threads (vhost worker, VMM threads) on CPU 1; B the mirror
#   shared  each VM's vCPU and I/O threads on one CPU: A on 0, B on 1
#   cpu0    every thread of both VMs on CPU 0, next to the switches' polling thread on CPU 1
#   none    the scheduler decides
#   auto    split for tap and vhost; cpu0 for the vhost-user switches, whose polling thread owns
#           CPU 1 (as a switch's own core does in a deployment); shared for vhost-pci, which needs
#           no core of its own: each VM has one
pin_name() {
  if (( $(nproc) < 2 )); then echo none; return; fi
  if [[ $pin != auto ]]; then echo "$pin"; return; fi
  case "$1" in tap|vhost) echo split ;; testpmd|ovs) echo cpu0 ;; vpci|vsym) echo shared ;; *) echo none ;; esac
}
pin_spec() {
  case "$1" in
    split) echo "A.vcpu=0,A.vhost=1,A.rest=1,B.vcpu=1,B.vhost=0,B.rest=0" ;;
    shared) echo "A.vcpu=0,A.vhost=0,A.rest=0,B.vcpu=1,B.vhost=1,B.rest=1" ;;
    cpu0) echo "A.vcpu=0,A.vhost=0,A.rest=0,B.vcpu=0,B.vhost=0,B.rest=0" ;;
  esac
}

# wait_for FILE PATTERN SECONDS PID: until FILE has PATTERN; 1 when PID ended first or on timeout.
wait_for() {
  local file="$1" pattern="$2" pid="$4" end=$((SECONDS + $3))
  while (( SECONDS < end )); do
    grep -qE "$pattern" "$file" 2>/dev/null && return 0
    if ! kill -0 "$pid" 2>/dev/null; then grep -qE "$pattern" "$file" 2>/dev/null; return; fi
    sleep 0.1
  done
  return 1
}
stop_vm() {  # stop_vm PID SECONDS: wait for a clean exit, then kill
  local pid="$1" end=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null && (( SECONDS < end )); do sleep 0.1; done
  kill -TERM "$pid" 2>/dev/null || true
  sleep 0.3
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
show_tail() {  # show_tail LOG WHAT
  say "  $2: console tail:"
  tr -d '\r' < "$1" | tail -n 12 | sed "s#^#$BENCH_TAG   | #"
  [[ -s "$1.stderr" ]] && tail -n 5 "$1.stderr" | sed "s|^|$BENCH_TAG   ! |"
  return 0
}

# --- Where the time goes (BENCH_STATS=1) -----------------------------------------------------------
# snap_stats PID FILE: "key value" lines for one VMM process: KVM's per-VM counters from debugfs
# (exits of every kind, summed over its vCPUs); for each of its threads and its vhost worker, by
# name, milliseconds on a CPU and waiting for one and times scheduled in; L1's CPU ticks.
# diff_stats A B TAG: the counters that moved between two snapshots, one line each.
snap_stats() {
  local pid="$1" out="$2" vh
  # Two processes at most: forks are slow in the nested host, and the VM must not end meanwhile.
  find /sys/kernel/debug/kvm/ -maxdepth 2 -type f -path "*/$pid-*/*" -exec awk '
    { n = split(FILENAME, p, "/"); if ($0 ~ /^[0-9]+$/) print "kvm." p[n] " " $0; nextfile }' {} + > "$out" 2>/dev/null || true
  vh="$(vhost_worker_dir "$pid")"
  # schedstat: nanoseconds on a CPU, nanoseconds waiting for one, times scheduled in.
  awk 'FILENAME ~ /comm$/ { name[FILENAME] = $0; gsub(/ /, "_", name[FILENAME]); nextfile }
       { c = FILENAME; sub(/schedstat$/, "comm", c); c = name[c]
         printf "cpu_ms.%s %d\nwait_ms.%s %d\nruns.%s %d\n", c, $1 / 1e6, c, $2 / 1e6, c, $3 }' \
    /proc/"$pid"/task/*/comm ${vh:+$vh/comm} /proc/"$pid"/task/*/schedstat ${vh:+$vh/schedstat} >> "$out" 2>/dev/null || true
  awk '/^cpu / { print "l1.busy " $2 + $3 + $4 + $7 + $8; print "l1.idle " $5 }' /proc/stat >> "$out"
}
diff_stats() {
  awk -v tag="$3" 'NR == FNR { a[$1] += $2; next } { b[$1] += $2 } END {
      for (k in b) { d = b[k] - a[k]; if (d != 0) printf "%s %s %.0f\n", tag, k, d } }' "$1" "$2" | sort -k2,2
}

# --- Report helpers --------------------------------------------------------------------------------
# median "N N N": the median of whole numbers (NA for none); ratio A B: A / B to two places (NA when
# either is NA or B is 0); kpps PPS: thousands, one place; name PATH: a data path's display name.
median() { tr ' ' '\n' <<<"$1" | { grep . || true; } | sort -n | awk '{v[NR] = $1} END { if (NR == 0) print "NA"; else if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.2f", a / b }'; }
kpps() { awk -v a="$1" 'BEGIN { if (a == "NA") print "NA"; else printf "%.1f", a / 1000 }'; }
name() { bench_name "$1"; }
