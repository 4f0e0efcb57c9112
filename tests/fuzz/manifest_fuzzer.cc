// tests/fuzz/manifest_fuzzer.cc: the TOML manifest loader (vmm/manifest) on any text.
//
// Whatever parse_manifest accepts must hold its promises: at most kMaxVms VMs with unique names,
// at most kMaxDevicesPerVm devices each, every "after" naming a VM that starts earlier, and every
// VM turning into a `tandem vm` argument list. A crash or a broken promise is a finding.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "vmm/manifest/manifest.h"

using namespace tandem;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  manifest::Defaults defaults;
  defaults.kernel = "/boot/vmlinuz-fuzz";
  defaults.initrd = "/boot/initrd-fuzz";
  defaults.run_dir = "/tmp/tandem-fuzz";
  defaults.check_files = false;  // no file system access per input
  // A fixed environment: ${TANDEM_DEBIAN_DISK} and ${HOME} (32 KiB) are set, nothing else.
  defaults.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "TANDEM_DEBIAN_DISK") return std::string("/images/debian.raw");
    if (name == "HOME") return std::string(32 * 1024, 'b');
    return std::nullopt;
  };
  auto m = manifest::parse_manifest(text, "/fuzz/two-vms.toml", defaults);
  if (!m) {
    check(!m.message().empty());
    return 0;
  }
  check(!m->vms.empty() && m->vms.size() <= manifest::kMaxVms);
  std::set<std::string> seen;
  for (const auto& vm : m->vms) {
    check(!vm.name.empty());
    for (const auto& dep : vm.after) check(seen.count(dep) == 1);
    check(seen.insert(vm.name).second);
    check(vm.config.devices.size() <= manifest::kMaxDevicesPerVm);
    auto argv = manifest::vm_arguments(vm.config);
    check(!argv.empty());
  }
  return 0;
}
