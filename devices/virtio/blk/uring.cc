// devices/virtio/blk/uring.cc: Uring, see uring.h.
#include "devices/virtio/blk/uring.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tandem::virtio::blk {

void Uring::Deleter::operator()(io_uring* r) const {
  io_uring_queue_exit(r);
  delete r;
}

Uring::~Uring() = default;

Result<Uring> Uring::create(unsigned entries) {
  auto* raw = new io_uring{};
  int err = io_uring_queue_init(entries, raw, 0);
  if (err < 0) {
    delete raw;
    return Error{std::string("io_uring_queue_init: ") + std::strerror(-err)};
  }
  std::unique_ptr<io_uring, Deleter> ring(raw);
  UniqueFd event(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!event) return errno_error("io_uring: eventfd");
  err = io_uring_register_eventfd(ring.get(), event.get());
  if (err < 0) return Error{std::string("io_uring_register_eventfd: ") + std::strerror(-err)};
  return Uring(std::move(ring), std::move(event));
}

Status Uring::submit() {
  int n = io_uring_submit(ring_.get());
  if (n < 0) return Error{std::string("io_uring_submit: ") + std::strerror(-n)};
  return {};
}

unsigned Uring::drain(const std::function<void(uint64_t, int)>& done) {
  uint64_t v;
  (void)!::read(event_.get(), &v, sizeof v);  // nonblocking: clears the signal, if any
  unsigned n = 0;
  io_uring_cqe* cqe;
  while (io_uring_peek_cqe(ring_.get(), &cqe) == 0) {
    uint64_t data = io_uring_cqe_get_data64(cqe);
    int res = cqe->res;
    io_uring_cqe_seen(ring_.get(), cqe);
    done(data, res);
    ++n;
  }
  return n;
}

bool Uring::wait(const std::function<void(uint64_t, int)>& done) {
  int err;
  do err = io_uring_submit_and_wait(ring_.get(), 1);
  while (err == -EINTR);
  // EBUSY and EAGAIN: completions must be taken first (or the kernel is short of memory): drain,
  // the caller comes back.
  if (err < 0 && err != -EBUSY && err != -EAGAIN) return false;
  drain(done);
  return true;
}

}  // namespace tandem::virtio::blk
