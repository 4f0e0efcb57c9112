// vmm/vm_config.cc: size and serial parsing, and the up-front validation of a VM's inputs.
#include "vmm/vm_config.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "base/unique_fd.h"
#include "vmm/arch/machine.h"

namespace tandem {

Result<SerialSpec> parse_serial(const std::string& text) {
  SerialSpec s;
  if (text == "stdio") return s;
  if (text == "none") {
    s.kind = SerialSpec::Kind::kNone;
    return s;
  }
  if (text.rfind("file:", 0) == 0 && text.size() > 5) {
    s.kind = SerialSpec::Kind::kFile;
    s.path = text.substr(5);
    return s;
  }
  return Error{"serial '" + text + "' is not stdio, none or file:PATH"};
}

Result<std::vector<uint8_t>> read_file(const std::string& path, const std::string& what, uint64_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error(what + " " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) return errno_error(what + " " + path);
  if (!S_ISREG(st.st_mode)) return Error{what + " " + path + " is not a regular file"};
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Error{what + " " + path + " is " + std::to_string(st.st_size >> 20) + " MiB, more than the " +
                 std::to_string(max_bytes >> 20) + " MiB allowed"};
  }
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("reading " + what + " " + path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  return data;
}

Result<BootFiles> validate(const VmConfig& cfg) {
  if (cfg.kernel.empty()) return Error{"no kernel given (--kernel PATH)"};
  auto plan = arch::plan_memory(cfg.memory);
  if (!plan) return Error{"--memory: " + plan.message()};
  if (cfg.cpus == 0) return Error{"--cpus: 0 vCPUs requested; at least 1 is needed"};
  if (!cfg.xsave && std::string(arch::name()) != "x86_64") return Error{std::string("--xsave off: an x86_64 option; this tandem is built for ") + arch::name()};
  if (cfg.cpus > arch::max_cpus()) {
    return Error{"--cpus: " + std::to_string(cfg.cpus) + " vCPUs requested; tandem for " + arch::name() + " supports at most " +
                 std::to_string(arch::max_cpus())};
  }
  BootFiles files;
  auto kernel = read_file(cfg.kernel, "kernel", 256ULL << 20);
  if (!kernel) return kernel.error();
  files.kernel = std::move(kernel).value();
  if (!cfg.initrd.empty()) {
    auto initrd = read_file(cfg.initrd, "initrd", cfg.memory);
    if (!initrd) return initrd.error();
    files.initrd = std::move(initrd).value();
  }
  if (auto s = arch::check_boot_files(*plan, cfg.cmdline, files.kernel, files.initrd.size()); !s) {
    const std::string& m = s.message();
    if (m.rfind("--", 0) == 0) return s.error();
    if (m.rfind("initrd: ", 0) == 0) return Error{"initrd " + cfg.initrd + ": " + m.substr(8)};
    if (m.rfind("kernel: ", 0) == 0) return Error{"kernel " + cfg.kernel + ": " + m.substr(8)};
    return Error{"kernel " + cfg.kernel + ": " + m};
  }
  if (!arch::has_pci_hotplug()) {
    std::string needs;
    cfg.devices.each([&](auto kind, const auto& spec) {
      if (needs.empty() && decltype(kind)::needs_hotplug(spec)) needs = device_option_text(spec);
    });
    if (!needs.empty()) {
      return Error{needs + ": hotplug_on_connect needs PCI hotplug, which tandem for " + arch::name() + " does not have yet"};
    }
  }
  // Kinds with files of their own (a disk image) check them here, before anything runs.
  std::string bad_file;
  cfg.devices.each([&](auto kind, const auto& spec) {
    using K = decltype(kind);
    if constexpr (requires { K::check_files(spec); }) {
      if (auto s = K::check_files(spec); !s && bad_file.empty()) bad_file = std::string(K::kOption) + ": " + s.message();
    }
  });
  if (!bad_file.empty()) return Error{bad_file};
  if (cfg.serial.kind == SerialSpec::Kind::kFile && cfg.serial.path.empty()) return Error{"--serial file: needs a path"};
  if (cfg.ready_fd >= 0 && ::fcntl(cfg.ready_fd, F_GETFD) < 0) {
    return Error{"--ready-fd " + std::to_string(cfg.ready_fd) + " is not an open file descriptor"};
  }
  return files;
}

}  // namespace tandem
