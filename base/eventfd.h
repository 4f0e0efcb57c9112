// base/eventfd.h: signalling an eventfd, the way every tandem thread wakes another or raises an
// interrupt an irqfd hangs on, and draining one.
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

// Takes whatever the eventfd's counter holds (sets it to 0), so the next poll waits for a new
// signal. Nothing happens for fd < 0; a counter already at 0 on a non-blocking eventfd is EAGAIN,
// ignored.
inline void drain_eventfd(int fd) {
  if (fd < 0) return;
  uint64_t v;
  [[maybe_unused]] ssize_t n = ::read(fd, &v, sizeof v);
}

}  // namespace tandem
