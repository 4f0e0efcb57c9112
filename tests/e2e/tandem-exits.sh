#!/bin/bash
# timeout: 600
# e2e: how a guest ends tandem. `reboot` through the ACPI reset register and through the i8042 reset
# line ends it with status 3 ("guest reset"); a triple fault (reboot=t) ends it with status 1 and a
# vCPU register dump on stderr; SIGTERM to tandem presses the guest's ACPI power button and the
# guest powers off (0); a guest that ignores the button is stopped after --shutdown-timeout (143).
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

exit_case() {
  local method="$1" want="$2" pattern="$3" log="$E2E_TMP/reboot-$1.log"
  run_tandem "$log" 200 --cpus 1 --memory 512M --cmdline "console=ttyS0 quiet panic=-1 reboot=$method tandem.run=reboot"
  [[ $RC -eq $want ]] || { tail -n 10 "$log"; cat "$log.stderr"; fail "reboot=$method: exit status $RC, want $want"; }
  grep -qE "$pattern" "$log.stderr" || { cat "$log.stderr"; fail "reboot=$method: stderr does not say '$pattern'"; }
  log "reboot=$method: exit $RC: $(grep -E "$pattern" "$log.stderr" | head -n1)"
}
exit_case acpi 3 "guest reset \(ACPI\)"
exit_case kbd 3 "guest reset \(i8042\)"
exit_case triple 1 "triple fault"
grep -q "rip=" "$E2E_TMP/reboot-triple.log.stderr" || fail "no register dump after the triple fault"

# SIGTERM presses the guest's ACPI power button (GED interrupt -> PWRB notify -> the guest's acpid),
# and the guest powers off: status 0.
sigterm_power_off "$E2E_TMP/sigterm.log" --cpus 1 --memory 512M
log "SIGTERM: power button, the guest powered off, exit 0"

# A guest that ignores the button is stopped after --shutdown-timeout: status 143.
sigterm_button_ignored "$E2E_TMP/sigterm-ignored.log" --cpus 1 --memory 512M
log "SIGTERM, button ignored: stopped after 3 s, exit 143"
log "passed"
