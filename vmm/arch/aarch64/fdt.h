// vmm/arch/aarch64/fdt.h: the flattened device tree of an aarch64 tandem VM.
//
// Everything an arm64 Linux needs to find on a KVM guest, modelled on QEMU's `virt` machine: RAM,
// the vCPUs (PSCI via HVC), the architected timer, the GICv3 with its ITS, a generic ECAM PCIe host
// (MSI-X through the ITS, no INTx), a 16550 UART, a PL061 GPIO whose line 3 is a gpio-keys power
// button, and /chosen. Addresses come from layout.h; the
// blob is built with libfdt, packed, and never larger than Linux's 2 MiB limit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "vmm/arch/aarch64/layout.h"

namespace tandem::arm64 {

// Linux refuses a device tree over 2 MiB (arch/arm64/include/asm/boot.h, MAX_FDT_SIZE).
constexpr uint64_t kMaxFdtSize = 2 * layout::MiB;

// The phandles build_fdt gives the interrupt controller and the ITS.
constexpr uint32_t kGicPhandle = 1;
constexpr uint32_t kItsPhandle = 2;
constexpr uint32_t kClockPhandle = 3;  // the PL061's APB clock (a fixed clock)
constexpr uint32_t kGpioPhandle = 4;   // the PL061

struct FdtConfig {
  std::vector<uint64_t> mpidrs;  // one per vCPU: its cpu node's reg (MPIDR_EL1 & 0xff00ffffff)
  uint64_t ram_base = layout::kRamBase;
  uint64_t ram_size = 0;
  std::string cmdline;
  uint64_t initrd_start = 0, initrd_size = 0;  // size 0: no initrd properties
  uint64_t mmio64_base = 0, mmio64_size = 0;   // the 64-bit PCI window (prefetchable 64-bit memory)
  bool its = true;                             // describe the ITS and the PCI msi-map
  uint64_t rng_seed = 0;                       // non-zero: written as /chosen/rng-seed (8 bytes)
  bool power_button = true;                    // the PL061 and a gpio-keys KEY_POWER on its line 3
};

// A packed, valid DTB for this configuration. Errors: no vCPUs, more vCPUs than the GIC
// redistributor region holds (layout::kMaxCpus), an MPIDR with bits outside Aff3..Aff0, empty RAM,
// a tree over kMaxFdtSize, and any libfdt failure (naming the node and property).
Result<std::vector<uint8_t>> build_fdt(const FdtConfig& cfg);

}  // namespace tandem::arm64
