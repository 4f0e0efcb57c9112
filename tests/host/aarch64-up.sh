#!/bin/bash
# timeout: 1500
# host test (aarch64): tests/e2e/up-two-vms.sh inside the arm64 nested host with
# examples/aarch64/{two-vms,symmetric}.toml (arch = "aarch64"): `tandem up --check`, then both
# manifests' VMs start, ping and run iperf3 over vhost-pci 2.0 and 2.1, power off, and nothing is
# left behind.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/host/aarch64-lib.sh
aarch64_prepare
aarch64_run 1300 3072 tests/e2e/up-two-vms.sh
