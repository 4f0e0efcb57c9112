# bench/lib/pvp-run.sh: one measured run of each bench/pvp path, the idle measurement, the table
# and the chart (sourced by bench/pvp, which sets tmp, L, CUR, secs, warmup, runs and BENCH_TAG).
#
# pvp_run PATH DIR SIZE prints "PPS GBPS CPU_NS DETAIL": the received rate, the CPU time per packet
# of every process on the path added up (nanoseconds), and each process's share (name=ns,...); or
# "NA NA NA why" when the run failed (its logs stay in $L).

PIDS=()
QUEUE="${BENCH_PVP_QUEUE:-256}"   # virtio ring size of every virtio-user port (DPDK's default 256)
CLK_TCK="$(getconf CLK_TCK)"
VM1_CPU=0
VM2_CPU=1

pvp_stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  PIDS=()
}

# tp NAME CPU MODE SIZE VDEV...: dpdk-testpmd forwarding MODE on CPU (any: on either, as the
# scheduler likes), its log $L/$CUR-NAME.log. Its mbuf pool is 16384 mbufs (36 MiB): testpmd's
# default (155456, 338 MiB each) left OVS's source no huge pages beside OVS's 512 MiB.
tp() {
  local name="$1" cpu="$2" mode="$3" size="$4"; shift 4
  local vdevs=() v
  for v in "$@"; do vdevs+=(--vdev "$v"); done
  [[ $cpu == any ]] && cpu="(0-1)"
  dpdk-testpmd --lcores="0@$cpu,1@$cpu" -n 1 --no-pci --file-prefix="pvp-$name-$$" -m 256 --single-file-segments \
    "${vdevs[@]}" -- --forward-mode="$mode" --txpkts="$size" --auto-start --stats-period 1 --nb-cores=1 \
    --total-num-mbufs=16384 --rxd="$QUEUE" --txd="$QUEUE" \
    </dev/null >"$L/$CUR-$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$name=$!"
}

# until_line SECONDS FILE REGEX: until FILE has a line matching REGEX.
until_line() {
  local end=$((SECONDS + $1))
  while (( SECONDS < end )); do
    grep -qE "$3" "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# median_rx_pps LOG FROM_LINE: the median of the Rx-pps reports after line FROM_LINE.
median_rx_pps() {
  tail -n +"$(( $2 + 1 ))" "$1" | tr -d '\r' | sed -n 's/.*Rx-pps: *\([0-9]*\).*/\1/p' | awk '$1 > 0' | sort -n |
    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

# The processes of a run, each "name pid", for the CPU accounting.
RUN_PROCS=()

# measure SINK_LOG: sleeps the warm-up, then the measured seconds; sets RATE (median Rx-pps of
# SINK_LOG in the window; empty when SINK_LOG is "-") and CPU_T (name=ticks,...).
measure() {
  local sink="$1" from=0 np name pid
  sleep "$warmup"
  [[ $sink != - ]] && from="$(wc -l < "$sink")"
  local -A t0
  for np in "${RUN_PROCS[@]}"; do read -r name pid <<<"$np"; t0[$name]="$(ticks "$pid")"; done
  sleep "$secs"
  CPU_T=""
  for np in "${RUN_PROCS[@]}"; do
    read -r name pid <<<"$np"
    CPU_T+="$name=$(( $(ticks "$pid") - ${t0[$name]} )),"
  done
  RATE=""
  [[ $sink != - ]] && RATE="$(median_rx_pps "$sink" "$from")"
}

# result RATE SIZE [VM1_CPU_SECONDS]: the output line from RATE and CPU_T.
result() {
  local rate="$1" size="$2" vm1_s="${3:-}" total=0 detail="" kv name t ns
  [[ -n "$rate" && "$rate" -gt 0 ]] || { echo "NA NA NA no-packets"; return; }
  local pkts=$(( rate * secs ))
  IFS=, read -r -a kvs <<<"${CPU_T%,}"
  for kv in "${kvs[@]}"; do
    name="${kv%%=*}"; t="${kv#*=}"
    ns=$(( t * 1000000000 / CLK_TCK / pkts ))
    total=$(( total + ns )); detail+="$name=$ns,"
  done
  if [[ -n "$vm1_s" ]]; then
    ns="$(awk -v s="$vm1_s" -v p="$pkts" 'BEGIN { printf "%d", s * 1e9 / p }')"
    total=$(( total + ns )); detail+="vpci=$ns,"
  fi
  awk -v r="$rate" -v z="$2" -v t="$total" -v d="${detail%,}" 'BEGIN { printf "%d %.3f %d %s\n", r, r * z * 8 / 1e9, t, d }'
}

# vpci: pvp_vpci on VM1's CPU serving testpmd's virtio-user on VM2's.
run_vpci() {
  local wake="$1" dir="$2" size="$3" sock="$tmp/vpci.sock" out="$L/$CUR-vpci.log" mode
  rm -f "$sock"
  taskset -c "$VM1_CPU" "$tmp/pvp_vpci" --socket "$sock" --dir "$dir" --wake "$wake" --size "$size" \
    --warmup "$warmup" --seconds "$secs" >"$out" 2>&1 &
  local vpid=$!
  PIDS+=("$vpid")
  local i=0
  while [[ ! -S "$sock" ]] && (( i++ < 100 )); do sleep 0.1; done
  mode=txonly; [[ $dir == b2a ]] && mode=rxonly
  tp vm2 "$VM2_CPU" "$mode" "$size" "net_virtio_user0,path=$sock,queue_size=$QUEUE"
  RUN_PROCS=("testpmd $PID_vm2")
  until_line 30 "$out" '^PVP-VPCI live' || { pvp_stop_all; echo "NA NA NA $(tail -n 1 "$out")"; return; }
  measure -
  local end=$((SECONDS + 10))
  while kill -0 "$vpid" 2>/dev/null && (( SECONDS < end )); do sleep 0.1; done
  pvp_stop_all
  local line; line="$(grep '^PVP-VPCI dir=' "$out")"
  [[ -n "$line" ]] || { echo "NA NA NA $(tail -n 1 "$out")"; return; }
  local pps cpu
  pps="$(sed -n 's/.* pps=\([0-9]*\).*/\1/p' <<<"$line")"
  cpu="$(sed -n 's/.* cpu_s=\([0-9.]*\).*/\1/p' <<<"$line")"
  result "$pps" "$size" "$cpu"
}

# A switch between two virtio-user ends: SOCK_A and SOCK_B are the switch's sockets. Where the
# ends run: BENCH_PVP_ENDS=shared (default: both on VM1's CPU, the switch keeps VM2's to itself)
# or float (both ends and a testpmd switch wherever the scheduler puts them).
run_switched() {
  local dir="$1" size="$2" sa="$3" sb="$4" src dst cpu="$VM1_CPU"
  [[ ${BENCH_PVP_ENDS:-shared} == float ]] && cpu=any
  src="$sa"; dst="$sb"
  [[ $dir == b2a ]] && { src="$sb"; dst="$sa"; }
  tp sink "$cpu" rxonly "$size" "net_virtio_user0,path=$dst,queue_size=$QUEUE"
  tp source "$cpu" txonly "$size" "net_virtio_user1,path=$src,queue_size=$QUEUE"
  RUN_PROCS+=("sink $PID_sink" "source $PID_source")
  until_line 30 "$L/$CUR-sink.log" 'Rx-pps: +[1-9]' || { pvp_stop_all; echo "NA NA NA sink-not-started"; return; }
  measure "$L/$CUR-sink.log"
  pvp_stop_all
  result "$RATE" "$size"
}

run_testpmd() {
  local dir="$1" size="$2"
  rm -f "$tmp/sw-a.sock" "$tmp/sw-b.sock"
  local cpu="$VM2_CPU"
  [[ ${BENCH_PVP_ENDS:-shared} == float ]] && cpu=any
  tp switch "$cpu" io "$size" "net_vhost0,iface=$tmp/sw-a.sock" "net_vhost1,iface=$tmp/sw-b.sock"
  RUN_PROCS=("switch $PID_switch")
  wait_sockets 30 "$PID_switch" "$tmp/sw-a.sock" "$tmp/sw-b.sock" || { pvp_stop_all; echo "NA NA NA no-switch-sockets"; return; }
  run_switched "$dir" "$size" "$tmp/sw-a.sock" "$tmp/sw-b.sock"
}

# OVS-DPDK for the ovs path: up once for all its runs, its PMD thread on VM2's CPU; a flow each way.
ovs_pvp_up() {
  CUR=ovs
  OVS_PMD_MASK="$(printf '%#x' $(( 1 << VM2_CPU )))"
  ovs_up vhuA vhuB >"$L/ovs-up.log" 2>&1 || { cat "$L/ovs-up.log" >&2; return 1; }
  local a b
  a="$(ovs_vsctl get Interface vhuA ofport)"; b="$(ovs_vsctl get Interface vhuB ofport)"
  ovs-ofctl del-flows ovsbr0 && ovs-ofctl add-flow ovsbr0 "in_port=$a,actions=output:$b" &&
    ovs-ofctl add-flow ovsbr0 "in_port=$b,actions=output:$a"
}

run_ovs() {
  local dir="$1" size="$2" pid
  pid="$(cat "$OVS_DIR/vswitchd.pid")"
  RUN_PROCS=("ovs $pid")
  run_switched "$dir" "$size" "$OVS_DIR/vhuA" "$OVS_DIR/vhuB"
}

# DPDK's vhost library doing VM1's job: net_vhost on VM1's CPU, virtio-user on VM2's.
run_loopback() {
  local dir="$1" size="$2" vm1_mode=rxonly vm2_mode=txonly sink
  [[ $dir == b2a ]] && { vm1_mode=txonly; vm2_mode=rxonly; }
  rm -f "$tmp/lb.sock"
  tp vhost "$VM1_CPU" "$vm1_mode" "$size" "net_vhost0,iface=$tmp/lb.sock"
  wait_sockets 30 "$PID_vhost" "$tmp/lb.sock" || { pvp_stop_all; echo "NA NA NA no-vhost-socket"; return; }
  tp vm2 "$VM2_CPU" "$vm2_mode" "$size" "net_virtio_user0,path=$tmp/lb.sock,queue_size=$QUEUE"
  RUN_PROCS=("vhost $PID_vhost" "testpmd $PID_vm2")
  sink="$L/$CUR-vhost.log"; [[ $dir == b2a ]] && sink="$L/$CUR-vm2.log"
  until_line 30 "$sink" 'Rx-pps: +[1-9]' || { pvp_stop_all; echo "NA NA NA not-started"; return; }
  measure "$sink"
  pvp_stop_all
  result "$RATE" "$size"
}

pvp_run() {
  local path="$1" dir="$2" size="$3"
  RUN_PROCS=()
  case "$path" in
    vpci-poll) run_vpci poll "$dir" "$size" ;;
    vpci-notify) run_vpci notify "$dir" "$size" ;;
    testpmd) run_testpmd "$dir" "$size" ;;
    ovs) run_ovs "$dir" "$size" ;;
    loopback) run_loopback "$dir" "$size" ;;
  esac
}

# pvp_idle: pvp_vpci's CPU time, sleeping on kicks and spinning, with testpmd connected and sending
# nothing (rxonly on the ring pvp_vpci drains).
pvp_idle() {
  local wake out sock="$tmp/idle.sock" s line=""
  for wake in notify poll; do
    CUR="idle-$wake"; out="$L/$CUR-vpci.log"
    rm -f "$sock"
    taskset -c "$VM1_CPU" "$tmp/pvp_vpci" --socket "$sock" --dir a2b --wake "$wake" --warmup "$warmup" \
      --seconds "$secs" >"$out" 2>&1 &
    local vpid=$!
    PIDS+=("$vpid")
    local i=0
    while [[ ! -S "$sock" ]] && (( i++ < 100 )); do sleep 0.1; done
    tp vm2 "$VM2_CPU" rxonly 64 "net_virtio_user0,path=$sock,queue_size=$QUEUE"
    local end=$((SECONDS + warmup + secs + 30))
    while kill -0 "$vpid" 2>/dev/null && (( SECONDS < end )); do sleep 0.2; done
    pvp_stop_all
    s="$(sed -n 's/^PVP-VPCI dir=.* cpu_s=\([0-9.]*\).*/\1/p' "$out")"
    line+="$wake=${s:-NA}s/${secs}s "
  done
  echo "${line% }"
}

# pvp_report RESULTS IDLE: medians per path, direction and size; CPU per packet; the ratios the
# issue sets targets for (at 64 bytes: vpci-poll >= 2x testpmd, >= 3x ovs, >= 1.3x loopback;
# vpci-notify >= 1.0x loopback).
pvp_report() {
  awk -v runs="$runs" -v secs="$secs" -v idle="$2" '
    function median(list,   n, a, i, j, t) {
      n = split(list, a, " ")
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n ? a[int((n + 1) / 2)] : "NA"
    }
    $5 != "NA" { pps[$1 " " $2 " " $3] = pps[$1 " " $2 " " $3] " " $5; cpu[$1 " " $2 " " $3] = cpu[$1 " " $2 " " $3] " " $7 }
    { key[$1 " " $2 " " $3] = 1; if (!($1 in seenp)) { seenp[$1] = 1; po[++np] = $1 }
      if (!(($2 " " $3) in seenc)) { seenc[$2 " " $3] = 1; co[++nc] = $2 " " $3 } }
    END {
      printf "bench/pvp: medians of %d run(s) of %d s; rate received (64 B: Mpps, larger: Gbit/s); CPU: ns per packet, all processes of the path\n", runs, secs
      printf "%-12s", "path"; for (c = 1; c <= nc; c++) { split(co[c], k, " "); printf " %18s", k[1] " " k[2] "B" }; printf "\n"
      for (p = 1; p <= np; p++) {
        printf "%-12s", po[p]
        for (c = 1; c <= nc; c++) {
          split(co[c], k, " "); id = po[p] " " co[c]
          if (id in pps) { m = median(pps[id]); v = (k[2] == 64) ? sprintf("%.2f Mpps", m / 1e6) : sprintf("%.2f Gb/s", m * k[2] * 8 / 1e9)
            med[id] = m; printf " %18s", v " " median(cpu[id]) "ns" } else printf " %18s", "NA"
        }
        printf "\n"
      }
      printf "\nratios (median rate / median rate, same direction and size):\n"
      split("vpci-poll/testpmd vpci-poll/ovs vpci-poll/loopback vpci-notify/loopback vpci-notify/testpmd vpci-notify/ovs", rs, " ")
      for (r = 1; r in rs; r++) {
        split(rs[r], ab, "/"); printf "%-22s", rs[r]
        for (c = 1; c <= nc; c++) { a = ab[1] " " co[c]; b = ab[2] " " co[c]
          if ((a in med) && (b in med) && med[b] > 0) printf " %10s", sprintf("%.2fx", med[a] / med[b]); else printf " %10s", "NA" }
        printf "\n"
      }
      printf "\nidle (peer connected, no traffic): pvp_vpci CPU %s\n", idle
    }' "$1"
}

# pvp_chart RESULTS SVG: bars of the median rates, one group per direction and size, relative to
# the loopback reference of the same group (1.0 = DPDK's vhost library doing the same job).
pvp_chart() {
  local data="$tmp/chart.dat"
  awk '
    function median(list,   n, a, i, j, t) {
      n = split(list, a, " ")
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n ? a[int((n + 1) / 2)] : 0
    }
    $5 != "NA" { v[$1 " " $2 "-" $3 "B"] = v[$1 " " $2 "-" $3 "B"] " " $5 }
    { if (!($1 in sp)) { sp[$1] = 1; po[++np] = $1 } g = $2 "-" $3 "B"; if (!(g in sg)) { sg[g] = 1; go[++ng] = g } }
    END {
      printf "group"; for (p = 1; p <= np; p++) printf " %s", po[p]; printf "\n"
      for (g = 1; g <= ng; g++) {
        ref = median(v["loopback " go[g]]); printf "%s", go[g]
        for (p = 1; p <= np; p++) { m = median(v[po[p] " " go[g]]); printf " %.3f", (ref > 0) ? m / ref : 0 }
        printf "\n"
      }
    }' "$1" > "$data"
  bar_chart "$data" "$2" "bench/pvp: rate relative to DPDK's vhost loopback (1.0), median of $runs run(s)" \
    "rate / loopback rate" 1
}
