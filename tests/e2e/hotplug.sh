#!/bin/bash
# timeout: 480
# e2e: ACPI PCI hotplug through the API socket (docs/hotplug.md). A running stock guest gets a
# virtio-net on a tap (device.add): without any command of ours its acpiphp scans the slot, the
# stock virtio_net binds, the interface pings the host's bridge; device.remove asks the guest, it
# ejects, the interface is gone and tandem releases everything: its fd count returns to the value
# before the add, and twenty add/remove cycles do not grow its RSS. Bad requests (a device that
# does not exist, one already being removed, a backend that cannot be opened, a taken id, more
# devices than slots) get their JSON-RPC errors while the guest goes on.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

CYCLES="${HOTPLUG_CYCLES:-20}"
sock="$E2E_TMP/api.sock"
con="$E2E_TMP/hotplug.log"
ctl() { "$TANDEM" ctl "$sock" "$@"; }
fds() { ls "/proc/$TANDEM_PID/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$TANDEM_PID/status"; }
devices() { ctl device.list | grep -c '"id":'; }  # python3 starts slowly in the nested host
field() { sed -n "s/^  \"$1\": \"\([^\"]*\)\".*/\1/p"; }  # a top-level string of ctl's JSON

modprobe tun && modprobe bridge || fail "cannot load tun and bridge"
ip link add hbr0 type bridge && ip addr add 10.0.9.1/24 dev hbr0 && ip link set hbr0 up || fail "cannot create the bridge"
ip tuntap add dev hp0 mode tap && ip link set hp0 master hbr0 && ip link set hp0 up || fail "cannot create tap hp0"

boot_tandem_ready "$con" 240 --cpus 1 --memory 512M --api-socket "$sock" \
  --cmdline "console=ttyS0 quiet tandem.script=hotplug-watch tandem.peer=10.0.9.1 tandem.hp_addr=10.0.9.2/24" || fail "the guest did not boot"
wait_for "$con" "HOTPLUG-WATCH-READY" 60 "$TANDEM_PID" || fail "the guest's watcher did not start"
slots=$(sed -n 's/^HP-SLOTS \([0-9]*\).*/\1/p' "$con" | head -1)
[[ "$slots" == 31 ]] || fail "the guest's acpiphp registered ${slots:-no} slots, want 31"
log "the guest registered 31 hotplug slots"

"$TANDEM" ctl --follow "$sock" events.subscribe > "$E2E_TMP/events.json" 2>&1 &
E2E_PIDS+=("$!")
sleep 1

fd0=$(fds)
rss0=$(rss_kb)
rss=()
for i in $(seq 1 "$CYCLES"); do
  t0=$(now_ms)
  ctl device.add type=virtio-net tap=hp0 > "$E2E_TMP/add.json" 2>"$E2E_TMP/add.err" || fail "cycle $i: device.add: $(cat "$E2E_TMP/add.err")"
  id=$(field id < "$E2E_TMP/add.json")
  pci=$(field pci < "$E2E_TMP/add.json")
  [[ -n "$id" && -n "$pci" ]] || fail "cycle $i: device.add replied $(cat "$E2E_TMP/add.json")"
  ta=$(now_ms)
  wait_for "$con" "^HP-PING-(OK|FAILED) $i\b" 90 "$TANDEM_PID" || { tail -n 20 "$con"; fail "cycle $i: the guest did not bring up $id"; }
  grep -q "^HP-PING-OK $i\b" "$con" || { tail -n 20 "$con"; fail "cycle $i: the hot-added interface did not ping"; }
  up=$(grep "^HP-UP $i " "$con" | tail -1)
  [[ "$up" == *" $pci virtio_net"* ]] || fail "cycle $i: guest line '$up' does not show $pci bound to virtio_net"
  t1=$(now_ms)
  if (( i == 1 )); then
    # Two removals in one write: the second is answered before the guest can have ejected the device.
    python3 - "$sock" "$id" > "$E2E_TMP/remove2.json" <<'PY' || fail "cycle 1: device.remove twice: $(cat "$E2E_TMP/remove2.json")"
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
req = lambda n: json.dumps({"jsonrpc": "2.0", "id": n, "method": "device.remove", "params": {"id": sys.argv[2]}}) + "\n"
s.sendall((req(1) + req(2)).encode())
a, b = json.loads(f.readline()), json.loads(f.readline())
print(a, b)
assert a["result"] == {"id": sys.argv[2], "state": "removing"}, a
assert b["error"]["code"] == -32000 and b["error"]["message"] == "device.remove: %s is already being removed (waiting for the guest to eject it)" % sys.argv[2], b
PY
  else
    ctl device.remove id="$id" > /dev/null 2>"$E2E_TMP/remove.err" || fail "cycle $i: device.remove: $(cat "$E2E_TMP/remove.err")"
  fi
  wait_for "$con" "^HP-GONE $i " 60 "$TANDEM_PID" || { tail -n 20 "$con"; fail "cycle $i: the interface did not go away"; }
  no_devices() { [[ "$(devices)" == 0 ]]; }
  poll_until 60 no_devices || fail "cycle $i: $id is still listed 60 s after the guest ejected it"
  t2=$(now_ms)
  fd=$(fds)
  [[ "$fd" == "$fd0" ]] || { ls -l "/proc/$TANDEM_PID/fd"; fail "cycle $i: tandem has $fd fds after the removal, $fd0 before the add"; }
  rss+=("$(rss_kb)")
  log "cycle $i: $id at $pci up and pinging in $((t1 - t0)) ms (device.add took $((ta - t0)) ms), removed in $((t2 - t1)) ms; fds $fd, RSS ${rss[-1]} KiB"
  log "  guest: $(grep -E "^HP-(UP|PING-OK|GONE) $i " "$con" | tr '\n' ' ')"
done
# RSS: allocator caches settle in the first cycles; after that, no growth.
if (( CYCLES >= 4 )); then
  growth=$(( rss[CYCLES - 1] - rss[1] ))
  (( growth <= 1024 )) || fail "RSS grew by $growth KiB from cycle 2 to cycle $CYCLES (${rss[*]})"
  log "RSS before the first add: $rss0 KiB, after cycle 2: ${rss[1]} KiB, after cycle $CYCLES: ${rss[CYCLES - 1]} KiB (growth $growth KiB); fds $fd0 throughout"
fi
n_added=$(grep -c '"event": "device.added"' "$E2E_TMP/events.json")
n_removed=$(grep -c '"event": "device.removed"' "$E2E_TMP/events.json")
[[ $n_added == "$CYCLES" && $n_removed == "$CYCLES" ]] || fail "notifications: $n_added device.added and $n_removed device.removed, want $CYCLES each"

# Bad requests; the guest keeps running and its watcher keeps working.
expect_error() {  # CODE MESSAGE-PATTERN ctl-args...
  local code="$1" pattern="$2"; shift 2
  if ctl "$@" > /dev/null 2>"$E2E_TMP/bad.err"; then fail "'$*' succeeded"; fi
  grep -Eq "error $code: $pattern" "$E2E_TMP/bad.err" || fail "'$*': $(cat "$E2E_TMP/bad.err"), want $code $pattern"
}
expect_error -32001 'device.remove: no device "net9"' device.remove id=net9
expect_error -32006 "device.add net0: .*$E2E_TMP/none.sock" device.add type=virtio-net "vhost-user=$E2E_TMP/none.sock"
ctl device.add type=virtio-net tap=hp0 id=keep > /dev/null || fail "device.add id=keep failed"
wait_for "$con" "^HP-PING-OK $((CYCLES + 1))\b" 90 "$TANDEM_PID" || fail "the device added after the bad requests did not ping"
expect_error -32006 "device.add net0: tap 'hp0'.*busy" device.add type=virtio-net tap=hp0
expect_error -32602 'invalid params: device.add: the id "keep" is taken' device.add type=virtio-net tap=hp9 id=keep
[[ "$(fds)" -gt "$fd0" ]] || fail "the fd count did not grow with a device present: the check above cannot fail"
# Fill the bus: 30 more devices on taps tandem creates, then the 32nd is refused.
for n in $(seq 1 30); do
  ctl device.add type=virtio-net tap="hf$n" id="fill$n" > /dev/null 2>"$E2E_TMP/fill.err" || { tail -n 5 "$con.stderr"; fail "device.add fill$n: $(cat "$E2E_TMP/fill.err")"; }
done
expect_error -32005 'device.add: no free PCI slot' device.add type=virtio-net tap=hf31
kill -0 "$TANDEM_PID" || fail "tandem died"
log "bad requests: -32001, -32000, -32006 (no socket, busy tap), -32602 (taken id), -32005 (bus full)"

ctl vm.shutdown > /dev/null || fail "vm.shutdown failed"
wait_exit "$TANDEM_PID" 120; rc=$RC
[[ $rc -eq 0 ]] || { tail -n 20 "$con"; cat "$con.stderr"; fail "tandem exited with $rc, want 0"; }
log "passed"
