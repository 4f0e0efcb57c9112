// vmm/vm_config.h: everything `tandem vm` needs to build one VM, and its validation.
//
// Parsing (cli.cc) fills a VmConfig; validate() reads and checks the kernel and initrd and every
// size against each other before anything is created, so bad input ends with one clear message and
// exit status 2 before any vCPU runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/size_text.h"
#include "vmm/device_kinds/kinds.h"
#include "vmm/seccomp/seccomp.h"

namespace tandem {

struct SerialSpec {
  enum class Kind { kStdio, kFile, kNone } kind = Kind::kStdio;
  std::string path;  // for kFile
};

struct VmConfig {
  std::string kernel;
  std::string initrd;
  std::string cmdline = "console=ttyS0";
  uint64_t memory = 512ULL << 20;
  uint32_t cpus = 1;
  // x86_64: false hides XSAVE, and every feature whose state it manages, from the guest's CPUID.
  bool xsave = true;
  SerialSpec serial;
  std::string api_socket;
  DeviceSpecs devices;  // --net, --vhost-pci...
  bool debug = false;
  // SIGTERM presses the guest's ACPI power button and waits this long for it to power off before
  // stopping the VM; 0: SIGTERM stops it at once.
  uint32_t shutdown_timeout_s = 10;
  // Per-thread system call allow-lists (vmm/seccomp): on (a call outside the list stops tandem),
  // log (the kernel logs it) or off.
  seccomp::Mode seccomp = seccomp::Mode::kOn;
  // An inherited fd on which "READY\n" is written when the guest's init starts (the boot-timer
  // mark), then closed; -1: none.
  int ready_fd = -1;
};

// "stdio", "file:PATH", "none".
Result<SerialSpec> parse_serial(const std::string& text);

// The kernel and initrd as read from disk, checked.
struct BootFiles {
  std::vector<uint8_t> kernel;
  std::vector<uint8_t> initrd;
};

// Reads the files and checks everything that can be checked without KVM: the kernel is a 64-bit
// bzImage with a recent boot protocol, the command line fits, memory size is sane, the initrd fits.
Result<BootFiles> validate(const VmConfig& cfg);

// Reads a whole file (bounded by max_bytes).
Result<std::vector<uint8_t>> read_file(const std::string& path, const std::string& what, uint64_t max_bytes);

}  // namespace tandem
