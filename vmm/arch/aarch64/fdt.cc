// vmm/arch/aarch64/fdt.cc: the aarch64 device tree, written with libfdt's sequential-write API into
// a buffer that grows up to kMaxFdtSize.
#include "vmm/arch/aarch64/fdt.h"

#include <libfdt.h>

#include <cstdio>
#include <initializer_list>
#include <span>
#include <string_view>
#include <utility>

#include "base/hex.h"

namespace tandem::arm64 {

namespace {

using namespace layout;

// Interrupt specifiers (GIC bindings): type, number, flags.
constexpr uint32_t kSpi = 0;
constexpr uint32_t kPpi = 1;
constexpr uint32_t kIrqEdgeRising = 1;
constexpr uint32_t kIrqLevelHigh = 4;
// PPIs of the architected timer (secure phys, non-secure phys, virtual, hyp) and the GIC's
// maintenance interrupt, as PPI numbers (INTID - 16).
constexpr uint32_t kTimerPpis[] = {13, 14, 11, 10};
constexpr uint32_t kGicMaintenancePpi = 9;

constexpr uint64_t kMpidrAffMask = 0xff00ffffffULL;  // Aff3, Aff2, Aff1, Aff0
constexpr uint32_t kUartClock = 1843200;

// PCI address space codes of a `ranges` entry's first cell (PCI bus binding, phys.hi).
constexpr uint32_t kPciIo = 0x0100'0000;
constexpr uint32_t kPciMem32 = 0x0200'0000;
constexpr uint32_t kPciMem64Prefetch = 0x4300'0000;
constexpr uint32_t kPciRidCount = 0x1'0000;  // requester IDs 0000:00:00.0 .. ff:1f.7

constexpr size_t kInitialSize = 16 * 1024;

uint32_t hi32(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
uint32_t lo32(uint64_t v) { return static_cast<uint32_t>(v); }

std::string unit(std::string_view name, uint64_t addr) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "@%llx", static_cast<unsigned long long>(addr));
  return std::string(name) + buf;
}

// Property values: device-tree cells are big-endian 32-bit words.
std::vector<uint8_t> cells(std::initializer_list<uint32_t> words) {
  std::vector<uint8_t> out;
  out.reserve(words.size() * 4);
  for (uint32_t w : words) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(w >> shift));
  }
  return out;
}

std::vector<uint8_t> append(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// NUL-terminated strings back to back, as a string-list property holds them.
std::vector<uint8_t> strings(std::initializer_list<std::string_view> list) {
  std::vector<uint8_t> out;
  for (auto s : list) {
    out.insert(out.end(), s.begin(), s.end());
    out.push_back(0);
  }
  return out;
}

// libfdt's sequential-write API over a buffer that doubles whenever libfdt runs out of space
// (every sequential-write call leaves the blob unchanged when it fails with FDT_ERR_NOSPACE, so the
// call is simply repeated), up to kMaxFdtSize. Errors name the node and property being written.
class Writer {
 public:
  Status begin() {
    buf_.assign(kInitialSize, 0);
    TANDEM_TRY(check(fdt_create(buf_.data(), static_cast<int>(buf_.size())), "creating the blob"));
    TANDEM_TRY(call([&] { return fdt_finish_reservemap(buf_.data()); }, "the memory reservation map"));
    return begin_node("");
  }

  Status begin_node(const std::string& name) {
    path_.push_back(name);
    return call([&] { return fdt_begin_node(buf_.data(), name.c_str()); }, "");
  }

  Status end_node() {
    TANDEM_TRY(call([&] { return fdt_end_node(buf_.data()); }, "closing the node"));
    path_.pop_back();
    return {};
  }

  Status prop(const char* name, std::span<const uint8_t> value) {
    return call([&] { return fdt_property(buf_.data(), name, value.data(), static_cast<int>(value.size())); },
                std::string("property \"") + name + "\"");
  }
  Status prop(const char* name, const std::vector<uint8_t>& value) { return prop(name, std::span(value)); }
  Status prop_empty(const char* name) { return prop(name, std::span<const uint8_t>()); }
  Status prop_u32(const char* name, uint32_t v) { return prop(name, cells({v})); }
  Status prop_u64(const char* name, uint64_t v) { return prop(name, cells({hi32(v), lo32(v)})); }
  Status prop_string(const char* name, std::string_view s) { return prop(name, strings({s})); }

  Result<std::vector<uint8_t>> finish() {
    TANDEM_TRY(end_node());  // the root
    TANDEM_TRY(call([&] { return fdt_finish(buf_.data()); }, "finishing the blob"));
    TANDEM_TRY(check(fdt_pack(buf_.data()), "packing the blob"));
    TANDEM_TRY(check(fdt_check_header(buf_.data()), "checking the finished blob"));
    buf_.resize(fdt_totalsize(buf_.data()));
    return std::move(buf_);
  }

 private:
  std::string where(const std::string& what) const {
    std::string p;
    for (size_t i = 1; i < path_.size(); ++i) p += "/" + path_[i];
    if (p.empty()) p = "/";
    return what.empty() ? p : p + ", " + what;
  }

  Status check(int err, const std::string& what) const {
    if (err >= 0) return {};
    return Error{"device tree: " + where(what) + ": libfdt: " + fdt_strerror(err)};
  }

  template <typename F>
  Status call(F&& f, const std::string& what) {
    for (;;) {
      int err = f();
      if (err != -FDT_ERR_NOSPACE) return check(err, what);
      if (buf_.size() >= kMaxFdtSize) {
        return Error{"device tree: size overflow: the tree outgrows the " + std::to_string(kMaxFdtSize >> 20) +
                     " MiB Linux accepts on arm64 (while writing " + where(what) + ")"};
      }
      std::vector<uint8_t> bigger(std::min<size_t>(buf_.size() * 2, kMaxFdtSize), 0);
      TANDEM_TRY(check(fdt_resize(buf_.data(), bigger.data(), static_cast<int>(bigger.size())), "growing the buffer"));
      buf_ = std::move(bigger);
    }
  }

  std::vector<uint8_t> buf_;
  std::vector<std::string> path_;
};

Status validate(const FdtConfig& cfg) {
  size_t n = cfg.mpidrs.size();
  if (n == 0) return Error{"device tree: no vCPUs (a VM needs at least one)"};
  if (n > kMaxCpus) {
    return Error{"device tree: " + std::to_string(n) + " vCPUs do not fit in the GIC redistributor region [" +
                 hex(kGicRedistBase) + ", " + hex(kGicRedistEnd) + "): it holds " + std::to_string(kMaxCpus) +
                 " (one " + std::to_string(kGicRedistPerCpu >> 10) + " KiB frame pair per vCPU)"};
  }
  for (size_t i = 0; i < n; ++i) {
    if (cfg.mpidrs[i] & ~kMpidrAffMask) {
      return Error{"device tree: vCPU " + std::to_string(i) + ": MPIDR " + hex(cfg.mpidrs[i]) +
                   " has bits outside Aff3..Aff0 (" + hex(kMpidrAffMask) + ")"};
    }
    for (size_t j = 0; j < i; ++j) {
      if (cfg.mpidrs[j] == cfg.mpidrs[i]) {
        return Error{"device tree: vCPUs " + std::to_string(j) + " and " + std::to_string(i) + " have the same MPIDR " +
                     hex(cfg.mpidrs[i])};
      }
    }
  }
  if (cfg.ram_size == 0) return Error{"device tree: guest RAM is empty"};
  if (cfg.ram_base + cfg.ram_size < cfg.ram_base) {
    return Error{"device tree: guest RAM at " + hex(cfg.ram_base) + " of " + hex(cfg.ram_size) + " bytes wraps around"};
  }
  if (cfg.initrd_size != 0 && cfg.initrd_start + cfg.initrd_size < cfg.initrd_start) {
    return Error{"device tree: initrd at " + hex(cfg.initrd_start) + " of " + hex(cfg.initrd_size) + " bytes wraps around"};
  }
  if (cfg.mmio64_size != 0 && cfg.mmio64_base + cfg.mmio64_size < cfg.mmio64_base) {
    return Error{"device tree: 64-bit PCI window at " + hex(cfg.mmio64_base) + " wraps around"};
  }
  return {};
}

// An interrupt specifier list: <type number flags> per interrupt.
std::vector<uint8_t> irq(uint32_t type, uint32_t number, uint32_t flags) { return cells({type, number, flags}); }

Status add_chosen(Writer& w, const FdtConfig& cfg) {
  TANDEM_TRY(w.begin_node("chosen"));
  TANDEM_TRY(w.prop_string("bootargs", cfg.cmdline));
  TANDEM_TRY(w.prop_string("stdout-path", "/" + unit("serial", kUartBase)));
  if (cfg.initrd_size != 0) {
    TANDEM_TRY(w.prop_u64("linux,initrd-start", cfg.initrd_start));
    TANDEM_TRY(w.prop_u64("linux,initrd-end", cfg.initrd_start + cfg.initrd_size));
  }
  if (cfg.rng_seed != 0) TANDEM_TRY(w.prop_u64("rng-seed", cfg.rng_seed));
  return w.end_node();
}

Status add_memory(Writer& w, const FdtConfig& cfg) {
  TANDEM_TRY(w.begin_node(unit("memory", cfg.ram_base)));
  TANDEM_TRY(w.prop_string("device_type", "memory"));
  TANDEM_TRY(w.prop("reg", cells({hi32(cfg.ram_base), lo32(cfg.ram_base), hi32(cfg.ram_size), lo32(cfg.ram_size)})));
  return w.end_node();
}

// Unit address = reg (the MPIDR), as the cpus binding asks; for the first 16 vCPUs that is the index.
Status add_cpus(Writer& w, const FdtConfig& cfg) {
  TANDEM_TRY(w.begin_node("cpus"));
  TANDEM_TRY(w.prop_u32("#address-cells", 2));
  TANDEM_TRY(w.prop_u32("#size-cells", 0));
  for (uint64_t mpidr : cfg.mpidrs) {
    TANDEM_TRY(w.begin_node(unit("cpu", mpidr)));
    TANDEM_TRY(w.prop_string("device_type", "cpu"));
    TANDEM_TRY(w.prop_string("compatible", "arm,arm-v8"));
    TANDEM_TRY(w.prop_string("enable-method", "psci"));
    TANDEM_TRY(w.prop_u64("reg", mpidr));
    TANDEM_TRY(w.end_node());
  }
  return w.end_node();
}

Status add_psci(Writer& w) {
  TANDEM_TRY(w.begin_node("psci"));
  TANDEM_TRY(w.prop("compatible", strings({"arm,psci-1.0", "arm,psci-0.2"})));
  TANDEM_TRY(w.prop_string("method", "hvc"));
  return w.end_node();
}

// Level-high and without a CPU mask, as QEMU's virt describes them for a GICv3 (the mask in
// bits [15:8] is a GICv2 notion; the GICv3 binding's flags are 1 = edge, 4 = level).
Status add_timer(Writer& w) {
  TANDEM_TRY(w.begin_node("timer"));
  TANDEM_TRY(w.prop_string("compatible", "arm,armv8-timer"));
  TANDEM_TRY(w.prop_empty("always-on"));
  std::vector<uint8_t> irqs;
  for (uint32_t ppi : kTimerPpis) irqs = append(std::move(irqs), irq(kPpi, ppi, kIrqLevelHigh));
  TANDEM_TRY(w.prop("interrupts", irqs));
  return w.end_node();
}

Status add_gic(Writer& w, const FdtConfig& cfg) {
  uint64_t redist_size = cfg.mpidrs.size() * kGicRedistPerCpu;
  TANDEM_TRY(w.begin_node(unit("intc", kGicDistBase)));
  TANDEM_TRY(w.prop_string("compatible", "arm,gic-v3"));
  TANDEM_TRY(w.prop_u32("#interrupt-cells", 3));
  TANDEM_TRY(w.prop_empty("interrupt-controller"));
  TANDEM_TRY(w.prop_u32("#address-cells", 2));
  TANDEM_TRY(w.prop_u32("#size-cells", 2));
  TANDEM_TRY(w.prop_empty("ranges"));
  TANDEM_TRY(w.prop("reg", cells({hi32(kGicDistBase), lo32(kGicDistBase), hi32(kGicDistSize), lo32(kGicDistSize),
                                  hi32(kGicRedistBase), lo32(kGicRedistBase), hi32(redist_size), lo32(redist_size)})));
  TANDEM_TRY(w.prop("interrupts", irq(kPpi, kGicMaintenancePpi, kIrqLevelHigh)));
  TANDEM_TRY(w.prop_u32("phandle", kGicPhandle));
  if (cfg.its) {
    TANDEM_TRY(w.begin_node(unit("its", kGicItsBase)));
    TANDEM_TRY(w.prop_string("compatible", "arm,gic-v3-its"));
    TANDEM_TRY(w.prop_empty("msi-controller"));
    TANDEM_TRY(w.prop_u32("#msi-cells", 1));
    TANDEM_TRY(w.prop("reg", cells({hi32(kGicItsBase), lo32(kGicItsBase), hi32(kGicItsSize), lo32(kGicItsSize)})));
    TANDEM_TRY(w.prop_u32("phandle", kItsPhandle));
    TANDEM_TRY(w.end_node());
  }
  return w.end_node();
}

// One `ranges` entry: PCI address (3 cells), CPU address (2), size (2).
std::vector<uint8_t> pci_range(uint32_t space, uint64_t pci_addr, uint64_t cpu_addr, uint64_t size) {
  return cells({space, hi32(pci_addr), lo32(pci_addr), hi32(cpu_addr), lo32(cpu_addr), hi32(size), lo32(size)});
}

// No interrupt-map: tandem's PCI functions report interrupt pin 0 (MSI-X only), for which Linux's
// of_irq_parse_pci() looks no further.
Status add_pcie(Writer& w, const FdtConfig& cfg) {
  TANDEM_TRY(w.begin_node(unit("pcie", kEcamBase)));
  TANDEM_TRY(w.prop_string("compatible", "pci-host-ecam-generic"));
  TANDEM_TRY(w.prop_string("device_type", "pci"));
  TANDEM_TRY(w.prop("reg", cells({hi32(kEcamBase), lo32(kEcamBase), hi32(kEcamSize), lo32(kEcamSize)})));
  TANDEM_TRY(w.prop("bus-range", cells({0, static_cast<uint32_t>(kEcamSize / MiB - 1)})));
  TANDEM_TRY(w.prop_u32("#address-cells", 3));
  TANDEM_TRY(w.prop_u32("#size-cells", 2));
  TANDEM_TRY(w.prop_u32("linux,pci-domain", 0));
  TANDEM_TRY(w.prop_empty("dma-coherent"));
  auto ranges = append(pci_range(kPciIo, 0, kPciPioBase, kPciPioSize),
                       pci_range(kPciMem32, kPciMmio32Base, kPciMmio32Base, kPciMmio32Size));
  if (cfg.mmio64_size != 0) {
    ranges = append(std::move(ranges), pci_range(kPciMem64Prefetch, cfg.mmio64_base, cfg.mmio64_base, cfg.mmio64_size));
  }
  TANDEM_TRY(w.prop("ranges", ranges));
  if (cfg.its) TANDEM_TRY(w.prop("msi-map", cells({0, kItsPhandle, 0, kPciRidCount})));
  return w.end_node();
}

Status add_serial(Writer& w) {
  TANDEM_TRY(w.begin_node(unit("serial", kUartBase)));
  TANDEM_TRY(w.prop_string("compatible", "ns16550a"));
  TANDEM_TRY(w.prop("reg", cells({hi32(kUartBase), lo32(kUartBase), hi32(kUartSize), lo32(kUartSize)})));
  TANDEM_TRY(w.prop_u32("clock-frequency", kUartClock));
  TANDEM_TRY(w.prop_u32("reg-shift", 0));
  TANDEM_TRY(w.prop_u32("reg-io-width", 1));
  TANDEM_TRY(w.prop("interrupts", irq(kSpi, kUartSpi, kIrqEdgeRising)));  // raised by an irqfd pulse
  return w.end_node();
}

// The power button, as on QEMU's virt: a PL061 (an AMBA PrimeCell, so it needs its APB clock) and
// a gpio-keys node whose key on line 3 is KEY_POWER.
constexpr uint32_t kApbClockHz = 24'000'000;
constexpr uint32_t kKeyPower = 116;  // linux/input-event-codes.h

Status add_power_button(Writer& w) {
  TANDEM_TRY(w.begin_node("apb-pclk"));
  TANDEM_TRY(w.prop_string("compatible", "fixed-clock"));
  TANDEM_TRY(w.prop_u32("#clock-cells", 0));
  TANDEM_TRY(w.prop_u32("clock-frequency", kApbClockHz));
  TANDEM_TRY(w.prop_string("clock-output-names", "clk24mhz"));
  TANDEM_TRY(w.prop_u32("phandle", kClockPhandle));
  TANDEM_TRY(w.end_node());

  TANDEM_TRY(w.begin_node(unit("pl061", kGpioBase)));
  TANDEM_TRY(w.prop("compatible", strings({"arm,pl061", "arm,primecell"})));
  TANDEM_TRY(w.prop("reg", cells({hi32(kGpioBase), lo32(kGpioBase), hi32(kGpioSize), lo32(kGpioSize)})));
  TANDEM_TRY(w.prop("interrupts", irq(kSpi, kGpioSpi, kIrqEdgeRising)));  // raised by an irqfd pulse
  TANDEM_TRY(w.prop_empty("gpio-controller"));
  TANDEM_TRY(w.prop_u32("#gpio-cells", 2));
  TANDEM_TRY(w.prop_u32("clocks", kClockPhandle));
  TANDEM_TRY(w.prop_string("clock-names", "apb_pclk"));
  TANDEM_TRY(w.prop_u32("phandle", kGpioPhandle));
  TANDEM_TRY(w.end_node());

  TANDEM_TRY(w.begin_node("gpio-keys"));
  TANDEM_TRY(w.prop_string("compatible", "gpio-keys"));
  TANDEM_TRY(w.begin_node("poweroff"));
  TANDEM_TRY(w.prop_string("label", "GPIO Key Poweroff"));
  TANDEM_TRY(w.prop_u32("linux,code", kKeyPower));
  TANDEM_TRY(w.prop("gpios", cells({kGpioPhandle, kPowerButtonLine, 0})));  // active high
  TANDEM_TRY(w.end_node());
  return w.end_node();
}

}  // namespace

Result<std::vector<uint8_t>> build_fdt(const FdtConfig& cfg) {
  TANDEM_TRY(validate(cfg));
  Writer w;
  TANDEM_TRY(w.begin());
  TANDEM_TRY(w.prop_string("compatible", "linux,dummy-virt"));
  TANDEM_TRY(w.prop_string("model", "tandem"));
  TANDEM_TRY(w.prop_u32("#address-cells", 2));
  TANDEM_TRY(w.prop_u32("#size-cells", 2));
  TANDEM_TRY(w.prop_u32("interrupt-parent", kGicPhandle));
  TANDEM_TRY(add_chosen(w, cfg));
  TANDEM_TRY(add_memory(w, cfg));
  TANDEM_TRY(add_cpus(w, cfg));
  TANDEM_TRY(add_psci(w));
  TANDEM_TRY(add_timer(w));
  TANDEM_TRY(add_gic(w, cfg));
  TANDEM_TRY(add_pcie(w, cfg));
  TANDEM_TRY(add_serial(w));
  if (cfg.power_button) TANDEM_TRY(add_power_button(w));
  return w.finish();
}

}  // namespace tandem::arm64
