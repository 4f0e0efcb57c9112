# tests/host/aarch64-lib.sh: what the aarch64 host tests share (sourced, not a test itself):
# building tandem for arm64 and the arm64 guest image, and running an e2e script inside the arm64
# nested host with them.
name="$(basename "$0" .sh)"
fail() { echo "[$name] FAIL: $*"; exit 1; }

# aarch64_prepare: sets TANDEM_BIN_DIR, TANDEM_GUEST_KERNEL and TANDEM_GUEST_INITRD for arm64.
aarch64_prepare() {
  local log=".cache/$name-build.log"
  mkdir -p .cache
  tools/build-aarch64 //vmm:tandem >"$log" 2>&1 || { tail -n 30 "$log"; fail "tools/build-aarch64 failed"; }
  TANDEM_BIN_DIR="$(tools/build-aarch64 --bin-dir)" || fail "no aarch64 bazel-bin"
  [[ -x "$TANDEM_BIN_DIR/vmm/tandem" ]] || fail "no aarch64 tandem at $TANDEM_BIN_DIR/vmm/tandem"
  local env
  env="$(guest-images/build --arch aarch64 --env)" || fail "guest-images/build --arch aarch64 failed"
  eval "$env"
  export TANDEM_BIN_DIR TANDEM_GUEST_KERNEL TANDEM_GUEST_INITRD
}

# aarch64_run SECONDS MEMORY_MIB SCRIPT: SCRIPT inside the arm64 nested host; its status is returned
# (125: the nested host failed, 124: timeout, as tools/nested-kvm says).
aarch64_run() {
  local seconds="$1" memory="$2" script="$3"
  tools/nested-kvm --arch aarch64 --memory "$memory" --timeout "$seconds" -- "$script"
}
