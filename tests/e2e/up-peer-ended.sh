#!/bin/bash
# timeout: 480
# nested-memory: 3072
# e2e: `tandem up` does not restart a VM whose peer has ended for good. vm1 (vhost-pci-net, no
# restart policy) and vm2 (its vhost-user front-end, restart = "on-failure") run; vm1's tandem is
# killed, so vm1 has ended and its socket is gone; then vm2's tandem is killed. A restarted vm2 could
# only fail to connect (ten times over): the supervisor says why it does not restart it, ends at
# once with status 1 (both VMs failed) and leaves nothing behind.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

M="$E2E_TMP/peer-ended.toml"
pair_manifest "$M" 512M "" \
  "console=ttyS0 quiet panic=-1 tandem.net=vpn0:10.2.0.1/24 tandem.script=serve tandem.serve_seconds=600" \
  "console=ttyS0 quiet panic=-1 tandem.ip=10.2.0.2/24 tandem.script=serve tandem.serve_seconds=600"
out="$E2E_TMP/up.log"
run_up "$out" 600 "$M"
wait_for "$out" "^vm2 +\| TANDEM-GUEST-READY" 300 "$UP_PID" || { tail -n 40 "$out"; fail "vm2 did not boot"; }
pid1="$(up_vm_pid "$out" vm1)"
pid2="$(up_vm_pid "$out" vm2)"
[[ -n "$pid1" && -n "$pid2" ]] || fail "no pids for vm1 and vm2 in tandem up's output"
grep -q 'vm "vm1" \(exited\|killed\|restarts\)' "$out" && { tail -n 40 "$out"; fail "vm1 ended before the test killed it (a fault of the nested host?)"; }
log "killing vm1's tandem (pid $pid1), then vm2's (pid $pid2), with SIGKILL"
kill -KILL "$pid1"
wait_for "$out" 'vm "vm1" killed by SIGKILL' 30 "$UP_PID" || { tail -n 20 "$out"; fail "tandem up did not report vm1's end"; }
kill -KILL "$pid2"
wait_exit "$UP_PID" 90; rc=$RC
tr -d '\r' < "$out" > "$out.txt"
grep -E "^tandem up:" "$out.txt"
[[ $rc -eq 1 ]] || { tail -n 40 "$out.txt"; fail "tandem up exited with $rc, want 1 (both VMs failed)"; }
check_line "$out.txt" '^tandem up: vm "vm2" not restarted: the VM whose vhost-pci-net it connects to \(.*\) has ended$' \
  "the supervisor did not say why vm2 is not restarted"
(( $(grep -c 'vm "vm2" started' "$out.txt") == 1 )) || fail "vm2 was started again although its peer had ended"
up_leftovers "$E2E_TMP/run"
log "passed"
