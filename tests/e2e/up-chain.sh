#!/bin/bash
# timeout: 600
# nested-memory: 3072
# e2e: `tandem up examples/chain.toml`: three VMs in a chain over two vhost-pci links. vm2 is the
# vhost-user front-end of vm1's vhost-pci-net and has a vhost-pci-net of its own that vm3 connects
# to; it routes between the two. vm1 pings vm3 through vm2 and runs iperf3 both ways; all three
# power off; `tandem up` reports the three exits, returns 0 and leaves nothing behind.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

M=examples/chain.toml
"$TANDEM" up --check "$M" >"$E2E_TMP/check.log" 2>&1 || { cat "$E2E_TMP/check.log"; fail "tandem up --check rejects $M"; }
check_line "$E2E_TMP/check.log" "^$M: valid, 3 VMs \(start order: vm1, vm2, vm3; run directory " "--check did not report the start order"
run_dir="$(sed -n 's/.*run directory \(.*\))$/\1/p' "$E2E_TMP/check.log")"

out="$E2E_TMP/up.log"
run_up "$out" 1200 "$M"
wait_exit "$UP_PID" 1200; rc=$RC
tr -d '\r' < "$out" > "$out.txt"
grep -E "^(vm[123] +\| (DEMO|NET-SINK|tandem: .*(error|fault|peer connected))|tandem up:)" "$out.txt"
[[ $rc -eq 0 ]] || { tail -n 60 "$out.txt"; fail "tandem up exited with $rc"; }
check_line "$out.txt" "^vm1 +\| DEMO ping=ok" "vm1 could not ping vm3 through vm2"
check_line "$out.txt" "^vm1 +\| DEMO iperf_tx_mbps=[0-9.]*[1-9]" "no iperf3 result vm1 -> vm3"
check_line "$out.txt" "^vm1 +\| DEMO iperf_rx_mbps=[0-9.]*[1-9]" "no iperf3 result vm3 -> vm1"
check_line "$out.txt" "^vm2 +\| tandem: vhost-pci-net .*: peer connected" "vm3 never connected to vm2's vhost-pci-net"
check_line "$out.txt" "^vm1 +\| tandem: vhost-pci-net .*: peer connected" "vm2 never connected to vm1's vhost-pci-net"
check_line "$out.txt" '^tandem up: done: vm1 exited with status 0, vm2 exited with status 0, vm3 exited with status 0$' "the VMs' exits were not reported"
up_leftovers "$run_dir"
log "passed ($(grep -E '^vm1 +\| DEMO (ping|iperf)' "$out.txt" | sed 's/^vm1 *| DEMO //' | tr '\n' ' '))"
