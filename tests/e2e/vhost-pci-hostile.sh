#!/bin/bash
# timeout: 600
# nested-memory: 3072
# e2e: VM1's vhost-pci-net device and guest driver against a hostile front-end
# (tests/tools/vhost_user_scribbler) before a real VM2:
#   1. malformed and out-of-order vhost-user requests on fresh connections: every one is refused
#      (answer != 0 or the connection closed), VM1's tandem logs why and keeps serving;
#   2. a session whose rings are scribbled while VM1 transmits (ping) and is kicked: descriptors
#      out of range, wrapping, looping, read-only, bad indirect tables, avail indices jumping. The
#      driver drops and counts (its ethtool counters), writes nothing outside the used rings (the
#      scribbler's canary stays intact), no oops;
#   3. a real VM2 (stock virtio_net) connects afterwards and VM1 pings it: the device and the driver
#      recovered. Both VMs power off cleanly.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image
hostile_vm1 ""
v2="$E2E_TMP/vm2.log"

# Another local user (uid 65534, issue 26 §2): the socket is 0600, so its connect fails on the
# file's mode; with the socket opened to everyone, tandem still refuses it (SO_PEERCRED) and says so.
[[ "$(stat -c %a "$S")" == 600 ]] || fail "the vhost-pci socket is $(stat -c %a "$S"), not 600"
install -m 0755 "$SCRIBBLER" "$E2E_TMP/scribbler"  # where uid 65534 can run it
chmod 0711 "$E2E_TMP"
other() { setpriv --reuid=65534 --regid=65534 --clear-groups "$E2E_TMP/scribbler" --socket "$S" --messages; }
other > "$E2E_TMP/other-user.out" 2>&1 && fail "uid 65534 got a session on VM1's socket"
grep -q "connect to vhost-user socket .*Permission denied" "$E2E_TMP/other-user.out" || { cat "$E2E_TMP/other-user.out"; fail "uid 65534's connect did not fail on the socket's mode"; }
chmod 0666 "$S"
other > "$E2E_TMP/other-user-2.out" 2>&1 && fail "uid 65534 got a session on VM1's socket opened to everyone"
wait_for "$v1.stderr" "refused a connection from uid 65534" 10 "$pid1" || { cat "$v1.stderr"; fail "VM1's tandem did not log the refusal of uid 65534"; }
chmod 0600 "$S"; chmod 0700 "$E2E_TMP"
log "another user: refused by the socket's mode, then by tandem: $(grep -o "refused a connection from uid 65534[^(]*" "$v1.stderr" | head -n1)"

"$SCRIBBLER" --socket "$S" --messages > "$E2E_TMP/messages.out" 2>&1
rc=$?
cat "$E2E_TMP/messages.out"
[[ $rc -eq 0 ]] || { cat "$v1.stderr"; fail "a malformed request was not refused (scribbler exit $rc)"; }
kill -0 "$pid1" 2>/dev/null || { cat "$v1.stderr"; fail "VM1's tandem died of malformed requests"; }
grep -q "SCRIBBLER messages done" "$E2E_TMP/messages.out" || fail "the scribbler did not finish its messages"
log "malformed requests: $(grep -c '^SCRIBBLER refused' "$E2E_TMP/messages.out") refused; what VM1's tandem logged about them:"
grep -E "vhost-pci.*(closing|refus|fail|error|bad|invalid|not )" "$v1.stderr" | sed 's/^/    /'

"$SCRIBBLER" --socket "$S" --rings --phase-ms 3000 > "$E2E_TMP/rings.out" 2>&1
rc=$?
cat "$E2E_TMP/rings.out"
[[ $rc -eq 0 ]] || { tail -n 20 "$v1"; cat "$v1.stderr"; fail "scribbled rings: scribbler exit $rc (canary broken or set-up failed)"; }
wait_for "$v1" "HOSTILE-DOWN" 120 "$pid1" || { tail -n 30 "$v1"; cat "$v1.stderr"; fail "VM1 did not see the hostile peer go"; }
grep -q "HOSTILE-UP" "$v1" || fail "the hostile session never brought VM1's link up"

hostile_recovery "$v1" "$pid1" "$S" "$v2"
(( RING_ERRORS >= 2 )) || fail "the driver counted $RING_ERRORS ring errors for two runaway avail indices"
(( TX_BAD >= 1 )) || fail "the driver counted no bad chain in the scribbled RX ring it transmitted into"
(( RX_BAD >= 1 )) || fail "the driver counted no bad chain in the scribbled TX ring it was kicked for"
log "passed: ring_errors=$RING_ERRORS tx_bad_chain=$TX_BAD rx_bad=$RX_BAD; the real VM2 answered pings afterwards"
