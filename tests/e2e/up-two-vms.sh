#!/bin/bash
# timeout: 900
# nested-memory: 3072
# e2e: `tandem up examples/two-vms.toml` (the README demo's manifest; on aarch64 examples/aarch64/), then the same for
# examples/symmetric.toml (vhost-pci 2.1: both VMs with vhost-pci-net): `--check` validates it and
# names the start order (the vhost-pci side first); then both VMs start from it, vm1 (vhost-pci-net,
# our driver) pings vm2 (stock virtio-net) over the vhost-pci link and runs iperf3 both ways, both
# guests power off, every console line arrives prefixed with its VM's name, `tandem up` reports
# both exits and returns 0, and nothing is left: no tandem process, no run directory or socket.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

# demo MANIFEST CONNECTED: one manifest from --check to cleanup; CONNECTED is what vm1's tandem logs
# when vm2 links.
demo() {
  local M="$1" connected="$2" run_dir out first rc
  "$TANDEM" up --check "$M" >"$E2E_TMP/check.log" 2>&1 || { cat "$E2E_TMP/check.log"; fail "tandem up --check rejects $M"; }
  cat "$E2E_TMP/check.log"
  check_line "$E2E_TMP/check.log" "^$M: valid, 2 VMs \(start order: vm1, vm2; run directory " "--check did not report the start order"
  run_dir="$(sed -n 's/.*run directory \(.*\))$/\1/p' "$E2E_TMP/check.log")"

  out="$E2E_TMP/up-$(basename "$M" .toml).log"
  # (The manifest boots one guest at a time. Its restart = "on-failure" is for users; here a
  # restart is a failure: the exit line below must show none.)
  run_up "$out" 900 "$M"
  wait_exit "$UP_PID" 400; rc=$RC  # (two manifests in the 900 s of this test; each takes about 200 s)
  tr -d '\r' < "$out" > "$out.txt"
  grep -E "^(vm[12] +\| (DEMO|NET-SINK|tandem: .*(error|fault))|tandem up:)" "$out.txt"
  [[ $rc -eq 0 ]] || { tail -n 60 "$out.txt"; fail "tandem up exited with $rc"; }
  check_line "$out.txt" "^vm1 \| DEMO link=up driver=vhost_pci_net$" "vm1: no vhost-pci-net link"
  check_line "$out.txt" "^vm1 \| DEMO ping=ok" "vm1 could not ping vm2 over vhost-pci"
  check_line "$out.txt" "^vm1 \| DEMO iperf_tx_mbps=[0-9.]*[1-9]" "no iperf3 result vm1 -> vm2"
  check_line "$out.txt" "^vm1 \| DEMO iperf_rx_mbps=[0-9.]*[1-9]" "no iperf3 result vm2 -> vm1"
  check_line "$out.txt" "^vm2 \| NET-SINK-DONE" "vm2 did not finish its script"
  check_line "$out.txt" "^vm1 +\\| tandem: .*$connected" "vm1's tandem never saw vm2 connect"
  check_line "$out.txt" '^tandem up: vm "vm1" started \(pid [0-9]+\)$' "no start line for vm1"
  check_line "$out.txt" '^tandem up: done: vm1 exited with status 0, vm2 exited with status 0$' "the VMs' exits were not reported"
  # vm2 starts only after vm1's socket exists.
  first="$(grep -nE '^tandem up: vm "vm[12]" started' "$out.txt" | head -n 1)"
  [[ "$first" == *'"vm1"'* ]] || fail "vm2 was started before vm1: $first"
  up_leftovers "$run_dir"
  log "$M passed ($(grep -E '^vm1 +\| DEMO (ping|iperf)' "$out.txt" | sed 's/^vm1 *| DEMO //' | tr '\n' ' '))"
}

# In the arm64 nested host (tests/host/aarch64-up.sh): the same manifests marked arch = "aarch64".
examples=examples
[[ "$(uname -m)" == aarch64 ]] && examples=examples/aarch64
demo "$examples/two-vms.toml" "peer connected"
demo "$examples/symmetric.toml" "link up with the peer"
