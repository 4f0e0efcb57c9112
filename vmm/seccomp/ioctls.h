// vmm/seccomp/ioctls.h: the ioctl requests each kind of tandem thread may make (private to
// vmm/seccomp; allow_lists.cc turns them into the ioctl rule of each list).
#pragma once

#include <vector>

#include "vmm/seccomp/seccomp.h"

namespace tandem::seccomp {

// One condition per request: argument 1's low 32 bits equal it (glibc passes the request as an
// unsigned long; the kernel takes an unsigned int). Empty: the kind makes no ioctl at all.
std::vector<ArgMatch> ioctl_requests(ThreadKind kind);

}  // namespace tandem::seccomp
