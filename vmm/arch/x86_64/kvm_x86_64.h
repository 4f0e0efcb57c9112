// vmm/arch/x86_64/kvm_x86_64.h: the x86_64-only KVM ioctls, as free functions over the generic
// wrappers of vmm/kvm/kvm.h: CPUID, MSRs, the PIC/IOAPIC/PIT, the TSS, general and special
// registers, the LAPIC. Its aarch64 counterpart is vmm/arch/aarch64/kvm_aarch64.h.
//
// Like the wrappers, every ioctl returns a Result whose error names the ioctl.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "vmm/kvm/kvm.h"

namespace tandem::kvm {

// The capabilities tandem needs on x86_64, beyond the ones every architecture needs
// (Kvm::require_extensions).
std::span<const Extension> arch_extensions();

// The owned CPUID table (kvm_cpuid2 with its trailing entries).
struct CpuidTable {
  std::vector<kvm_cpuid_entry2> entries;
  kvm_cpuid_entry2* find(uint32_t function, uint32_t index = 0);
  const kvm_cpuid_entry2* find(uint32_t function, uint32_t index = 0) const;
};

// The system fd.
Result<CpuidTable> supported_cpuid(const Kvm& kvm);
Result<std::vector<uint32_t>> msr_index_list(const Kvm& kvm);

// The VM fd.
Status set_tss_addr(const Vm& vm, uint64_t addr);
Status set_identity_map_addr(const Vm& vm, uint64_t addr);
Status create_irqchip(const Vm& vm);
Status create_pit2(const Vm& vm);

// A vCPU fd.
Result<kvm_regs> get_regs(const Vcpu& vcpu);
Status set_regs(const Vcpu& vcpu, const kvm_regs& r);
Result<kvm_sregs> get_sregs(const Vcpu& vcpu);
Status set_sregs(const Vcpu& vcpu, const kvm_sregs& s);
Status set_fpu(const Vcpu& vcpu, const kvm_fpu& f);
Status set_cpuid(const Vcpu& vcpu, const CpuidTable& table);
Status set_xcr0(const Vcpu& vcpu, uint64_t xcr0);
Status set_msrs(const Vcpu& vcpu, const std::vector<std::pair<uint32_t, uint64_t>>& msrs);
Result<kvm_lapic_state> get_lapic(const Vcpu& vcpu);
Status set_lapic(const Vcpu& vcpu, const kvm_lapic_state& l);
Result<kvm_mp_state> get_mp_state(const Vcpu& vcpu);

// The registers, formatted for a failure message.
std::string describe_registers(const Vcpu& vcpu);

}  // namespace tandem::kvm
