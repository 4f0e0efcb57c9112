#!/bin/bash
# timeout: 600
# nested-memory: 3072
# e2e (issue 26 §1): a front-end that VM1's tandem allowed unsealed memory (allow_unsealed=on)
# truncates it under VM1 while VM1's driver transmits into it (tests/tools/vhost_user_scribbler
# --shrink). VM1's guest then touches BAR 2 where nothing is left: KVM_RUN fails with EFAULT, and
# tandem puts zero pages in place of the lost memory instead of ending VM1. VM1 keeps running, its
# tandem logs one line and drops that front-end, the link goes down; a real VM2 (stock virtio_net)
# connects afterwards and VM1 pings it. No oops; both power off with status 0.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image
hostile_vm1 ",allow_unsealed=on"
v2="$E2E_TMP/vm2-clean.log"

"$SCRIBBLER" --socket "$S" --shrink --phase-ms 2000 > "$E2E_TMP/shrink.out" 2>&1
rc=$?
cat "$E2E_TMP/shrink.out"
kill -0 "$pid1" 2>/dev/null || { tail -n 20 "$v1"; cat "$v1.stderr"; fail "VM1's tandem died when its peer's memory shrank"; }
[[ $rc -eq 0 ]] || { tail -n 20 "$v1"; cat "$v1.stderr"; fail "the shrinking front-end: scribbler exit $rc"; }
grep -a "memory shrank" "$v1.stderr" || fail "VM1's tandem did not say that the peer's memory shrank"
n=$(grep -ac "zero pages stand in" "$v1.stderr")
(( n == 1 )) || fail "VM1's tandem repaired the lost memory $n times, not once"
wait_for "$v1" "HOSTILE-DOWN" 120 "$pid1" || { tail -n 30 "$v1"; cat "$v1.stderr"; fail "VM1 did not see its link go down"; }
grep -q "HOSTILE-UP" "$v1" || fail "the shrinking session never brought VM1's link up"

hostile_recovery "$v1" "$pid1" "$S" "$v2"
log "passed: VM1 survived its peer's memory shrinking under it ($(grep -a -m1 -o "memory shrank[^)]*)" "$v1.stderr")); the real VM2 answered pings afterwards"
