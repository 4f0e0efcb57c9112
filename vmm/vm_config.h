// vmm/vm_config.h: everything `tandem vm` needs to build one VM, and its validation.
//
// Parsing (cli.cc) fills a VmConfig; validate() reads and checks the kernel and initrd and every
// size against each other before anything is created, so bad input ends with one clear message and
// exit status 2 before any vCPU runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

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
  SerialSpec serial;
  std::string api_socket;
  bool debug = false;
};

// "512M", "2G", "65536K", "1073741824": binary units (K=1024). Errors name the bad text.
Result<uint64_t> parse_size(const std::string& text);
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
