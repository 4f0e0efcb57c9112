#!/bin/bash
# bench/lib/net-inner.sh: the measuring half of bench/net; runs where /dev/kvm works (inside
# tools/nested-kvm), as root, in its own network namespace (it re-executes itself under
# `unshare --net`, so bridges and taps never touch the host's network even when KVM is native).
#
#   bench/lib/net-inner.sh --vmm qemu,tandem --backends tap,vhost,testpmd,ovs
#                          --iperf-seconds N --pktgen-seconds N [--pktgen-burst N] [--logs DIR]
#
# For every VMM and backend it boots the same two-VM pair (B: net-sink, then A: net-bench; 1 vCPU
# and 1 GiB each, memfd RAM, distinct MACs), lets A run iperf3 and pktgen towards B and prints
# RESULT lines, then a table and ratios. Environment: TANDEM_GUEST_KERNEL, TANDEM_GUEST_INITRD,
# TANDEM_BIN (default bazel-bin/vmm/tandem).
set -euo pipefail

if [[ -z "${BENCH_NET_NETNS:-}" ]]; then
  exec unshare --net -- env BENCH_NET_NETNS=1 "$0" "$@"
fi

vmms="qemu,tandem"
backends="tap,vhost,testpmd,ovs"
iperf_s=5
pktgen_s=5
burst=1
logs=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --vmm) vmms="$2"; shift 2 ;;
    --backends) backends="$2"; shift 2 ;;
    --iperf-seconds) iperf_s="$2"; shift 2 ;;
    --pktgen-seconds) pktgen_s="$2"; shift 2 ;;
    --pktgen-burst) burst="$2"; shift 2 ;;
    --logs) logs="$2"; shift 2 ;;
    *) echo "net-inner: unknown option '$1'" >&2; exit 2 ;;
  esac
done

BENCH_TAG="[bench/net]"
. "$(dirname "$0")/vm-pair.sh"

declare -A IPERF SENT RX
# run_pair VMM BACKEND ATTEMPT: one measurement; 0 measured, 1 failed, 2 failed early enough to retry.
run_pair() {
  local vmm="$1" be="$2" att="$3"
  local la="$L/$vmm-$be-$att-a.log" lb="$L/$vmm-$be-$att-b.log" pa pb t0
  local base="console=ttyS0 quiet panic=-1"
  local cb="$base tandem.ip=$IP_B/24 tandem.script=net-sink tandem.serve_seconds=400"
  local ca="$base tandem.ip=$IP_A/24 tandem.peer=$IP_B tandem.peer_mac=$MAC_B tandem.script=net-bench"
  if [[ $be == vpci ]]; then  # B receives on vpn0 (random MAC: A finds it by ARP)
    cb="$base tandem.net=vpn0:$IP_B/24 tandem.rx_if=vpn0 tandem.script=net-sink tandem.serve_seconds=400"
    ca="$base tandem.ip=$IP_A/24 tandem.peer=$IP_B tandem.script=net-bench"
  fi
  ca+=" tandem.iperf_seconds=$iperf_s tandem.pktgen_seconds=$pktgen_s tandem.pktgen_burst=$burst"
  t0=$SECONDS
  # B first, then A: two L2 guests booting at once in the nested host have caused soft lockups.
  launch "$vmm" b "$lb" "$cb"; pb=$VM_PID
  if ! wait_for "$lb" 'NET-SINK-READY' 180 "$pb"; then
    show_tail "$lb" "$vmm/$be B (receiver) did not come up"
    stop_vm "$pb" 0
    return 2
  fi
  launch "$vmm" a "$la" "$ca"; pa=$VM_PID
  if ! wait_for "$la" 'TANDEM-GUEST-READY' 180 "$pa"; then
    show_tail "$la" "$vmm/$be A (sender) did not come up"
    stop_vm "$pa" 0; stop_vm "$pb" 0
    return 2
  fi
  if ! wait_for "$la" 'TANDEM-SCRIPT-EXIT=' $((iperf_s + pktgen_s + 300)) "$pa"; then
    show_tail "$la" "$vmm/$be A (sender) did not finish"
    show_tail "$lb" "$vmm/$be B (receiver)"
    stop_vm "$pa" 0; stop_vm "$pb" 0
    return 1
  fi
  stop_vm "$pa" 30
  stop_vm "$pb" 30
  local out; out="$(tr -d '\r' < "$la")"
  local mbps sent rx
  mbps="$(sed -n 's/^IPERF mbps=\([0-9.]*\).*/\1/p' <<<"$out" | tail -n 1)"
  sent="$(sed -n 's/^NETBENCH-PPS .*sent_pps=\([0-9]*\).*/\1/p' <<<"$out" | tail -n 1)"
  rx="$(sed -n 's/^NETBENCH-PPS .*rx_pps=\([0-9]*\).*/\1/p' <<<"$out" | tail -n 1)"
  grep -E '^(IPERF|PKTGEN|NETBENCH)' <<<"$out" | sed 's/^/[bench\/net]   A: /'
  tr -d '\r' < "$lb" | grep -E '^RX-COUNT' | tail -n 1 | sed 's/^/[bench\/net]   B: /'
  grep -q 'TANDEM-SCRIPT-EXIT=0' <<<"$out" || show_tail "$la" "$vmm/$be A's script failed"
  IPERF[$vmm,$be]="${mbps:-NA}"; SENT[$vmm,$be]="${sent:-NA}"; RX[$vmm,$be]="${rx:-NA}"
  say "  $vmm/$be: $((SECONDS - t0)) s"
  echo "RESULT vmm=$vmm backend=$be iperf_mbps=${mbps:-NA} pktgen_sent_pps=${sent:-NA} rx_pps=${rx:-NA}"
  return 0
}

IFS=, read -r -a VMM_LIST <<<"$vmms"
IFS=, read -r -a BE_LIST <<<"$backends"
tandem_ok=1
for vmm in "${VMM_LIST[@]}"; do
  if [[ $vmm == tandem ]]; then
    if [[ ! -x "$TANDEM" ]]; then
      say "tandem: no binary at $TANDEM: its rows are NA"; tandem_ok=0
    elif ! "$TANDEM" vm --help 2>&1 | grep -q -- '--net'; then
      say "tandem: this build has no 'vm --net' option yet (virtio-net): its rows are NA"; tandem_ok=0
    fi
  fi
done

say "L1: $(nproc) CPUs, $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) MiB; guests: 1 vCPU, $MEM each; iperf3 ${iperf_s} s, pktgen ${pktgen_s} s (64-byte frames, burst $burst)"
for be in "${BE_LIST[@]}"; do
  for vmm in "${VMM_LIST[@]}"; do
    IPERF[$vmm,$be]=NA; SENT[$vmm,$be]=NA; RX[$vmm,$be]=NA
    [[ $vmm == tandem && $tandem_ok -eq 0 ]] && continue
    [[ $vmm == qemu && $be == vpci ]] && continue  # vhost-pci-net is tandem's
    for att in 1 2; do
      if (( att == 1 )); then say "$vmm / $be"; else say "$vmm / $be (attempt $att)"; fi
      CUR="$vmm-$be-$att"
      if ! backend_up "$be"; then backend_down "$be"; say "  $be: backend failed to start: row is NA"; break; fi
      rc=0; run_pair "$vmm" "$be" "$att" || rc=$?
      backend_down "$be"
      [[ $rc -eq 2 && $att -eq 1 ]] && { say "  a guest did not come up; retrying once"; continue; }
      break
    done
  done
done

# --- Report ----------------------------------------------------------------------------------------
gbit() { awk -v a="$1" 'BEGIN { if (a == "NA") print "NA"; else printf "%.3f", a / 1000 }'; }
echo
echo "VM A -> VM B, 1 vCPU and $MEM each; iperf3 TCP ${iperf_s} s; pktgen 64-byte UDP ${pktgen_s} s, counted at B's eth0 rx_packets"
printf "  %-7s %-14s %12s %14s %14s %8s\n" vmm backend "iperf Gbit/s" "pktgen tx kpps" "B rx kpps" "rx/tx"
for vmm in "${VMM_LIST[@]}"; do
  for be in "${BE_LIST[@]}"; do
    printf "  %-7s %-14s %12s %14s %14s %8s\n" "$vmm" "$(name "$be")" "$(gbit "${IPERF[$vmm,$be]}")" \
      "$(kpps "${SENT[$vmm,$be]}")" "$(kpps "${RX[$vmm,$be]}")" "$(ratio "${RX[$vmm,$be]}" "${SENT[$vmm,$be]}")"
  done
done
if [[ " ${VMM_LIST[*]} " == *" qemu "* && " ${VMM_LIST[*]} " == *" tandem "* ]]; then
  echo
  echo "tandem / QEMU, same backend:"
  printf "  %-14s %8s %8s %8s\n" backend iperf "tx pps" "rx pps"
  for be in "${BE_LIST[@]}"; do
    printf "  %-14s %8s %8s %8s\n" "$(name "$be")" "$(ratio "${IPERF[tandem,$be]}" "${IPERF[qemu,$be]}")" \
      "$(ratio "${SENT[tandem,$be]}" "${SENT[qemu,$be]}")" "$(ratio "${RX[tandem,$be]}" "${RX[qemu,$be]}")"
  done
fi
if [[ " ${BE_LIST[*]} " == *" tap "* ]]; then
  echo
  echo "each backend / tap+bridge, same VMM:"
  printf "  %-7s %-14s %8s %8s %8s\n" vmm backend iperf "tx pps" "rx pps"
  for vmm in "${VMM_LIST[@]}"; do
    for be in "${BE_LIST[@]}"; do
      printf "  %-7s %-14s %8s %8s %8s\n" "$vmm" "$(name "$be")" "$(ratio "${IPERF[$vmm,$be]}" "${IPERF[$vmm,tap]}")" \
        "$(ratio "${SENT[$vmm,$be]}" "${SENT[$vmm,tap]}")" "$(ratio "${RX[$vmm,$be]}" "${RX[$vmm,tap]}")"
    done
  done
fi
echo
echo "(absolute numbers are those of guests nested under TCG: compare the ratios, measured in this one run)"
