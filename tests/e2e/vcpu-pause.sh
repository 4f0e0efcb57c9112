#!/bin/bash
# timeout: 120
# e2e: pause/resume/stop of all vCPUs on real KVM (vmm/vcpu_set_check.cc): a paused VM makes no
# exits, resumes, and stopping joins every vCPU thread and leaves no fd behind.
. "$(dirname "$0")/lib.sh"
require_kvm
check="${TANDEM_BIN_DIR:-$(pwd)/bazel-bin}/vmm/vcpu_set_check"
[[ -x "$check" ]] || fail "no $check (bazel build //vmm:vcpu_set_check)"
out="$(timeout 60 "$check" 2>&1)"; rc=$?
echo "$out" | sed "s/^/[$E2E_NAME] /"
[[ $rc -eq 0 ]] && grep -q "VCPU-SET-CHECK PASSED" <<<"$out" || fail "the vCPU set check failed (status $rc)"
log "passed"
