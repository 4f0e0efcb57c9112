// vmm/kvm/kvm.h: RAII wrappers for the KVM system, VM and vCPU file descriptors.
//
// Thin and safe, in the spirit of rust-vmm's kvm-ioctls: every ioctl returns a Result whose error
// names the ioctl; fds and the vCPU's kvm_run mapping are owned. Usable without the rest of tandem.
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

// The owned CPUID table (kvm_cpuid2 with its trailing entries).
struct CpuidTable {
  std::vector<kvm_cpuid_entry2> entries;
  kvm_cpuid_entry2* find(uint32_t function, uint32_t index = 0);
  const kvm_cpuid_entry2* find(uint32_t function, uint32_t index = 0) const;
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
  Result<CpuidTable> supported_cpuid() const;
  Result<std::vector<uint32_t>> msr_index_list() const;
  Result<Vm> create_vm() const;
  int fd() const { return fd_.get(); }

 private:
  explicit Kvm(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

class Vm {
 public:
  Status set_tss_addr(uint64_t addr) const;
  Status set_identity_map_addr(uint64_t addr) const;
  Status create_irqchip() const;
  Status create_pit2() const;
  Status set_user_memory_region(uint32_t slot, uint64_t gpa, uint64_t size, void* host, uint32_t flags = 0) const;
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
  int fd() const { return fd_.get(); }

 private:
  friend class Vm;
  Vcpu(UniqueFd fd, Mapping run_map, uint32_t id) : fd_(std::move(fd)), run_map_(std::move(run_map)), id_(id) {}
  UniqueFd fd_;
  Mapping run_map_;
  uint32_t id_;
};

}  // namespace tandem::kvm
