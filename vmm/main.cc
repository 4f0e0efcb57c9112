// vmm/main.cc: tandem's entry point: parse the command line, validate, run the VM, exit with its status.
#include <csignal>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "devices/bus.h"
#include "vmm/cli.h"
#include "vmm/exit_controller.h"
#include "vmm/vm.h"

int main(int argc, char** argv) {
  using namespace tandem;
  // A console reader that goes away must not kill the VM: writes then fail with EPIPE instead.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv, argv + argc);
  CliResult cli = parse_cli(args);
  if (cli.action == CliResult::Action::kExit) {
    if (!cli.output.empty()) std::fputs(cli.output.c_str(), stdout);
    if (!cli.error.empty()) std::fprintf(stderr, "%s\n", cli.error.c_str());
    return cli.exit_code;
  }
  set_debug_logging(cli.vm.debug);
  auto files = validate(cli.vm);
  if (!files) {
    std::fprintf(stderr, "tandem vm: %s\n", files.message().c_str());
    return exit_status::kBadInput;
  }
  VmOutcome out = run_vm(cli.vm, std::move(files).value());
  if (!out.message.empty()) {
    std::fprintf(stderr, "tandem: %s%s\n", out.status == 0 ? "" : "error: ", out.message.c_str());
  }
  return out.status;
}
