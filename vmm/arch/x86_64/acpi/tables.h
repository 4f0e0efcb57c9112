// vmm/arch/x86_64/acpi/tables.h: tandem's ACPI tables (RSDP, XSDT, FADT, MADT, DSDT, MCFG) for an
// x86_64 guest.
//
// The platform is hardware-reduced ACPI: no PM1/GPE blocks and no SCI; power-off goes through the
// FADT sleep control register (x86::layout::kAcpiSleepPort), reset through the reset register
// (x86::layout::kAcpiResetPort). The tables live in the BIOS area below 1 MiB with the RSDP first, so both
// the boot protocol's acpi_rsdp_addr and a legacy 0xE0000-0xFFFFF scan find them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "memory/guest_memory.h"
#include "vmm/arch/x86_64/layout.h"

namespace tandem::acpi {

struct Config {
  uint32_t num_cpus;  // APIC IDs and ACPI processor UIDs 0..num_cpus-1 (1..254)
  // Optional PCI: when ecam_size != 0, an MCFG table and a PCI0 host bridge (PNP0A08/PNP0A03) in the
  // DSDT whose _CRS covers buses 0..(ecam_size >> 20)-1 and the non-empty windows below.
  uint64_t ecam_base = 0, ecam_size = 0;
  uint64_t mmio32_base = 0, mmio32_size = 0, mmio64_base = 0, mmio64_size = 0;
  uint16_t pio_base = 0, pio_size = 0;
  // Optional power button: when non-zero, a PNP0C0C button (\_SB.PWRB) and a Generic Event Device
  // (ACPI0013, \_SB.GED0) whose edge-triggered interrupt on this GSI notifies the button (0x80,
  // "pressed"): the hardware-reduced way to ask the guest to shut down.
  uint32_t power_button_gsi = 0;
  // Optional ACPI PCI hotplug (needs PCI and the GED): when non-zero, the 16 ports of
  // devices/pci/hotplug.h start here. PCI0 then holds ejectable slot objects S01..S1F (_ADR, _SUN,
  // _EJ0 writing B0EJ) and PCNT, which notifies the slots PCIU and PCID name (Device Check, Eject
  // Request); the GED's _EVT reads the event selector GSEL to tell the power button from slot events.
  uint16_t hotplug_port = 0;
};

// One table as it will sit in guest memory. `name` is the signature ("FACP", "APIC", ...; "RSDP"
// for the root pointer).
struct Table {
  std::string name;
  uint64_t gpa;
  std::vector<uint8_t> bytes;
};

// Builds every table for a placement starting at `start` (16-byte aligned) that must end at or before
// `end`: the RSDP first, then XSDT, FADT, MADT, MCFG (with PCI) and DSDT, each 16-byte aligned.
// Errors: a bad config, or tables that would not fit.
Result<std::vector<Table>> build_tables(const Config& cfg, uint64_t start = x86::layout::kBiosAreaStart,
                                        uint64_t end = x86::layout::kBiosAreaEnd);

// Builds the tables and writes them into guest memory at x86::layout::kBiosAreaStart (gaps zeroed).
// Returns the RSDP's guest-physical address.
Result<uint64_t> write_tables(const GuestMemory& mem, const Config& cfg);

// The DSDT alone (header included), e.g. to inspect or disassemble it.
Result<std::vector<uint8_t>> build_dsdt(const Config& cfg);

// The 8-bit checksum byte that makes `bytes` sum to zero when stored in place of a zero byte.
uint8_t checksum(const std::vector<uint8_t>& bytes);

}  // namespace tandem::acpi
