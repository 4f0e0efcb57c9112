// vmm/cli.cc: the CLI11 definition of tandem's commands and options.
#include "vmm/cli.h"

#include <cstdlib>
#include <CLI/CLI.hpp>

#include <map>
#include <sstream>

namespace tandem {

namespace {
std::string one_line(std::string s) {
  for (auto& c : s) if (c == '\n') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// `tandem vm`'s options that are text on the command line until they become the VmConfig.
struct VmArgs {
  std::string memory = "512M", serial = "stdio", log_level = "info", xsave = "on";
  std::string seccomp_mode;
  std::map<std::string, std::vector<std::string>> devices;  // per kind: the values of its option
};

// `tandem vm`: its options go straight into `cfg` or, as text, into `args`.
CLI::App* add_vm_command(CLI::App& app, VmConfig& cfg, VmArgs& args) {
  // --seccomp's default: $TANDEM_SECCOMP when set (a test run or a debugging session can trace or
  // lift the lists of every VM it starts without editing their command lines), else on.
  const char* seccomp_env = std::getenv("TANDEM_SECCOMP");
  args.seccomp_mode = seccomp_env && *seccomp_env ? seccomp_env : "on";
  auto* vm = app.add_subcommand("vm", "Boot one VM from a Linux bzImage");
  vm->add_option("--kernel", cfg.kernel, "Linux bzImage to boot (64-bit, boot protocol >= 2.12)")->required();
  vm->add_option("--initrd", cfg.initrd, "initramfs to load");
  vm->add_option("--cmdline", cfg.cmdline, "kernel command line")->capture_default_str();
  vm->add_option("--memory", args.memory, "guest RAM, with K/M/G suffix (plain numbers are bytes)")->capture_default_str();
  vm->add_option("--cpus", cfg.cpus, "number of vCPUs")->capture_default_str();
  vm->add_option("--xsave", args.xsave,
                 "x86_64: off hides XSAVE from the guest's CPUID, with the state it manages (AVX, AVX-512, PKU, AMX...); "
                 "the guest then saves its FPU with FXSAVE")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  vm->add_option("--serial", args.serial, "serial console: stdio, file:PATH or none")->capture_default_str();
  vm->add_option("--api-socket", cfg.api_socket, "Unix socket for the JSON-RPC API");
  device_kinds::Kinds::each([&](auto kind) {
    using K = decltype(kind);
    vm->add_option(K::kOption, args.devices[K::kName], K::kHelp)->take_all()->allow_extra_args(false);
  });
  vm->add_option("--shutdown-timeout", cfg.shutdown_timeout_s,
                 "SIGTERM presses the guest's power button, then waits this many seconds for it to power off (0: stop at once)")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  vm->add_option("--ready-fd", cfg.ready_fd,
                 "an inherited fd that gets \"READY\" when the guest's init starts (its boot-timer write), then is closed")
      ->check(CLI::Range(3, 1 << 20));
  vm->add_option("--seccomp", args.seccomp_mode,
                 "per-thread system call allow-lists: on (a call outside them stops tandem, naming it), log (the kernel "
                 "logs it) or off")
      ->check(CLI::IsMember({"on", "log", "off"}))
      ->capture_default_str();
  vm->add_option("--log-level", args.log_level, "info or debug")->check(CLI::IsMember({"info", "debug"}))->capture_default_str();
  return vm;
}

// `tandem up FILE`.
CLI::App* add_up_command(CLI::App& app, UpArgs& up_args) {
  auto* up = app.add_subcommand("up", "Start the VMs of a TOML manifest (docs/manifest.md), one tandem process each");
  up->add_option("manifest", up_args.manifest, "the manifest, e.g. examples/two-vms.toml")->required();
  up->add_flag("--check", up_args.check, "only validate the manifest (every error with file:line:column)");
  up->add_option("--logs", up_args.logs_dir, "write each VM's output to DIR/NAME.log instead of prefixed lines");
  return up;
}

// `tandem ctl SOCKET METHOD [PARAMS]`.
CLI::App* add_ctl_command(CLI::App& app, CtlArgs& ctl_args) {
  auto* ctl = app.add_subcommand("ctl", "Call a running VM's JSON-RPC API (docs/api.md)");
  ctl->add_option("socket", ctl_args.socket, "the VM's --api-socket")->required();
  ctl->add_option("method", ctl_args.method, "vm.info, vm.pause, vm.resume, vm.shutdown, vm.kill, device.list, ...")->required();
  ctl->add_option("params", ctl_args.params, "KEY=VALUE pairs (they become the params object) or one JSON object");
  ctl->add_flag("--human", ctl_args.human, "print the result as a short table instead of JSON");
  ctl->add_flag("--follow", ctl_args.follow, "after the reply, print each notification (use with events.subscribe) until the VM exits");
  auto* watch = ctl->add_flag("--watch", ctl_args.watch, "call again every second and show the newest result (e.g. vm.counters --human --watch)");
  ctl->add_option("--count", ctl_args.count, "with --watch: stop after this many calls")->needs(watch)->check(CLI::Range(1, 1000000));
  watch->excludes(ctl->get_option("--follow"));
  ctl->add_option("--timeout", ctl_args.timeout_s, "seconds to wait for the reply")->check(CLI::Range(1, 3600))->capture_default_str();
  return ctl;
}

// Each kind's option values, parsed into its list of devices.
Status finish_devices(const VmArgs& args, VmConfig& cfg) {
  Status result;
  device_kinds::Kinds::each([&](auto kind) {
    using K = decltype(kind);
    auto texts = args.devices.find(K::kName);
    for (size_t i = 0; result && texts != args.devices.end() && i < texts->second.size(); ++i) {
      const std::string& text = texts->second[i];
      auto options = device_kinds::options_from_text(text, K::keys());
      auto spec = options ? K::from_options(*options) : Result<typename K::Spec>(options.error());
      if (!spec) result = Error{std::string("tandem vm: ") + K::kOption + " " + text + ": " + spec.message()};
      else cfg.devices.template of<typename K::Spec>().push_back(*spec);
    }
  });
  return result;
}

// `args` parsed into `cfg` (the rest of it came straight from the options); the error names the
// option, in `tandem vm`'s words.
Status finish_vm_config(const VmArgs& args, VmConfig& cfg) {
  auto size = parse_size(args.memory);
  if (!size) return Error{"tandem vm: --memory: " + size.message()};
  cfg.memory = *size;
  auto s = parse_serial(args.serial);
  if (!s) return Error{"tandem vm: --serial: " + s.message()};
  cfg.serial = *s;
  TANDEM_TRY(finish_devices(args, cfg));
  cfg.debug = args.log_level == "debug";
  cfg.xsave = args.xsave == "on";
  auto mode = seccomp::parse_mode(args.seccomp_mode);
  if (!mode) {  // only $TANDEM_SECCOMP gets here: IsMember checks the option
    return Error{"tandem vm: $TANDEM_SECCOMP: '" + args.seccomp_mode + "' is not on, log or off"};
  }
  cfg.seccomp = *mode;
  return {};
}

}  // namespace

CliResult parse_cli(const std::vector<std::string>& args) {
  CliResult out;
  CLI::App app{"tandem: a KVM virtual machine monitor for the fastest VM-to-VM networking on one host", "tandem"};
  app.set_version_flag("--version", std::string("tandem ") + kVersion);
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.require_subcommand(0, 1);
  VmArgs vm_args;
  auto* vm = add_vm_command(app, out.vm, vm_args);
  auto* up = add_up_command(app, out.up);
  auto* ctl = add_ctl_command(app, out.ctl);
  auto* help = app.add_subcommand("help", "Print this help and exit");

  std::vector<std::string> rev(args.rbegin(), args.rend());
  if (!rev.empty()) rev.pop_back();  // argv[0]
  try {
    app.parse(rev);
  } catch (const CLI::CallForHelp&) {
    out.output = app.help();
    return out;
  } catch (const CLI::CallForVersion& e) {
    out.output = std::string(e.what()) + "\n";
    return out;
  } catch (const CLI::ParseError& e) {
    out.exit_code = 2;
    std::string where = vm->parsed() ? "tandem vm" : up->parsed() ? "tandem up" : ctl->parsed() ? "tandem ctl" : "tandem";
    out.error = where + ": " + one_line(e.what()) + " (see 'tandem help')";
    return out;
  }
  if (help->parsed() || app.get_subcommands().empty()) {
    out.output = app.help() + "\n" + vm->help() + "\n" + up->help() + "\n" + ctl->help();
    out.exit_code = app.get_subcommands().empty() ? 2 : 0;
    if (out.exit_code) out.error = "tandem: no command given (see 'tandem help')";
    return out;
  }
  if (up->parsed()) {
    out.action = CliResult::Action::kUp;
    return out;
  }
  if (ctl->parsed()) {
    out.action = CliResult::Action::kCtl;
    return out;
  }
  if (auto done = finish_vm_config(vm_args, out.vm); !done) {
    out.exit_code = 2;
    out.error = done.message();
    return out;
  }
  out.action = CliResult::Action::kRunVm;
  return out;
}

}  // namespace tandem
