#!/bin/bash
# timeout: 480
# e2e: a running VM's API socket (docs/api.md) through `tandem ctl` and raw lines. The socket is
# owner-only; vmm.ping, vmm.version, vm.info and device.list describe the VM; vm.pause stops the
# guest's progress (its ticker's lines stop) and vm.resume brings it back; every malformed request
# (not JSON, not an object, missing members, unknown method, wrong params, a line over 1 MiB, 100
# clients at once, clients leaving mid-request) gets its JSON-RPC error and changes nothing; a
# subscriber sees the power button and the exit; vm.shutdown powers the guest off (exit 0, socket
# gone); vm.kill stops a second, paused VM at once (exit 137).
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

sock="$E2E_TMP/api.sock"
con="$E2E_TMP/api.log"
ctl() { "$TANDEM" ctl "$sock" "$@"; }
ticks() { grep -c '^TICK' "$con" 2>/dev/null || true; }

boot_tandem_ready "$con" 200 --cpus 1 --memory 512M --api-socket "$sock" --vhost-pci "socket=$E2E_TMP/vp.sock" \
  --cmdline "console=ttyS0 quiet tandem.script=ticker" || fail "the guest did not boot"
wait_for "$con" '^TICK 5 ' 60 "$TANDEM_PID" || fail "the guest's ticker did not start"

[[ "$(stat -c %a "$sock")" == 600 ]] || fail "the API socket's mode is $(stat -c %a "$sock"), want 600"
ctl vmm.ping > "$E2E_TMP/ping.json" || fail "vmm.ping failed"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1])) == {"pong": True}' "$E2E_TMP/ping.json" || fail "vmm.ping: $(cat "$E2E_TMP/ping.json")"
ctl vmm.version | grep -q '"version": "' || fail "vmm.version has no version"
ctl vm.info > "$E2E_TMP/info.json" || fail "vm.info failed"
python3 - "$E2E_TMP/info.json" "$E2E_TMP/vp.sock" <<'PY' || fail "vm.info: $(cat "$E2E_TMP/info.json")"
import json, re, sys
i = json.load(open(sys.argv[1]))
assert i["state"] == "running", i["state"]
assert i["cpus"] == 1 and i["memory"] == 512 << 20, i
d = i["devices"]
assert len(d) == 1 and d[0]["id"] == "vpci0" and d[0]["type"] == "vhost-pci-net", d
assert re.fullmatch(r"0000:00:[0-9a-f]{2}\.0", d[0]["pci"]) and d[0]["backend"]["socket"] == sys.argv[2], d
assert d[0]["link"] == "down", d
PY
ctl --human device.list | grep -Eq '^vpci0 +vhost-pci-net +0000:00:[0-9a-f]{2}\.0 ' || { ctl --human device.list; fail "device.list --human has no vpci0 row"; }
log "vmm.ping, vmm.version, vm.info, device.list: ok (socket mode 600)"

# vm.pause: the guest stops (no new ticker lines); vm.resume: it goes on.
ctl vm.pause >/dev/null || fail "vm.pause failed"
[[ "$(ctl vm.info | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" == paused ]] || fail "vm.info does not say paused"
sleep 0.5; before=$(ticks); sleep 3; after=$(ticks)
[[ $after -eq $before ]] || fail "the guest printed $((after - before)) ticker lines while paused"
if ctl vm.pause 2>"$E2E_TMP/pause2.err"; then fail "a second vm.pause succeeded"; fi
grep -q "error -32000: vm.pause: the VM is already paused" "$E2E_TMP/pause2.err" || fail "second vm.pause: $(cat "$E2E_TMP/pause2.err")"
if ctl device.remove id=vpci0 2>"$E2E_TMP/remove-paused.err"; then fail "device.remove in a paused VM succeeded"; fi
grep -q "error -32000: device.remove: the VM is paused" "$E2E_TMP/remove-paused.err" || fail "device.remove while paused: $(cat "$E2E_TMP/remove-paused.err")"
if ctl vm.shutdown 2>"$E2E_TMP/shut-paused.err"; then fail "vm.shutdown of a paused VM succeeded"; fi
grep -q "error -32000: vm.shutdown: the VM is paused" "$E2E_TMP/shut-paused.err" || fail "vm.shutdown while paused: $(cat "$E2E_TMP/shut-paused.err")"
ctl vm.resume >/dev/null || fail "vm.resume failed"
wait_for "$con" "^TICK $((after + 5)) " 30 "$TANDEM_PID" || fail "the ticker did not go on after vm.resume"
log "vm.pause: 0 ticker lines in 3 s; vm.resume: ticking again"

# Bad requests, over raw connections; the VM must not notice.
python3 - "$sock" <<'PY' || fail "bad requests were not answered as expected"
import json, socket, sys, threading
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(path); return s, s.makefile("rb")
def ask(s, f, raw):
    s.sendall(raw if isinstance(raw, bytes) else raw.encode())
    return json.loads(f.readline())
s, f = conn()
cases = [
    (b"not json\n", -32700, "parse error: the line is not valid JSON"),
    (b"[1]\n", -32600, "invalid request: expected a JSON object, got an array (batches are not supported)"),
    (b'{"id":1,"method":"vmm.ping"}\n', -32600, 'invalid request: missing "jsonrpc": "2.0"'),
    (b'{"jsonrpc":"2.0","method":"vmm.ping"}\n', -32600, 'invalid request: missing "id" (notifications are not accepted; add an id to get a reply)'),
    (b'{"jsonrpc":"2.0","id":1}\n', -32600, 'invalid request: missing "method"'),
    (b'{"jsonrpc":"2.0","id":1,"method":"vm.explode"}\n', -32601, None),
    (b'{"jsonrpc":"2.0","id":1,"method":"vm.info","params":{"x":1}}\n', -32602, "invalid params: vm.info takes no parameters"),
    (b'{"jsonrpc":"2.0","id":1,"method":"device.add","params":{"type":7}}\n', -32602, 'invalid params: "type" must be a string (virtio-net, vhost-pci-net or virtio-blk)'),
    (b'{"jsonrpc":"2.0","id":1,"method":"device.remove","params":{"id":"net9"}}\n', -32001, 'device.remove: no device "net9" (see device.list)'),
    (b'{"jsonrpc":"2.0","id":1,"method":"vm.resume"}\n', -32000, "vm.resume: the VM is not paused"),
    (b'{"jsonrpc":"2.0","id":1,"method":"vmm.ping","params":"x"}\n', -32600, 'invalid request: "params" must be an object or an array, not a string'),
    (b'{"jsonrpc":"2.0","id":1,"method":"vmm.ping","params":' + b"[" * 300000 + b"]" * 300000 + b"}\n", -32600, "invalid request: arrays and objects nested 300001 deep; at most 64"),
    (b'{"jsonrpc":"2.0","id":1,"method":"vmm.ping","params":{"x":"' + b"a" * (1 << 20) + b'"}}\n', -32003, None),
]
for raw, code, msg in cases:
    r = ask(s, f, raw)
    assert r["error"]["code"] == code, (raw[:80], r)
    assert msg is None or r["error"]["message"] == msg, (raw[:80], r)
assert ask(s, f, '{"jsonrpc":"2.0","id":"x","method":"vmm.ping"}\n') == {"jsonrpc": "2.0", "id": "x", "result": {"pong": True}}
# Clients that leave mid-request.
for _ in range(20):
    t = socket.socket(socket.AF_UNIX); t.connect(path); t.sendall(b'{"jsonrpc":"2.0","id":1,"meth'); t.close()
# 100 clients at once.
ok = []
def one(i):
    c, cf = conn()
    r = ask(c, cf, json.dumps({"jsonrpc": "2.0", "id": i, "method": "vm.info"}) + "\n")
    ok.append(r["id"] == i and r["result"]["state"] == "running")
    c.close()
ts = [threading.Thread(target=one, args=(i,)) for i in range(100)]
[t.start() for t in ts]; [t.join() for t in ts]
assert len(ok) == 100 and all(ok), ok.count(True)
assert ask(s, f, '{"jsonrpc":"2.0","id":2,"method":"vmm.ping"}\n')["result"] == {"pong": True}
print("bad requests: %d answered as expected; 100 clients at once served" % len(cases))
PY
n1=$(ticks); wait_for "$con" "^TICK $((n1 + 5)) " 30 "$TANDEM_PID" || fail "the guest stopped ticking after the bad requests"
kill -0 "$TANDEM_PID" || fail "tandem died"
[[ -z "$(grep -iE 'terminate|abort|sanitizer' "$con.stderr")" ]] || fail "tandem's stderr: $(cat "$con.stderr")"
if ctl device.add type=vhost-pci-net "socket=$E2E_TMP/vp.sock" 2>"$E2E_TMP/add.err"; then fail "device.add on vpci0's socket succeeded"; fi
grep -q "error -32006: device.add vpci1: .*$E2E_TMP/vp.sock" "$E2E_TMP/add.err" || fail "device.add on a taken socket: $(cat "$E2E_TMP/add.err")"
[[ "$(ctl device.list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["devices"]))')" == 1 ]] || fail "a failed device.add left a device behind"
log "bad requests: all answered with their errors; the guest kept running"

# A subscriber sees the power button and the exit; vm.shutdown powers the guest off.
"$TANDEM" ctl --follow "$sock" events.subscribe > "$E2E_TMP/events.json" 2>&1 &
follow=$!
E2E_PIDS+=("$follow")
sleep 1
ctl vm.shutdown > "$E2E_TMP/shutdown.json" || fail "vm.shutdown failed"
wait_exit "$TANDEM_PID" 60; rc=$RC
[[ $rc -eq 0 ]] || { cat "$con.stderr"; fail "vm.shutdown: tandem exited with $rc, want 0"; }
grep -q TANDEM-POWER-BUTTON "$con" || fail "the guest did not see the power button"
wait_exit "$follow" 10
grep -q '"event": "vm.power-button"' "$E2E_TMP/events.json" || { cat "$E2E_TMP/events.json"; fail "no vm.power-button notification"; }
grep -q '"event": "vm.exit"' "$E2E_TMP/events.json" || { cat "$E2E_TMP/events.json"; fail "no vm.exit notification"; }
[[ ! -e "$sock" ]] || fail "the API socket is left behind"
log "vm.shutdown: power button, guest powered off, exit 0; the subscriber saw vm.power-button and vm.exit"

con="$E2E_TMP/api-kill.log"
boot_tandem_ready "$con" 200 --cpus 1 --memory 512M --api-socket "$sock" --cmdline "console=ttyS0 quiet tandem.script=ticker" \
  || fail "the second guest did not boot"
ctl vm.pause >/dev/null || fail "vm.pause (second VM) failed"
ctl vm.kill >/dev/null || fail "vm.kill of the paused VM failed"
wait_exit "$TANDEM_PID" 30; rc=$RC
[[ $rc -eq 137 ]] || { cat "$con.stderr"; fail "vm.kill: exit $rc, want 137"; }
grep -q "stopped through the API (vm.kill)" "$con.stderr" || fail "vm.kill: no reason on stderr"
log "vm.kill of a paused VM: exit 137"
log "passed"
