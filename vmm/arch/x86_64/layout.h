// vmm/arch/x86_64/layout.h: where things live in the x86_64 guest-physical address space.
//
// RAM starts at 0. Below 4 GiB it stops at kLowRamEnd (2 GiB), leaving the 32-bit PCI hole: the
// 32-bit MMIO window for BARs, the PCI ECAM, then the IOAPIC and LAPIC. RAM beyond 2 GiB continues
// at 4 GiB. The 64-bit MMIO window starts above the end of RAM (aligned), for 64-bit BARs such as
// vhost-pci's peer-memory BAR; after it, the window for vhost-pci 2.1's shared sections.
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "memory/ram.h"

namespace tandem::x86 {

namespace layout {
using tandem::GiB;
using tandem::KiB;
using tandem::kMinRam;
using tandem::MiB;

// Low memory (boot structures, all inside guest RAM).
constexpr uint64_t kGdtAddr = 0x500;
constexpr uint64_t kIdtAddr = 0x520;
constexpr uint64_t kBootParamsAddr = 0x7000;
constexpr uint64_t kPageTablesAddr = 0x9000;      // PML4, PDPT, 4 PDs: 0x9000..0xefff
constexpr uint64_t kCmdlineAddr = 0x20000;
constexpr uint64_t kCmdlineMax = 0x10000;         // our own cap; the kernel's cmdline_size also applies
constexpr uint64_t kEbdaStart = 0x9fc00;
constexpr uint64_t kBiosAreaStart = 0xe0000;      // RSDP and ACPI tables live here (reserved in e820)
constexpr uint64_t kBiosAreaEnd = 0x100000;
constexpr uint64_t kKernelLoadAddr = 0x100000;    // 1 MiB, the bzImage protected-mode code

// The 32-bit hole.
constexpr uint64_t kLowRamEnd = 2 * GiB;
constexpr uint64_t kMmio32Start = 2 * GiB;
constexpr uint64_t kMmio32Size = 1536 * MiB;      // 0x8000_0000 .. 0xE000_0000
constexpr uint64_t kEcamStart = 0xe0000000;
constexpr uint64_t kEcamSize = 256 * MiB;
constexpr uint64_t kIoapicAddr = 0xfec00000;
constexpr uint64_t kLapicAddr = 0xfee00000;
constexpr uint64_t kHighRamStart = 4 * GiB;
constexpr uint64_t kMmio64Size = 64 * GiB;        // above RAM, for 64-bit BARs
// Right after the 64-bit window: vhost-pci 2.1 shared sections at fixed addresses (outside every
// window the guest's PCI core allocates from, so nothing else is ever placed there).
constexpr uint64_t kSectionWindowSize = 16 * GiB;

// Port I/O used by tandem's platform devices.
constexpr uint16_t kPciConfigPort = 0xcf8;       // 0xCF8 address, 0xCFC data
constexpr uint16_t kCom1Port = 0x3f8;
constexpr uint32_t kCom1Irq = 4;
constexpr uint32_t kPowerButtonIrq = 5;           // the ACPI Generic Event Device's interrupt
constexpr uint16_t kI8042Port = 0x60;             // 0x60 and 0x64
constexpr uint16_t kAcpiSleepPort = 0x3c0;        // sleep control/status (hardware-reduced ACPI)
constexpr uint16_t kAcpiResetPort = 0x3c1;        // reset register
constexpr uint8_t kAcpiResetValue = 0x1;
constexpr uint16_t kHotplugPort = 0x600;          // 16 ports: PCI hotplug and GED event registers
constexpr uint16_t kBootTimerPort = 0x440;        // a guest write marks "init reached" (bench/boot)
constexpr uint16_t kPioWindowStart = 0x1000;      // PCI I/O BARs
constexpr uint16_t kPioWindowSize = 0xf000;
}  // namespace layout

// The guest's RAM regions for `ram_size` bytes: [0, min(ram, 2 GiB)) and, above that, the rest at
// 4 GiB. Errors: zero, not 4 KiB aligned, below 64 MiB, or above what the 64-bit window allows.
Result<std::vector<RamRegion>> plan_ram(uint64_t ram_size);

// First address of the 64-bit MMIO window for a guest with these RAM regions (1 GiB aligned, at
// least 4 GiB).
uint64_t mmio64_start(const std::vector<RamRegion>& ram);

// The largest guest RAM tandem accepts (the 64-bit window needs room above it in a 46-bit space).
constexpr uint64_t kMaxRam = 1ULL << 44;  // 16 TiB

}  // namespace tandem::x86
