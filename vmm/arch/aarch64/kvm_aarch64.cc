// vmm/arch/aarch64/kvm_aarch64.cc: the arm64-only KVM ioctls: the preferred vCPU target, vCPU init
// and single registers (KVM_GET/SET_ONE_REG).
#include "vmm/arch/aarch64/kvm_aarch64.h"

#include <cstddef>
#include <cstdio>

#include "vmm/kvm/ioctl.h"

namespace tandem::kvm {

std::span<const Extension> arch_extensions() {
  static constexpr Extension kCaps[] = {
      {KVM_CAP_DEVICE_CTRL, "KVM_CAP_DEVICE_CTRL"},
      {KVM_CAP_ONE_REG, "KVM_CAP_ONE_REG"},
      {KVM_CAP_ARM_PSCI_0_2, "KVM_CAP_ARM_PSCI_0_2"},
  };
  return kCaps;
}

Result<kvm_vcpu_init> preferred_target(const Vm& vm) {
  kvm_vcpu_init init{};
  if (::ioctl(vm.fd(), KVM_ARM_PREFERRED_TARGET, &init) < 0) return errno_error("KVM_ARM_PREFERRED_TARGET");
  return init;
}

Status init_vcpu(const Vcpu& vcpu, const kvm_vcpu_init& init) {
  if (::ioctl(vcpu.fd(), KVM_ARM_VCPU_INIT, &init) < 0) return errno_error("KVM_ARM_VCPU_INIT on vCPU " + std::to_string(vcpu.id()));
  return {};
}

Result<uint64_t> get_one_reg(const Vcpu& vcpu, uint64_t id) {
  uint64_t value = 0;
  kvm_one_reg r{id, reinterpret_cast<uint64_t>(&value)};
  if (::ioctl(vcpu.fd(), KVM_GET_ONE_REG, &r) < 0) {
    char what[64];
    std::snprintf(what, sizeof what, "KVM_GET_ONE_REG 0x%llx", static_cast<unsigned long long>(id));
    return errno_error(what);
  }
  return value;
}

Status set_one_reg(const Vcpu& vcpu, uint64_t id, uint64_t value) {
  kvm_one_reg r{id, reinterpret_cast<uint64_t>(&value)};
  if (::ioctl(vcpu.fd(), KVM_SET_ONE_REG, &r) < 0) {
    char what[64];
    std::snprintf(what, sizeof what, "KVM_SET_ONE_REG 0x%llx", static_cast<unsigned long long>(id));
    return errno_error(what);
  }
  return {};
}

std::string describe_registers(const Vcpu& vcpu) {
  auto pc = get_one_reg(vcpu, core_reg(offsetof(kvm_regs, regs.pc)));
  auto pstate = get_one_reg(vcpu, core_reg(offsetof(kvm_regs, regs.pstate)));
  auto sp = get_one_reg(vcpu, core_reg(offsetof(kvm_regs, regs.sp)));
  auto x0 = get_one_reg(vcpu, core_reg(offsetof(kvm_regs, regs.regs[0])));
  auto lr = get_one_reg(vcpu, core_reg(offsetof(kvm_regs, regs.regs[30])));
  if (!pc || !pstate) return "  (registers unavailable)";
  char buf[256];
  std::snprintf(buf, sizeof buf, "  vCPU %u registers:\n  pc=%016llx pstate=%016llx sp=%016llx x0=%016llx lr=%016llx", vcpu.id(),
                static_cast<unsigned long long>(*pc), static_cast<unsigned long long>(*pstate),
                static_cast<unsigned long long>(sp ? *sp : 0), static_cast<unsigned long long>(x0 ? *x0 : 0),
                static_cast<unsigned long long>(lr ? *lr : 0));
  return buf;
}

}  // namespace tandem::kvm
