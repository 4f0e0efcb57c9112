#!/bin/bash
# timeout: 360
# e2e: virtio-blk hot-add and remove through the API (device.add type=virtio-blk, device.remove).
# Each cycle adds a disk whose first sector holds a pattern of its own: the running stock guest's
# acpiphp and virtio_blk bring it up with its size and serial, and it reads the pattern; after the
# removal the disk is gone from the guest and from device.list, and tandem's fd count is back to
# what it was before the add. A disk that cannot be opened is refused with an error, and the guest
# goes on.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

CYCLES="${BLK_HOTPLUG_CYCLES:-3}"
sock="$E2E_TMP/api.sock"
con="$E2E_TMP/console.log"
ctl() { "$TANDEM" ctl "$sock" "$@"; }
fds() { ls "/proc/$TANDEM_PID/fd" | wc -l; }
devices() { ctl device.list | grep -c '"id":'; }
field() { sed -n "s/^  \"$1\": \"\([^\"]*\)\".*/\1/p"; }

boot_tandem_ready "$con" 240 --cpus 1 --memory 512M --api-socket "$sock" \
  --cmdline "console=ttyS0 quiet tandem.script=blk-hotplug-watch" || fail "the guest did not boot"
wait_for "$con" "BLKHP-READY" 60 "$TANDEM_PID" || fail "the guest's watcher did not start"

ctl device.add type=virtio-blk path="$E2E_TMP/none.img" > /dev/null 2>"$E2E_TMP/bad.err" && fail "device.add of a missing image succeeded"
grep -q "none.img" "$E2E_TMP/bad.err" || fail "device.add of a missing image: the error does not name it: $(cat "$E2E_TMP/bad.err")"
log "a missing image is refused: $(head -n 1 "$E2E_TMP/bad.err")"

fd0=$(fds)
for i in $(seq 1 "$CYCLES"); do
  img="$E2E_TMP/disk$i.img"
  truncate -s "$((i * 8))M" "$img"
  printf 'HOTPLUG-DISK-%03d' "$i" | dd of="$img" conv=notrunc 2>/dev/null
  ctl device.add type=virtio-blk path="$img" serial="hp-$i" > "$E2E_TMP/add.json" 2>"$E2E_TMP/add.err" || fail "cycle $i: device.add: $(cat "$E2E_TMP/add.err")"
  id=$(field id < "$E2E_TMP/add.json")
  [[ -n "$id" ]] || fail "cycle $i: device.add replied $(cat "$E2E_TMP/add.json")"
  wait_for "$con" "^BLKHP-UP $i " 90 "$TANDEM_PID" || { tail -n 20 "$con"; fail "cycle $i: the guest did not bring up $id"; }
  up=$(grep "^BLKHP-UP $i " "$con" | tail -1 | tr -d '\r')
  [[ "$up" == *"sectors=$((i * 16384)) serial=hp-$i read=$(printf 'HOTPLUG-DISK-%03d' "$i")" ]] || fail "cycle $i: guest line '$up'"
  ctl device.remove id="$id" > /dev/null 2>"$E2E_TMP/remove.err" || fail "cycle $i: device.remove: $(cat "$E2E_TMP/remove.err")"
  wait_for "$con" "^BLKHP-GONE $i " 60 "$TANDEM_PID" || { tail -n 20 "$con"; fail "cycle $i: the disk did not go away"; }
  no_devices() { [[ "$(devices)" == 0 ]]; }
  poll_until 60 no_devices || fail "cycle $i: $id is still listed 60 s after the guest ejected it"
  fd=$(fds)
  [[ "$fd" == "$fd0" ]] || { ls -l "/proc/$TANDEM_PID/fd"; fail "cycle $i: tandem has $fd fds after the removal, $fd0 before the add"; }
  log "cycle $i: $id up in the guest ($up), removed; fds $fd"
done
kill -TERM "$TANDEM_PID"
wait_exit "$TANDEM_PID" 60
log "passed"
