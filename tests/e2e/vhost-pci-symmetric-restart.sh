#!/bin/bash
# timeout: 1200
# nested-memory: 3072
# e2e: a symmetric (2.1) vhost-pci-net pair survives either side's restart. Part 1: the dialling
# VM is killed with SIGKILL mid-flood and started again, twice, while the listening VM keeps
# running: its link goes down each time and comes back with the new peer, which it pings and
# floods. Part 2: the same with the roles swapped: the listening VM is killed and started again
# (its tandem binds the socket anew) while the dialling VM keeps running and redials. Neither
# surviving guest's kernel logs an oops; both surviving tandems exit 0 and hold no more fds after
# the second cycle than after the first.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

CYCLES=2
S="$E2E_TMP/vpci-sym.sock"
flap_cmdline="console=ttyS0 panic=-1 tandem.net=vpn0:10.2.0.1/24 tandem.peer=10.2.0.2 tandem.script=vhost-pci-flap tandem.cycles=$CYCLES"
sink_cmdline="console=ttyS0 quiet panic=-1 tandem.net=vpn0:10.2.0.2/24 tandem.rx_if=vpn0 tandem.script=net-sink"

# run_part NAME SURVIVOR_SPEC RESTARTED_SPEC: the survivor runs vhost-pci-flap; the other side is
# started, killed mid-flood and started again, CYCLES times.
run_part() {
  local part="$1" survivor_spec="$2" restarted_spec="$3" v1="$E2E_TMP/$1-survivor.log" v2 pid1 pid2 n links
  local -a fds
  boot_tandem_ready "$v1" 300 --memory 512M --vhost-pci "$survivor_spec" --cmdline "$flap_cmdline" || fail "$part: the surviving VM did not boot"
  pid1=$TANDEM_PID
  for n in $(seq 1 $CYCLES); do
    v2="$E2E_TMP/$part-peer-$n.log"
    boot_tandem_ready "$v2" 300 --memory 512M --vhost-pci "$restarted_spec" --cmdline "$sink_cmdline" || fail "$part, cycle $n: the peer did not boot"
    pid2=$TANDEM_PID
    wait_for "$v1" "FLAP-(FLOOD|PING-FAILED) $n([^0-9]|\$)|FLAP error" 300 "$pid1" \
      || { tail -n 20 "$v1"; cat "$v1.stderr" "$v2.stderr"; fail "$part, cycle $n: the survivor did not get to flood the peer"; }
    grep -qE "FLAP-FLOOD $n([^0-9]|\$)" "$v1" || { tail -n 20 "$v1"; cat "$v1.stderr" "$v2.stderr"; fail "$part, cycle $n: no ping to the peer"; }
    # One peer tandem started, one link: the survivor's tandem logs generation n, and no other.
    links=$(grep -c "link up with the peer" "$v1.stderr")
    (( links == n )) && grep -qE "link up with the peer at .* \(generation $n\)" "$v1.stderr" \
      || { grep "link" "$v1.stderr"; fail "$part, cycle $n: the survivor's tandem linked $links times for $n peer starts"; }
    sleep 2
    fds[$n]=$(ls /proc/"$pid1"/fd | wc -l)
    # (a peer that ended by itself, a triple fault say, is a failure, not a restart)
    kill -KILL "$pid2" 2>/dev/null || { tail -n 20 "$v2"; cat "$v2.stderr"; fail "$part, cycle $n: the peer's tandem had ended before it was killed"; }
    wait "$pid2" 2>/dev/null
    wait_for "$v1" "FLAP-DOWN $n([^0-9]|\$)" 60 "$pid1" || { tail -n 20 "$v1"; cat "$v1.stderr"; fail "$part, cycle $n: the survivor never saw its link go down"; }
    log "$part, cycle $n: peer killed mid-flood; the survivor's tandem held ${fds[$n]} fds with it"
  done
  wait_for "$v1" "FLAP-DONE" 120 "$pid1" || { tail -n 20 "$v1"; fail "$part: the survivor's script did not finish"; }
  wait_exit "$pid1" 120
  tr -d '\r' < "$v1" > "$v1.txt"
  grep -E "^(FLAP|LINK|DMESG)" "$v1.txt"
  [[ $RC -eq 0 ]] || { tail -n 30 "$v1.txt"; cat "$v1.stderr"; fail "$part: the survivor's tandem exited with $RC"; }
  check_line "$v1.txt" "^FLAP-DONE cycles=$CYCLES\$" "$part: the survivor did not go through $CYCLES cycles"
  (( $(grep -c "^FLAP-[0-9]* PKTGEN sent=[1-9]" "$v1.txt") == CYCLES )) || fail "$part: some cycle's flood sent nothing"
  alarms="$(kernel_alarms "$v1.txt")"
  [[ -z "$alarms" ]] || { echo "$alarms"; fail "$part: the survivor's kernel log shows a BUG/WARNING/Oops"; }
  (( fds[CYCLES] <= fds[1] )) || fail "$part: the survivor's tandem leaks fds: ${fds[1]} -> ${fds[CYCLES]}"
  (( $(grep -c "link up with the peer" "$v1.stderr") == CYCLES )) || fail "$part: the survivor's tandem did not link $CYCLES times"
}

run_part listener-survives "socket=$S,mode=symmetric" "socket=$S,mode=symmetric,listen=off"
run_part dialler-survives "socket=$S,mode=symmetric,listen=off" "socket=$S,mode=symmetric"
log "passed: the listening side survived $CYCLES restarts of the dialling side, and the other way round"
