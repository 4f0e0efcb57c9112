#!/bin/bash
# e2e inside the arm64 nested host (run by tests/host/aarch64-boot.sh): tandem cross-built for
# aarch64 boots Debian's stock arm64 kernel with 1 and 2 vCPUs from the device tree it built. The
# guest finds PSCI, the GICv3 with its ITS, the ECAM PCI host and the 16550 console, brings up every
# vCPU (PSCI CPU_ON), sees its memory and a clean dmesg; its poweroff (PSCI SYSTEM_OFF) ends tandem
# with status 0; SIGTERM presses its power button (a PL061 GPIO line, gpio-keys). Then bad input: an
# x86 bzImage, more vCPUs than the GIC redistributor region holds, a command line longer than
# arm64's, too little memory, hotplug_on_connect (no PCI hotplug on aarch64 yet): exit status 2 and
# a one-line error naming the problem.
. "$(dirname "$0")/../lib.sh"
require_kvm
require_tandem
guest_image
[[ "$(uname -m)" == aarch64 ]] || fail "this test runs in the arm64 nested host (tests/host/aarch64-boot.sh)"

boot_case() {
  local cpus="$1" mem_arg="$2" mem_kb="$3" log="$E2E_TMP/boot-$1-$2.log"
  local t0=$(now_ms)
  run_tandem "$log" 300 --cpus "$cpus" --memory "$mem_arg" --cmdline "console=ttyS0 panic=-1 tandem.script=boot-check"
  local dt=$(( $(now_ms) - t0 ))
  [[ $RC -eq 0 ]] || { tail -n 30 "$log"; cat "$log.stderr"; fail "cpus=$cpus memory=$mem_arg: tandem exited with $RC after poweroff"; }
  check_line "$log" "psci: PSCIv[0-9.]* detected in firmware" "cpus=$cpus: no PSCI from the device tree"
  check_line "$log" "GICv3: 64 SPIs implemented" "cpus=$cpus: the GICv3 is not the one tandem created"
  check_line "$log" "ITS@0x0000000008080000: allocated" "cpus=$cpus: no ITS at 0x08080000"
  check_line "$log" "PCI/MSI: .*its@8080000 domain created" "cpus=$cpus: no PCI MSI domain on the ITS (msi-map)"
  check_line "$log" "pci-host-generic 3f000000.pcie: ECAM at \[mem 0x3f000000-0x3fffffff\] for \[bus 00-0f\]" "cpus=$cpus: no ECAM PCI host"
  check_line "$log" "ttyS0 at MMIO 0x9000000 .* is a 16550A" "cpus=$cpus: no 16550 console at 0x9000000"
  check_line "$log" "smp: Brought up 1 node, $cpus CPU" "cpus=$cpus: not every vCPU came up"
  check_line "$log" "BOOT-CHECK nproc=$cpus\$" "cpus=$cpus: the guest does not see $cpus CPUs"
  local got
  got=$(sed -n 's/.*BOOT-CHECK memtotal_kb=\([0-9]*\).*/\1/p' "$log" | tr -d '\r')
  [[ -n "$got" ]] || fail "no MemTotal reported"
  (( got * 10 >= mem_kb * 8 && got <= mem_kb )) || fail "memory=$mem_arg: MemTotal $got kB is not within 20% of $mem_kb kB"
  if grep -q "BOOT-CHECK dmesg-bad" "$log"; then grep "BOOT-CHECK dmesg-bad" "$log"; fail "dmesg has BUG/WARNING/Call Trace lines"; fi
  check_line "$log" "BOOT-CHECK dmesg=clean" "the dmesg check did not run"
  grep -q "guest init reached after" "$log.stderr" || fail "cpus=$cpus: the guest's boot mark (0x09010000) did not reach tandem"
  local init_ms
  init_ms=$(sed -n 's/.*guest init reached after \([0-9.]*\) ms.*/\1/p' "$log.stderr" | head -n1)
  log "cpus=$cpus memory=$mem_arg: booted to init in $init_ms ms, checked and powered off in $dt ms (MemTotal $got kB)"
  echo "AARCH64-BOOT cpus=$cpus init_ms=$init_ms total_ms=$dt"
}

boot_case 1 512M $((512 * 1024))
boot_case 2 1G $((1024 * 1024))

# SIGTERM presses the power button (the PL061's line 3 -> gpio-keys KEY_POWER -> the guest's acpid)
# and the guest powers off: status 0. Then a guest that ignores it is stopped after
# --shutdown-timeout: status 143.
sigterm_power_off "$E2E_TMP/sigterm.log" --cpus 2 --memory 512M
log "SIGTERM: power button (PL061 + gpio-keys), the guest powered off, exit 0"
sigterm_button_ignored "$E2E_TMP/sigterm-ignored.log" --cpus 1 --memory 512M
log "SIGTERM, button ignored: stopped after 3 s, exit 143"

# Bad input: exit 2 and one line naming the problem, before any vCPU runs.
x86_kernel="$(ls /boot/vmlinuz-*-amd64 2>/dev/null | head -n1)"
long="$(head -c 3000 /dev/zero | tr '\0' 'x')"
cases=(
  "more vCPUs than the redistributors hold|--cpus: 124 vCPUs requested; tandem for aarch64 supports at most 123|--kernel $TANDEM_GUEST_KERNEL --initrd $TANDEM_GUEST_INITRD --cpus 124"
  "cmdline too long|--cmdline is 3000 bytes; an arm64 kernel accepts at most 2047|--kernel $TANDEM_GUEST_KERNEL --initrd $TANDEM_GUEST_INITRD --cmdline $long"
  "memory below the minimum|below the minimum of 64 MiB|--kernel $TANDEM_GUEST_KERNEL --initrd $TANDEM_GUEST_INITRD --memory 32M"
  "hotplug_on_connect without PCI hotplug|hotplug_on_connect needs PCI hotplug, which tandem for aarch64 does not have yet|--kernel $TANDEM_GUEST_KERNEL --initrd $TANDEM_GUEST_INITRD --vhost-pci socket=$E2E_TMP/hp.sock,hotplug_on_connect=on"
)
if [[ -n "$x86_kernel" ]]; then
  cases+=("x86 bzImage|kernel $x86_kernel: this is an x86 bzImage|--kernel $x86_kernel --initrd $TANDEM_GUEST_INITRD")
else
  skip "no /boot/vmlinuz-*-amd64 visible here: the x86-kernel case"
fi
for c in "${cases[@]}"; do
  IFS='|' read -r what expect args <<<"$c"
  # shellcheck disable=SC2086
  err="$(timeout 60 "$TANDEM" vm --serial none $args 2>&1 >/dev/null </dev/null)"; rc=$?
  [[ $rc -eq 2 ]] || fail "$what: exit status $rc, not 2 ($err)"
  [[ $(printf '%s\n' "$err" | wc -l) -eq 1 ]] || fail "$what: the error is not one line: $err"
  grep -qF -- "$expect" <<<"$err" || fail "$what: the error does not say '$expect': $err"
  log "$what: $err"
done
log "passed"
