#!/bin/bash
# timeout: 420
# nested-memory: 3072
# e2e: the manifest's `bridge` backend: `tandem up` creates the bridge and one tap per VM on it
# (tandem's own virtio-net datapath on one, vhost-net on the other), the two VMs ping each other
# across it, and at the end the taps and the bridge it created are gone again.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image
modprobe tun && modprobe bridge && modprobe vhost_net || fail "cannot load tun, bridge, vhost_net"

M="$E2E_TMP/bridge.toml"
cat > "$M" <<TOML
run_dir = "$E2E_TMP/run"
[[vm]]
name = "a"
restart = "on-failure"
cmdline = "console=ttyS0 quiet tandem.ip=10.3.0.1/24 tandem.peer=10.3.0.2 tandem.run=\"sh /scripts/ping-peer; nc 10.3.0.2 7002 </dev/null\""
  [[vm.virtio-net]]
  bridge = "tdmbr0"
[[vm]]
name = "b"
restart = "on-failure"
cmdline = "console=ttyS0 quiet tandem.ip=10.3.0.2/24 tandem.script=net-sink"
  [[vm.virtio-net]]
  bridge = "tdmbr0"
  tap = "tdmtap-b"
  vhost = true
TOML
ip link show tdmbr0 >/dev/null 2>&1 && fail "tdmbr0 exists before the test"
out="$E2E_TMP/up.log"
run_up "$out" 600 "$M"
wait_for "$out" 'vm "b" started' 60 "$UP_PID" || { cat "$out"; fail "the VMs did not start"; }
ip -d link show tdmbr0 | grep -q bridge || fail "tandem up did not create the bridge tdmbr0"
[[ "$(cat /sys/class/net/tdm-a-0/master/ifindex 2>/dev/null)" == "$(cat /sys/class/net/tdmbr0/ifindex)" ]] || fail "tap tdm-a-0 is not on tdmbr0"
[[ "$(cat /sys/class/net/tdmtap-b/master/ifindex 2>/dev/null)" == "$(cat /sys/class/net/tdmbr0/ifindex)" ]] || fail "tap tdmtap-b is not on tdmbr0"
wait_exit "$UP_PID" 600; rc=$RC
tr -d '\r' < "$out" > "$out.txt"
grep -E "^(a +\| PING|b +\| NET-SINK|tandem up:)" "$out.txt"
[[ $rc -eq 0 ]] || { tail -n 40 "$out.txt"; fail "tandem up exited with $rc"; }
check_line "$out.txt" "^a +\| PING-OK 10.3.0.2" "a could not ping b across the bridge"
check_line "$out.txt" '^tandem up: done: a exited with status 0, b exited with status 0$' "the VMs' exits were not reported"
for ifc in tdm-a-0 tdmtap-b tdmbr0; do
  ip link show "$ifc" >/dev/null 2>&1 && fail "$ifc is still there after tandem up ended"
done
up_leftovers "$E2E_TMP/run"
log "passed"
