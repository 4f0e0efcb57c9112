#!/bin/bash
# timeout: 120
# host test: `tandem up` refuses bad input before anything starts, without /dev/kvm: a manifest
# with several errors (each reported as file:line:column, in file order, exit 2), a socket path too long for
# sun_path, a kernel that does not exist, and a run directory that cannot be created (exit 1,
# naming the run directory). No tandem process and no run directory are left behind.
set -uo pipefail
cd "$(dirname "$0")/../.."
name=up-bad-input
fail() { echo "[$name] FAIL: $*"; exit 1; }
tandem="${TANDEM_BIN_DIR:-bazel-bin}/vmm/tandem"
[[ -x "$tandem" ]] || fail "no tandem binary at $tandem (bazel build //vmm:tandem)"
t="$(mktemp -d "/tmp/up-bad-input.XXXXXX")"
trap 'rm -rf "$t"' EXIT
export TANDEM_GUEST_KERNEL=/bin/true TANDEM_GUEST_INITRD=""

cat > "$t/many.toml" <<'TOML'
[[vm]]
name = "a"
cpus = 0
  [[vm.virtio-net]]
  peer = "nobody"
[[vm]]
name = "a"
TOML
out="$("$tandem" up --check "$t/many.toml" 2>&1)"; rc=$?
[[ $rc -eq 2 ]] || fail "three errors: status $rc, want 2: $out"
want="$t/many.toml:3:8: vm \"a\": 'cpus' is 0; expected 1 to 255
$t/many.toml:5:10: vm \"a\": virtio-net[0]: peer \"nobody\" names no VM in this manifest (VMs: a)
$t/many.toml:7:8: vm[1]: duplicate VM name \"a\" (first at $t/many.toml:2:8)
tandem up: $t/many.toml is not valid; nothing was started"
[[ "$out" == "$want" ]] || fail "three errors: got
$out
want
$want"

long="$t/$(printf 'd%.0s' $(seq 1 110))"
printf 'run_dir = "%s"\n[[vm]]\nname = "a"\n  [[vm.vhost-pci-net]]\n' "$long" > "$t/long.toml"
out="$("$tandem" up "$t/long.toml" 2>&1)"; rc=$?
[[ $rc -eq 2 && "$out" == *"a Unix socket path has at most 107 (choose a shorter run_dir or socket)"* ]] \
  || fail "long socket path: status $rc: $out"

printf '[[vm]]\nname = "a"\nkernel = "%s/missing-bzImage"\n' "$t" > "$t/kernel.toml"
out="$("$tandem" up "$t/kernel.toml" 2>&1)"; rc=$?
[[ $rc -eq 2 && "$out" == "$t/kernel.toml:1:1: vm \"a\": kernel $t/missing-bzImage: No such file or directory"* ]] \
  || fail "missing kernel: status $rc: $out"

# A real kernel, so that validation passes; the run directory cannot be created under /proc.
kernel="$(ls /boot/vmlinuz-*-amd64 2>/dev/null | head -n 1)"
[[ -n "$kernel" ]] || fail "no /boot/vmlinuz-*-amd64 to validate against (tools/setup installs one)"
printf 'run_dir = "/proc/tandem-up-test/run"\n[[vm]]\nname = "a"\nkernel = "%s"\n' "$kernel" > "$t/rundir.toml"
out="$("$tandem" up "$t/rundir.toml" 2>&1)"; rc=$?
[[ $rc -eq 1 && "$out" == "tandem up: run directory: cannot create /proc/tandem-up-test: "* ]] \
  || fail "run directory under /proc: status $rc: $out"
[[ ! -e /proc/tandem-up-test ]] || fail "a run directory was left under /proc"
pgrep -f "vmm/tandem vm" >/dev/null && fail "a tandem vm process is running"
echo "[$name] passed"
