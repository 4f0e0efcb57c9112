#!/bin/bash
# timeout: 600
# nested-memory: 3072
# e2e: two tandem VMs with virtio-net on two taps in a Linux bridge (inside the nested host) ping
# each other and run iperf3 TCP both ways: once with tandem's own datapath thread (B with
# coalesce=0, every kick at once; A with the default batching), once with vhost-net. The guest
# sees a standard virtio-net PCI function (1af4:1041) bound to the stock virtio_net driver, the two
# VMs have distinct MACs, and the datapath is where it should be (a net-tap thread in tandem, or
# the kernel's vhost worker). Neither guest's driver drops a received frame (RX-ERRORS all 0). Both
# guests power off; tandem exits 0.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

modprobe tun && modprobe bridge && modprobe vhost_net || fail "cannot load tun, bridge, vhost_net"
ip link add tbr0 type bridge || fail "cannot create a bridge"
ip link set tbr0 up
for t in ta0 ta1 ta2 ta3; do
  ip tuntap add dev "$t" mode tap && ip link set "$t" master tbr0 && ip link set "$t" up || fail "cannot create tap $t"
done

net_case() {
  local vhost="$1" tap_a="$2" tap_b="$3" a="$E2E_TMP/a-$1.log" b="$E2E_TMP/b-$1.log" b_opts=""
  # tandem's own datapath both ways: B handles every kick at once (coalesce=0), A batches (default).
  [[ $vhost == off ]] && b_opts=",coalesce=0"
  # Both boot at once (A's ping and iperf3 wait for B).
  boot_tandem "$b" --memory 768M --net "tap=$tap_b,vhost=$vhost$b_opts" \
    --cmdline "console=ttyS0 panic=-1 tandem.ip=10.0.0.2/24 tandem.script=iperf-server"
  local pid_b=$TANDEM_PID
  boot_tandem "$a" --memory 768M --net "tap=$tap_a,vhost=$vhost" \
    --cmdline "console=ttyS0 panic=-1 tandem.ip=10.0.0.1/24 tandem.peer=10.0.0.2 tandem.script=net-check"
  local pid_a=$TANDEM_PID
  guest_ready "$b" 240 "$pid_b" || fail "vhost=$vhost: VM B did not boot"
  wait_for "$b" "IPERF-SERVER-READY" 240 "$pid_b" || { tail -n 20 "$b"; cat "$b.stderr"; fail "vhost=$vhost: VM B did not come up"; }
  guest_ready "$a" 240 "$pid_a" || fail "vhost=$vhost: VM A did not boot"
  wait_for "$a" "PING-OK|PING-FAILED|TANDEM-SCRIPT-EXIT" 240 "$pid_a" || { tail -n 20 "$a"; cat "$a.stderr"; fail "vhost=$vhost: VM A did not get to ping"; }
  # Bad input while A runs: a second VM on A's tap gets a clear error and exit 2 (at once: 60 s
  # bound a VM that would boot instead).
  timeout -k 5 60 "$TANDEM" vm --kernel "$TANDEM_GUEST_KERNEL" --initrd "$TANDEM_GUEST_INITRD" --serial none --net "tap=$tap_a,vhost=$vhost" \
    </dev/null 2>"$E2E_TMP/busy.err"
  local rc=$?
  [[ $rc -eq 2 ]] && grep -q "tap=$tap_a.*busy" "$E2E_TMP/busy.err" || { cat "$E2E_TMP/busy.err"; fail "vhost=$vhost: a tap in use: exit $rc, expected 2 and a message"; }
  # Where the packets move: tandem's own thread, or the kernel's vhost worker for that process.
  if [[ "$vhost" == on ]]; then
    pgrep -x "vhost-$pid_a" >/dev/null || fail "vhost=on: no vhost-$pid_a kernel worker"
    grep -qx net-tap /proc/"$pid_a"/task/*/comm && fail "vhost=on: tandem still runs a net-tap thread"
  else
    grep -qx net-tap /proc/"$pid_a"/task/*/comm || fail "vhost=off: no net-tap thread in tandem"
  fi
  wait_exit "$pid_a" 180; local rc_a=$RC
  wait_exit "$pid_b" 60; local rc_b=$RC
  tr -d '\r' < "$a" > "$a.txt"
  tr -d '\r' < "$b" > "$b.txt"
  grep -E "^(ETHTOOL|PCI|MAC|PING|IPERF|RX-ERRORS)" "$a.txt" | sed "s/^/[vhost=$vhost] A: /"
  grep -E "^RX-ERRORS" "$b.txt" | sed "s/^/[vhost=$vhost] B: /"
  [[ $rc_a -eq 0 ]] || { tail -n 30 "$a.txt"; cat "$a.stderr"; fail "vhost=$vhost: VM A's tandem exited with $rc_a"; }
  [[ $rc_b -eq 0 ]] || { tail -n 30 "$b"; cat "$b.stderr"; fail "vhost=$vhost: VM B's tandem exited with $rc_b"; }
  check_line "$a.txt" "^ETHTOOL driver: virtio_net$" "vhost=$vhost: eth0 is not driven by the stock virtio_net"
  check_line "$a.txt" "^PCI 0000:00:01.0 0x1af4:0x1041 class=0x020000 driver=virtio-pci$" "vhost=$vhost: no virtio-net PCI function bound to virtio-pci"
  check_line "$a.txt" "^PING-OK 10.0.0.2" "vhost=$vhost: no ping"
  check_line "$a.txt" "^IPERF-TX mbps=[0-9.]*[1-9]" "vhost=$vhost: no iperf3 result A->B"
  check_line "$a.txt" "^IPERF-RX mbps=[0-9.]*[1-9]" "vhost=$vhost: no iperf3 result B->A"
  # No frame lost inside either guest: a TSO frame spread over several receive buffers must reach
  # the used ring whole (a driver that sees its first buffer alone drops it, and TCP retransmits).
  check_line "$a.txt" "^RX-ERRORS if=eth0 rx_dropped=0 rx_length_errors=0 rx_errors=0$" "vhost=$vhost: VM A lost received frames"
  check_line "$b.txt" "^RX-ERRORS if=eth0 rx_dropped=0 rx_length_errors=0 rx_errors=0$" "vhost=$vhost: VM B lost received frames"
  local mac_a mac_b
  mac_a=$(sed -n 's/^MAC //p' "$a.txt")
  mac_b=$(grep -o "virtio-net [0-9a-f:]*" "$b.stderr" | head -n1 | cut -d' ' -f2)
  [[ -n "$mac_a" && -n "$mac_b" && "$mac_a" != "$mac_b" ]] || fail "vhost=$vhost: MACs not distinct ('$mac_a' and '$mac_b')"
  grep -q "virtio-net $mac_a" "$a.stderr" || fail "vhost=$vhost: the guest's MAC $mac_a is not the one tandem announced"
  log "vhost=$vhost: ping and iperf3 both ways passed ($(grep -h '^IPERF-' "$a.txt" | tr '\n' ' '))"
}

net_case off ta0 ta1
net_case on ta2 ta3
log "passed"
