#!/bin/bash
# timeout: 900
# nested-memory: 3072
# e2e: vhost-pci-net 2.0. VM1 (tandem --vhost-pci socket=S) runs our guest driver
# (guest-images/vhost-pci-net); VM2 (tandem --net vhost-user=S) is a stock virtio-net guest whose
# tandem connects to VM1's as a vhost-user front-end. VM2's memory appears in VM1's BAR 2; VM1's
# driver transmits straight into VM2's RX buffers and receives from VM2's TX ring. The two ping
# each other and run iperf3 both ways over that link; VM1's dmesg has no oops; both power off.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

S="$E2E_TMP/vpci.sock"
v1="$E2E_TMP/vm1.log" v2="$E2E_TMP/vm2.log"
boot_tandem "$v1" --memory 768M --vhost-pci "socket=$S" \
  --cmdline "console=ttyS0 panic=-1 tandem.net=vpn0:10.2.0.1/24 tandem.peer=10.2.0.2 tandem.script=vhost-pci-check"
pid1=$TANDEM_PID
i=0; until [[ -S "$S" ]]; do kill -0 "$pid1" 2>/dev/null || { cat "$v1.stderr"; fail "VM1's tandem exited"; }; (( i++ < 100 )) || fail "no socket $S"; sleep 0.1; done
# One guest boots at a time: two booting at once in the nested host have triple-faulted there.
wait_for "$v1" "TANDEM-GUEST-READY" 300 "$pid1" || { tail -n 30 "$v1"; cat "$v1.stderr"; fail "VM1 did not boot"; }
boot_tandem "$v2" --memory 768M --net "vhost-user=$S" \
  --cmdline "console=ttyS0 panic=-1 tandem.ip=10.2.0.2/24 tandem.script=iperf-server"
pid2=$TANDEM_PID
wait_for "$v1" "PING-OK|PING-FAILED|VPCI-CHECK error|TANDEM-SCRIPT-EXIT" 400 "$pid1" || { tail -n 30 "$v1"; cat "$v1.stderr" "$v2.stderr"; fail "VM1 did not get to ping"; }
i=0
while kill -0 "$pid1" 2>/dev/null && (( i < 1800 )); do sleep 0.1; i=$((i + 1)); done
wait "$pid1"; rc1=$?
i=0
while kill -0 "$pid2" 2>/dev/null && (( i < 600 )); do sleep 0.1; i=$((i + 1)); done
wait "$pid2"; rc2=$?
tr -d '\r' < "$v1" > "$v1.txt"
grep -E "^(ETHTOOL driver|PCI|VPCI|PING|IPERF|LINK|DMESG)" "$v1.txt"
[[ $rc1 -eq 0 ]] || { tail -n 40 "$v1.txt"; cat "$v1.stderr"; fail "VM1's tandem exited with $rc1"; }
[[ $rc2 -eq 0 ]] || { tail -n 30 "$v2"; cat "$v2.stderr"; fail "VM2's tandem exited with $rc2"; }
check_line "$v1.txt" "^ETHTOOL driver: vhost_pci_net$" "VM1: vpn0 is not driven by vhost_pci_net"
check_line "$v1.txt" "^PCI 0000:00:01.0 0x1af4:0x10fa class=0x028000 driver=vhost_pci_net$" "VM1: no vhost-pci-net PCI function bound to our driver"
check_line "$v1.txt" "^PING-OK 10.2.0.2" "no ping over vhost-pci"
check_line "$v1.txt" "^IPERF-TX mbps=[0-9.]*[1-9]" "no iperf3 result VM1->VM2"
check_line "$v1.txt" "^IPERF-RX mbps=[0-9.]*[1-9]" "no iperf3 result VM2->VM1"
if grep -qE "^DMESG .*(BUG|WARNING|Call Trace)" "$v1.txt"; then fail "VM1's dmesg shows a BUG/WARNING"; fi
grep -q "peer connected" "$v1.stderr" || fail "VM1's tandem never saw the peer connect"
log "passed ($(grep -h '^IPERF-' "$v1.txt" | tr '\n' ' '))"
