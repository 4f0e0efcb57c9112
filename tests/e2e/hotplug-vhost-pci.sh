#!/bin/bash
# timeout: 600
# nested-memory: 3072
# e2e: a vhost-pci-net with hotplug_on_connect (docs/hotplug.md). VM1 boots without it: the device
# waits off the bus, serving its socket. VM2 starts with a plain virtio-net towards that socket: its
# front-end connects, VM1's device is hot-added, the guest's vhost_pci_net driver binds by itself
# and pings VM2. VM2 stops: the device is hot-removed from VM1's guest and waits again. A second VM2
# brings it back, and traffic flows again. VM1 never restarts.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

S="$E2E_TMP/vpci.sock"
sock="$E2E_TMP/api.sock"
v1="$E2E_TMP/vm1.log"
ctl() { "$TANDEM" ctl "$sock" "$@"; }

boot_tandem_ready "$v1" 300 --memory 768M --api-socket "$sock" --vhost-pci "socket=$S,hotplug_on_connect=on" \
  --cmdline "console=ttyS0 panic=-1 tandem.script=hotplug-watch tandem.peer=10.2.0.2 tandem.hp_addr=10.2.0.1/24" \
  || fail "VM1 did not boot"
pid1=$TANDEM_PID
wait_for "$v1" "HOTPLUG-WATCH-READY" 60 "$pid1" || fail "VM1's watcher did not start"
[[ -S "$S" ]] || fail "VM1's tandem is not listening on $S"
grep -q "^HP-UP" "$v1" && fail "VM1's guest has a network interface before any peer connected"
ctl device.list > "$E2E_TMP/list0.json"
grep -q '"pci": null' "$E2E_TMP/list0.json" || fail "device.list before a peer: $(cat "$E2E_TMP/list0.json")"
log "VM1 up; its vhost-pci-net waits off the bus"

# The HP-UP/HP-PING/HP-GONE number of the first round after `base` in which VM1's guest pinged VM2:
# each VM2 connects once, so it must be round base + 1.
pinged_round() { hp=$(tr -d '\r' < "$v1" | sed -n 's/^HP-PING-OK \([0-9]*\)\b.*/\1/p' | awk -v b="$base" '$1 > b' | head -n 1); [[ -n "$hp" ]]; }
for round in 1 2; do
  v2="$E2E_TMP/vm2-$round.log"
  base=$(grep -c "^HP-UP " "$v1")
  boot_tandem_ready "$v2" 300 --memory 768M --net "vhost-user=$S" \
    --cmdline "console=ttyS0 panic=-1 tandem.ip=10.2.0.2/24 tandem.script=serve tandem.serve_seconds=600" || fail "round $round: VM2 did not boot"
  pid2=$TANDEM_PID
  wait_for "$v1" "^HP-PING-(OK|FAILED) $((base + 1))\b" 300 "$pid1" || { tail -n 30 "$v1"; cat "$v1.stderr"; fail "round $round: VM1's guest did not get the device"; }
  poll_until 120 pinged_round || { tail -n 30 "$v1"; cat "$v1.stderr" "$v2.stderr"; fail "round $round: no ping over the hot-added vhost-pci-net"; }
  (( hp == base + 1 )) || fail "round $round: VM1's guest pinged in its round $hp, not $((base + 1)): a connection more than the VM2s started"
  up=$(grep "^HP-UP $hp " "$v1")
  [[ "$up" == *" vhost_pci_net "* ]] || fail "round $round: '$up' is not bound to vhost_pci_net"
  log "round $round: VM2's front-end connected; VM1's guest: $up; $(grep "^HP-PING-OK $hp " "$v1")"
  kill -TERM "$pid2"
  wait_exit "$pid2" 120
  wait_for "$v1" "^HP-GONE $hp " 120 "$pid1" || { tail -n 30 "$v1"; cat "$v1.stderr"; fail "round $round: the device stayed in VM1's guest after VM2 stopped"; }
  parked() { ctl device.list | grep -q '"pci": null'; }
  poll_until 60 parked || fail "round $round: device.list 60 s after the peer left: $(ctl device.list)"
  log "round $round: VM2 stopped; VM1's guest: $(grep "^HP-GONE $hp " "$v1")"
done
# device.add of a vhost-pci-net through the API: the guest binds our driver (no peer: the link stays
# down); device.remove takes it out and its socket goes.
S2="$E2E_TMP/vpci2.sock"
n=$(( $(grep -c "^HP-UP " "$v1") + 1 ))
ctl device.add type=vhost-pci-net socket="$S2" > "$E2E_TMP/add.json" || fail "device.add of a vhost-pci-net failed"
[[ -S "$S2" ]] || fail "the hot-added vhost-pci-net does not listen on $S2"
wait_for "$v1" "^HP-UP $n " 120 "$pid1" || { tail -n 30 "$v1"; fail "the API's vhost-pci-net did not appear in the guest"; }
[[ "$(grep "^HP-UP $n " "$v1")" == *" vhost_pci_net "* ]] || fail "the API's vhost-pci-net: $(grep "^HP-UP $n " "$v1")"
ctl device.remove id=vpci1 > /dev/null || fail "device.remove vpci1 failed"
wait_for "$v1" "^HP-GONE $n " 60 "$pid1" || { tail -n 30 "$v1"; fail "the API's vhost-pci-net stayed in the guest"; }
socket_gone() { [[ ! -e "$S2" ]]; }
poll_until 60 socket_gone || fail "the removed vhost-pci-net's socket $S2 is still there after 60 s"
log "device.add/remove of a vhost-pci-net through the API: bound to vhost_pci_net, removed, socket gone"
kill -0 "$pid1" || fail "VM1 died"
grep -q "ejected by the guest; off the bus until a peer connects" "$v1.stderr" || fail "VM1's tandem did not park the device"

ctl vm.shutdown > /dev/null || fail "vm.shutdown of VM1 failed"
wait_exit "$pid1" 120; rc=$RC
[[ $rc -eq 0 ]] || { tail -n 20 "$v1"; cat "$v1.stderr"; fail "VM1 exited with $rc, want 0"; }
[[ ! -e "$S" ]] || fail "VM1 left its socket behind"
log "passed"
