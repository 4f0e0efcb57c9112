#!/bin/bash
# timeout: 600
# nested-memory: 3072
# e2e: two tandem VMs whose virtio-net devices are vhost-user front-ends of DPDK's dpdk-testpmd
# (two net_vhost ports, io forwarding): they ping each other and run iperf3 both ways. The switch
# is then killed: tandem takes the link down (the guest sees carrier 0), reconnects when testpmd is
# back, the guest is asked to announce itself and acknowledges (GUEST_ANNOUNCE), and the guests
# talk again. A socket nobody listens on is a clear error at start.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image
command -v dpdk-testpmd >/dev/null || fail "dpdk-testpmd is missing (package dpdk-dev; tools/setup installs it)"

S="$E2E_TMP/sw"
mkdir -p "$S"
TESTPMD_PID=
start_testpmd() {
  rm -f "$S/v0.sock" "$S/v1.sock"
  dpdk-testpmd -l 0-1 --no-huge -m 256 --no-pci --file-prefix="tandem-e2e-$$" \
    --vdev "net_vhost0,iface=$S/v0.sock,client=0" --vdev "net_vhost1,iface=$S/v1.sock,client=0" \
    -- --total-num-mbufs=8192 --forward-mode=io --auto-start --stats-period 30 </dev/null >>"$E2E_TMP/testpmd.log" 2>&1 &
  TESTPMD_PID=$!
  E2E_PIDS+=("$TESTPMD_PID")
  local i=0
  until [[ -S "$S/v0.sock" && -S "$S/v1.sock" ]]; do
    kill -0 "$TESTPMD_PID" 2>/dev/null || { tail -n 30 "$E2E_TMP/testpmd.log"; fail "dpdk-testpmd exited"; }
    (( i++ < 1200 )) || { tail -n 30 "$E2E_TMP/testpmd.log"; fail "dpdk-testpmd made no sockets in 120 s"; }
    sleep 0.1
  done
}

# Bad input first: nothing listens on the socket.
"$TANDEM" vm --kernel "$TANDEM_GUEST_KERNEL" --initrd "$TANDEM_GUEST_INITRD" --serial none \
  --net "vhost-user=$S/nobody.sock" </dev/null 2>"$E2E_TMP/nobody.err"
rc=$?
[[ $rc -eq 2 ]] || { cat "$E2E_TMP/nobody.err"; fail "a socket nobody listens on: exit $rc, expected 2"; }
grep -q "vhost-user=$S/nobody.sock" "$E2E_TMP/nobody.err" || { cat "$E2E_TMP/nobody.err"; fail "the error does not name the socket"; }
log "no listener: exit 2 with '$(head -n1 "$E2E_TMP/nobody.err")'"
# A socket that answers nonsense.
socat "UNIX-LISTEN:$S/junk.sock,fork" "SYSTEM:printf 'this is not vhost-user at all'" &
E2E_PIDS+=($!)
i=0; until [[ -S "$S/junk.sock" ]]; do sleep 0.1; (( i++ < 100 )) || fail "socat made no socket"; done
"$TANDEM" vm --kernel "$TANDEM_GUEST_KERNEL" --initrd "$TANDEM_GUEST_INITRD" --serial none \
  --net "vhost-user=$S/junk.sock" </dev/null 2>"$E2E_TMP/junk.err"
rc=$?
[[ $rc -eq 2 ]] && grep -q "vhost-user=$S/junk.sock.*GET_FEATURES" "$E2E_TMP/junk.err" || { cat "$E2E_TMP/junk.err"; fail "a socket answering nonsense: exit $rc, expected 2 naming the request"; }
log "nonsense answers: exit 2 with '$(head -n1 "$E2E_TMP/junk.err")'"

start_testpmd
a="$E2E_TMP/a.log" b="$E2E_TMP/b.log"
# Both guests boot at once.
boot_tandem "$b" --memory 768M --net "vhost-user=$S/v1.sock" \
  --cmdline "console=ttyS0 panic=-1 tandem.ip=10.0.0.2/24 tandem.script=iperf-server"
pid_b=$TANDEM_PID
boot_tandem "$a" --memory 768M --net "vhost-user=$S/v0.sock" \
  --cmdline "console=ttyS0 panic=-1 tandem.ip=10.0.0.1/24 tandem.peer=10.0.0.2 tandem.script=link-flap-check"
pid_a=$TANDEM_PID
guest_ready "$b" 300 "$pid_b" || fail "VM B did not boot"
guest_ready "$a" 300 "$pid_a" || fail "VM A did not boot"
wait_for "$a" "LINK-PHASE1-OK|PING-FAILED|TANDEM-SCRIPT-EXIT" 300 "$pid_a" || { tail -n 20 "$a"; cat "$a.stderr"; fail "VM A did not get to ping"; }
grep -q "LINK-PHASE1-OK" "$a" || { tail -n 20 "$a"; cat "$a.stderr" "$b.stderr"; tail -n 20 "$E2E_TMP/testpmd.log"; fail "no ping through testpmd"; }
log "ping through dpdk-testpmd works; killing the switch"

kill -TERM "$TESTPMD_PID"; wait "$TESTPMD_PID" 2>/dev/null
wait_for "$a" "CARRIER-DOWN" 60 "$pid_a" || { tail -n 10 "$a"; cat "$a.stderr"; fail "the guest never saw the link go down"; }
grep -q "link down" "$a.stderr" || fail "tandem did not report the link down"
log "link down seen by tandem and the guest; restarting the switch"
start_testpmd
wait_for "$a" "CARRIER-UP" 120 "$pid_a" || { tail -n 10 "$a"; cat "$a.stderr"; fail "tandem did not reconnect (no carrier)"; }
grep -q "link up" "$a.stderr" || fail "tandem did not report the link up"
# Back up, the guest is asked to announce itself (GUEST_ANNOUNCE) and acknowledges on the control queue.
poll_until 60 grep -q "control queue: the guest set announce acknowledged" "$a.stderr" \
  || { cat "$a.stderr"; fail "the guest did not acknowledge an announce after the reconnect"; }
log "the guest announced itself after the reconnect (ANNOUNCE_ACK)"

wait_exit "$pid_a" 240; rc_a=$RC
wait_exit "$pid_b" 60; rc_b=$RC
tr -d '\r' < "$a" > "$a.txt"
grep -E "^(ETHTOOL driver|PING|IPERF|CARRIER)" "$a.txt"
[[ $rc_a -eq 0 ]] || { tail -n 30 "$a.txt"; cat "$a.stderr"; fail "VM A's tandem exited with $rc_a"; }
[[ $rc_b -eq 0 ]] || { tail -n 30 "$b"; cat "$b.stderr"; fail "VM B's tandem exited with $rc_b"; }
check_line "$a.txt" "^ETHTOOL driver: virtio_net$" "eth0 is not driven by the stock virtio_net"
check_line "$a.txt" "^IPERF-TX mbps=[0-9.]*[1-9]" "no iperf3 result A->B after the reconnect"
check_line "$a.txt" "^IPERF-RX mbps=[0-9.]*[1-9]" "no iperf3 result B->A after the reconnect"
log "passed ($(grep -h '^IPERF-' "$a.txt" | tr '\n' ' '))"
