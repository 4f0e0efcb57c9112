// devices/virtio/blk/uring.h: an io_uring (liburing) whose completions are signalled on an
// eventfd, for a device thread's poll loop. Owns the ring and the eventfd; not thread-safe.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "base/result.h"
#include "base/unique_fd.h"

namespace tandem::virtio::blk {

class Uring {
 public:
  static Result<Uring> create(unsigned entries);
  Uring(Uring&&) = default;
  Uring& operator=(Uring&&) = default;
  ~Uring();

  // A free submission entry, or nullptr when all are taken (submit() first).
  io_uring_sqe* sqe() { return io_uring_get_sqe(ring_.get()); }
  // Free submission entries (a linked pair must be submitted together).
  unsigned space() const { return io_uring_sq_space_left(ring_.get()); }
  // Hands the prepared entries to the kernel.
  Status submit();
  // Readable when completions wait (poll for POLLIN; drain() reads it).
  int event_fd() const { return event_.get(); }
  // Calls done(user_data, result) for every completion waiting; returns how many.
  unsigned drain(const std::function<void(uint64_t, int)>& done);
  // Submits what is still prepared (a submit that failed before), waits for one completion, then
  // drains: for quiescing in-flight I/O. False when the ring itself failed.
  bool wait(const std::function<void(uint64_t, int)>& done);

 private:
  struct Deleter {
    void operator()(io_uring* r) const;
  };
  Uring(std::unique_ptr<io_uring, Deleter> ring, UniqueFd event) : ring_(std::move(ring)), event_(std::move(event)) {}
  std::unique_ptr<io_uring, Deleter> ring_;
  UniqueFd event_;
};

}  // namespace tandem::virtio::blk
