#!/bin/bash
# timeout: 300
# e2e: virtio-blk on raw images. The guest sees a read-write disk (size, serial) and a read-only
# one, reads what the host wrote, cannot write the read-only disk, discards a range (it reads back
# as zeroes: a hole in the file), and writes and flushes a sector; then tandem is killed with
# SIGKILL, and the image file holds the flushed bytes.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

d="$E2E_TMP"
truncate -s 64M "$d/rw.img"
truncate -s 8M "$d/ro.img"
printf 'TANDEM-BLK-PATTERN' | dd of="$d/rw.img" bs=512 seek=100 conv=notrunc 2>/dev/null
head -c 4096 /dev/zero | tr '\0' '\377' | dd of="$d/rw.img" bs=512 seek=304 conv=notrunc 2>/dev/null
log_file="$d/console.log"
boot_tandem "$log_file" --cpus 1 --memory 512M --disk "path=$d/rw.img,serial=tandem-rw-0" --disk "path=$d/ro.img,readonly=on" \
  --cmdline "console=ttyS0 quiet panic=-1 tandem.script=blk-check"
wait_for "$log_file" "BLK flushed|BLK done" 240 "$TANDEM_PID" || { tail -n 30 "$log_file"; cat "$log_file.stderr"; fail "the guest did not get to its flushed write"; }
kill -KILL "$TANDEM_PID"
wait "$TANDEM_PID" 2>/dev/null
sed -i 's/\r$//' "$log_file"
grep '^BLK' "$log_file" | while read -r line; do log "guest: $line"; done
check_line "$log_file" "^BLK vda sectors=131072 ro=0 serial=tandem-rw-0$" "the read-write disk's size, mode or serial"
check_line "$log_file" "^BLK vdb sectors=16384 ro=1" "the read-only disk is not read-only in the guest"
check_line "$log_file" "^BLK read=TANDEM-BLK-PATTERN$" "the guest did not read what the host wrote"
check_line "$log_file" "^BLK ro-write=refused$" "a write to the read-only disk was accepted"
check_line "$log_file" "^BLK discard=done$" "the discard failed"
check_line "$log_file" "^BLK after-discard nonzero=0$" "the discarded range does not read back as zeroes"
check_line "$log_file" "^BLK flushed$" "the flushed write did not complete"
got="$(dd if="$d/rw.img" bs=512 skip=200 count=1 2>/dev/null | head -c 16)"
[[ "$got" == "GUEST-WROTE-THIS" ]] || fail "after SIGKILL the image does not hold the flushed write (sector 200: '$got')"
log "after SIGKILL the image holds the flushed write"
[[ "$(od -An -tx1 "$d/ro.img" | tr -d ' \n*' | tr -d 0)" == "" ]] || fail "the read-only image changed"
hole="$(dd if="$d/rw.img" bs=512 skip=304 count=8 2>/dev/null | od -An -tx1 | tr -d ' \n*0')"
[[ -z "$hole" ]] || fail "the discarded range of the image is not zeroes"
log "passed"
