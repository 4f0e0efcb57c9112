// vmm/arch/aarch64/gic.h: the in-kernel GICv3 and its ITS (KVM_DEV_TYPE_ARM_VGIC_V3 / _ITS).
//
// Created after the vCPUs (KVM needs them to size the redistributors), at the addresses of
// vmm/arch/aarch64/layout.h, with layout::kNumIrqs interrupt lines. The ITS translates the MSIs of
// PCI devices: KVM routes an MSI by its requester ID (KVM_MSI_VALID_DEVID) through the ITS tables
// the guest programs. Both device fds live as long as the VM.
#pragma once

#include <cstdint>

#include "base/result.h"
#include "vmm/kvm/kvm.h"

namespace tandem::arm64 {

struct Gic {
  kvm::Device gic;
  kvm::Device its;
};

// Creates and initialises the GIC and the ITS for `num_cpus` vCPUs, all of which exist already.
Result<Gic> create_gic(const kvm::Vm& vm, uint32_t num_cpus);

}  // namespace tandem::arm64
