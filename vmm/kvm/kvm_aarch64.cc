// vmm/kvm/kvm_aarch64.cc: the arm64-only KVM wrappers: the preferred vCPU target, vCPU init and
// single registers (KVM_GET/SET_ONE_REG).
#if defined(__aarch64__)
#include <cstddef>
#include <cstdio>

#include "vmm/kvm/ioctl.h"
#include "vmm/kvm/kvm.h"

namespace tandem::kvm {

Result<kvm_vcpu_init> Vm::preferred_target() const {
  kvm_vcpu_init init{};
  if (::ioctl(fd_.get(), KVM_ARM_PREFERRED_TARGET, &init) < 0) return errno_error("KVM_ARM_PREFERRED_TARGET");
  return init;
}

Status Vcpu::init(const kvm_vcpu_init& init) const {
  if (::ioctl(fd_.get(), KVM_ARM_VCPU_INIT, &init) < 0) return errno_error("KVM_ARM_VCPU_INIT on vCPU " + std::to_string(id_));
  return {};
}

Result<uint64_t> Vcpu::get_one_reg(uint64_t id) const {
  uint64_t value = 0;
  kvm_one_reg r{id, reinterpret_cast<uint64_t>(&value)};
  if (::ioctl(fd_.get(), KVM_GET_ONE_REG, &r) < 0) {
    char what[64];
    std::snprintf(what, sizeof what, "KVM_GET_ONE_REG 0x%llx", static_cast<unsigned long long>(id));
    return errno_error(what);
  }
  return value;
}

Status Vcpu::set_one_reg(uint64_t id, uint64_t value) const {
  kvm_one_reg r{id, reinterpret_cast<uint64_t>(&value)};
  if (::ioctl(fd_.get(), KVM_SET_ONE_REG, &r) < 0) {
    char what[64];
    std::snprintf(what, sizeof what, "KVM_SET_ONE_REG 0x%llx", static_cast<unsigned long long>(id));
    return errno_error(what);
  }
  return {};
}

std::string Vcpu::describe_registers() const {
  auto pc = get_one_reg(core_reg(offsetof(kvm_regs, regs.pc)));
  auto pstate = get_one_reg(core_reg(offsetof(kvm_regs, regs.pstate)));
  auto sp = get_one_reg(core_reg(offsetof(kvm_regs, regs.sp)));
  auto x0 = get_one_reg(core_reg(offsetof(kvm_regs, regs.regs[0])));
  auto lr = get_one_reg(core_reg(offsetof(kvm_regs, regs.regs[30])));
  if (!pc || !pstate) return "  (registers unavailable)";
  char buf[256];
  std::snprintf(buf, sizeof buf, "  vCPU %u registers:\n  pc=%016llx pstate=%016llx sp=%016llx x0=%016llx lr=%016llx", id_,
                static_cast<unsigned long long>(*pc), static_cast<unsigned long long>(*pstate),
                static_cast<unsigned long long>(sp ? *sp : 0), static_cast<unsigned long long>(x0 ? *x0 : 0),
                static_cast<unsigned long long>(lr ? *lr : 0));
  return buf;
}

}  // namespace tandem::kvm
#endif  // __aarch64__
