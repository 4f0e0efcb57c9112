// Unit tests for vmm/arch/aarch64/fdt: build device trees, decode them again with libfdt and check
// every node and property, the phandle links and the refusals.
#include <doctest/doctest.h>
#include <libfdt.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "vmm/arch/aarch64/fdt.h"
#include "vmm/arch/aarch64/layout.h"

using namespace tandem;
using namespace tandem::arm64;
using namespace tandem::arm64::layout;

namespace {

FdtConfig config(size_t cpus) {
  FdtConfig c;
  for (size_t i = 0; i < cpus; ++i) c.mpidrs.push_back(((i >> 4) << 8) | (i & 0xf));  // KVM's default MPIDRs
  c.ram_base = kRamBase;
  c.ram_size = 512 * MiB;
  c.cmdline = "console=ttyS0 earlycon panic=-1";
  c.mmio64_base = 64 * GiB;
  c.mmio64_size = kMmio64Size;
  return c;
}

std::vector<uint8_t> build(const FdtConfig& c) {
  auto r = build_fdt(c);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.message()));
  const std::vector<uint8_t>& b = *r;
  REQUIRE(fdt_check_header(b.data()) == 0);
  REQUIRE(fdt_totalsize(b.data()) == b.size());
  REQUIRE(fdt_check_full(b.data(), b.size()) == 0);
  return *r;
}

int node(const std::vector<uint8_t>& b, const char* path) { return fdt_path_offset(b.data(), path); }

// A property's raw bytes, or nullopt when the node or the property is missing.
std::optional<std::vector<uint8_t>> prop(const std::vector<uint8_t>& b, const char* path, const char* name) {
  int off = node(b, path);
  if (off < 0) return std::nullopt;
  int len = 0;
  auto* p = static_cast<const uint8_t*>(fdt_getprop(b.data(), off, name, &len));
  if (p == nullptr) return std::nullopt;
  return std::vector<uint8_t>(p, p + len);
}

// Big-endian cells; an odd length shows up as an extra 0xdeadbeef so that the comparison fails.
std::vector<uint32_t> u32s(const std::vector<uint8_t>& b, const char* path, const char* name) {
  auto p = prop(b, path, name);
  if (!p) return {0xdeadbeef, 0xdeadbeef};
  std::vector<uint32_t> out;
  for (size_t i = 0; i + 4 <= p->size(); i += 4) {
    out.push_back(uint32_t{(*p)[i]} << 24 | uint32_t{(*p)[i + 1]} << 16 | uint32_t{(*p)[i + 2]} << 8 | (*p)[i + 3]);
  }
  if (p->size() % 4) out.push_back(0xdeadbeef);
  return out;
}

std::vector<std::string> strs(const std::vector<uint8_t>& b, const char* path, const char* name) {
  auto p = prop(b, path, name);
  if (!p) return {"<missing>"};
  if (p->empty() || p->back() != 0) return {"<not NUL-terminated>"};
  std::vector<std::string> out;
  std::string cur;
  for (uint8_t c : *p) {
    if (c == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string str(const std::vector<uint8_t>& b, const char* path, const char* name) {
  auto v = strs(b, path, name);
  return v.size() == 1 ? v[0] : "<" + std::to_string(v.size()) + " strings>";
}

bool empty_prop(const std::vector<uint8_t>& b, const char* path, const char* name) {
  auto p = prop(b, path, name);
  return p && p->empty();
}

std::set<std::string> all_nodes(const std::vector<uint8_t>& b) {
  std::set<std::string> out;
  char path[256];
  for (int off = 0; off >= 0; off = fdt_next_node(b.data(), off, nullptr)) {
    REQUIRE(fdt_get_path(b.data(), off, path, sizeof path) == 0);
    out.insert(path);
  }
  return out;
}

// The parts every configuration shares: root, memory, psci, timer, GIC, PCIe, serial.
void check_common(const std::vector<uint8_t>& b, const FdtConfig& c) {
  CHECK(str(b, "/", "compatible") == "linux,dummy-virt");
  CHECK(str(b, "/", "model") == "tandem");
  CHECK(u32s(b, "/", "#address-cells") == std::vector<uint32_t>{2});
  CHECK(u32s(b, "/", "#size-cells") == std::vector<uint32_t>{2});
  // interrupt-parent points at the GIC.
  auto parent = u32s(b, "/", "interrupt-parent");
  REQUIRE(parent.size() == 1);
  CHECK(fdt_node_offset_by_phandle(b.data(), parent[0]) == node(b, "/intc@8000000"));
  CHECK(node(b, "/intc@8000000") >= 0);

  CHECK(str(b, "/memory@40000000", "device_type") == "memory");
  CHECK(u32s(b, "/memory@40000000", "reg") ==
        std::vector<uint32_t>{0, 0x4000'0000, static_cast<uint32_t>(c.ram_size >> 32), static_cast<uint32_t>(c.ram_size)});

  CHECK(u32s(b, "/cpus", "#address-cells") == std::vector<uint32_t>{2});
  CHECK(u32s(b, "/cpus", "#size-cells") == std::vector<uint32_t>{0});

  CHECK(strs(b, "/psci", "compatible") == std::vector<std::string>{"arm,psci-1.0", "arm,psci-0.2"});
  CHECK(str(b, "/psci", "method") == "hvc");

  CHECK(str(b, "/timer", "compatible") == "arm,armv8-timer");
  CHECK(empty_prop(b, "/timer", "always-on"));
  CHECK(u32s(b, "/timer", "interrupts") == std::vector<uint32_t>{1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4});

  const char* gic = "/intc@8000000";
  CHECK(str(b, gic, "compatible") == "arm,gic-v3");
  CHECK(u32s(b, gic, "#interrupt-cells") == std::vector<uint32_t>{3});
  CHECK(empty_prop(b, gic, "interrupt-controller"));
  CHECK(u32s(b, gic, "#address-cells") == std::vector<uint32_t>{2});
  CHECK(u32s(b, gic, "#size-cells") == std::vector<uint32_t>{2});
  CHECK(empty_prop(b, gic, "ranges"));
  uint32_t redist = static_cast<uint32_t>(c.mpidrs.size() * 0x20000);
  CHECK(u32s(b, gic, "reg") == std::vector<uint32_t>{0, 0x0800'0000, 0, 0x1'0000, 0, 0x080a'0000, 0, redist});
  CHECK(u32s(b, gic, "interrupts") == std::vector<uint32_t>{1, 9, 4});
  CHECK(u32s(b, gic, "phandle") == std::vector<uint32_t>{kGicPhandle});

  const char* pci = "/pcie@3f000000";
  CHECK(str(b, pci, "compatible") == "pci-host-ecam-generic");
  CHECK(str(b, pci, "device_type") == "pci");
  CHECK(u32s(b, pci, "reg") == std::vector<uint32_t>{0, 0x3f00'0000, 0, 0x100'0000});
  CHECK(u32s(b, pci, "bus-range") == std::vector<uint32_t>{0, 15});
  CHECK(u32s(b, pci, "#address-cells") == std::vector<uint32_t>{3});
  CHECK(u32s(b, pci, "#size-cells") == std::vector<uint32_t>{2});
  CHECK(u32s(b, pci, "linux,pci-domain") == std::vector<uint32_t>{0});
  CHECK(empty_prop(b, pci, "dma-coherent"));
  std::vector<uint32_t> ranges{
      0x0100'0000, 0, 0,           0, 0x3eff'0000, 0, 0x1'0000,     // I/O: PCI 0 at the PIO window
      0x0200'0000, 0, 0x1000'0000, 0, 0x1000'0000, 0, 0x2eff'0000,  // 32-bit memory, identity
  };
  if (c.mmio64_size) {
    std::vector<uint32_t> m64{0x4300'0000,
                              static_cast<uint32_t>(c.mmio64_base >> 32),
                              static_cast<uint32_t>(c.mmio64_base),
                              static_cast<uint32_t>(c.mmio64_base >> 32),
                              static_cast<uint32_t>(c.mmio64_base),
                              static_cast<uint32_t>(c.mmio64_size >> 32),
                              static_cast<uint32_t>(c.mmio64_size)};
    ranges.insert(ranges.end(), m64.begin(), m64.end());
  }
  CHECK(u32s(b, pci, "ranges") == ranges);
  CHECK_FALSE(prop(b, pci, "interrupt-map"));

  const char* uart = "/serial@9000000";
  CHECK(str(b, uart, "compatible") == "ns16550a");
  CHECK(u32s(b, uart, "reg") == std::vector<uint32_t>{0, 0x0900'0000, 0, 0x1000});
  CHECK(u32s(b, uart, "clock-frequency") == std::vector<uint32_t>{1843200});
  CHECK(u32s(b, uart, "reg-shift") == std::vector<uint32_t>{0});
  CHECK(u32s(b, uart, "reg-io-width") == std::vector<uint32_t>{1});
  CHECK(u32s(b, uart, "interrupts") == std::vector<uint32_t>{0, 1, 1});

  CHECK(str(b, "/chosen", "bootargs") == c.cmdline);
  CHECK(str(b, "/chosen", "stdout-path") == "/serial@9000000");
  CHECK(node(b, str(b, "/chosen", "stdout-path").c_str()) >= 0);
}

void check_its(const std::vector<uint8_t>& b) {
  const char* its = "/intc@8000000/its@8080000";
  CHECK(str(b, its, "compatible") == "arm,gic-v3-its");
  CHECK(empty_prop(b, its, "msi-controller"));
  CHECK(u32s(b, its, "#msi-cells") == std::vector<uint32_t>{1});
  CHECK(u32s(b, its, "reg") == std::vector<uint32_t>{0, 0x0808'0000, 0, 0x2'0000});
  CHECK(u32s(b, its, "phandle") == std::vector<uint32_t>{kItsPhandle});
  CHECK(kItsPhandle != kGicPhandle);
  // msi-map: every requester ID, unchanged, to the ITS.
  auto map = u32s(b, "/pcie@3f000000", "msi-map");
  REQUIRE(map.size() == 4);
  CHECK(map[0] == 0);
  CHECK(fdt_node_offset_by_phandle(b.data(), map[1]) == node(b, its));
  CHECK(map[2] == 0);
  CHECK(map[3] == 0x10000);
}

void check_cpu(const std::vector<uint8_t>& b, const std::string& path, uint64_t mpidr) {
  CAPTURE(path);
  CHECK(str(b, path.c_str(), "device_type") == "cpu");
  CHECK(str(b, path.c_str(), "compatible") == "arm,arm-v8");
  CHECK(str(b, path.c_str(), "enable-method") == "psci");
  CHECK(u32s(b, path.c_str(), "reg") ==
        std::vector<uint32_t>{static_cast<uint32_t>(mpidr >> 32), static_cast<uint32_t>(mpidr)});
}

}  // namespace

TEST_CASE("one vCPU, no initrd: every node and property") {
  auto c = config(1);
  auto b = build(c);
  CHECK(all_nodes(b) == std::set<std::string>{"/", "/chosen", "/memory@40000000", "/cpus", "/cpus/cpu@0", "/psci",
                                              "/timer", "/intc@8000000", "/intc@8000000/its@8080000",
                                              "/pcie@3f000000", "/serial@9000000", "/apb-pclk", "/pl061@9030000",
                                              "/gpio-keys", "/gpio-keys/poweroff"});
  check_common(b, c);
  check_its(b);
  check_cpu(b, "/cpus/cpu@0", 0);
  CHECK_FALSE(prop(b, "/chosen", "linux,initrd-start"));
  CHECK_FALSE(prop(b, "/chosen", "linux,initrd-end"));
  CHECK_FALSE(prop(b, "/chosen", "rng-seed"));
  CHECK(b.size() < 8192);  // packed: no slack left from the build buffer
}

TEST_CASE("two vCPUs with an initrd and an rng seed") {
  auto c = config(2);
  c.ram_size = 5 * GiB;  // RAM size above 32 bits
  c.initrd_start = 0x4800'0000;
  c.initrd_size = 0x123'4567;
  c.rng_seed = 0x0102'0304'0506'0708ULL;
  auto b = build(c);
  CHECK(all_nodes(b) == std::set<std::string>{"/", "/chosen", "/memory@40000000", "/cpus", "/cpus/cpu@0", "/cpus/cpu@1",
                                              "/psci", "/timer", "/intc@8000000", "/intc@8000000/its@8080000",
                                              "/pcie@3f000000", "/serial@9000000", "/apb-pclk", "/pl061@9030000",
                                              "/gpio-keys", "/gpio-keys/poweroff"});
  check_common(b, c);
  check_its(b);
  check_cpu(b, "/cpus/cpu@0", 0);
  check_cpu(b, "/cpus/cpu@1", 1);
  CHECK(u32s(b, "/chosen", "linux,initrd-start") == std::vector<uint32_t>{0, 0x4800'0000});
  CHECK(u32s(b, "/chosen", "linux,initrd-end") == std::vector<uint32_t>{0, 0x4800'0000 + 0x123'4567});
  CHECK(prop(b, "/chosen", "rng-seed") == std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8});
}

TEST_CASE("cpu nodes are named and addressed by MPIDR; 123 vCPUs fill the redistributor region") {
  auto c = config(kMaxCpus);
  REQUIRE(kMaxCpus == 123);
  auto b = build(c);
  check_common(b, c);
  check_cpu(b, "/cpus/cpu@f", 0xf);
  check_cpu(b, "/cpus/cpu@100", 0x100);    // vCPU 16: Aff1 = 1
  check_cpu(b, "/cpus/cpu@70a", 0x70a);    // vCPU 122 = 7 * 16 + 10
  CHECK(node(b, "/cpus/cpu@10") < 0);      // no Aff0 above 15
  CHECK(0x080a'0000 + 123 * 0x20000 == kGicRedistEnd);
  // Aff3 lands in the upper reg cell.
  c = config(1);
  c.mpidrs = {0xff00'0000'01ULL};
  b = build(c);
  check_cpu(b, "/cpus/cpu@ff00000001", 0xff00'0000'01ULL);
}

TEST_CASE("the power button: a PL061 with its clock, and gpio-keys KEY_POWER on its line 3") {
  auto c = config(1);
  auto b = build(c);
  const char* gpio = "/pl061@9030000";
  auto compat = prop(b, gpio, "compatible");
  REQUIRE(compat);
  CHECK(std::string(compat->begin(), compat->end()) == std::string("arm,pl061\0arm,primecell\0", 24));
  CHECK(u32s(b, gpio, "reg") == std::vector<uint32_t>{0, 0x0903'0000, 0, 0x1000});
  CHECK(u32s(b, gpio, "interrupts") == std::vector<uint32_t>{0, kGpioSpi, 1});  // SPI 2, edge rising
  CHECK(empty_prop(b, gpio, "gpio-controller"));
  CHECK(u32s(b, gpio, "#gpio-cells") == std::vector<uint32_t>{2});
  CHECK(str(b, gpio, "clock-names") == "apb_pclk");
  auto clock = u32s(b, gpio, "clocks");
  REQUIRE(clock.size() == 1);
  CHECK(fdt_node_offset_by_phandle(b.data(), clock[0]) == node(b, "/apb-pclk"));
  CHECK(str(b, "/apb-pclk", "compatible") == "fixed-clock");
  CHECK(u32s(b, "/apb-pclk", "#clock-cells") == std::vector<uint32_t>{0});
  CHECK(u32s(b, "/apb-pclk", "clock-frequency") == std::vector<uint32_t>{24'000'000});
  CHECK(str(b, "/gpio-keys", "compatible") == "gpio-keys");
  CHECK(u32s(b, "/gpio-keys/poweroff", "linux,code") == std::vector<uint32_t>{116});  // KEY_POWER
  auto gpios = u32s(b, "/gpio-keys/poweroff", "gpios");
  REQUIRE(gpios.size() == 3);
  CHECK(fdt_node_offset_by_phandle(b.data(), gpios[0]) == node(b, gpio));
  CHECK(gpios[1] == kPowerButtonLine);
  CHECK(gpios[2] == 0);  // active high
  // Phandles are distinct.
  CHECK(std::set<uint32_t>{kGicPhandle, kItsPhandle, kClockPhandle, kGpioPhandle}.size() == 4);

  c.power_button = false;
  auto without = build(c);
  CHECK(node(without, gpio) < 0);
  CHECK(node(without, "/gpio-keys") < 0);
  CHECK(node(without, "/apb-pclk") < 0);
}

TEST_CASE("its=false drops the ITS and the msi-map, nothing else") {
  auto c = config(2);
  c.its = false;
  auto b = build(c);
  CHECK(all_nodes(b) == std::set<std::string>{"/", "/chosen", "/memory@40000000", "/cpus", "/cpus/cpu@0", "/cpus/cpu@1",
                                              "/psci", "/timer", "/intc@8000000", "/pcie@3f000000", "/serial@9000000", "/apb-pclk", "/pl061@9030000",
                                              "/gpio-keys", "/gpio-keys/poweroff"});
  check_common(b, c);
  CHECK_FALSE(prop(b, "/pcie@3f000000", "msi-map"));
  CHECK(fdt_node_offset_by_phandle(b.data(), kItsPhandle) < 0);
}

TEST_CASE("a zero-sized 64-bit window leaves two PCI ranges") {
  auto c = config(1);
  c.mmio64_size = 0;
  auto b = build(c);
  check_common(b, c);
  CHECK(u32s(b, "/pcie@3f000000", "ranges").size() == 14);
}

TEST_CASE("the buffer grows: a 1 MiB command line round-trips") {
  auto c = config(1);
  c.cmdline = std::string(MiB, 'k');
  auto b = build(c);
  CHECK(str(b, "/chosen", "bootargs") == c.cmdline);
  CHECK(b.size() > MiB);
  CHECK(b.size() <= kMaxFdtSize);
  check_common(b, c);
}

TEST_CASE("bad configurations are refused with the reason") {
  auto c = config(0);
  auto r = build_fdt(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() == "device tree: no vCPUs (a VM needs at least one)");

  c = config(124);
  r = build_fdt(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() ==
        "device tree: 124 vCPUs do not fit in the GIC redistributor region [0x80a0000, 0x9000000): it holds 123 "
        "(one 128 KiB frame pair per vCPU)");

  c = config(1);
  c.cmdline = std::string(3 * MiB, 'x');
  r = build_fdt(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() ==
        "device tree: size overflow: the tree outgrows the 2 MiB Linux accepts on arm64 (while writing /chosen, "
        "property \"bootargs\")");
  c.cmdline = std::string(kMaxFdtSize, 'x');  // just over with the rest of the tree
  CHECK(build_fdt(c).message().find("size overflow") != std::string::npos);

  c = config(2);
  c.mpidrs[1] = 1ULL << 31;  // bit 31 is RES1 in MPIDR_EL1, not an affinity
  CHECK(build_fdt(c).message() == "device tree: vCPU 1: MPIDR 0x80000000 has bits outside Aff3..Aff0 (0xff00ffffff)");
  c.mpidrs = {0, 1, 0};
  CHECK(build_fdt(c).message() == "device tree: vCPUs 0 and 2 have the same MPIDR 0x0");

  c = config(1);
  c.ram_size = 0;
  CHECK(build_fdt(c).message() == "device tree: guest RAM is empty");
  c = config(1);
  c.initrd_start = ~0ULL - 10;
  c.initrd_size = 100;
  CHECK(build_fdt(c).message().find("initrd at 0xfffffffffffffff5") != std::string::npos);
}
