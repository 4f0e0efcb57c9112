#!/bin/bash
# timeout: 600
# nested-memory: 3072
# e2e: VM1's vhost-pci-net device and guest driver against a hostile VM2 *guest* (the front-end
# side is tested by vhost-pci-hostile with tests/tools/vhost_user_scribbler):
#   1. VM2 boots a stock virtio_net towards VM1 and answers VM1's pings; then its guest loads
#      guest-images/ring-scribbler (guest-images/scripts/ring-scribble), which takes its own rings
#      from virtio_net and rewrites them for 15 s with bad chains (out-of-RAM addresses, huge
#      lengths, loops, bad indirect tables, heads past the ring, wrong direction flags, random
#      bytes, a runaway avail index) and rings its doorbells, while VM1 keeps transmitting.
#      Its notifications reach VM1 through KVM (ioeventfd -> irqfd), as in normal operation.
#   2. VM1's driver drops and counts (ethtool counters), writes nothing VM2's descriptors do not
#      allow (VM2's read-only canary stays intact), no oops; VM1's tandem keeps running.
#   3. VM2 powers off; a clean VM2 connects and VM1 pings it: the device and driver recovered.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

S="$E2E_TMP/vpci.sock"
v1="$E2E_TMP/vm1.log" v2="$E2E_TMP/vm2-hostile.log" v3="$E2E_TMP/vm2-clean.log"
boot_tandem_ready "$v1" 300 --memory 768M --vhost-pci "socket=$S" \
  --cmdline "console=ttyS0 panic=-1 tandem.net=vpn0:10.2.0.1/24 tandem.peer=10.2.0.2 tandem.script=vhost-pci-hostile" \
  || fail "VM1 did not boot"
pid1=$TANDEM_PID
wait_for "$v1" "HOSTILE-WAITING" 120 "$pid1" || { tail -n 20 "$v1"; fail "VM1's script did not start"; }

boot_tandem_ready "$v2" 300 --memory 512M --net "vhost-user=$S" \
  --cmdline "console=ttyS0 panic=-1 tandem.ip=10.2.0.2/24 tandem.script=ring-scribble tandem.scribble_seconds=15" \
  || fail "the hostile VM2 did not boot"
pid2=$TANDEM_PID
wait_for "$v2" "SCRIBBLE-START" 180 "$pid2" || { tail -n 20 "$v2"; tail -n 20 "$v1"; fail "VM1's traffic never reached VM2"; }
log "VM2 answered VM1 ($(grep -a "SCRIBBLE-START" "$v2" | tr -d '\r')); its guest now scribbles its rings"
wait_for "$v2" "SCRIBBLE-DONE" 240 "$pid2" || { tail -n 30 "$v2"; cat "$v2.stderr"; fail "the hostile VM2's module did not finish"; }
wait_exit "$pid2" 120; rc2=$RC
tr -d '\r' < "$v2" > "$v2.txt"
grep -E "^SCRIBBLE" "$v2.txt" | sed 's/^/    /'
grep -q "^SCRIBBLE-DONE status=0" "$v2.txt" || fail "the ring scribbler module failed to run in VM2"
grep -qE "ring_scribbler: done .*canary=intact" "$v2.txt" \
  || fail "VM1 wrote into VM2 memory that VM2's descriptors did not allow ($(grep -a 'ring_scribbler: done' "$v2.txt"))"
grep -qE "ring_scribbler: round 6 class random" "$v2.txt" || fail "the scribbler did not get through all its classes"
[[ $rc2 -eq 0 ]] || { cat "$v2.stderr"; fail "the hostile VM2's tandem exited with $rc2 (its guest powered off)"; }
kill -0 "$pid1" 2>/dev/null || { cat "$v1.stderr"; fail "VM1's tandem died while VM2 scribbled"; }
wait_for "$v1" "HOSTILE-DOWN" 120 "$pid1" || { tail -n 30 "$v1"; cat "$v1.stderr"; fail "VM1 did not see the hostile VM2 go"; }

hostile_recovery "$v1" "$pid1" "$S" "$v3"
(( TX_BAD >= 1 )) || fail "VM1's driver counted no bad chain in the scribbled RX ring it transmitted into"
(( RX_BAD >= 1 )) || fail "VM1's driver counted no bad chain in the scribbled TX ring it was kicked for"
(( RING_ERRORS >= 1 )) || fail "VM1's driver counted no ring error for VM2's runaway avail index"
log "passed: ring_errors=$RING_ERRORS tx_bad_chain=$TX_BAD rx_bad=$RX_BAD, VM2's canary intact; the clean VM2 answered pings afterwards"
