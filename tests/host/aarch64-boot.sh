#!/bin/bash
# timeout: 900
# host test (aarch64): tandem cross-built for arm64 (tools/build-aarch64) and the arm64 guest image
# (guest-images/build --arch aarch64), then tests/e2e/aarch64/boot.sh inside the arm64 nested host
# (tools/nested-kvm --arch aarch64): Debian's stock arm64 kernel boots with 1 and 2 vCPUs to the init
# marker from tandem's device tree and powers off with exit 0; bad input exits 2. Prints the boot
# times (AARCH64-BOOT lines).
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/host/aarch64-lib.sh
aarch64_prepare
aarch64_run 700 2048 tests/e2e/aarch64/boot.sh
