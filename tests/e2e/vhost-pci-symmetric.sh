#!/bin/bash
# timeout: 600
# nested-memory: 3072
# e2e: vhost-pci-net 2.1, symmetric (docs/vhost-pci-net.md §9). Both VMs have a vhost-pci-net
# device in symmetric mode and our guest driver; VM1's tandem listens on the link socket, VM2's
# dials it. They share only two output sections, each mapped read-write into its owner and
# read-only into the other. VM1 pings VM2 and runs iperf3 TCP and UDP both ways; then
# section_prober.ko in VM1 writes into VM2's section (refused by KVM's read-only memslot, counted
# in RO_WRITES, VM2's bytes unchanged) and looks for a marker VM2 keeps in its RAM everywhere VM1
# can reach outside its own RAM (BAR 0, both sections, the page after): it must find none. VM1
# pings again and floods VM2 with 64-byte pktgen packets for 5 s, counted at both ends. No oops in
# either guest; both tandems exit 0.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

S="$E2E_TMP/vpci-sym.sock"
v1="$E2E_TMP/vm1.log" v2="$E2E_TMP/vm2.log"
MARKER="tandem-vm2-private-marker"
# Both guests boot at once: VM2's tandem dials while VM1's guest is still booting.
boot_tandem_listening "$v1" "$S" --memory 768M --vhost-pci "socket=$S,mode=symmetric" \
  --cmdline "console=ttyS0 panic=-1 tandem.net=vpn0:10.2.0.1/24 tandem.peer=10.2.0.2 tandem.script=vhost-pci-check tandem.section_probe=1 tandem.flood_seconds=5"
pid1=$TANDEM_PID
# VM2 keeps the marker in its RAM: it is on its kernel command line (boot parameters, /proc/cmdline).
boot_tandem "$v2" --memory 768M --vhost-pci "socket=$S,mode=symmetric,listen=off" \
  --cmdline "console=ttyS0 panic=-1 tandem.net=vpn0:10.2.0.2/24 tandem.rx_if=vpn0 tandem.marker=$MARKER tandem.script=net-sink"
pid2=$TANDEM_PID
guest_ready "$v1" 300 "$pid1" || fail "VM1 did not boot"
guest_ready "$v2" 300 "$pid2" || fail "VM2 did not boot"
wait_for "$v1" "PING-OK|PING-FAILED|VPCI-CHECK error|TANDEM-SCRIPT-EXIT" 400 "$pid1" || { tail -n 30 "$v1"; cat "$v1.stderr" "$v2.stderr"; fail "VM1 did not get to ping"; }
wait_for "$v1" "FLOOD sent|FLOOD error|TANDEM-SCRIPT-EXIT" 400 "$pid1" || { tail -n 30 "$v1"; fail "VM1's check did not finish"; }
wait_exit "$pid1" 180; rc1=$RC
wait_exit "$pid2" 60; rc2=$RC
tr -d '\r' < "$v1" > "$v1.txt"
tr -d '\r' < "$v2" > "$v2.txt"
grep -E "^(ETHTOOL driver|PCI|VPCI|PING|IPERF|PROBE|FLOOD|PKTGEN|LINK|DMESG)" "$v1.txt"
grep -h "vhost-pci-net" "$v1.stderr" | sed 's/^/VM1 /'
grep -h "vhost-pci-net" "$v2.stderr" | sed 's/^/VM2 /'
[[ $rc1 -eq 0 ]] || { tail -n 40 "$v1.txt"; cat "$v1.stderr"; fail "VM1's tandem exited with $rc1"; }
[[ $rc2 -eq 0 ]] || { tail -n 30 "$v2.txt"; cat "$v2.stderr"; fail "VM2's tandem exited with $rc2"; }
check_line "$v1.txt" "^ETHTOOL driver: vhost_pci_net$" "VM1: vpn0 is not driven by vhost_pci_net"
check_line "$v1.txt" "^PCI 0000:00:01.0 0x1af4:0x10fa class=0x028000 driver=vhost_pci_net$" "VM1: no vhost-pci-net PCI function bound to our driver"
check_line "$v1.txt" "^PING-OK 10.2.0.2" "no ping over the symmetric link"
for tag in IPERF-TX IPERF-RX IPERF-UDP-TX IPERF-UDP-RX; do
  check_line "$v1.txt" "^$tag mbps=[0-9.]*[1-9]" "no iperf3 result $tag"
done
check_line "$v1.txt" "^PROBE .*section_prober: .* verdict=ok" "section_prober: a write into the peer's section got through, went uncounted, or the peer's memory was visible"
check_line "$v1.txt" "^PROBE-DONE status=0 ping=ok" "the link did not carry a ping after the refused writes"
check_line "$v1.txt" "^FLOOD sent=[1-9][0-9]* received=[1-9]" "the 64-byte flood: nothing sent or nothing received"
grep -q "refused" "$v1.stderr" || fail "VM1's tandem did not log the refused writes"
grep -q "link up with the peer" "$v2.stderr" || fail "VM2's tandem never linked"
for v in "$v1.txt" "$v2.txt"; do
  alarms="$(kernel_alarms "$v")"
  [[ -z "$alarms" ]] || { echo "$alarms"; fail "a guest's kernel log shows a BUG/WARNING/Oops ($v)"; }
done
log "probe: $(sed -n 's/^PROBE .*section_prober: //p' "$v1.txt")"
log "flood: $(grep '^FLOOD sent' "$v1.txt")"
log "passed ($(grep -hE '^IPERF-[A-Z-]+ mbps' "$v1.txt" | tr '\n' ' '))"
