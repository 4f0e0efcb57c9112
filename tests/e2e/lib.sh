# tests/e2e/lib.sh: helpers for tandem's end-to-end tests (sourced by tests/e2e/*.sh).
#
# An e2e test is an executable script in tests/e2e/ that tools/test runs inside tools/nested-kvm
# (so /dev/kvm works, /tmp is private, the repository is the working directory). Exit 0 = passed,
# anything else = failed; a header line "# timeout: SECONDS" sets its time limit (default 300).
# Guest kernel and image: TANDEM_GUEST_KERNEL and TANDEM_GUEST_INITRD (tools/test sets them from
# guest-images/build --env).
set -uo pipefail

E2E_NAME="$(basename "$0" .sh)"
E2E_TMP="$(mktemp -d "/tmp/e2e-$E2E_NAME.XXXXXX")"
E2E_PIDS=()

e2e_cleanup() {
  local p
  for p in "${E2E_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.2
  for p in "${E2E_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
}
trap e2e_cleanup EXIT

log() { echo "[$E2E_NAME] $*"; }
fail() { echo "[$E2E_NAME] FAIL: $*"; exit 1; }

# require_kvm: the test needs a working /dev/kvm (tools/nested-kvm provides one).
require_kvm() {
  [[ -c /dev/kvm ]] || fail "no /dev/kvm: run this test through tools/nested-kvm (tools/test does)"
}

# guest_image: sets TANDEM_GUEST_KERNEL/TANDEM_GUEST_INITRD when the caller did not.
guest_image() {
  if [[ -z "${TANDEM_GUEST_INITRD:-}" || -z "${TANDEM_GUEST_KERNEL:-}" ]]; then
    eval "$(guest-images/build --env)" || fail "cannot build the guest image"
    export TANDEM_GUEST_KERNEL TANDEM_GUEST_INITRD
  fi
  [[ -f "$TANDEM_GUEST_KERNEL" ]] || fail "missing guest kernel $TANDEM_GUEST_KERNEL"
  [[ -f "$TANDEM_GUEST_INITRD" ]] || fail "missing guest image $TANDEM_GUEST_INITRD"
}

# wait_for FILE PATTERN SECONDS [PID]: wait until FILE contains PATTERN (grep -E); fails early when
# PID (the process writing FILE) has ended. Returns 0 when found, 1 otherwise.
wait_for() {
  local file="$1" pattern="$2" seconds="$3" pid="${4:-}" i=0
  while (( i < seconds * 10 )); do
    grep -qE "$pattern" "$file" 2>/dev/null && return 0
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      grep -qE "$pattern" "$file" 2>/dev/null && return 0
      return 1
    fi
    sleep 0.1; i=$((i + 1))
  done
  return 1
}

# now_ms: milliseconds since the epoch, for reporting (never asserted on).
now_ms() { date +%s%3N; }
