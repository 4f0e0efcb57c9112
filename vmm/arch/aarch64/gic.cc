// vmm/arch/aarch64/gic.cc: creating the in-kernel GICv3 and ITS.
#include "vmm/arch/aarch64/gic.h"

#include "vmm/arch/aarch64/layout.h"

namespace tandem::arm64 {

Result<Gic> create_gic(const kvm::Vm& vm, uint32_t num_cpus) {
  if (num_cpus == 0 || num_cpus > layout::kMaxCpus) {
    return Error{"GICv3: " + std::to_string(num_cpus) + " vCPUs; the redistributor region holds " + std::to_string(layout::kMaxCpus)};
  }
  auto gic = vm.create_device(KVM_DEV_TYPE_ARM_VGIC_V3, "GICv3");
  if (!gic) return gic.error();
  uint64_t dist = layout::kGicDistBase, redist = layout::kGicRedistBase;
  TANDEM_TRY(gic->set_attr(KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist, "GICv3 distributor address"));
  TANDEM_TRY(gic->set_attr(KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist, "GICv3 redistributor address"));
  uint32_t nr_irqs = layout::kNumIrqs;
  TANDEM_TRY(gic->set_attr(KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs, "GICv3 interrupt count"));
  auto its = vm.create_device(KVM_DEV_TYPE_ARM_VGIC_ITS, "GICv3 ITS");
  if (!its) return its.error();
  uint64_t its_base = layout::kGicItsBase;
  TANDEM_TRY(its->set_attr(KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &its_base, "ITS address"));
  TANDEM_TRY(gic->set_attr(KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, nullptr, "GICv3 init"));
  TANDEM_TRY(its->set_attr(KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, nullptr, "ITS init"));
  return Gic{std::move(gic).value(), std::move(its).value()};
}

}  // namespace tandem::arm64
