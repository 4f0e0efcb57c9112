// vmm/cli.h: tandem's command line (CLI11): `tandem vm ...`, `tandem up FILE`, `tandem ctl SOCKET METHOD`,
// `tandem help`, `tandem --version`.
#pragma once

#include <string>
#include <vector>

#include "vmm/vm_config.h"

namespace tandem {

inline constexpr const char* kVersion = "0.1.0";

// `tandem up [--check] [--logs DIR] FILE`.
struct UpArgs {
  std::string manifest;
  bool check = false;     // validate only
  std::string logs_dir;   // per-VM log files instead of prefixed lines
};

// `tandem ctl [--human] [--follow] [--timeout S] SOCKET METHOD [KEY=VALUE... | JSON]`.
struct CtlArgs {
  std::string socket;
  std::string method;
  std::vector<std::string> params;  // KEY=VALUE words or one JSON object (vmm/ctl.h)
  bool human = false;               // a short table instead of JSON
  bool follow = false;              // after the reply, print notifications until the VM goes
  bool watch = false;               // call again every second, the screen cleared each time
  unsigned count = 0;               // with watch: stop after this many calls (0: until the VM goes)
  unsigned timeout_s = 30;
};

struct CliResult {
  enum class Action { kRunVm, kUp, kCtl, kExit } action = Action::kExit;
  int exit_code = 0;      // for kExit
  std::string output;     // printed to stdout for kExit (help, version)
  std::string error;      // printed to stderr for kExit with a non-zero code (one line)
  VmConfig vm;
  UpArgs up;
  CtlArgs ctl;
};

// Parses argv (argv[0] included). Never exits the process; never throws.
CliResult parse_cli(const std::vector<std::string>& args);

}  // namespace tandem
