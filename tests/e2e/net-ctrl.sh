#!/bin/bash
# timeout: 600
# nested-memory: 2048
# e2e: virtio-net's control queue (CTRL_VQ, CTRL_RX, CTRL_MAC_ADDR) with the stock virtio_net
# driver, and vm.counters. One VM on a tap in a bridge that has an address of its own (the host
# side, 10.0.0.254) runs guest-images/scripts/net-ctrl-check, which stops after each step until
# this script has checked tandem's side:
#   filter:  frames the host sends to a MAC nobody has (flooded by the bridge to the VM's tap) are
#            filtered by tandem (rx_filtered grows by at least 3) while the guest is not promiscuous;
#   promisc: device.list shows promisc and allmulti on, and such frames reach the guest;
#   mac:     the guest changed its MAC while up: device.list shows it, the guest's ping to the
#            host worked with it (the host's replies to the new MAC passed the filter).
# `tandem ctl vm.counters --human --watch --count 2` prints two tables; the guest powers off and
# tandem exits 0.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

modprobe tun && modprobe bridge || fail "cannot load tun, bridge"
ip link add tbr0 type bridge && ip addr add 10.0.0.254/24 dev tbr0 && ip link set tbr0 up || fail "cannot create the bridge"
ip tuntap add dev tc0 mode tap && ip link set tc0 master tbr0 && ip link set tc0 up || fail "cannot create tap tc0"
# A neighbour nobody is: the host's frames to it are unknown unicast, which the bridge floods.
ip neigh add 10.0.0.99 lladdr 02:00:00:00:00:99 dev tbr0 nud permanent || fail "cannot add the neighbour"

sock="$E2E_TMP/api.sock" con="$E2E_TMP/guest.log"
ctl() { "$TANDEM" ctl "$sock" "$@"; }
counter() { ctl vm.counters | python3 -c "import json,sys; print(json.load(sys.stdin)['devices'][0]['counters']['$1'])"; }
guest_field() { ctl device.list | python3 -c "import json,sys; print(str(json.load(sys.stdin)['devices'][0]['guest']['$1']).lower())"; }
counter_at_least() { (( $(counter "$1") >= $2 )); }
guest_field_is() { [[ "$(guest_field "$1")" == "$2" ]]; }
go() { timeout 10 bash -c 'exec 3<>/dev/tcp/10.0.0.1/7003' 2>/dev/null; }
# Five UDP datagrams to the stranger (bash's /dev/udp: the nested host has no ping).
flood_stranger() {
  local i
  for i in 1 2 3 4 5; do echo "stranger $i" > /dev/udp/10.0.0.99/9 || fail "cannot send to 10.0.0.99"; done
}
# What the tap passed on to tandem, and what the kernel dropped on the way (for failure messages).
tap_stats() { echo "tc0: $(sed -n 's/^ *tc0: *//p' /proc/net/dev | awk '{print "tx_packets=" $10 " tx_dropped=" $12}'), tbr0 tx_packets=$(awk '/tbr0:/ {print $11}' /proc/net/dev)"; }

boot_tandem "$con" --memory 512M --api-socket "$sock" --net "tap=tc0" \
  --cmdline "console=ttyS0 panic=-1 tandem.ip=10.0.0.1/24 tandem.peer=10.0.0.254 tandem.script=net-ctrl-check"
pid=$TANDEM_PID
guest_ready "$con" 240 "$pid" || fail "the guest did not boot"
wait_for "$con" "CTRL-STEP filter|CTRL-ERROR|PING-FAILED" 120 "$pid" || { tail -n 20 "$con"; fail "the guest did not reach the filter step"; }
grep -q "CTRL-STEP filter" "$con" || { tail -n 20 "$con"; fail "the guest failed before the filter step"; }
features=$(sed -n 's/^CTRL-FEATURES \([01]*\).*/\1/p' "$con" | tr -d '\r')
for bit in 17:CTRL_VQ 18:CTRL_RX 23:CTRL_MAC_ADDR; do
  [[ "${features:${bit%%:*}:1}" == 1 ]] || fail "the driver did not negotiate ${bit#*:} (features $features)"
done
log "negotiated CTRL_VQ, CTRL_RX and CTRL_MAC_ADDR"

# filter
[[ "$(guest_field promisc)" == false ]] || fail "device.list: the guest's interface is up, yet promisc is not off: $(ctl device.list)"
before=$(counter rx_filtered)
stats_before="$(tap_stats)"
flood_stranger
poll_until 30 counter_at_least rx_filtered $((before + 3)) \
  || fail "frames to another MAC were not filtered: rx_filtered $before -> $(counter rx_filtered); before: $stats_before; after: $(tap_stats); $(ctl vm.counters | tr -d ' \n')"
log "not promiscuous: frames to 02:00:00:00:00:99 filtered (rx_filtered $before -> $(counter rx_filtered))"
go || fail "cannot signal the guest (filter step)"

# promisc
wait_for "$con" "CTRL-STEP promisc|CTRL-ERROR" 120 "$pid" && grep -q "CTRL-STEP promisc" "$con" || { tail -n 20 "$con"; fail "the guest did not reach the promisc step"; }
poll_until 30 guest_field_is promisc true || fail "device.list does not show promisc on: $(ctl device.list)"
poll_until 30 guest_field_is allmulti true || fail "device.list does not show allmulti on: $(ctl device.list)"
before=$(counter rx_filtered); rx_before=$(counter rx_packets)
flood_stranger
poll_until 30 counter_at_least rx_packets $((rx_before + 5)) \
  || fail "promiscuous, yet the frames to another MAC did not reach the guest (rx_packets $rx_before -> $(counter rx_packets)): $(ctl vm.counters | tr -d ' \n')"
after=$(counter rx_filtered); rx_after=$(counter rx_packets)
[[ $after -eq $before ]] || fail "promiscuous, yet tandem filtered frames (rx_filtered $before -> $after)"
log "promiscuous: nothing filtered, rx_packets $rx_before -> $rx_after"
go || fail "cannot signal the guest (promisc step)"

# mac
wait_for "$con" "CTRL-STEP mac|CTRL-ERROR" 120 "$pid" && grep -q "CTRL-STEP mac" "$con" || { tail -n 20 "$con"; fail "the guest did not reach the mac step"; }
grep -q "^CTRL-MAC 02:c0:ff:ee:00:01" <(tr -d '\r' < "$con") || fail "the guest's MAC did not change: $(grep CTRL-MAC "$con")"
grep -q "CTRL-MAC-PING-OK" "$con" || fail "no ping with the new MAC (the host's replies to it did not pass)"
[[ "$(guest_field mac)" == 02:c0:ff:ee:00:01 ]] || fail "device.list does not show the guest's new MAC: $(ctl device.list)"
[[ "$(guest_field promisc)" == false ]] || fail "device.list: promisc is still on after the guest turned it off"
grep -q "control queue: the guest set mac 02:c0:ff:ee:00:01" "$con.stderr" || fail "tandem did not log the MAC change"
log "the guest's new MAC 02:c0:ff:ee:00:01 is in device.list and its ping worked"

ctl vm.counters --human --watch --count 2 > "$E2E_TMP/watch.txt" || fail "tandem ctl vm.counters --human --watch failed"
sed 's/^/[net-ctrl] watch: /' "$E2E_TMP/watch.txt"
[[ $(grep -c "^ID .*RX_FILTERED" "$E2E_TMP/watch.txt") -eq 2 ]] || fail "--watch --count 2 did not print two device tables"
grep -q "^VCPU .*IO" "$E2E_TMP/watch.txt" || fail "no vCPU exit table"
go || fail "cannot signal the guest (mac step)"
wait_exit "$pid" 120
[[ $RC -eq 0 ]] || { tail -n 20 "$con"; cat "$con.stderr"; fail "tandem exited with $RC"; }
log "passed"
