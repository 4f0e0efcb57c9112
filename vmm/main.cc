// vmm/main.cc: tandem's entry point: parse the command line, validate, then run one VM (`tandem vm`)
// or a manifest's VMs (`tandem up`), or call a running VM's API (`tandem ctl`), and exit with the status.
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "base/log.h"
#include "vmm/cli.h"
#include "vmm/ctl.h"
#include "vmm/manifest/manifest.h"
#include "vmm/up/supervisor.h"
#include "vmm/exit_controller.h"
#include "vmm/vm.h"

namespace {

// `tandem up`: validate the manifest (all errors, exit 2), then run it or, with --check, say so.
int run_up(const tandem::UpArgs& args) {
  using namespace tandem;
  auto defaults = up::environment_defaults(args.manifest);
  if (!defaults.notice.empty()) std::fprintf(stderr, "%s\n", defaults.notice.c_str());
  auto m = manifest::load_manifest(args.manifest, defaults);
  if (!m) {
    std::fprintf(stderr, "%s\n", m.message().c_str());
    std::fprintf(stderr, "tandem up: %s is not valid; nothing was started\n", args.manifest.c_str());
    return exit_status::kBadInput;
  }
  if (args.check) {
    std::string order;
    for (const auto& vm : m->vms) order += (order.empty() ? "" : ", ") + vm.name;
    std::printf("%s: valid, %zu VM%s (start order: %s; run directory %s)\n", args.manifest.c_str(), m->vms.size(),
                m->vms.size() == 1 ? "" : "s", order.c_str(), m->run_dir.c_str());
    return 0;
  }
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    std::fprintf(stderr, "tandem up: cannot find the tandem binary (/proc/self/exe)\n");
    return exit_status::kFailure;
  }
  up::Options o;
  o.tandem_exe.assign(exe, static_cast<size_t>(n));
  o.logs_dir = args.logs_dir;
  return up::run(*m, o);
}

}  // namespace

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
  if (cli.action == CliResult::Action::kUp) return run_up(cli.up);
  if (cli.action == CliResult::Action::kCtl) return run_ctl(cli.ctl);
  set_debug_logging(cli.vm.debug);
  // Not dumpable: another process of the same uid (a peer VM's VMM in a same-user set-up) cannot
  // ptrace this one or read and write its memory through /proc/<pid>/mem or process_vm_writev,
  // which would reach guest RAM and the output sections past every seal (docs/security.md).
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) std::perror("tandem vm: prctl(PR_SET_DUMPABLE)");
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
