#!/bin/bash
# bench/lib/vpci-inner.sh: the measuring half of bench/vhost-pci; runs where /dev/kvm works (inside
# tools/nested-kvm), as root, in its own network namespace (re-executes itself under unshare --net).
#
#   bench/lib/vpci-inner.sh --backends vpci,ovs,testpmd,vhost --runs N --seconds S
#                           --sizes 60,1514 [--burst N] [--section SIZE] [--guest-args WORD,...]
#                           [--pin auto|split|shared|cpu0|none] [--logs DIR]
#
# Per backend one tandem VM pair: B runs net-sink, A runs duplex-bench, which floods B from A's
# kernel (pktgen) and asks B to flood A, for every frame size, --runs times, each --seconds long,
# counting at the receiver's interface. With vpci, B is VM1 (the vhost-pci-net device, our driver,
# interface vpn0) and A is VM2 (stock virtio_net, the vhost-user front-end of B's tandem): A->B is
# VM1's receive path, B->A its transmit path straight into VM2's RX buffers. Prints RESULT lines, a
# table of medians and the ratios of vhost-pci to every other path. --pin places both VMs' threads
# once each guest is up (pin_name in vm-pair.sh; auto: each vhost-pci VM on a CPU of its own, the
# switched VMs together on CPU 0 beside the switch's polling thread on CPU 1).
set -euo pipefail

if [[ -z "${BENCH_NET_NETNS:-}" ]]; then
  exec unshare --net -- env BENCH_NET_NETNS=1 "$0" "$@"
fi

backends="vpci,ovs,testpmd,vhost"
runs=3
secs=5
sizes="60,1514"
burst=1
logs=""
guest_args=""
pin=auto
VSYM_SECTION=16M
. "$(dirname "$0")/options.sh"
bench_options vpci-inner --backends=backends --runs=runs --seconds=secs --sizes=sizes --burst=burst --section=VSYM_SECTION --guest-args=guest_args --pin=pin --logs=logs -- "$@"
bench_choice vpci-inner --pin "$pin" auto split shared cpu0 none

BENCH_TAG="[bench/vhost-pci]"
. "$(dirname "$0")/vm-pair.sh"

declare -A VAL   # VAL[backend,dir,size] = "pps pps ..." (received packets per second, one per run)
# run_duplex BACKEND ATTEMPT: 0 measured (maybe partly), 2 a guest did not come up (retry).
run_duplex() {
  local be="$1" att="$2"
  local la="$L/$be-$att-a.log" lb="$L/$be-$att-b.log" pa pb
  local base="console=ttyS0 quiet panic=-1${guest_args:+ ${guest_args//,/ }}"
  local cb="$base tandem.ip=$IP_B/24 tandem.script=net-sink tandem.serve_seconds=1500"
  local ca="$base tandem.ip=$IP_A/24 tandem.peer=$IP_B tandem.script=duplex-bench"
  [[ $be == vpci || $be == vsym ]] && cb="$base tandem.net=vpn0:$IP_B/24 tandem.rx_if=vpn0 tandem.script=net-sink tandem.serve_seconds=1500"
  [[ $be == vsym ]] && ca="$base tandem.net=vpn0:$IP_A/24 tandem.pktgen_if=vpn0 tandem.peer=$IP_B tandem.script=duplex-bench"
  ca+=" tandem.sizes=$sizes tandem.runs=$runs tandem.pktgen_seconds=$secs tandem.pktgen_burst=$burst"
  local t0=$SECONDS
  launch tandem b "$lb" "$cb"; pb=$VM_PID
  if ! wait_for "$lb" 'NET-SINK-READY' 240 "$pb"; then
    show_tail "$lb" "$be: B did not come up"; stop_vm "$pb" 0; return 2
  fi
  local placement; placement="$(pin_name "$be")"
  pin_vm "$pb" b "$(pin_spec "$placement")"
  launch tandem a "$la" "$ca"; pa=$VM_PID
  # pinned once its guest is up (its vCPU thread exists), before the measuring starts (peer-up)
  wait_for "$la" 'TANDEM-GUEST-READY' 240 "$pa" && pin_vm "$pa" a "$(pin_spec "$placement")"
  if ! wait_for "$la" 'VBENCH peer-up' 300 "$pa"; then
    show_tail "$la" "$be: A did not reach B"; stop_vm "$pa" 0; stop_vm "$pb" 0; return 2
  fi
  local n_sizes; n_sizes=$(tr ',' '\n' <<<"$sizes" | wc -l)
  if ! wait_for "$la" 'TANDEM-SCRIPT-EXIT=' $(( n_sizes * runs * 2 * (secs + 15) + 120 )) "$pa"; then
    show_tail "$la" "$be: A did not finish"; show_tail "$lb" "$be: B"
  fi
  stop_vm "$pa" 30; stop_vm "$pb" 30
  local line dir size pps
  while read -r line; do
    dir="$(sed -n 's/.* dir=\([a-z]*\) .*/\1/p' <<<"$line")"
    size="$(sed -n 's/.* size=\([0-9]*\) .*/\1/p' <<<"$line")"
    pps="$(sed -n 's/.* rx_pps=\([0-9]*\).*/\1/p' <<<"$line")"
    [[ -n "$dir" && -n "$size" && -n "$pps" ]] || continue
    VAL[$be,$dir,$size]+="$pps "
    echo "RESULT backend=$be $(cut -d' ' -f2- <<<"$line") pin=$placement"
  done < <(tr -d '\r' < "$la" | grep '^VBENCH dir=')
  tr -d '\r' < "$la" | grep '^VBENCH error' | sed "s|^|$BENCH_TAG   A: |" || true
  tr -d '\r' < "$lb" | grep '^NET-SINK driver-stats' | sed "s|^NET-SINK |$BENCH_TAG   B's |" || true
  say "  $be: $((SECONDS - t0)) s"
  return 0
}

IFS=, read -r -a BE_LIST <<<"$backends"
IFS=, read -r -a SIZE_LIST <<<"$sizes"
say "L1: $(nproc) CPUs, $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) MiB; tandem guests: 1 vCPU, $MEM each; $runs runs x $secs s per direction and size, pktgen burst $burst; thread placement: $pin${guest_args:+; guest arguments: ${guest_args//,/ }}"
for be in "${BE_LIST[@]}"; do
  for att in 1 2; do
    if (( att == 1 )); then say "$be"; else say "$be (attempt $att)"; fi
    CUR="tandem-$be-$att"
    if ! backend_up "$be"; then backend_down "$be"; say "  $be: backend failed to start: row is NA"; break; fi
    rc=0; run_duplex "$be" "$att" || rc=$?
    backend_down "$be"
    [[ $rc -eq 2 && $att -eq 1 ]] && { say "  a guest did not come up; retrying once"; continue; }
    break
  done
done

# --- Report ----------------------------------------------------------------------------------------
# show VALUE SIZE: kpps for small frames, Gbit/s (frame bytes without FCS) for large ones
show() { awk -v p="$1" -v s="$2" 'BEGIN { if (p == "NA") print "NA"; else if (s < 512) printf "%.1f kpps", p / 1000; else printf "%.3f Gb/s", p * s * 8 / 1e9 }'; }
declare -A MED
for be in "${BE_LIST[@]}"; do
  for dir in ab ba; do
    for size in "${SIZE_LIST[@]}"; do MED[$be,$dir,$size]="$(median "${VAL[$be,$dir,$size]:-}")"; done
  done
done
echo
echo "tandem VM pair, medians of $runs runs x $secs s, received at the other VM's interface (pktgen in the sender's kernel)"
echo "A->B: for vhost-pci, VM2 (virtio-net) to VM1 (vhost-pci-net: receive copies out of VM2's TX ring)"
echo "B->A: for vhost-pci, VM1 to VM2 (VM1's driver writes straight into VM2's RX buffers)"
hdr="  %-14s"; for size in "${SIZE_LIST[@]}"; do hdr+=" %16s %16s"; done
args=(backend); for size in "${SIZE_LIST[@]}"; do args+=("A->B ${size}B" "B->A ${size}B"); done
printf "$hdr\n" "${args[@]}"
for be in "${BE_LIST[@]}"; do
  row=("$(name "$be")")
  for size in "${SIZE_LIST[@]}"; do row+=("$(show "${MED[$be,ab,$size]}" "$size")" "$(show "${MED[$be,ba,$size]}" "$size")"); done
  printf "$hdr\n" "${row[@]}"
done
if [[ " ${BE_LIST[*]} " == *" vpci "* ]]; then
  echo
  echo "vhost-pci / other path (received packets per second, same size and direction):"
  printf "$hdr\n" "${args[@]}"
  for be in "${BE_LIST[@]}"; do
    [[ $be == vpci ]] && continue
    row=("vpci / $be")
    for size in "${SIZE_LIST[@]}"; do row+=("$(ratio "${MED[vpci,ab,$size]}" "${MED[$be,ab,$size]}")" "$(ratio "${MED[vpci,ba,$size]}" "${MED[$be,ba,$size]}")"); done
    printf "$hdr\n" "${row[@]}"
  done
fi
if [[ " ${BE_LIST[*]} " == *" vsym "* ]]; then
  echo
  echo "vhost-pci 2.1 (symmetric) / other path (received packets per second, same size and direction):"
  printf "$hdr\n" "${args[@]}"
  for be in "${BE_LIST[@]}"; do
    [[ $be == vsym ]] && continue
    row=("vsym / $be")
    for size in "${SIZE_LIST[@]}"; do row+=("$(ratio "${MED[vsym,ab,$size]}" "${MED[$be,ab,$size]}")" "$(ratio "${MED[vsym,ba,$size]}" "${MED[$be,ba,$size]}")"); done
    printf "$hdr\n" "${row[@]}"
  done
fi
for be in "${BE_LIST[@]}"; do
  for dir in ab ba; do
    for size in "${SIZE_LIST[@]}"; do
      echo "MEDIAN backend=$be dir=$dir size=$size rx_pps=${MED[$be,$dir,$size]} runs=[${VAL[$be,$dir,$size]:-}]"
    done
  done
done
echo
echo "(absolute numbers are those of guests nested under TCG: compare the ratios, measured in this one run)"
