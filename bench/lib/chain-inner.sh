#!/bin/bash
# bench/lib/chain-inner.sh: the measuring half of bench/chain; runs where /dev/kvm works (inside
# tools/nested-kvm), as root, in its own network namespace (re-executes itself under unshare --net).
#
#   bench/lib/chain-inner.sh --paths vpci,ovs,testpmd --lengths 2,3,4 --runs N --seconds S
#                            --size BYTES --memory SIZE [--pin auto|alternate|cpu0|none] [--logs DIR]
#
# Per path and chain length N one `tandem up` of a generated manifest: VMs c1..cN in a line, link k
# (10.k.0.0/24) between c<k> (10.k.0.1) and c<k+1> (10.k.0.2); c2..c<N-1> route between their two
# links (Linux IPv4 forwarding). c1 runs chain-head: pktgen floods cN's address, cN (net-sink)
# counts at its interface. The links:
#   vpci     vhost-pci-net 2.0: c<k> has a vhost-pci-net device (vpn0), c<k+1> a virtio-net (eth0)
#            whose vhost-user front-end is c<k>'s tandem (peer = "c<k>"); no switch at all
#   ovs      OVS with DPDK: every VM's virtio-net is a dpdkvhostuser port of one bridge (NORMAL)
#   testpmd  dpdk-testpmd io forwarding, one port pair per link
# Prints RESULT lines, the table of medians, the loss and what is left of the 2-VM rate.
# --pin places each VM's threads once its guest is up (L1 has 2 CPUs; unpinned, VMs that wake each
# other tend to share one): alternate puts c1, c3, c5 on CPU 0 and c2, c4 on CPU 1 (neighbours on
# different CPUs); cpu0 puts every VM on CPU 0, beside the switch's polling thread on CPU 1; none
# leaves it to the scheduler; auto (default) is alternate for vpci and cpu0 for the switches.
set -euo pipefail

if [[ -z "${BENCH_NET_NETNS:-}" ]]; then
  exec unshare --net -- env BENCH_NET_NETNS=1 "$0" "$@"
fi

paths="vpci,ovs"
lengths="2,3,4"
runs=3
secs=5
size=60
mem=256M
logs=""
pin=auto
. "$(dirname "$0")/options.sh"
bench_options chain-inner --paths=paths --lengths=lengths --runs=runs --seconds=secs --size=size --memory=mem --pin=pin --logs=logs -- "$@"
bench_choice chain-inner --pin "$pin" auto alternate cpu0 none

BENCH_TAG="[bench/chain]"
. "$(dirname "$0")/vm-pair.sh"

# boot_budget N: seconds for N guests booting one after the other (sequential_boot), generous
boot_budget() { echo $(( $1 * 200 )); }

# manifest PATH N FILE: writes the chain's manifest. The switch ports must exist already.
manifest() {
  local path="$1" n="$2" f="$3" j left right net routes script sock
  local tail_ip="10.$((n - 1)).0.2" stop="" serve
  serve=$(( $(boot_budget "$n") + runs * (secs + 15) + 300 ))
  for (( j = n; j >= 2; j-- )); do stop+="${stop:+,}10.$((j - 1)).0.2"; done
  {
    echo "# bench/chain: $n VMs over $path"
    echo "run_dir = \"$tmp/run-$path-$n\""
    echo "sequential_boot = true"
    echo "shutdown_timeout = 30"
    for (( j = 1; j <= n; j++ )); do
      # interfaces: the left link's (towards c1) and the right link's (towards cN)
      left=""; right=""
      if [[ $path == vpci ]]; then
        (( j > 1 )) && left=eth0
        (( j < n )) && right=vpn0
      else
        (( j > 1 )) && left=eth0
        (( j < n )) && { if (( j > 1 )); then right=eth1; else right=eth0; fi; }
      fi
      net=""; routes=""
      [[ -n $left ]] && net+="$left:10.$((j - 1)).0.2/24"
      [[ -n $right ]] && net+="${net:+,}$right:10.$j.0.1/24"
      # towards cN: a default route through the right neighbour (when cN is not on the right link);
      # towards c1: link 1 through the left neighbour (when link 1 is not the left link)
      (( j < n - 1 )) && routes+="0.0.0.0/0:10.$j.0.2"
      (( j > 2 )) && routes+="${routes:+,}10.1.0.0/24:10.$((j - 1)).0.1"
      if (( j == 1 )); then
        script="tandem.script=chain-head tandem.peer=$tail_ip tandem.pktgen_if=$right tandem.stop=$stop"
        script+=" tandem.runs=$runs tandem.pktgen_seconds=$secs tandem.pktgen_size=$size tandem.wait_seconds=$(boot_budget "$n")"
      else
        script="tandem.script=net-sink tandem.rx_if=$left tandem.serve_seconds=$serve"
        (( j < n )) && script+=" tandem.forward=1"
      fi
      echo
      echo "[[vm]]"
      echo "name = \"c$j\""
      echo "memory = \"$mem\""
      # a guest the nested host ends (a triple fault under TCG, now and then) boots again
      echo "restart = \"on-failure\""
      echo "cmdline = \"console=ttyS0 quiet panic=-1 tandem.vm=c$j tandem.net=$net${routes:+ tandem.route=$routes} $script\""
      if [[ $path == vpci ]]; then
        (( j > 1 )) && printf '  [[vm.virtio-net]]\n  peer = "c%d"\n' $((j - 1))
        (( j < n )) && printf '  [[vm.vhost-pci-net]]\n'
      else
        (( j > 1 )) && { sock="$(port_socket "$path" $((j - 1)) b)"; printf '  [[vm.virtio-net]]\n  vhost-user = "%s"\n' "$sock"; }
        (( j < n )) && { sock="$(port_socket "$path" "$j" a)"; printf '  [[vm.virtio-net]]\n  vhost-user = "%s"\n' "$sock"; }
      fi
    done
  } > "$f"
  return 0
}
# port_socket PATH LINK a|b: the switch's vhost-user socket for one end of link LINK (1-based);
# a is c<LINK>'s end, b c<LINK+1>'s.
port_socket() {
  case "$1" in
    ovs) echo "$OVS_DIR/l$2$3" ;;
    testpmd) if [[ $3 == a ]]; then echo "$S/v$(( 2 * ($2 - 1) )).sock"; else echo "$S/v$(( 2 * ($2 - 1) + 1 )).sock"; fi ;;
  esac
}
switch_up() {  # switch_up PATH N
  local k
  local -a ports=()
  case "$1" in
    vpci) return 0 ;;
    ovs) for (( k = 1; k < $2; k++ )); do ports+=("l${k}a" "l${k}b"); done; ovs_up "${ports[@]}" ;;
    testpmd) testpmd_up $(( 2 * ($2 - 1) )) ;;
  esac
}
switch_down() {
  case "$1" in
    ovs) ovs_down ;;
    testpmd) testpmd_down ;;
  esac
}

# chain_placement PATH: what --pin means for PATH. vm_cpu PLACEMENT J: the L1 CPU for VM cJ.
chain_placement() {
  if (( $(nproc) < 2 )); then echo none; return; fi
  if [[ $pin != auto ]]; then echo "$pin"; return; fi
  if [[ $1 == vpci ]]; then echo alternate; else echo cpu0; fi
}
vm_cpu() { case "$1" in alternate) echo $(( ($2 - 1) % 2 )) ;; cpu0) echo 0 ;; esac; }
# pin_chain DIR N PLACEMENT DEADLINE: pins each VM's tandem (found by its tandem.vm=cJ word) once its
# console says TANDEM-GUEST-READY, in boot order; gives up on a VM at DEADLINE (SECONDS).
pin_chain() {
  local dir="$1" n="$2" placement="$3" end="$4" j pid cpu
  [[ $placement == none ]] && return 0
  for (( j = 1; j <= n; j++ )); do
    until grep -q TANDEM-GUEST-READY "$dir/c$j.log" 2>/dev/null; do (( SECONDS < end )) || return 0; sleep 1; done
    pid="$(pgrep -f "tandem\.vm=c$j " | head -n 1 || true)"
    cpu="$(vm_cpu "$placement" "$j")"
    [[ -n $pid ]] && pin_vm "$pid" a "A.vcpu=$cpu,A.vhost=$cpu,A.rest=$cpu" | sed "s/^PIN A/PIN c$j/"
  done
  return 0
}

declare -A SENT RX   # [path,n] = "pps pps ..." one per run
# run_chain PATH N ATTEMPT: 0 when the head reported at least one run, else 1.
run_chain() {
  local path="$1" n="$2" att="$3" dir="$L/$1-$2-$3" m up_pid rc=0 t0=$SECONDS budget line
  mkdir -p "$dir"
  m="$dir/chain.toml"
  manifest "$path" "$n" "$m"
  budget=$(( $(boot_budget "$n") + runs * (secs + 15) + 240 ))
  "$TANDEM" up --logs "$dir" "$m" >"$dir/up.log" 2>&1 &
  up_pid=$!
  PIDS+=("$up_pid")
  local placement; placement="$(chain_placement "$path")"
  pin_chain "$dir" "$n" "$placement" $(( SECONDS + budget )) > "$dir/pin.log" 2>&1 &
  local pinner=$!
  PIDS+=("$pinner")
  local i=0
  while kill -0 "$up_pid" 2>/dev/null && (( i < budget * 10 )); do sleep 0.1; i=$((i + 1)); done
  if kill -0 "$up_pid" 2>/dev/null; then
    say "  $path, $n VMs: still running after $budget s; stopping"
    kill -TERM "$up_pid" 2>/dev/null || true
    i=0
    while kill -0 "$up_pid" 2>/dev/null && (( i < 600 )); do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$up_pid" 2>/dev/null || true
  fi
  wait "$up_pid" 2>/dev/null || rc=$?
  kill "$pinner" 2>/dev/null || true
  say "  placement $placement: $(awk '/^PIN / { print $2, $NF }' "$dir/pin.log" | sort -u | tr '\n' ' ')"
  tail -n 1 "$dir/up.log" | sed "s|^|$BENCH_TAG   |"
  local got=0 run sent rx
  while read -r line; do
    run="$(sed -n 's/.* run=\([0-9]*\).*/\1/p' <<<"$line")"
    sent="$(sed -n 's/.* sent_pps=\([0-9]*\).*/\1/p' <<<"$line")"
    rx="$(sed -n 's/.* rx_pps=\([0-9]*\).*/\1/p' <<<"$line")"
    [[ -n "$run" && -n "$sent" && -n "$rx" ]] || continue
    SENT[$path,$n]+="$sent "; RX[$path,$n]+="$rx "; got=$((got + 1))
    echo "RESULT path=$path vms=$n run=$run sent_pps=$sent rx_pps=$rx pin=$placement"
  done < <(tr -d '\r' < "$dir/c1.log" 2>/dev/null | grep -E '^CHAIN (run|error)' || true)
  tr -d '\r' < "$dir/c1.log" 2>/dev/null | grep -E '^CHAIN (error|driver-stats)' | sed "s|^|$BENCH_TAG   c1: |" || true
  say "  $path, $n VMs: $((SECONDS - t0)) s, tandem up status $rc"
  if (( got == 0 )); then
    local f
    for f in "$dir"/c*.log; do
      [[ -f $f ]] || continue
      say "  $(basename "$f" .log): console tail:"
      tr -d '\r' < "$f" | tail -n 8 | sed "s#^#$BENCH_TAG   | #"
    done
    return 1
  fi
  return 0
}

IFS=, read -r -a PATH_LIST <<<"$paths"
IFS=, read -r -a LEN_LIST <<<"$lengths"
say "L1: $(nproc) CPUs, $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) MiB; tandem guests: 1 vCPU, $mem each; $runs runs x $secs s of $size-byte frames per chain; thread placement: $pin"
for path in "${PATH_LIST[@]}"; do
  for n in "${LEN_LIST[@]}"; do
    for att in 1 2; do
      if (( att == 1 )); then say "$path, $n VMs"; else say "$path, $n VMs (attempt $att)"; fi
      CUR="chain-$path-$n-$att"
      if ! switch_up "$path" "$n"; then switch_down "$path"; say "  $path: the switch did not start: NA"; break; fi
      rc=0; run_chain "$path" "$n" "$att" || rc=$?
      switch_down "$path"
      [[ $rc -eq 0 ]] && break
    done
  done
done

# --- Report ----------------------------------------------------------------------------------------
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.0f%%", 100 * a / b }'; }
loss() { awk -v rx="$1" -v tx="$2" 'BEGIN { if (rx == "NA" || tx == "NA" || tx == 0) print "NA"; else { l = 100 * (1 - rx / tx); if (l < 0) l = 0; printf "%.1f%%", l } }'; }
declare -A MS MR
for path in "${PATH_LIST[@]}"; do
  for n in "${LEN_LIST[@]}"; do MS[$path,$n]="$(median "${SENT[$path,$n]:-}")"; MR[$path,$n]="$(median "${RX[$path,$n]:-}")"; done
done
echo
echo "chains of VMs, $size-byte frames (without FCS), medians of $runs runs x $secs s: sent by pktgen in c1's kernel,"
echo "received at cN's interface (kpps); loss = 1 - received / sent; kept = received / received with ${LEN_LIST[0]} VMs"
hdr="  %-5s"; args=(VMs)
for path in "${PATH_LIST[@]}"; do hdr+=" | %-14s %9s %7s %6s"; args+=("$(name "$path")" "rx kpps" loss kept); done
printf "$hdr\n" "${args[@]}"
for n in "${LEN_LIST[@]}"; do
  row=("$n")
  for path in "${PATH_LIST[@]}"; do
    row+=("sent $(kpps "${MS[$path,$n]}")" "$(kpps "${MR[$path,$n]}")" "$(loss "${MR[$path,$n]}" "${MS[$path,$n]}")" \
          "$(pct "${MR[$path,$n]}" "${MR[$path,${LEN_LIST[0]}]}")")
  done
  printf "$hdr\n" "${row[@]}"
done
if [[ " ${PATH_LIST[*]} " == *" vpci "* && ${#PATH_LIST[@]} -gt 1 ]]; then
  echo
  echo "vhost-pci / other path (received at the tail):"
  for path in "${PATH_LIST[@]}"; do
    [[ $path == vpci ]] && continue
    line="  vpci / $path:"
    for n in "${LEN_LIST[@]}"; do
      line+=" $n VMs $(ratio "${MR[vpci,$n]}" "${MR[$path,$n]}");"
    done
    echo "${line%;}"
  done
fi
for path in "${PATH_LIST[@]}"; do
  for n in "${LEN_LIST[@]}"; do
    echo "MEDIAN path=$path vms=$n sent_pps=${MS[$path,$n]} rx_pps=${MR[$path,$n]} runs_rx=[${RX[$path,$n]:-}]"
  done
done
echo
echo "(absolute numbers are those of guests nested under TCG: compare the ratios, measured in this one run)"
