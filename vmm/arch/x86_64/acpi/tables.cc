// vmm/arch/x86_64/acpi/tables.cc: builds and places tandem's ACPI tables. Field offsets follow ACPI
// 6.4 section 5.2 (RSDP 5.2.5, header 5.2.6, XSDT 5.2.8, FADT 5.2.9, MADT 5.2.12) and the PCI
// Firmware spec (MCFG); every field is stored with store_le at its offset, nothing is cast.
#include "vmm/arch/x86_64/acpi/tables.h"

#include "base/hex.h"

#include <algorithm>
#include <cstddef>
#include <sstream>
#include <string_view>

#include "base/le.h"
#include "vmm/arch/x86_64/acpi/aml.h"

namespace tandem::acpi {

namespace {

namespace layout = x86::layout;
using Bytes = std::vector<uint8_t>;

constexpr std::string_view kOemId = "TANDEM";        // 6 bytes
constexpr std::string_view kOemTableId = "TANDEMVM";  // 8 bytes
constexpr std::string_view kCreatorId = "TNDM";       // 4 bytes
constexpr uint32_t kOemRevision = 1;
constexpr uint32_t kCreatorRevision = 1;
constexpr std::string_view kHypervisorId = "TANDEM";  // padded with NULs to 8 bytes

constexpr size_t kHeaderSize = 36;
constexpr size_t kRsdpSize = 36;
constexpr size_t kFadtSize = 276;  // ACPI 6.x (FADT revision 6): ends with the hypervisor vendor id
constexpr uint64_t kAlign = 16;

// FADT field offsets (ACPI 6.4 table 5.9).
constexpr size_t kFadtDsdt = 40;
constexpr size_t kFadtIapcBootArch = 109;
constexpr size_t kFadtFlags = 112;
constexpr size_t kFadtResetReg = 116;
constexpr size_t kFadtResetValue = 128;
constexpr size_t kFadtMinorVersion = 131;
constexpr size_t kFadtXDsdt = 140;
constexpr size_t kFadtSleepControlReg = 244;
constexpr size_t kFadtSleepStatusReg = 256;
constexpr size_t kFadtHypervisorId = 268;

// FADT flags and IA-PC boot architecture flags.
constexpr uint32_t kFadtPwrButton = 1u << 4;
constexpr uint32_t kFadtSlpButton = 1u << 5;
constexpr uint32_t kFadtResetRegSup = 1u << 10;
constexpr uint32_t kFadtHwReducedAcpi = 1u << 20;
constexpr uint16_t kBootArchVgaNotPresent = 1u << 2;
constexpr uint16_t kBootArchPcieAspmControls = 1u << 4;
constexpr uint16_t kBootArchCmosRtcNotPresent = 1u << 5;

// Generic Address Structure: System I/O space, byte access.
constexpr uint8_t kGasSystemIo = 1;
constexpr uint8_t kGasAccessByte = 1;

// MADT entry types and flags.
constexpr uint8_t kMadtLocalApic = 0;
constexpr uint8_t kMadtIoApic = 1;
constexpr uint8_t kMadtInterruptSourceOverride = 2;
constexpr uint8_t kMadtLocalApicNmi = 4;
constexpr uint32_t kMadtPcatCompat = 1;
constexpr uint32_t kLocalApicEnabled = 1;

// _S5_ sleep type: Linux writes (SLP_TYP << 2) | SLP_EN to the sleep control register.
constexpr uint64_t kS5SleepType = 5;


uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

void put_chars(Bytes& b, size_t offset, std::string_view s, size_t width, char pad) {
  for (size_t i = 0; i < width; ++i) b[offset + i] = static_cast<uint8_t>(i < s.size() ? s[i] : pad);
}

// A table of `size` zero bytes with the standard header filled in (length and checksum are
// finished by finish_table).
Bytes table_with_header(std::string_view signature, uint8_t revision, size_t size) {
  Bytes b(size, 0);
  put_chars(b, 0, signature, 4, ' ');
  b[8] = revision;
  put_chars(b, 10, kOemId, 6, ' ');
  put_chars(b, 16, kOemTableId, 8, ' ');
  store_le<uint32_t>(b, 24, kOemRevision);
  put_chars(b, 28, kCreatorId, 4, ' ');
  store_le<uint32_t>(b, 32, kCreatorRevision);
  return b;
}

void finish_table(Bytes& b) {
  store_le<uint32_t>(b, 4, static_cast<uint32_t>(b.size()));
  b[9] = 0;
  b[9] = checksum(b);
}

void append_le(Bytes& b, uint64_t value, size_t width) {
  for (size_t i = 0; i < width; ++i) b.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

void put_gas_io8(Bytes& b, size_t offset, uint16_t port) {
  b[offset + 0] = kGasSystemIo;
  b[offset + 1] = 8;  // register bit width
  b[offset + 2] = 0;  // bit offset
  b[offset + 3] = kGasAccessByte;
  store_le<uint64_t>(b, offset + 4, port);
}

bool pci_enabled(const Config& cfg) { return cfg.ecam_size != 0; }
uint64_t pci_buses(const Config& cfg) { return cfg.ecam_size >> 20; }

Status check_config(const Config& cfg) {
  if (cfg.num_cpus == 0 || cfg.num_cpus > 254) {
    return Error{"ACPI: " + std::to_string(cfg.num_cpus) + " CPUs (xAPIC MADT supports 1-254, the IOAPIC takes the next id)"};
  }
  if (!pci_enabled(cfg)) {
    if (cfg.ecam_base || cfg.mmio32_size || cfg.mmio64_size || cfg.pio_size) {
      return Error{"ACPI: PCI windows given without an ECAM region"};
    }
    return {};
  }
  if (cfg.ecam_size % layout::MiB || pci_buses(cfg) > 256 || cfg.ecam_base % layout::MiB ||
      cfg.ecam_base + cfg.ecam_size < cfg.ecam_base) {
    return Error{"ACPI: bad ECAM region " + hex(cfg.ecam_base) + "+" + hex(cfg.ecam_size) +
                 " (want 1 MiB aligned, 1 MiB per bus, at most 256 buses)"};
  }
  if (cfg.mmio32_size && (cfg.mmio32_base + cfg.mmio32_size > (uint64_t{1} << 32) ||
                          cfg.mmio32_base + cfg.mmio32_size < cfg.mmio32_base)) {
    return Error{"ACPI: 32-bit MMIO window " + hex(cfg.mmio32_base) + "+" + hex(cfg.mmio32_size) + " crosses 4 GiB"};
  }
  if (cfg.mmio64_size && cfg.mmio64_base + cfg.mmio64_size - 1 < cfg.mmio64_base) {
    return Error{"ACPI: 64-bit MMIO window " + hex(cfg.mmio64_base) + "+" + hex(cfg.mmio64_size) + " wraps"};
  }
  if (cfg.hotplug_port && !cfg.power_button_gsi) return Error{"ACPI: PCI hotplug needs the Generic Event Device (a power button GSI)"};
  if (cfg.hotplug_port && uint32_t{cfg.hotplug_port} + 16 > 0x10000) return Error{"ACPI: hotplug ports " + hex(cfg.hotplug_port) + "+16 leave the port space"};
  if (cfg.pio_size && uint32_t{cfg.pio_base} + cfg.pio_size > 0x10000) {
    return Error{"ACPI: PIO window " + hex(cfg.pio_base) + "+" + hex(cfg.pio_size) + " leaves the 64 KiB port space"};
  }
  return {};
}

aml::Aml com1_device() {
  using namespace aml;
  return device("COM1", {
      name("_HID", eisa_id("PNP0501")),
      name("_UID", integer(0)),
      name("_CRS", resource_template({
          io(layout::kCom1Port, layout::kCom1Port, 1, 8),
          irq_no_flags({static_cast<uint8_t>(layout::kCom1Irq)}),
      })),
  });
}

constexpr uint32_t kPciSlots = 32;  // slot 0 is the host bridge

std::string slot_name(uint32_t slot) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string{'S', kHex[slot >> 4], kHex[slot & 15]};
}

// The power button and the Generic Event Device that presses it: an edge on the GED's interrupt
// makes the guest's evged driver run _EVT. Without hotplug it notifies PWRB with 0x80 (button
// pressed); with hotplug it reads the event selector and does what each bit says (1: the button,
// 2: \_SB.PCI0.PCNT for the slots).
std::vector<aml::Aml> power_button_devices(uint32_t gsi, bool hotplug) {
  using namespace aml;
  Aml press = notify(reference("\\_SB_.PWRB"), integer(0x80));
  std::vector<Aml> evt{press};
  if (hotplug) {
    evt = {store(reference("\\_SB_.PCI0.GSEL"), local(0)),
           if_(and_(local(0), integer(1)), {press}),
           if_(and_(local(0), integer(2)), {reference("\\_SB_.PCI0.PCNT")})};
  }
  return {
      device("PWRB", {
          name("_HID", eisa_id("PNP0C0C")),
          name("_UID", integer(0)),
      }),
      device("GED0", {
          name("_HID", string("ACPI0013")),
          name("_UID", integer(0)),
          name("_CRS", resource_template({interrupt({gsi}, true, false)})),
          method("_EVT", 1, true, evt),
      }),
  };
}

// The hotplug registers as fields of PCI0, one ejectable slot object per slot (no _STA: Linux then
// reads the slot's vendor ID to see whether it is filled) and PCNT, which turns PCIU/PCID bits into
// Notify(slot, 1) (Device Check: scan it) and Notify(slot, 3) (Eject Request).
std::vector<aml::Aml> pci_hotplug_terms(uint16_t port) {
  using namespace aml;
  std::vector<Aml> terms{io_region("PHPR", port, 16), dword_fields("PHPR", {"PCIU", "PCID", "B0EJ", "GSEL"})};
  std::vector<Aml> scan{store(reference("PCIU"), local(0)), store(reference("PCID"), local(1))};
  for (uint32_t slot = 1; slot < kPciSlots; ++slot) {
    const std::string n = slot_name(slot);
    terms.push_back(device(n, {
        name("_ADR", integer(uint64_t{slot} << 16)),
        name("_SUN", integer(slot)),
        method("_EJ0", 1, false, {store(integer(uint64_t{1} << slot), reference("\\_SB_.PCI0.B0EJ"))}),
    }));
    scan.push_back(if_(and_(local(0), integer(uint64_t{1} << slot)), {notify(reference(n), integer(1))}));
    scan.push_back(if_(and_(local(1), integer(uint64_t{1} << slot)), {notify(reference(n), integer(3))}));
  }
  terms.push_back(method("PCNT", 0, true, scan));
  return terms;
}

aml::Aml pci_host_bridge(const Config& cfg) {
  using namespace aml;
  std::vector<Aml> crs{word_bus_number({.min = 0, .max = pci_buses(cfg) - 1})};
  if (cfg.pio_size) crs.push_back(word_io({.min = cfg.pio_base, .max = uint64_t{cfg.pio_base} + cfg.pio_size - 1}));
  if (cfg.mmio32_size) crs.push_back(dword_memory({.min = cfg.mmio32_base, .max = cfg.mmio32_base + cfg.mmio32_size - 1}));
  if (cfg.mmio64_size) crs.push_back(qword_memory({.min = cfg.mmio64_base, .max = cfg.mmio64_base + cfg.mmio64_size - 1}));
  std::vector<Aml> terms{
      name("_HID", eisa_id("PNP0A08")),
      name("_CID", eisa_id("PNP0A03")),
      name("_UID", integer(0)),
      name("_SEG", integer(0)),
      name("_BBN", integer(0)),
      name("_CRS", resource_template(crs)),
  };
  if (cfg.hotplug_port) {
    for (auto& t : pci_hotplug_terms(cfg.hotplug_port)) terms.push_back(std::move(t));
  }
  return device("PCI0", terms);
}

// Motherboard resources: declares the ECAM region reserved, which Linux wants before it trusts MCFG
// (when the e820 map does not already mark it reserved).
aml::Aml ecam_reservation(const Config& cfg) {
  using namespace aml;
  const uint64_t last = cfg.ecam_base + cfg.ecam_size - 1;
  Aml ecam = last <= UINT32_MAX
                 ? memory32_fixed(static_cast<uint32_t>(cfg.ecam_base), static_cast<uint32_t>(cfg.ecam_size))
                 : qword_memory({.min = cfg.ecam_base, .max = last, .producer = false});
  std::vector<Aml> crs{ecam};
  if (cfg.hotplug_port) crs.push_back(io(cfg.hotplug_port, cfg.hotplug_port, 1, 16));
  return device("MRES", {
      name("_HID", eisa_id("PNP0C02")),
      name("_UID", integer(0)),
      name("_CRS", resource_template(crs)),
  });
}

Bytes build_rsdp(uint64_t xsdt_gpa) {
  Bytes b(kRsdpSize, 0);
  put_chars(b, 0, "RSD PTR ", 8, ' ');
  put_chars(b, 9, kOemId, 6, ' ');
  b[15] = 2;                                  // revision: ACPI 2.0+
  store_le<uint32_t>(b, 16, 0);               // no RSDT
  store_le<uint32_t>(b, 20, kRsdpSize);
  store_le<uint64_t>(b, 24, xsdt_gpa);
  b[8] = checksum(Bytes(b.begin(), b.begin() + 20));  // ACPI 1.0 part
  b[32] = checksum(b);                                // the whole structure
  return b;
}

Bytes build_xsdt(const std::vector<uint64_t>& entries) {
  Bytes b = table_with_header("XSDT", 1, kHeaderSize);
  for (uint64_t gpa : entries) append_le(b, gpa, 8);
  finish_table(b);
  return b;
}

Bytes build_fadt(uint64_t dsdt_gpa) {
  Bytes b = table_with_header("FACP", 6, kFadtSize);
  store_le<uint32_t>(b, kFadtDsdt, static_cast<uint32_t>(dsdt_gpa));
  store_le<uint16_t>(b, kFadtIapcBootArch, kBootArchVgaNotPresent | kBootArchPcieAspmControls | kBootArchCmosRtcNotPresent);
  store_le<uint32_t>(b, kFadtFlags, kFadtPwrButton | kFadtSlpButton | kFadtResetRegSup | kFadtHwReducedAcpi);
  put_gas_io8(b, kFadtResetReg, layout::kAcpiResetPort);
  b[kFadtResetValue] = layout::kAcpiResetValue;
  b[kFadtMinorVersion] = 4;  // ACPI 6.4
  store_le<uint64_t>(b, kFadtXDsdt, dsdt_gpa);
  put_gas_io8(b, kFadtSleepControlReg, layout::kAcpiSleepPort);
  put_gas_io8(b, kFadtSleepStatusReg, layout::kAcpiSleepPort);
  put_chars(b, kFadtHypervisorId, kHypervisorId, 8, '\0');
  finish_table(b);
  return b;
}

Bytes build_madt(const Config& cfg) {
  Bytes b = table_with_header("APIC", 5, kHeaderSize + 8);
  store_le<uint32_t>(b, 36, static_cast<uint32_t>(layout::kLapicAddr));
  store_le<uint32_t>(b, 40, kMadtPcatCompat);
  for (uint32_t i = 0; i < cfg.num_cpus; ++i) {
    b.insert(b.end(), {kMadtLocalApic, 8, static_cast<uint8_t>(i), static_cast<uint8_t>(i)});  // UID, APIC ID
    append_le(b, kLocalApicEnabled, 4);
  }
  b.insert(b.end(), {kMadtIoApic, 12, static_cast<uint8_t>(cfg.num_cpus), 0});
  append_le(b, layout::kIoapicAddr, 4);
  append_le(b, 0, 4);  // GSI base
  b.insert(b.end(), {kMadtInterruptSourceOverride, 10, 0 /* ISA */, 0 /* IRQ0 */});
  append_le(b, 2, 4);  // -> GSI 2
  append_le(b, 0, 2);  // flags: conforming polarity and trigger
  b.insert(b.end(), {kMadtLocalApicNmi, 6, 0xff /* all processors */});
  append_le(b, 0, 2);  // flags
  b.push_back(1);      // LINT1
  finish_table(b);
  return b;
}

Bytes build_mcfg(const Config& cfg) {
  Bytes b = table_with_header("MCFG", 1, kHeaderSize + 8 + 16);
  store_le<uint64_t>(b, 44, cfg.ecam_base);
  store_le<uint16_t>(b, 52, 0);                                   // segment
  b[54] = 0;                                                      // start bus
  b[55] = static_cast<uint8_t>(pci_buses(cfg) - 1);               // end bus
  finish_table(b);
  return b;
}

}  // namespace

uint8_t checksum(const std::vector<uint8_t>& bytes) {
  uint8_t sum = 0;
  for (uint8_t v : bytes) sum = static_cast<uint8_t>(sum + v);
  return static_cast<uint8_t>(-sum);
}

Result<std::vector<uint8_t>> build_dsdt(const Config& cfg) {
  TANDEM_TRY(check_config(cfg));
  using namespace aml;
  std::vector<Aml> devices{com1_device()};
  if (pci_enabled(cfg)) {
    devices.push_back(pci_host_bridge(cfg));
    devices.push_back(ecam_reservation(cfg));
  }
  if (cfg.power_button_gsi) {
    for (auto& d : power_button_devices(cfg.power_button_gsi, pci_enabled(cfg) && cfg.hotplug_port)) devices.push_back(std::move(d));
  }
  auto body = term_list({
      name("\\_S5_", package({integer(kS5SleepType), integer(0), integer(0), integer(0)})),
      scope("\\_SB_", devices),
  });
  if (!body) return Error{"building the DSDT: " + body.message()};
  Bytes b = table_with_header("DSDT", 2, kHeaderSize);  // revision 2: 64-bit AML integers
  b.insert(b.end(), body->begin(), body->end());
  finish_table(b);
  return b;
}

Result<std::vector<Table>> build_tables(const Config& cfg, uint64_t start, uint64_t end) {
  TANDEM_TRY(check_config(cfg));
  if (start % kAlign) return Error{"ACPI: table area start " + hex(start) + " is not 16-byte aligned"};
  auto dsdt = build_dsdt(cfg);
  if (!dsdt) return dsdt.error();
  Bytes madt = build_madt(cfg);
  const bool pci = pci_enabled(cfg);

  // Placement: sizes do not depend on addresses, so lay out first, then fill in the pointers.
  uint64_t at = start;
  auto place = [&](uint64_t size) {
    uint64_t gpa = align_up(at, kAlign);
    at = gpa + size;
    return gpa;
  };
  const size_t xsdt_entries = pci ? 3 : 2;
  const uint64_t rsdp_gpa = place(kRsdpSize);
  const uint64_t xsdt_gpa = place(kHeaderSize + 8 * xsdt_entries);
  const uint64_t fadt_gpa = place(kFadtSize);
  const uint64_t madt_gpa = place(madt.size());
  const uint64_t mcfg_gpa = pci ? place(kHeaderSize + 8 + 16) : 0;
  const uint64_t dsdt_gpa = place(dsdt->size());
  if (at > end || dsdt_gpa + dsdt->size() > (uint64_t{1} << 32)) {
    return Error{"ACPI tables need " + hex(at - start) + " bytes from " + hex(start) + " but must end by " + hex(end)};
  }

  std::vector<uint64_t> xsdt_list{fadt_gpa, madt_gpa};
  if (pci) xsdt_list.push_back(mcfg_gpa);
  std::vector<Table> tables;
  tables.push_back({"RSDP", rsdp_gpa, build_rsdp(xsdt_gpa)});
  tables.push_back({"XSDT", xsdt_gpa, build_xsdt(xsdt_list)});
  tables.push_back({"FACP", fadt_gpa, build_fadt(dsdt_gpa)});
  tables.push_back({"APIC", madt_gpa, std::move(madt)});
  if (pci) tables.push_back({"MCFG", mcfg_gpa, build_mcfg(cfg)});
  tables.push_back({"DSDT", dsdt_gpa, std::move(dsdt).value()});
  return tables;
}

Result<uint64_t> write_tables(const GuestMemory& mem, const Config& cfg) {
  auto tables = build_tables(cfg);
  if (!tables) return tables.error();
  const uint64_t start = tables->front().gpa;
  const uint64_t stop = tables->back().gpa + tables->back().bytes.size();
  Bytes image(stop - start, 0);  // one write: the gaps between tables are zeroed too
  for (const auto& t : *tables) std::copy(t.bytes.begin(), t.bytes.end(), image.begin() + static_cast<ptrdiff_t>(t.gpa - start));
  auto st = mem.write(start, image);
  if (!st) return Error{"writing ACPI tables: " + st.message()};
  return start;
}

}  // namespace tandem::acpi
