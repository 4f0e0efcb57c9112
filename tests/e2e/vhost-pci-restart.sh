#!/bin/bash
# timeout: 1800
# nested-memory: 3072
# e2e: VM2 (the vhost-user front-end of VM1's vhost-pci-net) is killed with SIGKILL while VM1
# floods it, ten times over. Each time VM1 keeps running and sees its link go down; VM2 started
# again brings the link up and VM1 pings it and floods it again. At the end VM1's dmesg has no
# oops and VM1's tandem holds as many fds as after the first cycle (nothing leaks per peer).
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

CYCLES=10
S="$E2E_TMP/vpci.sock"
v1="$E2E_TMP/vm1.log"
boot_tandem_ready "$v1" 300 --memory 768M --vhost-pci "socket=$S" \
  --cmdline "console=ttyS0 panic=-1 tandem.net=vpn0:10.2.0.1/24 tandem.peer=10.2.0.2 tandem.script=vhost-pci-flap tandem.cycles=$CYCLES" \
  || fail "VM1 did not boot"
pid1=$TANDEM_PID
fd_count() { ls /proc/"$pid1"/fd | wc -l; }
declare -a fds_live fds_down
for n in $(seq 1 $CYCLES); do
  v2="$E2E_TMP/vm2-$n.log"
  boot_tandem_ready "$v2" 300 --memory 512M --net "vhost-user=$S" \
    --cmdline "console=ttyS0 quiet panic=-1 tandem.ip=10.2.0.2/24 tandem.script=net-sink" || fail "cycle $n: VM2 did not boot"
  pid2=$TANDEM_PID
  # (the console has CRLF line ends: "N" is followed by a non-digit or the end)
  wait_for "$v1" "FLAP-(FLOOD|PING-FAILED) $n([^0-9]|\$)|FLAP error" 300 "$pid1" \
    || { tail -n 20 "$v1"; cat "$v1.stderr"; fail "cycle $n: VM1 did not get to flood VM2"; }
  grep -qE "FLAP-FLOOD $n([^0-9]|\$)" "$v1" || { tail -n 20 "$v1"; cat "$v2.stderr"; fail "cycle $n: VM1 could not ping VM2"; }
  sleep 2
  fds_live[$n]=$(fd_count)
  # (a VM2 that ended by itself, a triple fault say, is a failure, not a restart)
  kill -KILL "$pid2" 2>/dev/null || { tail -n 20 "$v2"; cat "$v2.stderr"; fail "cycle $n: VM2's tandem had ended before it was killed"; }
  wait "$pid2" 2>/dev/null
  wait_for "$v1" "FLAP-DOWN $n([^0-9]|\$)" 60 "$pid1" || { tail -n 20 "$v1"; cat "$v1.stderr"; fail "cycle $n: VM1 never saw its link go down"; }
  sleep 1
  fds_down[$n]=$(fd_count)
  log "cycle $n: VM2 killed mid-flood; VM1's tandem holds ${fds_live[$n]} fds with the peer, ${fds_down[$n]} without;" \
    "VM1 RSS $(awk '/VmRSS/ {print int($2 / 1024)}' /proc/"$pid1"/status) MiB, host MemAvailable $(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo) MiB"
done
wait_for "$v1" "FLAP-DONE" 120 "$pid1" || { tail -n 20 "$v1"; fail "VM1's script did not finish"; }
# VM1 powers off when its script ends.
wait_exit "$pid1" 120; rc1=$RC
tr -d '\r' < "$v1" > "$v1.txt"
grep -E "^(FLAP|LINK|DMESG)" "$v1.txt"
[[ $rc1 -eq 0 ]] || { tail -n 30 "$v1.txt"; cat "$v1.stderr"; fail "VM1's tandem exited with $rc1"; }
check_line "$v1.txt" "^FLAP-DONE cycles=$CYCLES\$" "VM1 did not go through $CYCLES cycles"
(( $(grep -c "^FLAP-[0-9]* PKTGEN sent=[1-9]" "$v1.txt") == CYCLES )) || fail "some cycle's flood sent nothing"
if grep -qE "^DMESG .*(BUG|WARNING|Call Trace|Oops)" "$v1.txt"; then fail "VM1's dmesg shows a BUG/WARNING/Oops"; fi
(( fds_live[CYCLES] <= fds_live[1] && fds_down[CYCLES] <= fds_down[1] )) \
  || fail "VM1's tandem leaks fds: ${fds_live[1]} -> ${fds_live[CYCLES]} with a peer, ${fds_down[1]} -> ${fds_down[CYCLES]} without"
log "passed: $CYCLES kill/restart cycles; VM1's fds ${fds_live[*]} (with the peer) and ${fds_down[*]} (without)"
