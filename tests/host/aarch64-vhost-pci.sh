#!/bin/bash
# timeout: 1200
# host test (aarch64): the vhost-pci-net 2.0 e2e test (tests/e2e/vhost-pci.sh, unchanged) between
# two arm64 tandem VMs inside the arm64 nested host: VM1 with vhost-pci-net and our guest driver
# (cross-built for the arm64 kernel), VM2 a stock virtio-net vhost-user front-end. VM2's memory in
# VM1's BAR, MSI-X through the ITS, notifications as irqfds/ioeventfds: ping, iperf3 TCP and UDP
# both ways, a 10 s pktgen flood with its packet counts, and the context-switch bound.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/host/aarch64-lib.sh
aarch64_prepare
aarch64_run 1000 3072 tests/e2e/vhost-pci.sh
