// vmm/kvm/ioctl.h: helpers for KVM ioctls: the wrappers of kvm.h and the architectures' own ioctls
// (vmm/arch/<arch>/kvm_<arch>.cc) use them; not included by kvm.h.
#pragma once

#include <sys/ioctl.h>

#include <cstdint>
#include <vector>

#include "base/result.h"

namespace tandem::kvm {

// The uapi headers declare trailing flexible arrays with __DECLARE_FLEX_ARRAY, which in C++ inserts
// an empty struct (size 1): sizeof and the array offset of kvm_cpuid2, kvm_msrs, kvm_msr_list and
// kvm_irq_routing come out wrong, and so do the ioctl numbers derived from them (the kernel answers
// EINVAL). These are the kernel's real layouts: a header, then the entries.
struct CountHeader {
  uint32_t count;
  uint32_t pad;
};

// A header followed by `n` entries of T, as one zeroed buffer.
template <typename T>
std::vector<uint8_t> counted_buffer(size_t header, size_t n) {
  return std::vector<uint8_t>(header + n * sizeof(T), 0);
}

template <typename... A>
Status io(int fd, unsigned long req, const char* name, A... args) {
  if (::ioctl(fd, req, args...) < 0) return errno_error(name);
  return {};
}

}  // namespace tandem::kvm
