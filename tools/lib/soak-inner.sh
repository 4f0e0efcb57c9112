#!/bin/bash
# tools/lib/soak-inner.sh: the part of tools/nested-soak that runs inside the nested host.
#
# Boots SOAK_GUESTS L2 guests at the same moment, SOAK_ROUNDS times, under SOAK_VMM (tandem or
# qemu), each on a vhost-user port of one dpdk-testpmd (SOAK_NET=testpmd, the default) or with no
# network (SOAK_NET=none). Each guest boots the stock kernel and the test image to
# TANDEM-GUEST-READY, then powers off. One line per guest:
#   SOAK vmm=V round=R guest=G result=ready|triple-fault|reset|hang|exit-N seconds=S
# and a last line "SOAK-DONE ...". Logs of every guest that did not power off cleanly are kept
# under SOAK_KEEP (a directory in the writable share) when it is set. SOAK_CMDLINE replaces the
# guests' kernel command line; SOAK_TRACE=1 records KVM's exits and injections in the nested host
# (ftrace) and keeps the last of them with each guest that triple-faulted or reset.
set -uo pipefail
cd "$(dirname "$0")/../.."

VMM="${SOAK_VMM:-tandem}"
ROUNDS="${SOAK_ROUNDS:-10}"
GUESTS="${SOAK_GUESTS:-2}"
NET="${SOAK_NET:-testpmd}"
KEEP="${SOAK_KEEP:-}"
CMDLINE="${SOAK_CMDLINE:-console=ttyS0 quiet panic=-1 tandem.run=true}"
TRACE="${SOAK_TRACE:-0}"
TR=/sys/kernel/tracing
MEM=512M
T="$(mktemp -d /tmp/soak.XXXXXX)"
TANDEM="${TANDEM_BIN_DIR:-$(pwd)/bazel-bin}/vmm/tandem"
[[ -f "${TANDEM_GUEST_KERNEL:-}" && -f "${TANDEM_GUEST_INITRD:-}" ]] \
  || { echo "SOAK-ERROR no guest image (TANDEM_GUEST_KERNEL, TANDEM_GUEST_INITRD: tools/nested-soak sets them)"; exit 2; }
PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; }
trap cleanup EXIT

# trace_on: KVM's exits (with the guest's RIP), injected exceptions and interrupts, nested-page
# faults, in a ring buffer per CPU of the nested host.
trace_on() {
  [[ -d $TR/events/kvm ]] || mount -t tracefs nodev $TR 2>/dev/null
  [[ -d $TR/events/kvm ]] || { echo "SOAK-ERROR no kvm trace events in the nested host"; exit 2; }
  echo 0 > $TR/tracing_on; echo > $TR/trace; echo 16384 > $TR/buffer_size_kb
  for e in kvm_exit kvm_inj_exception kvm_inj_virq kvm_page_fault kvm_msr kvm_cr; do
    [[ -e $TR/events/kvm/$e/enable ]] && echo 1 > $TR/events/kvm/$e/enable
  done
  echo 1 > $TR/tracing_on
}
# trace_keep FILE: the buffer's last 20000 lines into FILE, then a fresh buffer.
trace_keep() {
  echo 0 > $TR/tracing_on
  tail -n 20000 $TR/trace > "$1" 2>/dev/null
  echo > $TR/trace; echo 1 > $TR/tracing_on
}
(( TRACE )) && trace_on

if [[ "$NET" == testpmd ]]; then
  vdevs=()
  for (( g = 0; g < GUESTS; g++ )); do vdevs+=(--vdev "net_vhost$g,iface=$T/v$g.sock,client=0"); done
  dpdk-testpmd -l 0-1 --no-huge -m 256 --no-pci --file-prefix=soak "${vdevs[@]}" \
    -- --total-num-mbufs=$(( 4096 * GUESTS )) --forward-mode=io --auto-start --stats-period 30 \
    </dev/null >"$T/testpmd.log" 2>&1 &
  PIDS+=($!)
  for (( i = 0; i < 1200; i++ )); do
    [[ -S "$T/v$((GUESTS - 1)).sock" ]] && break
    sleep 0.1
  done
  [[ -S "$T/v$((GUESTS - 1)).sock" ]] || { tail -n 20 "$T/testpmd.log"; echo "SOAK-ERROR testpmd did not start"; exit 2; }
fi

# launch G LOG: starts guest G under VMM; sets PID.
launch() {
  local g="$1" log="$2" mac cmdline="$CMDLINE"
  mac=$(printf '52:54:00:12:35:%02x' $((g + 16)))
  local -a qnet=() tnet=()
  if [[ "$NET" == testpmd ]]; then
    qnet=(-chardev "socket,id=c0,path=$T/v$g.sock" -netdev vhost-user,id=n0,chardev=c0 -device "virtio-net-pci,netdev=n0,mac=$mac")
    tnet=(--net "vhost-user=$T/v$g.sock,mac=$mac")
  fi
  : > "$log"
  if [[ "$VMM" == qemu ]]; then
    qemu-system-x86_64 -qmp stdio -accel kvm -cpu host -smp 1 -m "$MEM" \
      -object "memory-backend-memfd,id=mem,size=$MEM,share=on" -machine memory-backend=mem \
      -nodefaults -no-user-config -display none -no-reboot -serial "file:$log" \
      -kernel "$TANDEM_GUEST_KERNEL" -initrd "$TANDEM_GUEST_INITRD" -append "$cmdline" "${qnet[@]}" \
      >"$log.stderr" 2>&1 < <(printf '{"execute":"qmp_capabilities"}\n'; exec sleep 3600 >/dev/null 2>&1) &
  else
    "$TANDEM" vm --kernel "$TANDEM_GUEST_KERNEL" --initrd "$TANDEM_GUEST_INITRD" --cmdline "$cmdline" \
      --memory "$MEM" --cpus 1 --serial "file:$log" "${tnet[@]}" </dev/null >"$log.stderr" 2>&1 &
  fi
  PID=$!
  PIDS+=("$PID")
}

# verdict LOG RC: what became of one guest.
verdict() {
  local log="$1" rc="$2"
  if grep -q "triple fault" "$log.stderr" 2>/dev/null; then echo triple-fault
  elif grep -q '"guest-reset"' "$log.stderr" 2>/dev/null; then echo reset
  elif [[ $rc == hang ]]; then echo hang
  elif grep -q "TANDEM-GUEST-READY" "$log" && [[ $rc == 0 ]]; then echo ready
  else echo "exit-$rc"
  fi
}

declare -A count=()
for (( r = 1; r <= ROUNDS; r++ )); do
  declare -a pids=() logs=() t0s=()
  for (( g = 0; g < GUESTS; g++ )); do
    logs[g]="$T/r$r-g$g.log"
    launch "$g" "${logs[g]}"
    pids[g]=$PID; t0s[g]=$SECONDS
  done
  for (( g = 0; g < GUESTS; g++ )); do
    # every guest has 240 s from its own start; one that ended while we waited for an earlier one
    # is reaped first, never counted as a hang
    rc=hang
    while :; do
      kill -0 "${pids[g]}" 2>/dev/null || { wait "${pids[g]}"; rc=$?; break; }
      (( SECONDS - t0s[g] < 240 )) || break
      sleep 0.2
    done
    [[ $rc == hang ]] && { kill -KILL "${pids[g]}" 2>/dev/null; wait "${pids[g]}" 2>/dev/null; }
    v="$(verdict "${logs[g]}" "$rc")"
    count[$v]=$(( ${count[$v]:-0} + 1 ))
    echo "SOAK vmm=$VMM round=$r guest=$g result=$v seconds=$((SECONDS - t0s[g]))"
    if [[ "$v" != ready && -n "$KEEP" ]]; then
      mkdir -p "$KEEP"
      cp "${logs[g]}" "$KEEP/$VMM-r$r-g$g.log" 2>/dev/null; cp "${logs[g]}.stderr" "$KEEP/$VMM-r$r-g$g.stderr" 2>/dev/null
      (( TRACE )) && [[ "$v" == triple-fault || "$v" == reset ]] && trace_keep "$KEEP/$VMM-r$r-g$g.trace"
    fi
  done
done
summary=""
for k in "${!count[@]}"; do summary+=" $k=${count[$k]}"; done
echo "SOAK-DONE vmm=$VMM net=$NET boots=$(( ROUNDS * GUESTS ))$summary"
