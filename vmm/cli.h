// vmm/cli.h: tandem's command line (CLI11): `tandem vm ...`, `tandem help`, `tandem --version`.
#pragma once

#include <string>
#include <vector>

#include "vmm/vm_config.h"

namespace tandem {

inline constexpr const char* kVersion = "0.1.0";

struct CliResult {
  enum class Action { kRunVm, kExit } action = Action::kExit;
  int exit_code = 0;      // for kExit
  std::string output;     // printed to stdout for kExit (help, version)
  std::string error;      // printed to stderr for kExit with a non-zero code (one line)
  VmConfig vm;
};

// Parses argv (argv[0] included). Never exits the process; never throws.
CliResult parse_cli(const std::vector<std::string>& args);

}  // namespace tandem
