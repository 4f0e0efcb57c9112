// vmm/kvm/kvm.h: RAII wrappers for the KVM system, VM and vCPU file descriptors.
//
// Thin and safe, in the spirit of rust-vmm's kvm-ioctls: every ioctl returns a Result whose error
// names the ioctl; fds and the vCPU's kvm_run mapping are owned. Usable without the rest of tandem.
// Only what every architecture has is here: each architecture's own ioctls are free functions over
// these wrappers (their fd(), and the checked io() of vmm/kvm/ioctl.h) in
// vmm/arch/x86_64/kvm_x86_64.h and vmm/arch/aarch64/kvm_aarch64.h.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "memory/mapping.h"

namespace tandem::kvm {

class Vm;
class Vcpu;

// A KVM capability tandem needs, with its name for the error.
struct Extension {
  long cap;
  const char* name;
};

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
  // Everything every architecture needs, then `arch` (the architecture's own: arch_extensions() of
  // vmm/arch/<arch>/kvm_<arch>.h); one clear error for the first missing.
  Status require_extensions(std::span<const Extension> arch = {}) const;
  Result<int> vcpu_mmap_size() const;
  int max_vcpus() const;
  // `type` is the machine type (arm64: KVM_VM_TYPE_ARM_IPA_SIZE(bits)); 0 is the default.
  Result<Vm> create_vm(unsigned long type = 0) const;
  int fd() const { return fd_.get(); }

 private:
  explicit Kvm(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

class Vm {
 public:
  Result<Device> create_device(uint32_t type, const std::string& what) const;
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
  // What KVM_RUN came back with: an exit (its reason is in run_state()), an interruption (a signal,
  // immediate_exit: EINTR or EAGAIN), or a memory fault (EFAULT: KVM could not fault in the memory
  // behind a memslot, as when another process truncated a file a memslot maps). Other failures are
  // an Error.
  enum class Run { kExit, kInterrupted, kMemoryFault };
  Result<Run> run() const;
  kvm_run* run_state() const { return reinterpret_cast<kvm_run*>(run_map_.data()); }
  uint32_t id() const { return id_; }
  int fd() const { return fd_.get(); }

 private:
  friend class Vm;
  Vcpu(UniqueFd fd, Mapping run_map, uint32_t id) : fd_(std::move(fd)), run_map_(std::move(run_map)), id_(id) {}
  UniqueFd fd_;
  Mapping run_map_;
  uint32_t id_;
};

}  // namespace tandem::kvm
