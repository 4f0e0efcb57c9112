#!/bin/bash
# timeout: 240
# e2e: the reference boot. QEMU -accel kvm (inside tools/nested-kvm) boots the stock Debian kernel
# with tandem's L2 guest image; its init prints the ready marker, runs the "hello" script and powers
# off. Proves the harness and is the baseline later tests compare tandem against.
. "$(dirname "$0")/lib.sh"
require_kvm
guest_image

console="$E2E_TMP/console.log"
attempt=1
while :; do
  start=$(now_ms)
  timeout -k 5 180 qemu-system-x86_64 -accel kvm -cpu host -m 512 -smp 2 \
    -nodefaults -no-user-config -display none -no-reboot -serial "file:$console" \
    -kernel "$TANDEM_GUEST_KERNEL" -initrd "$TANDEM_GUEST_INITRD" \
    -append "console=ttyS0 quiet panic=-1 tandem.script=hello" </dev/null &
  qemu=$!
  E2E_PIDS+=("$qemu")
  if wait_for "$console" 'TANDEM-GUEST-READY' 150 "$qemu"; then
    ready=$(now_ms)
    break
  fi
  # A guest that resets during real-mode setup ends QEMU quietly under -no-reboot: retry once.
  if (( attempt == 1 )) && ! kill -0 "$qemu" 2>/dev/null; then
    log "guest ended before its ready marker; retrying once. Console tail:"; tail -n 5 "$console"
    attempt=2; : > "$console"; continue
  fi
  tail -n 30 "$console"
  fail "no TANDEM-GUEST-READY marker on the console"
done
wait_for "$console" 'TANDEM-SCRIPT-EXIT=' 60 "$qemu" || { tail -n 30 "$console"; fail "the hello script did not finish"; }
wait "$qemu"; rc=$?
grep -q 'TANDEM-SCRIPT-EXIT=0' "$console" || { tail -n 30 "$console"; fail "the hello script failed"; }
grep -q "kernel: $(basename "$TANDEM_GUEST_KERNEL" | sed 's/^vmlinuz-//')" "$console" || fail "the guest did not run the stock kernel"
grep -q 'cpus: 2' "$console" || fail "the guest does not see 2 CPUs"
[[ $rc -eq 0 ]] || fail "QEMU exited with status $rc after the guest powered off"
log "L2 boot under QEMU -accel kvm to the ready marker: $(( (ready - start) )) ms (attempt $attempt)"
log "passed"
