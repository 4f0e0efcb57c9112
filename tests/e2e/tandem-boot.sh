#!/bin/bash
# timeout: 480
# nested-memory: 3072
# e2e: `tandem vm` boots the stock Debian kernel with 1 and 2 vCPUs and with 2.5 GiB (RAM above 4 GiB: low RAM ends at 2 GiB):
# nproc matches, MemTotal is within 10% of --memory, dmesg shows the ACPI tables accepted and no
# BUG/WARNING/Call Trace/ACPI error lines, the CPU offers the TSC-deadline timer; the guest's
# poweroff ends tandem with status 0 and nothing of tandem is left running; the CPU has a model name
# (the brand string, not the family's fallback "Hammer"); with --xsave off the guest sees no XSAVE,
# AVX or PKU and still boots clean.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

boot_case() {
  local cpus="$1" mem_arg="$2" mem_kb="$3" log
  log="$E2E_TMP/boot-$1-$2$(echo "${@:4}" | tr -cs 'a-z0-9' '-' | sed 's/-$//').log"  # boot-1-1G.log, boot-1-1G-xsave-off.log
  shift 3
  local t0=$(now_ms)
  run_tandem "$log" 240 --cpus "$cpus" --memory "$mem_arg" --cmdline "console=ttyS0 panic=-1 tandem.script=boot-check" "$@"
  local dt=$(( $(now_ms) - t0 ))
  [[ $RC -eq 0 ]] || { tail -n 30 "$log"; cat "$log.stderr"; fail "cpus=$cpus memory=$mem_arg: tandem exited with $RC after poweroff"; }
  check_line "$log" "BOOT-CHECK nproc=$cpus\$" "cpus=$cpus: the guest does not see $cpus CPUs"
  local got
  got=$(sed -n 's/.*BOOT-CHECK memtotal_kb=\([0-9]*\).*/\1/p' "$log" | tr -d '\r')
  [[ -n "$got" ]] || fail "no MemTotal reported"
  (( got * 10 >= mem_kb * 9 && got <= mem_kb )) || fail "memory=$mem_arg: MemTotal $got kB is not within 10% of $mem_kb kB"
  check_line "$log" "BOOT-CHECK acpi=enabled" "ACPI interpreter not enabled"
  check_line "$log" "BOOT-CHECK fadt=accepted" "FADT not accepted"
  check_line "$log" "BOOT-CHECK s5=supported" "ACPI S5 (power-off) not supported"
  check_line "$log" "BOOT-CHECK tsc_deadline=yes" "the guest sees no TSC-deadline timer (CPUID.1:ECX[24])"
  local model
  model=$(sed -n 's/.*BOOT-CHECK model=//p' "$log" | tr -d '\r')
  [[ -n "$model" && "$model" != Hammer ]] || fail "the guest's CPU has no model name (\"$model\"): no brand string in CPUID 0x80000002-4"
  if grep -q "BOOT-CHECK dmesg-bad" "$log"; then grep "BOOT-CHECK dmesg-bad" "$log"; fail "dmesg has BUG/WARNING/Call Trace/ACPI errors"; fi
  check_line "$log" "BOOT-CHECK dmesg=clean" "the dmesg check did not run"
  pgrep -f "$TANDEM vm" >/dev/null && fail "a tandem process is still running after exit"
  log "cpus=$cpus memory=$mem_arg: booted, checked and powered off in $dt ms (MemTotal $got kB)"
}

boot_case 1 1G $((1024 * 1024))
boot_case 2 1G $((1024 * 1024))
boot_case 2 2560M $((2560 * 1024))
boot_case 1 1G $((1024 * 1024)) --xsave off
for f in xsave avx pku; do
  check_line "$E2E_TMP/boot-1-1G-xsave-off.log" "BOOT-CHECK $f=no" "--xsave off: the guest still sees $f"
done
grep -qE "BIOS-e820: \[mem 0x0000000100000000-0x000000011fffffff\] usable" "$E2E_TMP/boot-2-2560M.log" \
  || fail "2.5 GiB guest: no RAM above 4 GiB in the e820 map"
log "passed"
