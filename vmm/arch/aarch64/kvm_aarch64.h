// vmm/arch/aarch64/kvm_aarch64.h: the arm64-only KVM ioctls, as free functions over the generic
// wrappers of vmm/kvm/kvm.h: the preferred vCPU target, vCPU init and single registers
// (KVM_GET/SET_ONE_REG). Its x86_64 counterpart is vmm/arch/x86_64/kvm_x86_64.h.
//
// Like the wrappers, every ioctl returns a Result whose error names the ioctl. arm64 KVM only:
// built under --config=aarch64.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/result.h"
#include "vmm/kvm/kvm.h"

namespace tandem::kvm {

// The capabilities tandem needs on arm64, beyond the ones every architecture needs
// (Kvm::require_extensions).
std::span<const Extension> arch_extensions();

// The KVM_GET/SET_ONE_REG id of a 64-bit core register, from its offset in struct kvm_regs
// (offsetof(kvm_regs, regs.pc) and so on).
constexpr uint64_t core_reg(size_t offset) {
  return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset / sizeof(uint32_t));
}

// KVM_ARM_PREFERRED_TARGET: the vCPU target (and features) for KVM_ARM_VCPU_INIT.
Result<kvm_vcpu_init> preferred_target(const Vm& vm);

// KVM_ARM_VCPU_INIT.
Status init_vcpu(const Vcpu& vcpu, const kvm_vcpu_init& init);
Result<uint64_t> get_one_reg(const Vcpu& vcpu, uint64_t id);
Status set_one_reg(const Vcpu& vcpu, uint64_t id, uint64_t value);

// The registers, formatted for a failure message.
std::string describe_registers(const Vcpu& vcpu);

}  // namespace tandem::kvm
