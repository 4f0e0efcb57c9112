// Unit tests for devices/pci/pci_function: a BAR's MMIO follows the guest's moves and decode
// switch, the device's hook hears every move once with the old and new address, MSI-X accesses
// and control reach the vectors, and a failed mapping leaves the BAR unmapped, not half-mapped.
#include <doctest/doctest.h>

#include <array>
#include <tuple>
#include <vector>

#include "base/le.h"
#include "devices/pci/pci_function.h"
#include "devices/testing/recording_vm_services.h"

using namespace tandem;

namespace {
struct Sink : BusDevice {
  void read(uint64_t, std::span<uint8_t> data) override { std::fill(data.begin(), data.end(), 0xab); }
  void write(uint64_t, std::span<const uint8_t>) override {}
  std::string name() const override { return "sink"; }
};

struct RefusingVm : testing::RecordingVmServices {
  Status map_mmio(std::shared_ptr<BusDevice>, uint64_t addr, uint64_t) override { return Error{"no room at " + std::to_string(addr)}; }
};

void wr(PciFunction& f, uint32_t off, uint64_t v, size_t width) {
  std::array<uint8_t, 8> b{};
  u64_to_le(v, std::span<uint8_t>(b.data(), width));
  f.config_write(off, std::span<const uint8_t>(b.data(), width));
}

using Move = std::tuple<uint8_t, std::optional<uint64_t>, std::optional<uint64_t>>;
const PciIds kIds{0x1af4, 0x10fa, 1, 0, 0x80, 0x02, 0x1af4, 0x10fa};
}  // namespace

TEST_CASE("a served BAR maps where it decodes, moves with the guest, and the hook hears each move once") {
  testing::RecordingVmServices vm;
  PciFunction f(kIds, vm, "test function");
  auto sink = std::make_shared<Sink>();
  REQUIRE(f.add_bar(0, BarKind::kMem64, 0x8000, 0x40000000).ok());
  REQUIRE(f.add_bar(2, BarKind::kMem64, 0x100000, 0x80000000).ok());
  f.serve_bar(0, sink);  // BAR 2 has no handler: only the hook hears of it
  std::vector<Move> moves;
  f.on_bar_moved([&](uint8_t bar, std::optional<uint64_t> o, std::optional<uint64_t> n) { moves.emplace_back(bar, o, n); });

  CHECK(vm.mmio.empty());
  wr(f, pci::kCommand, pci::kCommandMemory, 2);
  CHECK(vm.mmio == std::map<uint64_t, uint64_t>{{0x40000000, 0x8000}});
  CHECK(vm.mmio_devices[0x40000000] == sink);
  REQUIRE(moves.size() == 2);
  CHECK(moves[0] == Move{0, std::nullopt, 0x40000000});
  CHECK(moves[1] == Move{2, std::nullopt, 0x80000000});
  CHECK(f.bar(0) == 0x40000000u);

  moves.clear();
  wr(f, pci::kBar0, 0x50000000, 4);  // the guest moves BAR 0
  CHECK(vm.mmio == std::map<uint64_t, uint64_t>{{0x50000000, 0x8000}});
  CHECK(moves == std::vector<Move>{{0, 0x40000000, 0x50000000}});
  wr(f, pci::kCommand, pci::kCommandMemory, 2);  // no change: no move
  CHECK(moves.size() == 1);

  moves.clear();
  f.disable();
  CHECK(vm.mmio.empty());
  CHECK(moves == std::vector<Move>{{0, 0x50000000, std::nullopt}, {2, 0x80000000, std::nullopt}});
  CHECK_FALSE(f.bar(0).has_value());
}

TEST_CASE("a sizing probe takes the BAR away until the guest writes an address back") {
  testing::RecordingVmServices vm;
  PciFunction f(kIds, vm, "test function");
  auto sink = std::make_shared<Sink>();
  REQUIRE(f.add_bar(0, BarKind::kMem64, 0x8000, 0x40000000).ok());
  f.serve_bar(0, sink);
  wr(f, pci::kCommand, pci::kCommandMemory, 2);
  wr(f, pci::kBar0, 0xffffffff, 4);
  wr(f, pci::kBar0 + 4, 0xffffffff, 4);
  CHECK(vm.mmio.empty());
  wr(f, pci::kBar0, 0x40000000, 4);
  wr(f, pci::kBar0 + 4, 0, 4);
  CHECK(vm.mmio.count(0x40000000) == 1);
}

TEST_CASE("a mapping the VM refuses leaves the BAR unmapped and the hook silent") {
  RefusingVm vm;
  PciFunction f(kIds, vm, "test function");
  auto sink = std::make_shared<Sink>();
  REQUIRE(f.add_bar(0, BarKind::kMem64, 0x8000, 0x40000000).ok());
  f.serve_bar(0, sink);
  int calls = 0;
  f.on_bar_moved([&](uint8_t, std::optional<uint64_t>, std::optional<uint64_t>) { ++calls; });
  wr(f, pci::kCommand, pci::kCommandMemory, 2);
  CHECK_FALSE(f.bar(0).has_value());
  CHECK(calls == 0);
}

TEST_CASE("MSI-X: the capability, table accesses at and past the table, the enable bit, a table that does not fit") {
  testing::RecordingVmServices vm;
  PciFunction f(kIds, vm, "test function");
  REQUIRE(f.add_bar(0, BarKind::kMem64, 0x8000, 0x40000000).ok());
  CHECK_FALSE(f.add_msix(4, 0, 0x7ff0, 0x7ff8).ok());  // the table runs past the PBA
  REQUIRE(f.add_msix(4, 0, 0x4000, 0x6000).ok());
  CHECK_FALSE(f.add_msix(4, 0, 0x4000, 0x6000).ok());  // once only

  std::array<uint8_t, 4> b{};
  CHECK_FALSE(f.msix_read(0x3ffc, b));  // below the table: the device's own registers
  std::array<uint8_t, 4> addr{};
  store_le<uint32_t>(addr, 0, 0xfee00000);
  CHECK(f.msix_write(0x4000, addr));    // vector 0's address
  CHECK(f.msix_read(0x4000, b));
  CHECK(*load_le<uint32_t>(b, 0) == 0xfee00000);
  CHECK(f.msix_read(0x6000, b));        // the PBA

  // Message control: find the capability, set enable; the table then drives routes.
  std::array<uint8_t, 1> ptr{};
  f.config_read(0x34, ptr);
  uint32_t cap = ptr[0];
  std::array<uint8_t, 1> id{};
  f.config_read(cap, id);
  REQUIRE(id[0] == pci::kCapMsix);
  CHECK_FALSE(f.msix().table().enabled());
  wr(f, cap + 2, MsixTable::kEnable, 2);
  CHECK(f.msix().table().enabled());
}

TEST_CASE("MSI-X: a signal on a masked vector shows in the PBA until the vector is unmasked") {
  testing::RecordingVmServices vm;
  PciFunction f(kIds, vm, "test function");
  REQUIRE(f.add_bar(0, BarKind::kMem64, 0x8000, 0x40000000).ok());
  REQUIRE(f.add_msix(4, 0, 0x4000, 0x6000).ok());
  auto pba = [&] {
    std::array<uint8_t, 8> b{};
    REQUIRE(f.msix_read(0x6000, b));
    return *load_le<uint64_t>(b, 0);
  };
  CHECK(pba() == 0);
  f.msix().signal(1);  // every vector is masked at reset
  CHECK(pba() == 0b10);
  CHECK(pba() == 0b10);  // reading the PBA takes nothing away

  std::array<uint8_t, 1> ptr{};
  f.config_read(0x34, ptr);
  wr(f, ptr[0] + 2, MsixTable::kEnable, 2);
  std::array<uint8_t, 4> unmask{};
  CHECK(f.msix_write(0x4000 + 16 * 1 + 12, unmask));  // vector 1's control: mask bit clear
  CHECK(vm.irqfds.size() == 1);                        // its irqfd is attached: KVM delivers it
  CHECK(pba() == 0);
}
