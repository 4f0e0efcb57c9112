// vmm/arch/aarch64/layout.h: where things live in the aarch64 guest-physical address space.
//
// Close to QEMU's `virt` machine, so that a stock arm64 kernel finds nothing unusual: the GICv3
// distributor, ITS and redistributors low, then the UART, then the 32-bit PCI window, the PCI I/O
// window (MMIO on arm64) and the ECAM; RAM from 1 GiB. Above RAM, as on x86_64: the 64-bit MMIO
// window for 64-bit BARs (vhost-pci's peer memory) and the window for vhost-pci 2.1's sections.
#pragma once

#include <cstdint>

#include "memory/ram.h"

namespace tandem::arm64::layout {

using tandem::GiB;
using tandem::KiB;
using tandem::kMinRam;
using tandem::MiB;

// GICv3: distributor, ITS, and one 128 KiB redistributor frame pair (RD + SGI) per vCPU.
constexpr uint64_t kGicDistBase = 0x0800'0000;
constexpr uint64_t kGicDistSize = 0x1'0000;
constexpr uint64_t kGicItsBase = 0x0808'0000;
constexpr uint64_t kGicItsSize = 0x2'0000;
constexpr uint64_t kGicRedistBase = 0x080a'0000;
constexpr uint64_t kGicRedistPerCpu = 0x2'0000;
constexpr uint64_t kGicRedistEnd = 0x0900'0000;
constexpr uint32_t kMaxCpus = static_cast<uint32_t>((kGicRedistEnd - kGicRedistBase) / kGicRedistPerCpu);  // 123

// A 16550 UART (byte registers, reg-shift 0) and the boot-timer mark (a guest write says "init
// reached", as port 0x440 does on x86_64).
constexpr uint64_t kUartBase = 0x0900'0000;
constexpr uint64_t kUartSize = 0x1000;
constexpr uint64_t kBootMarkBase = 0x0901'0000;
constexpr uint64_t kBootMarkSize = 0x1000;
// A PL061 GPIO controller whose line kPowerButtonLine is the power button (gpio-keys, KEY_POWER).
constexpr uint64_t kGpioBase = 0x0903'0000;
constexpr uint64_t kGpioSize = 0x1000;
constexpr uint32_t kPowerButtonLine = 3;

// Shared peripheral interrupts: GSI n is SPI n, INTID 32 + n.
constexpr uint32_t kUartSpi = 1;
constexpr uint32_t kGpioSpi = 2;
constexpr uint32_t kNumSpis = 64;        // the GIC gets 32 private + 64 shared interrupt lines
constexpr uint32_t kNumIrqs = 32 + kNumSpis;

// PCI: the 32-bit memory window, the I/O window (its CPU address; PCI address 0), the ECAM.
constexpr uint64_t kPciMmio32Base = 0x1000'0000;
constexpr uint64_t kPciMmio32Size = 0x2eff'0000;
constexpr uint64_t kPciPioBase = 0x3eff'0000;
constexpr uint64_t kPciPioSize = 0x1'0000;
constexpr uint64_t kEcamBase = 0x3f00'0000;
constexpr uint64_t kEcamSize = 16 * MiB;  // buses 0-15

// RAM: one region from 1 GiB (at least kMinRam, memory/ram.h).
constexpr uint64_t kRamBase = 0x4000'0000;

// Above RAM (1 GiB aligned): 64-bit BARs, then vhost-pci 2.1's sections.
constexpr uint64_t kMmio64Size = 64 * GiB;
constexpr uint64_t kSectionWindowSize = 16 * GiB;

// KVM's default IPA space on arm64 is 40 bits: RAM plus both windows must end below it.
constexpr uint64_t kIpaLimit = 1ULL << 40;

}  // namespace tandem::arm64::layout
