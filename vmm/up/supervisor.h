// vmm/up/supervisor.h: `tandem up`: one `tandem vm` process per VM of a manifest, supervised.
//
// The supervisor creates the run directory and any bridge ports, starts the VMs in the manifest's
// order (a VM that connects to another's vhost-pci-net, from a virtio-net or a symmetric
// vhost-pci-net, starts once that socket exists), prefixes every line the VMs print (serial
// console and tandem's own messages) with "name | ", or writes them to LOGS/name.log. SIGINT, SIGTERM or SIGHUP stop every VM (SIGTERM to each tandem, which
// presses the guest's ACPI power button and stops the VM after the manifest's shutdown_timeout;
// SIGKILL 5 s later; a second signal kills at once). A VM with restart = "on-failure" that fails is started again. At the end
// it reports how each VM ended and removes what it created: sockets, taps, bridges, the run
// directory. Children die with the supervisor (PR_SET_PDEATHSIG).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "vmm/manifest/manifest.h"

namespace tandem::up {

struct Options {
  std::string tandem_exe;  // the binary that runs `tandem vm`
  std::string logs_dir;    // non-empty: each VM's output goes to LOGS_DIR/NAME.log
};

// Defaults from the environment: $TANDEM_GUEST_KERNEL (else /boot/vmlinuz-<running release> when
// present), $TANDEM_GUEST_INITRD (else the newest guest image guest-images/build made for that
// kernel, in its cache), and the run directory $XDG_RUNTIME_DIR/tandem/<manifest stem> (else
// /tmp/tandem-<uid>/<manifest stem>).
// When neither is there, the newest stock kernel under /boot (vmlinuz-*-amd64, or -arm64 for an
// aarch64 tandem) and its guest image, with a notice that says which files were chosen.
manifest::Defaults environment_defaults(const std::string& manifest_path);

// The newest of `names` (file names in /boot) that is "vmlinuz-<release><suffix>", by version
// order (6.1.0-10 after 6.1.0-9); "" when none is.
std::string newest_stock_kernel(const std::vector<std::string>& names, const std::string& suffix);

// The vhost-pci-net sockets `vm`'s tandem listens on: those of its asymmetric devices and of its
// symmetric devices without a peer. tandem up removes them before the start and at the end.
std::vector<std::string> listening_sockets(const manifest::Vm& vm);
// The sockets `vm`'s tandem connects to, which may be another VM's listening vhost-pci-net: those
// of its vhost-user virtio-nets (`peer = "VM"` or an outside back-end), then those of its
// connecting symmetric vhost-pci-nets (their peer's). Before `vm` starts, and before each restart,
// every one that another VM of the manifest listens on must exist, and that VM must not have ended.
std::vector<std::string> connecting_sockets(const manifest::Vm& vm);

// Runs the manifest's VMs until every one has ended. Returns tandem up's exit status: 0 when every
// VM ended well (exit 0, or stopped on request), 1 otherwise or when something could not start.
int run(const manifest::Manifest& m, const Options& options);

}  // namespace tandem::up
