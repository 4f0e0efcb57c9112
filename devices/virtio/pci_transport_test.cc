// Unit tests for devices/virtio/pci_transport: a driver written the way Linux's virtio_pci_modern
// probes and sets up a device, and hostile register values that must end in a refused
// FEATURES_OK or NEEDS_RESET, never in activation with bad rings or a crash.
//
// KVM is not available to unit tests, so VmServices is a recorder (devices/testing): it keeps the
// MMIO mappings, ioeventfds and MSI routes the transport asked for, which is exactly what these
// tests check. The real KVM path is exercised by the e2e tests (tests/e2e/net-*.sh).
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "base/le.h"
#include "devices/testing/recording_vm_services.h"
#include "devices/virtio/pci_transport.h"
#include "memory/ram.h"

using namespace tandem;
using namespace tandem::virtio;

namespace {

using Recorder = tandem::testing::RecordingVmServices;

// The smallest device: two queues, features VERSION_1 | EVENT_IDX, records activation.
struct TestDevice : VirtioDevice {
  int activations = 0, resets = 0;
  std::vector<ActiveQueue> queues;
  uint64_t features_got = 0;
  uint32_t device_id() const override { return 1; }
  std::string name() const override { return "test-device"; }
  uint64_t features() const override { return kFVersion1 | kFRingEventIdx; }
  uint16_t num_queues() const override { return 2; }
  uint16_t max_queue_size() const override { return 256; }
  void read_config(uint64_t offset, std::span<uint8_t> d) override {
    for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(offset + i);
  }
  void write_config(uint64_t, std::span<const uint8_t>) override {}
  void set_hooks(TransportHooks) override {}
  Status activate(const GuestMemory&, uint64_t f, std::vector<ActiveQueue> q) override {
    ++activations;
    features_got = f;
    queues = std::move(q);
    return {};
  }
  void reset() override { ++resets; }
};

constexpr uint64_t kBar = 0x4000000000ULL;

struct Fixture {
  GuestMemory mem = std::move(GuestMemory::create({{0, 16 * MiB}})).value();
  std::shared_ptr<Recorder> vm = std::make_shared<Recorder>();
  std::shared_ptr<TestDevice> dev = std::make_shared<TestDevice>();
  std::shared_ptr<PciTransport> t = std::move(PciTransport::create(dev, vm, mem, kBar)).value();

  uint64_t cfg(uint32_t off, size_t w) {
    std::array<uint8_t, 4> b{};
    t->config_read(off, std::span<uint8_t>(b.data(), w));
    return le_to_u64(std::span<const uint8_t>(b.data(), w));
  }
  void cfg_w(uint32_t off, uint64_t v, size_t w) {
    std::array<uint8_t, 4> b{};
    u64_to_le(v, std::span<uint8_t>(b.data(), w));
    t->config_write(off, std::span<const uint8_t>(b.data(), w));
  }
  uint64_t rd(uint64_t off, size_t w) {
    std::array<uint8_t, 8> b{};
    t->read(off, std::span<uint8_t>(b.data(), w));
    return le_to_u64(std::span<const uint8_t>(b.data(), w));
  }
  void wr(uint64_t off, uint64_t v, size_t w) {
    std::array<uint8_t, 8> b{};
    u64_to_le(v, std::span<uint8_t>(b.data(), w));
    t->write(off, std::span<const uint8_t>(b.data(), w));
  }
  // Find a vendor capability of cfg_type `type`: returns its config offset.
  uint32_t find_cap(uint8_t type) {
    for (uint32_t p = static_cast<uint32_t>(cfg(0x34, 1)); p; p = static_cast<uint32_t>(cfg(p + 1, 1))) {
      if (cfg(p, 1) == 0x09 && cfg(p + 3, 1) == type) return p;
    }
    return 0;
  }
  void setup_queue(uint16_t q, uint16_t size, uint64_t desc, uint64_t drv, uint64_t devarea, uint16_t vector) {
    wr(0x16, q, 2);
    wr(0x18, size, 2);
    wr(0x1a, vector, 2);
    wr(0x20, desc & 0xffffffff, 4);
    wr(0x24, desc >> 32, 4);
    wr(0x28, drv & 0xffffffff, 4);
    wr(0x2c, drv >> 32, 4);
    wr(0x30, devarea & 0xffffffff, 4);
    wr(0x34, devarea >> 32, 4);
    wr(0x1c, 1, 2);
  }
  void negotiate(uint64_t features) {
    wr(0x14, kStatusAcknowledge | kStatusDriver, 1);
    wr(0x08, 0, 4);
    wr(0x0c, features & 0xffffffff, 4);
    wr(0x08, 1, 4);
    wr(0x0c, features >> 32, 4);
    wr(0x14, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk, 1);
  }
  uint8_t status() { return static_cast<uint8_t>(rd(0x14, 1)); }
};

}  // namespace

TEST_CASE("a modern virtio-net function: IDs, BAR 0, capabilities at the documented offsets") {
  Fixture f;
  CHECK(f.cfg(0, 4) == 0x10411af4);
  CHECK((f.cfg(0x08, 4) >> 8) == 0x020000);  // class: Ethernet controller
  CHECK((f.cfg(0x08, 1)) == 1);              // revision 1: modern only
  CHECK(f.cfg(0x2e, 2) == 1);                // subsystem: virtio device type
  for (auto [type, off] : std::initializer_list<std::pair<uint8_t, uint64_t>>{{1, kCommonCfgOffset}, {2, kNotifyOffset}, {3, kIsrOffset}, {4, kDeviceCfgOffset}}) {
    uint32_t p = f.find_cap(type);
    REQUIRE(p != 0);
    CHECK(f.cfg(p + 4, 1) == 0);  // BAR 0
    CHECK(f.cfg(p + 8, 4) == off);
  }
  CHECK(f.cfg(f.find_cap(2) + 16, 4) == kNotifyMultiplier);
  CHECK(f.vm->mmio.empty());  // decode off until the driver enables it
}

TEST_CASE("enabling decode maps BAR 0 and its doorbells; moving it moves both; disabling unmaps") {
  Fixture f;
  f.cfg_w(0x04, pci::kCommandMemory | pci::kCommandBusMaster, 2);
  REQUIRE(f.vm->mmio.count(kBar));
  CHECK(f.vm->mmio[kBar] == kBar0Size);
  CHECK(f.vm->doorbells.size() == 2);
  for (auto& [fd, addr] : f.vm->doorbells) CHECK((addr == kBar + kNotifyOffset || addr == kBar + kNotifyOffset + 4));
  // The guest moves the BAR (decode on, as Linux does for a 32-bit-only write sequence too).
  f.cfg_w(0x10, 0x80000000, 4);
  f.cfg_w(0x14, 0x41, 4);
  CHECK(f.vm->mmio.size() == 1);
  CHECK(f.vm->mmio.count(0x4180000000ULL));
  for (auto& [fd, addr] : f.vm->doorbells) CHECK(addr >= 0x4180000000ULL);
  CHECK(f.vm->doorbells.size() == 2);
  // A sizing probe while decoding: the BAR holds the all-ones pattern, which is never mapped.
  f.cfg_w(0x10, 0xffffffff, 4);
  f.cfg_w(0x14, 0xffffffff, 4);
  CHECK(f.vm->mmio.empty());
  CHECK(f.vm->doorbells.empty());
  f.cfg_w(0x10, 0, 4);
  f.cfg_w(0x14, 0x40, 4);
  CHECK(f.vm->mmio.count(kBar));
  f.cfg_w(0x04, 0, 2);
  CHECK(f.vm->mmio.empty());
  CHECK(f.vm->doorbells.empty());
}

TEST_CASE("Linux's bring-up: features, queues, DRIVER_OK activates with the rings and vectors given") {
  Fixture f;
  CHECK(f.rd(0x12, 2) == 2);  // num_queues
  f.wr(0x00, 1, 4);
  CHECK(f.rd(0x04, 4) == 1);  // VERSION_1 is bit 32
  f.negotiate(kFVersion1 | kFRingEventIdx);
  CHECK((f.status() & kStatusFeaturesOk));
  f.setup_queue(0, 256, 0x10000, 0x11000, 0x12000, 1);
  f.setup_queue(1, 128, 0x20000, 0x21000, 0x22000, 2);
  f.wr(0x10, 0, 2);
  CHECK(f.rd(0x10, 2) == 0);
  f.wr(0x14, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk, 1);
  CHECK(f.dev->activations == 1);
  CHECK(f.dev->features_got == (kFVersion1 | kFRingEventIdx));
  REQUIRE(f.dev->queues.size() == 2);
  CHECK(f.dev->queues[1].config.size == 128);
  CHECK(f.dev->queues[1].config.desc == 0x20000);
  CHECK(f.dev->queues[1].config.used == 0x22000);
  CHECK(f.dev->queues[1].config.event_idx);
  CHECK(f.dev->queues[0].call_fd >= 0);
  CHECK(f.dev->queues[0].call_fd != f.dev->queues[1].call_fd);
  // Queue registers are frozen after DRIVER_OK.
  f.wr(0x16, 1, 2);
  f.wr(0x18, 64, 2);
  CHECK(f.rd(0x18, 2) == 128);
  // Reset: the device is reset, everything reads back as new.
  f.wr(0x14, 0, 1);
  CHECK(f.dev->resets == 1);
  CHECK(f.status() == 0);
  f.wr(0x16, 1, 2);
  CHECK(f.rd(0x18, 2) == 256);
  CHECK(f.rd(0x1c, 2) == 0);
}

TEST_CASE("features the device never offered, or a legacy driver, get FEATURES_OK refused") {
  Fixture f;
  f.negotiate(kFVersion1 | (1ULL << 40));
  CHECK_FALSE((f.status() & kStatusFeaturesOk));
  f.wr(0x14, 0, 1);
  f.negotiate(kFRingEventIdx);  // no VERSION_1
  CHECK_FALSE((f.status() & kStatusFeaturesOk));
  // DRIVER_OK without FEATURES_OK: no activation, NEEDS_RESET.
  f.wr(0x14, kStatusAcknowledge | kStatusDriver | kStatusDriverOk, 1);
  CHECK(f.dev->activations == 0);
  CHECK((f.status() & kStatusNeedsReset));
}

TEST_CASE("hostile queue set-ups end in NEEDS_RESET, not in an activation") {
  struct Case {
    const char* what;
    uint16_t size;
    uint64_t desc, drv, dev;
  };
  for (const Case& c : {Case{"size not a power of two", 100, 0x10000, 0x11000, 0x12000},
                        Case{"size above the maximum", 512, 0x10000, 0x11000, 0x12000},
                        Case{"size zero", 0, 0x10000, 0x11000, 0x12000},
                        Case{"descriptors outside RAM", 256, 0x7ffffff0000ULL, 0x11000, 0x12000},
                        Case{"used ring straddling the end of RAM", 256, 0x10000, 0x11000, 16 * MiB - 16},
                        Case{"misaligned descriptor table", 256, 0x10008, 0x11000, 0x12000}}) {
    CAPTURE(c.what);
    Fixture f;
    f.negotiate(kFVersion1);
    f.setup_queue(0, c.size, c.desc, c.drv, c.dev, 0);
    f.wr(0x14, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk, 1);
    CHECK(f.dev->activations == 0);
    CHECK((f.status() & kStatusNeedsReset));
  }
}

TEST_CASE("MSI-X vectors past the table read back as NO_VECTOR; the table drives routes and irqfds") {
  Fixture f;
  f.wr(0x10, 3, 2);  // 3 vectors: 0..2
  CHECK(f.rd(0x10, 2) == kMsixNoVector);
  f.wr(0x16, 0, 2);
  f.wr(0x1a, 0x7fff, 2);
  CHECK(f.rd(0x1a, 2) == kMsixNoVector);
  f.wr(0x1a, 2, 2);
  CHECK(f.rd(0x1a, 2) == 2);
  // Program vector 2 and enable MSI-X: one route and one irqfd appear; masking removes the irqfd.
  f.wr(kMsixTableOffset + 2 * 16, 0xfee00000, 4);
  f.wr(kMsixTableOffset + 2 * 16 + 8, 0x41, 4);
  f.wr(kMsixTableOffset + 2 * 16 + 12, 0, 4);
  CHECK(f.vm->irqfds.empty());  // MSI-X still disabled
  uint32_t cap = 0;
  for (uint32_t p = static_cast<uint32_t>(f.cfg(0x34, 1)); p; p = static_cast<uint32_t>(f.cfg(p + 1, 1))) {
    if (f.cfg(p, 1) == 0x11) cap = p;
  }
  REQUIRE(cap != 0);
  CHECK(f.cfg(cap + 2, 2) == 2);  // table size - 1
  f.cfg_w(cap + 2, 0x8000, 2);
  CHECK(f.cfg(cap + 2, 2) == 0x8002);  // the size field stays read-only
  CHECK(f.vm->irqfds.size() == 1);
  CHECK(f.vm->routes.size() == 1);
  CHECK(f.vm->routes.begin()->second.data == 0x41);
  f.cfg_w(cap + 2, 0xc000, 2);  // function mask
  CHECK(f.vm->irqfds.empty());
  f.cfg_w(cap + 2, 0x8000, 2);
  CHECK(f.vm->irqfds.size() == 1);
  f.wr(kMsixTableOffset + 2 * 16 + 12, 1, 4);  // vector mask
  CHECK(f.vm->irqfds.empty());
}

TEST_CASE("odd accesses to BAR 0 are ignored and the ISR clears on read") {
  Fixture f;
  f.wr(0x03, 0xff, 1);          // inside device_feature_select, wrong width
  CHECK(f.rd(0x00, 4) == 0);
  f.wr(0x14, 0xff, 2);          // status with a 2-byte write
  CHECK(f.status() == 0);
  f.wr(0x20, 0x1234, 2);        // queue_desc with a 2-byte write
  CHECK(f.rd(0x20, 8) == 0);
  f.wr(0x16, 9, 2);             // a queue that does not exist
  CHECK(f.rd(0x18, 2) == 0);
  f.wr(0x18, 64, 2);
  CHECK(f.rd(0x1000, 1) == 0);
  CHECK(f.rd(0x2000 + 4, 2) == 0x0504);  // device config passes through with its offset
  f.wr(0x7ff8, ~0ULL, 8);       // past the PBA
  CHECK(f.rd(0x7ff8, 8) == ~0ULL);
}
