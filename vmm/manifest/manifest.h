// vmm/manifest/manifest.h: the TOML manifest `tandem up` starts: a set of VMs and the links
// between them (docs/manifest.md), parsed with toml++ and validated before anything starts.
//
// parse_manifest() turns the text into one VmConfig per VM (the same structure `tandem vm`'s
// command line fills), resolving defaults (kernel, initrd, sockets in the run directory, MACs
// derived from names) and every cross-VM reference (a virtio-net's `peer = "vm1"` becomes a
// vhost-user socket; a symmetric vhost-pci-net's `peer` becomes listen=off on the listener's
// socket, with its section size).
// Errors are values: each says `file:line:column: what is wrong and what is expected`; all found
// are reported, one per line. The result lists the VMs in an order in which every vhost-pci-net
// listener starts before the VMs that connect to it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "vmm/manifest/expand.h"
#include "vmm/vm_config.h"

namespace tandem::manifest {

// What a manifest's defaults come from (the caller fills it from the environment).
struct Defaults {
  std::string kernel;   // used when a VM has no `kernel` ($TANDEM_GUEST_KERNEL)
  std::string initrd;   // used when a VM has no `initrd` ($TANDEM_GUEST_INITRD)
  std::string run_dir;  // used when the manifest has no `run_dir`
  std::string notice;   // one line for the user when the kernel was guessed (environment_defaults)
  bool check_files = true;  // read and check every kernel and initrd (tandem vm's own checks)
  EnvLookup env = process_environment();  // what `${NAME}` in a string value becomes (expand.h)
};

enum class Restart { kNo, kOnFailure };

// A tap that `tandem up` creates and adds to a bridge (created too when missing), removed after.
struct BridgePort {
  std::string bridge;
  std::string tap;
};

struct Vm {
  std::string name;
  VmConfig config;  // what `tandem vm` gets (vm_arguments)
  Restart restart = Restart::kNo;
  bool console = true;  // the serial console goes to `tandem up`'s output (serial = "console")
  std::vector<BridgePort> bridges;
  std::vector<std::string> after;  // VMs whose vhost-pci-net sockets must exist before this starts
                                   // (from virtio-net and symmetric vhost-pci-net peers)
};

struct Manifest {
  std::string path;
  std::string run_dir;
  uint32_t shutdown_timeout_s = 30;  // orderly shutdown deadline, then SIGKILL
  bool sequential_boot = false;      // start a VM once the previous one's guest reached init
  std::vector<Vm> vms;               // in start order
};

inline constexpr size_t kMaxVms = 64;
inline constexpr size_t kMaxDevicesPerVm = 16;

// Parses and validates `text`; `path` names it in messages and anchors relative paths.
Result<Manifest> parse_manifest(std::string_view text, const std::string& path, const Defaults& defaults);
// Reads `path` (at most 1 MiB) and parses it.
Result<Manifest> load_manifest(const std::string& path, const Defaults& defaults);

// The arguments of `tandem vm` (after "vm") that build exactly `cfg`.
std::vector<std::string> vm_arguments(const VmConfig& cfg);

}  // namespace tandem::manifest
