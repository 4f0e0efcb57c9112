#!/bin/bash
# bench/lib/net-inner.sh: the measuring half of bench/net; runs where /dev/kvm works (inside
# tools/nested-kvm), as root, in its own network namespace (it re-executes itself under
# `unshare --net`, so bridges and taps never touch the host's network even when KVM is native).
#
#   bench/lib/net-inner.sh --vmm qemu,tandem --backends tap,vhost,testpmd,ovs
#                          --iperf-seconds N --pktgen-seconds N [--pktgen-burst N] [--runs N]
#                          [--pin auto|split|shared|cpu0|none] [--logs DIR]
#
# For every VMM and backend it boots the same two-VM pair (B: net-sink, then A: net-bench; 1 vCPU
# each, memfd RAM, distinct MACs), lets A run iperf3 and pktgen towards B and prints RESULT lines,
# then a table of medians and ratios. With --runs N every pair is measured N times, interleaved
# (run 1 of every VMM and backend, then run 2, ...), so a slow spell of the nested host falls on
# both VMMs alike. During pktgen it also counts, per VM, KVM's exits (debugfs) and each VMM
# thread's CPU time: STATS lines, and EXITS lines with exits and interrupts per 1000 packets sent.
# --pin places both VMMs' threads alike once the guests are up: auto (default), split, shared, cpu0
# or none (pin_name in bench/lib/vm-pair.sh says what each does).
# Environment: TANDEM_GUEST_KERNEL, TANDEM_GUEST_INITRD, TANDEM_BIN (default bazel-bin/vmm/tandem),
# BENCH_NET_TAP_OPTS (more tandem tap options, e.g. ",coalesce=0"), BENCH_NET_QEMU_TAP_OPTS (more
# QEMU tap options, e.g. ",poll-us=50"), BENCH_STATS=0 (no counters).
set -euo pipefail

if [[ -z "${BENCH_NET_NETNS:-}" ]]; then
  exec unshare --net -- env BENCH_NET_NETNS=1 "$0" "$@"
fi

vmms="qemu,tandem"
backends="tap,vhost,testpmd,ovs"
iperf_s=5
pktgen_s=20
burst=1
runs=1
pin=auto
logs=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --vmm) vmms="$2"; shift 2 ;;
    --backends) backends="$2"; shift 2 ;;
    --iperf-seconds) iperf_s="$2"; shift 2 ;;
    --pktgen-seconds) pktgen_s="$2"; shift 2 ;;
    --pktgen-burst) burst="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --pin) pin="$2"; shift 2 ;;
    --logs) logs="$2"; shift 2 ;;
    *) echo "net-inner: unknown option '$1'" >&2; exit 2 ;;
  esac
done
bench_choice net-inner --pin "$pin" auto split shared cpu0 none

BENCH_TAG="[bench/net]"
. "$(dirname "$0")/vm-pair.sh"

declare -A IPERF SENT RX         # medians per VMM and backend (NA: no run measured)
declare -A V_IPERF V_SENT V_RX   # every run's value, space-separated
declare -A V_AEX V_AIRQ V_BEX V_BIRQ  # per 1000 packets sent: A's and B's exits and injected interrupts
# softnet_dropped: packets the kernel dropped because a CPU's input backlog was full (all CPUs).
softnet_dropped() {
  local n=0 _ d _rest
  while read -r _ d _rest; do n=$((n + 16#$d)); done < /proc/net/softnet_stat
  echo "$n"
}
# run_pair VMM BACKEND RUN ATTEMPT: one measurement; 0 measured, 1 failed, 2 failed early enough to retry.
run_pair() {
  local vmm="$1" be="$2" run="$3" att="$4"
  local la="$L/$vmm-$be-r$run-$att-a.log" lb="$L/$vmm-$be-r$run-$att-b.log" pa pb t0 have_stats=0
  local base="console=ttyS0 quiet panic=-1"
  local cb="$base tandem.ip=$IP_B/24 tandem.script=net-sink tandem.serve_seconds=400"
  local ca="$base tandem.ip=$IP_A/24 tandem.peer=$IP_B tandem.peer_mac=$MAC_B tandem.script=net-bench"
  if [[ $be == vpci ]]; then  # B receives on vpn0 (random MAC: A finds it by ARP)
    cb="$base tandem.net=vpn0:$IP_B/24 tandem.rx_if=vpn0 tandem.script=net-sink tandem.serve_seconds=400"
    ca="$base tandem.ip=$IP_A/24 tandem.peer=$IP_B tandem.script=net-bench"
  fi
  ca+=" tandem.iperf_seconds=$iperf_s tandem.pktgen_seconds=$pktgen_s tandem.pktgen_burst=$burst"
  t0=$SECONDS
  local softnet0; softnet0="$(softnet_dropped)"
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
  local placement; placement="$(pin_name "$be")"
  pin_vm "$pb" b "$(pin_spec "$placement")"; pin_vm "$pa" a "$(pin_spec "$placement")"
  # Counters over the pktgen phase only: where each VMM's exits and CPU time go per packet.
  if [[ ${BENCH_STATS:-1} == 1 ]] && wait_for "$la" 'NETBENCH pktgen-start|TANDEM-SCRIPT-EXIT=' $((iperf_s + 300)) "$pa"; then
    snap_stats "$pa" "$tmp/a0"; snap_stats "$pb" "$tmp/b0"
    if wait_for "$la" 'NETBENCH pktgen-end|TANDEM-SCRIPT-EXIT=' $((pktgen_s + 120)) "$pa"; then
      snap_stats "$pa" "$tmp/a1"; snap_stats "$pb" "$tmp/b1"
      diff_stats "$tmp/a0" "$tmp/a1" "STATS vmm=$vmm backend=$be run=$run vm=A" | tee "$tmp/sa"
      diff_stats "$tmp/b0" "$tmp/b1" "STATS vmm=$vmm backend=$be run=$run vm=B" | tee "$tmp/sb"
      have_stats=1
      cp "$tmp/a0" "$L/$CUR-a0.stats"; cp "$tmp/a1" "$L/$CUR-a1.stats"; cp "$tmp/b0" "$L/$CUR-b0.stats"; cp "$tmp/b1" "$L/$CUR-b1.stats"
    fi
  fi
  if ! wait_for "$la" 'TANDEM-SCRIPT-EXIT=' $((iperf_s + pktgen_s + 300)) "$pa"; then
    show_tail "$la" "$vmm/$be A (sender) did not finish"
    show_tail "$lb" "$vmm/$be B (receiver)"
    stop_vm "$pa" 0; stop_vm "$pb" 0
    return 1
  fi
  stop_vm "$pa" 30
  stop_vm "$pb" 30
  # Where packets were lost on the host's side (TCP retransmits come from somewhere): the taps'
  # drop and error counters over the whole run (tun counts a full queue as the tap's tx_dropped),
  # their queueing disciplines' drops and the kernel's per-CPU backlog drops.
  if [[ $be == tap || $be == vhost ]]; then
    local t k v drops=""
    for t in tapA tapB tbr0; do
      # netlink, not /sys/class/net: sysfs shows the network namespace that mounted it, not ours
      while read -r k v; do
        [[ $v != 0 ]] && drops+=" $t.$k=$v"
      done < <(ip -o -s link show dev "$t" 2>/dev/null | tr '\\' '\n' | awk '
        /RX:/ { getline; print "rx_errors", $3; print "rx_dropped", $4; print "rx_missed", $5 }
        /TX:/ { getline; print "tx_errors", $3; print "tx_dropped", $4 }')
      v="$(tc -s qdisc show dev "$t" 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "(dropped") n += $(i + 1) } END { print n + 0 }')"
      [[ $v != 0 ]] && drops+=" $t.qdisc_dropped=$v"
    done
    v="$(softnet_dropped)"; (( v - softnet0 != 0 )) && drops+=" softnet_dropped=$((v - softnet0))"
    echo "DROPS vmm=$vmm backend=$be run=$run${drops:- none}"
  fi
  local out; out="$(tr -d '\r' < "$la")"
  local mbps sent rx
  mbps="$(sed -n 's/^IPERF mbps=\([0-9.]*\).*/\1/p' <<<"$out" | tail -n 1)"
  sent="$(sed -n 's/^NETBENCH-PPS .*sent_pps=\([0-9]*\).*/\1/p' <<<"$out" | tail -n 1)"
  rx="$(sed -n 's/^NETBENCH-PPS .*rx_pps=\([0-9]*\).*/\1/p' <<<"$out" | tail -n 1)"
  grep -E '^(IPERF|PKTGEN|NETBENCH)' <<<"$out" | sed 's/^/[bench\/net]   A: /'
  tr -d '\r' < "$lb" | grep -E '^RX-COUNT' | tail -n 1 | sed 's/^/[bench\/net]   B: /'
  tr -d '\r' < "$lb" | grep -E '^NET-SINK tcp' | sed 's/^/[bench\/net]   B: /'
  grep -q 'TANDEM-SCRIPT-EXIT=0' <<<"$out" || show_tail "$la" "$vmm/$be A's script failed"
  V_IPERF[$vmm,$be]+=" ${mbps:-}"; V_SENT[$vmm,$be]+=" ${sent:-}"; V_RX[$vmm,$be]+=" ${rx:-}"
  say "  $vmm/$be run $run: $((SECONDS - t0)) s"
  echo "RESULT vmm=$vmm backend=$be run=$run iperf_mbps=${mbps:-NA} pktgen_sent_pps=${sent:-NA} rx_pps=${rx:-NA} pin=$placement"
  local npk; npk="$(sed -n 's/^PKTGEN sent=\([0-9]*\).*/\1/p' <<<"$out" | tail -n 1)"
  if [[ $have_stats == 1 && -n "$npk" && "$npk" -gt 0 ]]; then
    per_k() { awk -v k="$2" -v n="$npk" '$6 == k { v = $7 } END { printf "%d", v * 1000 / n }' "$1"; }
    local aex airq bex birq
    aex="$(per_k "$tmp/sa" kvm.exits)"; airq="$(per_k "$tmp/sa" kvm.irq_injections)"
    bex="$(per_k "$tmp/sb" kvm.exits)"; birq="$(per_k "$tmp/sb" kvm.irq_injections)"
    V_AEX[$vmm,$be]+=" $aex"; V_AIRQ[$vmm,$be]+=" $airq"; V_BEX[$vmm,$be]+=" $bex"; V_BIRQ[$vmm,$be]+=" $birq"
    echo "EXITS vmm=$vmm backend=$be run=$run per_1000_packets A_exits=$aex A_irqs=$airq B_exits=$bex B_irqs=$birq"
  fi
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

say "L1: $(nproc) CPUs, $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) MiB; guests: 1 vCPU, $MEM each; $runs run(s) of iperf3 ${iperf_s} s, pktgen ${pktgen_s} s (64-byte frames, burst $burst); thread placement: $pin"
for (( run = 1; run <= runs; run++ )); do
  for be in "${BE_LIST[@]}"; do
    for vmm in "${VMM_LIST[@]}"; do
      [[ $vmm == tandem && $tandem_ok -eq 0 ]] && continue
      [[ $vmm == qemu && $be == vpci ]] && continue  # vhost-pci-net is tandem's
      for att in 1 2; do
        if (( att == 1 )); then say "$vmm / $be, run $run of $runs"; else say "$vmm / $be, run $run (attempt $att)"; fi
        CUR="$vmm-$be-r$run-$att"
        if ! backend_up "$be"; then backend_down "$be"; say "  $be: backend failed to start: no value this run"; break; fi
        rc=0; run_pair "$vmm" "$be" "$run" "$att" || rc=$?
        backend_down "$be"
        [[ $rc -eq 2 && $att -eq 1 ]] && { say "  a guest did not come up; retrying once"; continue; }
        break
      done
    done
  done
done
for be in "${BE_LIST[@]}"; do
  for vmm in "${VMM_LIST[@]}"; do
    IPERF[$vmm,$be]="$(median "${V_IPERF[$vmm,$be]:-}")"
    SENT[$vmm,$be]="$(median "${V_SENT[$vmm,$be]:-}")"
    RX[$vmm,$be]="$(median "${V_RX[$vmm,$be]:-}")"
  done
done

# --- Report ----------------------------------------------------------------------------------------
gbit() { awk -v a="$1" 'BEGIN { if (a == "NA") print "NA"; else printf "%.3f", a / 1000 }'; }
echo
echo "VM A -> VM B, 1 vCPU and $MEM each; iperf3 TCP ${iperf_s} s; pktgen 64-byte UDP ${pktgen_s} s, counted at B's eth0 rx_packets; medians of $runs run(s)"
printf "  %-7s %-14s %12s %14s %14s %8s\n" vmm backend "iperf Gbit/s" "pktgen tx kpps" "B rx kpps" "rx/tx"
for vmm in "${VMM_LIST[@]}"; do
  for be in "${BE_LIST[@]}"; do
    printf "  %-7s %-14s %12s %14s %14s %8s\n" "$vmm" "$(name "$be")" "$(gbit "${IPERF[$vmm,$be]}")" \
      "$(kpps "${SENT[$vmm,$be]}")" "$(kpps "${RX[$vmm,$be]}")" "$(ratio "${RX[$vmm,$be]}" "${SENT[$vmm,$be]}")"
  done
done
if (( runs > 1 )); then
  echo
  echo "every run, in order (iperf Mbit/s; pktgen tx pps; B rx pps):"
  for vmm in "${VMM_LIST[@]}"; do
    for be in "${BE_LIST[@]}"; do
      printf "  %-7s %-14s %s; %s; %s\n" "$vmm" "$(name "$be")" "${V_IPERF[$vmm,$be]:- NA}" "${V_SENT[$vmm,$be]:- NA}" "${V_RX[$vmm,$be]:- NA}"
    done
  done
fi
echo
echo "during pktgen, per 1000 packets sent (medians; KVM's counters from L1's debugfs):"
printf "  %-7s %-14s %10s %14s %10s %14s\n" vmm backend "A exits" "A interrupts" "B exits" "B interrupts"
for vmm in "${VMM_LIST[@]}"; do
  for be in "${BE_LIST[@]}"; do
    printf "  %-7s %-14s %10s %14s %10s %14s\n" "$vmm" "$(name "$be")" "$(median "${V_AEX[$vmm,$be]:-}")" \
      "$(median "${V_AIRQ[$vmm,$be]:-}")" "$(median "${V_BEX[$vmm,$be]:-}")" "$(median "${V_BIRQ[$vmm,$be]:-}")"
  done
done
if [[ " ${VMM_LIST[*]} " == *" qemu "* && " ${VMM_LIST[*]} " == *" tandem "* ]]; then
  echo
  echo "tandem / QEMU, same backend (medians):"
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
