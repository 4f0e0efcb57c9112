// tests/fuzz/pci_config_fuzzer.cc: PCI configuration space as the guest reaches it (devices/pci):
// ports 0xCF8-0xCFF, ECAM and the ACPI hotplug registers, with a host bridge at 00:00.0 and an
// endpoint at 00:01.0 that has a 32-bit, an I/O and a 64-bit prefetchable BAR and a capability.
//
// Input: operations of 10 bytes: a kind (config port, ECAM, hotplug; read or write), an access
// width (any 1 to 8 bytes, not only 1/2/4), a 32-bit offset and a 32-bit value. After every
// operation each BAR of the endpoint must decode (if at all) at an address aligned to its size and
// never at 0; a crash or a misaligned BAR is a finding.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "devices/pci/hotplug.h"
#include "devices/pci/pci_config.h"
#include "devices/pci/pci_root.h"

using namespace tandem;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}

class Endpoint : public PciDevice {
 public:
  Endpoint() : cfg_(PciIds{0x1af4, 0x1041, 1, 0, 0x00, 0x02, 0x1af4, 1}) {
    if (!cfg_.add_bar(0, BarKind::kMem32, 0x1000).ok()) std::abort();
    if (!cfg_.add_bar(1, BarKind::kIo, 0x20).ok()) std::abort();
    if (!cfg_.add_bar(2, BarKind::kMem64, 16ull << 30, true).ok()) std::abort();
    cfg_.set_bar_address(0, 0xc0000000);
    cfg_.set_bar_address(1, 0x1000);
    cfg_.set_bar_address(2, 0x100000000ull << 4);
    const uint8_t body[14] = {16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
    auto at = cfg_.add_capability(pci::kCapVendor, body);
    if (!at) std::abort();
    cfg_.set_writable(*at + 4, 8);
  }
  void config_read(uint32_t offset, std::span<uint8_t> data) override { cfg_.read(offset, data); }
  void config_write(uint32_t offset, std::span<const uint8_t> data) override { cfg_.write(offset, data); }
  std::string name() const override { return "fuzz endpoint"; }
  const PciConfig& config() const { return cfg_; }

 private:
  PciConfig cfg_;
};

uint32_t le32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto root = std::make_shared<PciRoot>();
  auto ep = std::make_shared<Endpoint>();
  if (!root->add(1, ep).ok()) std::abort();
  PciConfigIo io(root);
  PciEcam ecam(root);
  unsigned raised = 0;
  PciHotplug hotplug([&] { ++raised; }, [&](uint8_t slot) { check(slot != 0 && slot < 32); });

  for (size_t at = 0; at + 10 <= size; at += 10) {
    const uint8_t* op = data + at;
    const unsigned width = 1 + op[1] % 8;
    const uint32_t offset = le32(op + 2);
    uint8_t buf[8];
    std::memcpy(buf, op + 6, 4);
    std::memcpy(buf + 4, op + 6, 4);
    std::span<uint8_t> bytes(buf, width);
    switch (op[0] % 7) {
      case 0: io.read(offset % 8, bytes); break;
      case 1: io.write(offset % 8, bytes); break;
      case 2: ecam.read(offset, bytes); break;  // any bus, device, function, register
      case 3: ecam.write(offset, bytes); break;
      case 4: ecam.write(1u << 15 | (offset & 0xfff), bytes); break;  // the endpoint itself
      case 5: hotplug.read(offset % 32, bytes); break;
      case 6:
        hotplug.write(offset % 32, bytes);
        if (op[0] & 0x80) hotplug.request_scan(static_cast<uint8_t>(offset % 32));
        if (op[0] & 0x40) hotplug.request_eject(static_cast<uint8_t>(offset % 32));
        break;
    }
    for (uint8_t bar : {0, 1, 2}) {
      auto a = ep->config().active_bar(bar);
      if (!a) continue;
      check(*a != 0);
      check(*a % ep->config().bar_size(bar) == 0);
    }
  }
  return 0;
}
