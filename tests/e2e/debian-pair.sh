#!/bin/bash
# timeout: 1200
# nested-memory: 3072
# e2e: examples/debian-pair.toml as written (issue 29 §3): two Debian 12 guests from one read-only
# disk image, each with a tmpfs overlay as its root, joined by vhost-pci-net 2.0. Both reach
# `systemctl is-system-running` = running; in vm1 the vhost-pci-net driver is the DKMS-built module,
# loaded by udev through the device's PCI modalias (nothing in the image names it: no /etc/modules
# entry, no insmod); systemd-networkd sets each address; ping passes both ways and iperf3 TCP both
# ways; both guests power off, `tandem up` exits 0 and the image is untouched.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
require_debian_image

M=examples/debian-pair.toml
# (debugfs reads the image's files without mounting it; its output is checked whole, not piped)
modules="$(debugfs -R "cat /etc/modules" "$TANDEM_DEBIAN_DISK" 2>/dev/null)" || fail "debugfs cannot read the image's /etc/modules"
load_d="$(debugfs -R "ls -l /etc/modules-load.d" "$TANDEM_DEBIAN_DISK" 2>/dev/null)" || fail "debugfs cannot list the image's /etc/modules-load.d"
[[ -n "$load_d" ]] || fail "debugfs listed nothing in /etc/modules-load.d"
[[ "$modules$load_d" != *vhost* ]] || fail "the image loads the driver by name: /etc/modules: $modules; modules-load.d: $load_d"
stamp="$(stat -c '%s %Y' "$TANDEM_DEBIAN_DISK")"
"$TANDEM" up --check "$M" >"$E2E_TMP/check.log" 2>&1 || { cat "$E2E_TMP/check.log"; fail "tandem up --check rejects $M"; }
check_line "$E2E_TMP/check.log" "^$M: valid, 2 VMs \(start order: vm1, vm2; " "--check did not report the start order"

out="$E2E_TMP/up.log"
t0=$SECONDS
run_up "$out" 1100 "$M"
wait_exit "$UP_PID" 1100; rc=$RC
tr -d '\r' < "$out" > "$out.txt"
grep -aoE "^vm[12] +\| .*(DEBIAN|PAIR)-?[A-Z_-]* .*|^tandem up: .*" "$out.txt" | sed 's/^/[debian-pair] /'
[[ $rc -eq 0 ]] || { tail -n 60 "$out.txt"; fail "tandem up exited with $rc"; }
log "both guests booted, linked, measured and powered off in $((SECONDS - t0)) s"
errors="$(grep -aoE "^vm[12] +\| .*PAIR ([a-z_]+=failed|error=).*" "$out.txt" | tr '\n' ' ')"
[[ -z "$errors" ]] || fail "a guest's script failed: $errors"
for vm in vm1 vm2; do
  state="$(grep -aoE "^$vm +\| .*DEBIAN-(STATE|FAILED).*" "$out.txt" | tr '\n' ' ')"
  check_line "$out.txt" "^$vm +\| .*DEBIAN-STATE running$" "$vm: systemd is not running: ${state:-no DEBIAN-STATE line: the report of tandem-guest never reached the console}"
  check_line "$out.txt" "^$vm +\| .*DEBIAN-ROOT tandem-overlay overlay$" "$vm: the root is not the tmpfs overlay"
  check_line "$out.txt" "^$vm +\| .*PAIR ping=ok to=10\.20\.0\.[12] loss=0%" "$vm could not ping its peer"
done
check_line "$out.txt" "^vm1 +\| .*DEBIAN-MODULE vhost_pci_net .* from /lib/modules/[^ ]*/updates/dkms/vhost_pci_net\.ko" "vm1: the DKMS-built vhost_pci_net is not loaded"
check_line "$out.txt" "^vm1 +\| .*PAIR link=up if=[^ ]+ driver=vhost_pci_net modalias-modules=([^ ]*,)?vhost_pci_net(,[^ ]*)? " "vm1: no vhost-pci-net link, or its modalias does not name the driver"
check_line "$out.txt" "^vm1 +\| .*PAIR iperf_tx_mbps=[0-9.]*[1-9]" "no iperf3 result vm1 -> vm2"
check_line "$out.txt" "^vm1 +\| .*PAIR iperf_rx_mbps=[0-9.]*[1-9]" "no iperf3 result vm2 -> vm1"
check_line "$out.txt" "^vm2 +\| .*PAIR served=2" "vm2 did not serve both iperf3 runs"
check_line "$out.txt" '^tandem up: done: vm1 exited with status 0, vm2 exited with status 0$' "the VMs' exits were not reported"
[[ "$(stat -c '%s %Y' "$TANDEM_DEBIAN_DISK")" == "$stamp" ]] || fail "the read-only image changed"
log "passed ($(grep -aoE 'PAIR (ping|iperf)[^ ]*=[^ ]*( [^ ]*)*' "$out.txt" | tr '\n' ';'))"
