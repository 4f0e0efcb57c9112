#!/bin/bash
# timeout: 400
# e2e: how a guest ends tandem. `reboot` through the ACPI reset register and through the i8042 reset
# line ends it with status 3 ("guest reset"); a triple fault (reboot=t) ends it with status 1 and a
# vCPU register dump on stderr; SIGTERM to tandem ends it with 143.
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

log_file="$E2E_TMP/sigterm.log"
boot_tandem "$log_file" --cpus 1 --memory 512M --cmdline "console=ttyS0 quiet tandem.run=\"sleep 600\""
wait_for "$log_file" TANDEM-GUEST-READY 200 "$TANDEM_PID" || { tail -n 20 "$log_file"; cat "$log_file.stderr"; fail "the guest did not boot"; }
kill -TERM "$TANDEM_PID"
wait "$TANDEM_PID"; rc=$?
[[ $rc -eq 143 ]] || fail "SIGTERM: exit status $rc, want 143"
grep -q "stopped by signal SIGTERM" "$log_file.stderr" || fail "SIGTERM was not reported"
log "SIGTERM: exit 143"
log "passed"
