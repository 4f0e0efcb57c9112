// vmm/arch/x86_64/boot_cpu.h: the x86_64 CPU state a Linux kernel's 64-bit entry expects.
//
// Identity page tables for the first 4 GiB (2 MiB pages), a GDT with __BOOT_CS (0x10) and
// __BOOT_DS (0x18), long-mode segment and control registers, the boot MSRs, and LAPIC LINT0/LINT1
// wired as ExtINT/NMI. Plain functions from addresses to register state.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "base/result.h"
#include "memory/guest_memory.h"
#include "vmm/arch/x86_64/kvm_x86_64.h"

namespace tandem::x86 {

// Writes the GDT, an empty IDT and the identity page tables into guest memory.
Status write_boot_tables(const GuestMemory& mem);

// Long-mode special registers pointing at those tables.
kvm_sregs long_mode_sregs(const kvm_sregs& base);

// General registers for the 64-bit entry: RIP = entry, RSI = boot_params.
kvm_regs entry_regs(uint64_t entry, uint64_t boot_params);

kvm_fpu initial_fpu();

// The MSRs every vCPU starts with.
std::vector<std::pair<uint32_t, uint64_t>> boot_msrs();

// LINT0 = ExtINT, LINT1 = NMI on a LAPIC register page.
void set_lint_modes(kvm_lapic_state& lapic);

// Configures one vCPU: CPUID (normalised), MSRs, FPU, LAPIC; for the boot CPU also registers and
// long mode. Application processors stay in the wait-for-SIPI state KVM gives them.
Status setup_vcpu(const kvm::Vcpu& vcpu, const kvm::CpuidTable& supported, uint32_t num_cpus, bool boot_cpu,
                  uint64_t entry, uint64_t boot_params);

}  // namespace tandem::x86
