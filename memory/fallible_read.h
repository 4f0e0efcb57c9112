// memory/fallible_read.h: reading memory that another process can take away.
//
// A vhost-user front-end shares its RAM as a file it may truncate (when tandem was told to take
// unsealed files): a plain load from the part that is gone raises SIGBUS and ends tandem. These
// read through process_vm_readv(2) on this process instead, where the kernel reports the same
// fault as EFAULT.
#pragma once

#include <cstdint>
#include <span>

namespace tandem {

// Copies dst.size() bytes from `src` into `dst`; false when any of it could not be read (the
// memory behind it is gone, or was never mapped). dst is then left unspecified.
bool read_fallible(std::span<uint8_t> dst, const void* src);

}  // namespace tandem
