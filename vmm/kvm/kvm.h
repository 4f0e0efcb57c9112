// vmm/kvm/kvm.h: RAII wrappers for the KVM system, VM and vCPU file descriptors.
//
// Thin and safe, in the spirit of rust-vmm's kvm-ioctls: every ioctl returns a Result whose error
// names the ioctl; fds and the vCPU's kvm_run mapping are owned. Usable without the rest of tandem.
// What only one architecture has is declared in an `#if` block per architecture (as kvm-ioctls does
// with cfg(target_arch)) and implemented in kvm_x86_64.cc or kvm_aarch64.cc.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "memory/mapping.h"

namespace tandem::kvm {

class Vm;
class Vcpu;

#if defined(__aarch64__)
// The KVM_GET/SET_ONE_REG id of a 64-bit core register, from its offset in struct kvm_regs
// (offsetof(kvm_regs, regs.pc) and so on).
constexpr uint64_t core_reg(size_t offset) {
  return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset / sizeof(uint32_t));
}
#endif

#if defined(__x86_64__)
// The owned CPUID table (kvm_cpuid2 with its trailing entries).
struct CpuidTable {
  std::vector<kvm_cpuid_entry2> entries;
  kvm_cpuid_entry2* find(uint32_t function, uint32_t index = 0);
  const kvm_cpuid_entry2* find(uint32_t function, uint32_t index = 0) const;
};
#endif

// An in-kernel device (KVM_CREATE_DEVICE: the arm64 GICv3 and its ITS) and its attributes.
class Device {
 public:
  Status set_attr(uint32_t group, uint64_t attr, const void* value, const std::string& what) const;
  bool has_attr(uint32_t group, uint64_t attr) const;
  int fd() const { return fd_.get(); }

 private:
  friend class Vm;
  explicit Device(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

class Kvm {
 public:
  // Opens /dev/kvm (or `path`) and checks the API version. The error for a missing device names
  // tools/nested-kvm.
  static Result<Kvm> open(const std::string& path = "/dev/kvm");

  int check_extension(long cap) const;
  Status require_extensions() const;  // everything tandem needs, one clear error for the first missing
  Result<int> vcpu_mmap_size() const;
  int max_vcpus() const;
  // `type` is the machine type (arm64: KVM_VM_TYPE_ARM_IPA_SIZE(bits)); 0 is the default.
  Result<Vm> create_vm(unsigned long type = 0) const;
#if defined(__x86_64__)
  Result<CpuidTable> supported_cpuid() const;
  Result<std::vector<uint32_t>> msr_index_list() const;
#endif
  int fd() const { return fd_.get(); }

 private:
  explicit Kvm(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

class Vm {
 public:
#if defined(__x86_64__)
  Status set_tss_addr(uint64_t addr) const;
  Status set_identity_map_addr(uint64_t addr) const;
  Status create_irqchip() const;
  Status create_pit2() const;
#endif
#if defined(__aarch64__)
  // KVM_ARM_PREFERRED_TARGET: the vCPU target (and features) for KVM_ARM_VCPU_INIT.
  Result<kvm_vcpu_init> preferred_target() const;
#endif
  Result<Device> create_device(uint32_t type, const std::string& what) const;  Status set_user_memory_region(uint32_t slot, uint64_t gpa, uint64_t size, void* host, uint32_t flags = 0) const;
  Status set_gsi_routing(const std::vector<kvm_irq_routing_entry>& entries) const;
  Status irqfd(int eventfd, uint32_t gsi, bool deassign = false) const;
  // Registers an ioeventfd for a PIO (pio=true) or MMIO address; len 0 matches any width.
  Status ioeventfd(int eventfd, uint64_t addr, uint32_t len, bool pio, bool deassign = false) const;
  Status irq_line(uint32_t irq, bool level) const;
  Result<Vcpu> create_vcpu(uint32_t id, int mmap_size) const;
  int fd() const { return fd_.get(); }

 private:
  friend class Kvm;
  explicit Vm(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

class Vcpu {
 public:
  // KVM_RUN; the exit is in run(). EINTR (a signal, immediate_exit) is an error value with
  // `interrupted` set, not a failure.
  struct RunError {
    bool interrupted;
    std::string message;
  };
  // Returns true on a normal exit, false when interrupted; an Error for real failures.
  Result<bool> run() const;
  kvm_run* run_state() const { return reinterpret_cast<kvm_run*>(run_map_.data()); }
  uint32_t id() const { return id_; }
  // The registers, formatted for a failure message (architecture-specific).
  std::string describe_registers() const;

#if defined(__x86_64__)
  Result<kvm_regs> get_regs() const;
  Status set_regs(const kvm_regs& r) const;
  Result<kvm_sregs> get_sregs() const;
  Status set_sregs(const kvm_sregs& s) const;
  Status set_fpu(const kvm_fpu& f) const;
  Status set_cpuid(const CpuidTable& table) const;
  Status set_xcr0(uint64_t xcr0) const;
  Status set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs) const;
  Result<kvm_lapic_state> get_lapic() const;
  Status set_lapic(const kvm_lapic_state& l) const;
  Result<kvm_mp_state> get_mp_state() const;
#endif
#if defined(__aarch64__)
  Status init(const kvm_vcpu_init& init) const;
  Result<uint64_t> get_one_reg(uint64_t id) const;
  Status set_one_reg(uint64_t id, uint64_t value) const;
#endif
  int fd() const { return fd_.get(); }

 private:
  friend class Vm;
  Vcpu(UniqueFd fd, Mapping run_map, uint32_t id) : fd_(std::move(fd)), run_map_(std::move(run_map)), id_(id) {}
  UniqueFd fd_;
  Mapping run_map_;
  uint32_t id_;
};

}  // namespace tandem::kvm
