// memory/fallible_read.cc: process_vm_readv(2) on this process (memory/fallible_read.h).
#include "memory/fallible_read.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

namespace tandem {

bool read_fallible(std::span<uint8_t> dst, const void* src) {
  size_t done = 0;
  while (done < dst.size()) {
    iovec local{dst.data() + done, dst.size() - done};
    iovec remote{const_cast<uint8_t*>(static_cast<const uint8_t*>(src) + done), dst.size() - done};
    ssize_t n = ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // EFAULT: gone; a partial read stops at the first page that is
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace tandem
