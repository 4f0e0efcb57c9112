#!/bin/bash
# timeout: 120
# e2e: every kind of bad input to `tandem vm` gives exit status 2 and a one-line error naming the
# problem, before any vCPU runs, leaving nothing behind (no serial file, no process); and a
# vhost-pci socket= that names a regular file is refused without touching the file.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

K="$TANDEM_GUEST_KERNEL"
I="$TANDEM_GUEST_INITRD"
d="$E2E_TMP"
# Kernels with a patched setup header.
cp "$K" "$d/old-protocol"; printf '\x01\x02' | dd of="$d/old-protocol" bs=1 seek=$((0x206)) conv=notrunc 2>/dev/null
cp "$K" "$d/not-64bit"; printf '\x00\x00' | dd of="$d/not-64bit" bs=1 seek=$((0x236)) conv=notrunc 2>/dev/null
# An arm64 Image (the header's "ARM\x64" magic at 0x38) given to tandem for x86_64.
head -c 65536 /dev/zero > "$d/arm64-image"; printf 'ARM\x64' | dd of="$d/arm64-image" bs=1 seek=$((0x38)) conv=notrunc 2>/dev/null
truncate -s 300M "$d/huge-initrd"
truncate -s 240M "$d/big-initrd"
long="$(head -c 3000 /dev/zero | tr '\0' 'x')"
: > "$d/empty.img"
mkfifo "$d/fifo"

cases=(
  "kernel missing|kernel /nonexistent/vmlinuz|--kernel /nonexistent/vmlinuz --initrd $I"
  "not a bzImage|not a bzImage|--kernel /bin/sh --initrd $I"
  "protocol too old|boot protocol 2.1 is too old|--kernel $d/old-protocol --initrd $I"
  "not 64-bit|not 64-bit capable|--kernel $d/not-64bit --initrd $I"
  "arm64 Image|kernel $d/arm64-image: this is an arm64 Image; tandem for x86_64 needs an x86_64 bzImage|--kernel $d/arm64-image --initrd $I"
  "initrd missing|initrd /nonexistent/initrd|--kernel $K --initrd /nonexistent/initrd"
  "initrd larger than memory|initrd $d/huge-initrd|--kernel $K --initrd $d/huge-initrd --memory 256M"
  "initrd too large for low memory|does not fit in guest memory|--kernel $K --initrd $d/big-initrd --memory 256M"
  "memory 0|memory size is 0|--kernel $K --initrd $I --memory 0"
  "memory not page-aligned|not a multiple of 4 KiB|--kernel $K --initrd $I --memory 1000001"
  "memory absurd|above the maximum|--kernel $K --initrd $I --memory 100T"
  "memory garbage|--memory|--kernel $K --initrd $I --memory lots"
  "cpus 0|0 vCPUs requested|--kernel $K --initrd $I --cpus 0"
  "cpus too many|vCPUs requested|--kernel $K --initrd $I --cpus 4096"
  "cmdline too long|--cmdline is 3000 bytes|--kernel $K --initrd $I --cmdline $long"
  "unknown option|--frobnicate|--kernel $K --initrd $I --frobnicate"
  "disk without a file|names no image file|--kernel $K --initrd $I --disk readonly=on"
  "disk missing|disk /nonexistent/disk.img: cannot open it|--kernel $K --initrd $I --disk path=/nonexistent/disk.img"
  "disk a directory|disk $d: is a directory|--kernel $K --initrd $I --disk path=$d"
  "disk a FIFO|is not a regular file or a block device|--kernel $K --initrd $I --disk path=$d/fifo,readonly=on"
  "disk empty|less than one 512-byte sector|--kernel $K --initrd $I --disk path=$d/empty.img"
  "disk readonly=maybe|readonly=maybe|--kernel $K --initrd $I --disk path=$d/empty.img,readonly=maybe"
)
for c in "${cases[@]}"; do
  IFS='|' read -r what expect args <<<"$c"
  serial="$d/serial-$(echo "$what" | tr ' ' '-').log"
  # shellcheck disable=SC2086
  err="$(timeout 30 "$TANDEM" vm --serial "file:$serial" $args 2>&1 >/dev/null </dev/null)"; rc=$?
  [[ $rc -eq 2 ]] || fail "$what: exit status $rc, not 2 ($err)"
  [[ $(printf '%s\n' "$err" | wc -l) -eq 1 ]] || fail "$what: the error is not one line: $err"
  grep -qF -- "$expect" <<<"$err" || fail "$what: the error does not say '$expect': $err"
  [[ -e "$serial" ]] && fail "$what: the serial file was created although nothing ran"
  log "$what: $err"
done
# A socket path that names a regular file (a mistyped socket=): refused, and the file left as it was.
printf 'keep me' > "$d/notes.txt"
err="$(timeout 60 "$TANDEM" vm --serial "file:$d/serial-notes.log" --kernel "$K" --initrd "$I" --vhost-pci "socket=$d/notes.txt" 2>&1 >/dev/null </dev/null)"; rc=$?
[[ $rc -ne 0 ]] || fail "a vhost-pci socket= naming a regular file: tandem ran"
grep -qF "notes.txt exists and is not a socket" <<<"$err" || fail "a vhost-pci socket= naming a regular file: the error does not say so: $err"
[[ "$(cat "$d/notes.txt" 2>/dev/null)" == "keep me" ]] || fail "the file at the socket path was removed or changed"
log "socket= naming a regular file: exit $rc, file intact: $(grep -F "not a socket" <<<"$err" | head -n1)"
pgrep -f "$TANDEM vm" >/dev/null && fail "a tandem process was left behind"
log "passed"
