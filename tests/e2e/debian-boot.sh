#!/bin/bash
# timeout: 900
# nested-memory: 3072
# e2e: a Debian 12 guest (guest-images/debian/build: mmdebstrap, systemd, Debian's own kernel and
# initramfs) boots from a virtio-blk disk, root=/dev/vda, to the end of systemd's boot: `systemctl
# is-system-running` says running (or degraded, with the failed units named, which fails this
# test). The guest's vhost-pci-net driver is installed in it as a DKMS package (the module is in
# /lib/modules/<kver>/updates/dkms). Then SIGTERM presses the power button: systemd powers off,
# tandem exits 0. The disk is a copy in the nested host's /tmp: the cached image stays as built.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
require_debian_image

disk="$E2E_TMP/debian.raw" con="$E2E_TMP/console.log"
t0=$SECONDS
cp --sparse=always "$TANDEM_DEBIAN_DISK" "$disk" || fail "cannot copy the disk"
log "disk copied in $((SECONDS - t0)) s ($(du -h "$disk" | cut -f1) used of $(du -h --apparent-size "$disk" | cut -f1))"
# systemd's poweroff takes tens of seconds under nested emulation: the power button's grace is 240 s.
"$TANDEM" vm --memory 1G --shutdown-timeout 240 --kernel "$TANDEM_DEBIAN_KERNEL" --initrd "$TANDEM_DEBIAN_INITRD" --disk "path=$disk,serial=debian-root" \
  --cmdline "root=/dev/vda rw console=ttyS0 panic=-1" --serial "file:$con" </dev/null 2>"$con.stderr" &
pid=$!
E2E_PIDS+=("$pid")
t0=$SECONDS
if ! wait_for "$con" "DEBIAN-KERNEL" 480 "$pid"; then
  tail -n 40 "$con"; cat "$con.stderr"
  # (the login prompt means systemd did finish: then the report itself went missing)
  grep -aq " login:" "$con" && fail "the guest reached its login prompt, but tandem-guest's DEBIAN- report never reached the console"
  fail "the Debian guest did not finish booting"
fi
log "booted to the end of systemd's start in $((SECONDS - t0)) s"
tr -d '\r' < "$con" > "$con.txt"
# (the serial getty's login prompt may share a line with them: matched anywhere in the line)
grep -ao "DEBIAN-.*" "$con.txt" | sed 's/^/[debian-boot] guest: /'
check_line "$con.txt" "DEBIAN-ROOT /dev/vda ext4$" "the root file system is not /dev/vda (ext4)"
check_line "$con.txt" "DEBIAN-STATE running$" "systemd is not running: $(grep -aoE 'DEBIAN-(STATE|FAILED).*' "$con.txt" | tr '\n' ' ')"
check_line "$con.txt" "DEBIAN-KERNEL $(cat "$(dirname "$TANDEM_DEBIAN_DISK")/kernel-release")$" "not the image's own kernel"
kill -TERM "$pid"
wait_exit "$pid" 270
[[ $RC -eq 0 ]] || { tail -n 20 "$con"; cat "$con.stderr"; fail "SIGTERM: tandem exited with $RC, want 0 (systemd powers off)"; }
grep -q "pressed the guest's power button" "$con.stderr" || { cat "$con.stderr"; fail "SIGTERM did not press the power button"; }
grep -aq "reboot: Power down" "$con" || { tail -n 20 "$con"; fail "the guest did not power down"; }
log "SIGTERM: the power button, systemd powered off, tandem exited 0"
log "passed"
