#!/bin/bash
# timeout: 480
# nested-memory: 3072
# e2e: vhost-pci-net 2.0. VM1 (tandem --vhost-pci socket=S) runs our guest driver
# (guest-images/vhost-pci-net); VM2 (tandem --net vhost-user=S) is a stock virtio-net guest whose
# tandem connects to VM1's as a vhost-user front-end. VM2's memory appears in VM1's BAR 2; VM1's
# driver transmits straight into VM2's RX buffers and receives from VM2's TX ring. The two ping
# each other and run iperf3 TCP and UDP both ways over that link (VM1's driver busy-polling for
# 20 us, a module parameter on its kernel command line), then VM1 floods VM2 with 64-byte
# pktgen packets for 10 s: both counts are reported, and the non-vCPU threads of both tandem
# processes switch (voluntarily or not) fewer than once per 1000 packets and use under 1% of one
# CPU over the flood (notifications go through KVM's irqfds and ioeventfds, never through tandem's
# threads; the vCPU threads' own counts, which include the guest halting inside KVM, are reported).
# A tandem that relays the notifications through a thread of its own fails this (docs/testing.md:
# the spin-relay build). VM1's dmesg has no oops; both power off.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

S="$E2E_TMP/vpci.sock"
v1="$E2E_TMP/vm1.log" v2="$E2E_TMP/vm2.log"
# Both guests boot at once: VM2's tandem connects while VM1's guest is still booting.
boot_tandem_listening "$v1" "$S" --memory 768M --vhost-pci "socket=$S" \
  --cmdline "console=ttyS0 panic=-1 vhost_pci_net.busy_poll_us=20 tandem.net=vpn0:10.2.0.1/24 tandem.peer=10.2.0.2 tandem.script=vhost-pci-check"
pid1=$TANDEM_PID
boot_tandem "$v2" --memory 768M --net "vhost-user=$S" \
  --cmdline "console=ttyS0 panic=-1 tandem.ip=10.2.0.2/24 tandem.script=net-sink"
pid2=$TANDEM_PID
guest_ready "$v1" 300 "$pid1" || fail "VM1 did not boot"
guest_ready "$v2" 300 "$pid2" || fail "VM2 did not boot"
wait_for "$v1" "PING-OK|PING-FAILED|VPCI-CHECK error|TANDEM-SCRIPT-EXIT" 400 "$pid1" || { tail -n 30 "$v1"; cat "$v1.stderr" "$v2.stderr"; fail "VM1 did not get to ping"; }
wait_for "$v1" "FLOOD-START|TANDEM-SCRIPT-EXIT" 400 "$pid1" || { tail -n 30 "$v1"; cat "$v1.stderr" "$v2.stderr"; fail "VM1 did not get to the flood"; }
grep -q "FLOOD-START" "$v1" || { tail -n 30 "$v1"; fail "VM1's check ended before the flood"; }
threads_before="VM1 [$(ctxt_by_thread "$pid1")] VM2 [$(ctxt_by_thread "$pid2")]"
t_before=$(now_ms)
before="$(ctxt_switches "$pid1" other) $(ctxt_switches "$pid2" other) $(ctxt_switches "$pid1" vcpu) $(ctxt_switches "$pid2" vcpu)"
ticks_before="$(cpu_ticks "$pid1" other) $(cpu_ticks "$pid2" other)"
wait_for "$v1" "FLOOD-END" 120 "$pid1" || { tail -n 30 "$v1"; fail "the flood did not end"; }
after="$(ctxt_switches "$pid1" other) $(ctxt_switches "$pid2" other) $(ctxt_switches "$pid1" vcpu) $(ctxt_switches "$pid2" vcpu)"
ticks_after="$(cpu_ticks "$pid1" other) $(cpu_ticks "$pid2" other)"
t_after=$(now_ms)
threads_after="VM1 [$(ctxt_by_thread "$pid1")] VM2 [$(ctxt_by_thread "$pid2")]"
read -r o1 o2 c1 c2 <<<"$before"
read -r a1 a2 d1 d2 <<<"$after"
read -r u1 u2 <<<"$ticks_before"
read -r w1 w2 <<<"$ticks_after"
log "context switches, voluntary + involuntary (VM1 other, VM2 other, VM1 vCPUs, VM2 vCPUs): before the flood $before, after $after"
log "per thread (name:switches/CPU ticks) before: $threads_before"
log "per thread (name:switches/CPU ticks) after:  $threads_after"
(( d1 > 0 && d2 > 0 )) || fail "the sample after the flood came too late: a VM's vCPU threads are gone already"
o1=$((a1 - o1)) o2=$((a2 - o2)) c1=$((d1 - c1)) c2=$((d2 - c2))
wait_exit "$pid1" 180; rc1=$RC
wait_exit "$pid2" 60; rc2=$RC
tr -d '\r' < "$v1" > "$v1.txt"
grep -E "^(ETHTOOL driver|PCI|VPCI|PING|IPERF|FLOOD|PKTGEN|LINK|DMESG)" "$v1.txt"
[[ $rc1 -eq 0 ]] || { tail -n 40 "$v1.txt"; cat "$v1.stderr"; fail "VM1's tandem exited with $rc1"; }
[[ $rc2 -eq 0 ]] || { tail -n 30 "$v2"; cat "$v2.stderr"; fail "VM2's tandem exited with $rc2"; }
check_line "$v1.txt" "^ETHTOOL driver: vhost_pci_net$" "VM1: vpn0 is not driven by vhost_pci_net"
check_line "$v1.txt" "^PCI 0000:00:01.0 0x1af4:0x10fa class=0x028000 driver=vhost_pci_net$" "VM1: no vhost-pci-net PCI function bound to our driver"
# the module's parameter from the kernel command line (guest-images/init passes it, as modprobe would)
check_line "$v1.txt" "^VPCI param busy_poll_us=20 " "VM1: vhost_pci_net.busy_poll_us=20 did not reach the module"
check_line "$v1.txt" "^PING-OK 10.2.0.2" "no ping over vhost-pci"
check_line "$v1.txt" "^IPERF-TX mbps=[0-9.]*[1-9]" "no iperf3 result VM1->VM2"
check_line "$v1.txt" "^IPERF-RX mbps=[0-9.]*[1-9]" "no iperf3 result VM2->VM1"
if grep -qE "^DMESG .*(BUG|WARNING|Call Trace)" "$v1.txt"; then fail "VM1's dmesg shows a BUG/WARNING"; fi
grep -q "peer connected" "$v1.stderr" || fail "VM1's tandem never saw the peer connect"
check_line "$v1.txt" "^IPERF-UDP-TX mbps=[0-9.]*[1-9]" "no iperf3 UDP result VM1->VM2"
check_line "$v1.txt" "^IPERF-UDP-RX mbps=[0-9.]*[1-9]" "no iperf3 UDP result VM2->VM1"
check_line "$v1.txt" "^FLOOD sent=[1-9][0-9]* received=[1-9]" "the 64-byte flood: nothing sent or nothing received"
sent=$(sed -n 's/^FLOOD sent=\([0-9]*\).*/\1/p' "$v1.txt")
received=$(sed -n 's/^FLOOD sent=[0-9]* received=\([0-9]*\).*/\1/p' "$v1.txt")
log "flood: $sent sent by VM1, $received counted by VM2's eth0 in 10 s"
log "context switches during the flood: VM1 tandem $o1 (vCPU threads $c1), VM2 tandem $o2 (vCPU threads $c2)"
# The claim: no tandem thread but the vCPUs works per packet. Bounds: the non-vCPU threads of each
# tandem switch fewer than once per 1000 packets and use under 1% of one CPU during the flood
# (ticks of 10 ms: 1% of the window in ms is window/100 ms, i.e. ticks * 10 * 100 < window).
cpu1=$((w1 - u1)) cpu2=$((w2 - u2)) window=$((t_after - t_before))
log "CPU time of the non-vCPU threads during the ${window} ms flood window: VM1 tandem $((cpu1 * 10)) ms, VM2 tandem $((cpu2 * 10)) ms"
(( o1 * 1000 < sent && o2 * 1000 < sent )) || fail "tandem's threads woke up during the flood: $o1 and $o2 context switches for $sent packets"
(( cpu1 * 1000 < window && cpu2 * 1000 < window )) \
  || fail "tandem's non-vCPU threads used CPU during the flood: $((cpu1 * 10)) ms and $((cpu2 * 10)) ms in ${window} ms (bound: 1%)"
log "passed ($(grep -hE '^IPERF-[A-Z-]+ mbps' "$v1.txt" | tr '\n' ' '))"
