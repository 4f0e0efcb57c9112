#!/bin/bash
# timeout: 600
# nested-memory: 3072
# e2e: `tandem up` keeps a manifest running: vm2 (restart = "on-failure", the vhost-user front-end
# of vm1's vhost-pci-net) is killed with SIGKILL while vm1 floods it; the supervisor reports the
# failure and starts vm2 again, vm1's link comes back and vm1 pings and floods the new vm2. Then
# SIGINT to `tandem up` (Ctrl-C) presses both guests' power buttons and both power off within the
# shutdown deadline; it reports each exit and returns 0, and leaves nothing behind: no tandem
# process, no run directory or socket.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

M="$E2E_TMP/restart.toml"
pair_manifest "$M" 768M on-failure \
  "console=ttyS0 panic=-1 tandem.net=vpn0:10.2.0.1/24 tandem.peer=10.2.0.2 tandem.script=vhost-pci-flap tandem.cycles=2" \
  "console=ttyS0 quiet panic=-1 tandem.ip=10.2.0.2/24 tandem.script=net-sink"
out="$E2E_TMP/up.log"
run_up "$out" 900 "$M"
wait_for "$out" "FLAP-FLOOD 1([^0-9]|\$)|FLAP error" 600 "$UP_PID" || { tail -n 40 "$out"; fail "vm1 did not get to flood vm2"; }
grep -q "FLAP error" "$out" && { tail -n 40 "$out"; fail "vm1's script failed"; }
# From here on, vm1 restarted would start its script over and the test could not go on: it ends at
# once then, as a failure.
mark=$(wc -l < "$out")
vm1_gone() { tail -n +"$mark" "$out" | grep -qE 'vm "vm1" (restarts|exited)'; }
pid2="$(up_vm_pid "$out" vm2)"
[[ -n "$pid2" ]] || fail "no pid for vm2 in tandem up's output"
log "killing vm2's tandem (pid $pid2) with SIGKILL mid-flood"
kill -KILL "$pid2"
wait_for "$out" 'vm "vm2" restarts in 1 s' 30 "$UP_PID" || { tail -n 20 "$out"; fail "tandem up did not restart vm2"; }
end=$((SECONDS + 300))
while (( SECONDS < end )); do
  grep -qE "FLAP-FLOOD 2([^0-9]|\$)|FLAP error" "$out" && break
  vm1_gone && { tail -n 40 "$out"; fail "vm1 ended or restarted while vm2 was down"; }
  kill -0 "$UP_PID" 2>/dev/null || break
  sleep 0.1
done
grep -q "FLAP-FLOOD 2" "$out" || { tail -n 40 "$out"; fail "the link did not come back after vm2's restart"; }
log "vm1 floods the restarted vm2: sending SIGINT to tandem up"
t0=$(date +%s)
kill -INT "$UP_PID"
wait_exit "$UP_PID" 60; rc=$RC
t1=$(date +%s)
tr -d '\r' < "$out" > "$out.txt"
grep -E "^(vm1 +\| FLAP|vm[12] +\| (TANDEM-POWER-BUTTON|tandem: .*(error|fault|power button))|tandem up:)" "$out.txt"
[[ $rc -eq 0 ]] || { tail -n 40 "$out.txt"; fail "tandem up exited with $rc after SIGINT"; }
check_line "$out.txt" '^tandem up: vm "vm2" killed by SIGKILL$' "vm2's SIGKILL was not reported"
check_line "$out.txt" "^vm1 +\| FLAP-PING-OK 2" "vm1 did not ping the restarted vm2"
check_line "$out.txt" '^tandem up: SIGINT: stopping 2 VMs \(power button; stopped after 20 s, SIGKILL after 25 s\)$' "SIGINT did not stop both VMs"
check_line "$out.txt" "^vm1 +\| TANDEM-POWER-BUTTON" "vm1's guest did not see the power button"
# Both guests power off on the button (status 0); vm2 was restarted once (the kill), vm1 never: a
# restart of either for any other reason (a triple fault included) is a failure.
check_line "$out.txt" '^tandem up: done: vm1 exited with status 0 \(stopped on request\), vm2 exited with status 0 \(stopped on request\) after 1 restart$' "the VMs did not power off on request, or one restarted more than the kill asked"
grep -q "did not stop within\|did not power off within" "$out.txt" && fail "a VM had to be stopped by force"
if grep -E "^vm1 +\| .*(BUG|Oops|Call Trace)" "$out.txt"; then fail "vm1's guest shows an oops"; fi
up_leftovers "$E2E_TMP/run"
log "passed (SIGINT to exit: $((t1 - t0)) s)"
