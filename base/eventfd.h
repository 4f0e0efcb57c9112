// base/eventfd.h: signalling an eventfd, the way every tandem thread wakes another or raises an
// interrupt an irqfd hangs on.
#pragma once

#include <unistd.h>

#include <cstdint>

namespace tandem {

// Adds 1 to the eventfd's counter. Nothing happens for fd < 0 (no such eventfd), and a failed
// write is ignored: the counter is full (the reader has a wake-up pending already) or the reader
// is gone.
inline void signal_eventfd(int fd) {
  if (fd < 0) return;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
}

}  // namespace tandem
