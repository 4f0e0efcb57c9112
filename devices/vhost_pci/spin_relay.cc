// devices/vhost_pci/spin_relay.cc: TEST-ONLY (see spin_relay.h): one thread that polls every
// relayed eventfd without sleeping and passes each notification on.
#include "devices/vhost_pci/spin_relay.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>

#include "base/eventfd.h"
#include "base/worker_thread.h"

namespace tandem::vhost_pci {

namespace {
// True (and the counter emptied) when `fd` has been signalled; never blocks.
bool take(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) != 1 || !(p.revents & POLLIN)) return false;
  drain_eventfd(fd);
  return true;
}
}  // namespace

SpinRelay::SpinRelay() : thread_([this] { spin(); }) {}

SpinRelay::~SpinRelay() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

SpinRelay::Fds SpinRelay::interpose(uint32_t index, int kick, int call) {
  remove(index);
  waiters_.fetch_add(1);
  Entry e{index, kick, call, UniqueFd(kick >= 0 ? ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1),
          UniqueFd(call >= 0 ? ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1)};
  Fds fds{e.irq ? e.irq.get() : -1, e.doorbell ? e.doorbell.get() : -1};
  std::lock_guard lock(mu_);
  waiters_.fetch_sub(1);
  entries_.push_back(std::move(e));
  return fds;
}

void SpinRelay::remove(uint32_t index) {
  waiters_.fetch_add(1);
  std::lock_guard lock(mu_);
  waiters_.fetch_sub(1);
  std::erase_if(entries_, [&](const Entry& e) { return e.index == index; });
}

void SpinRelay::spin() {
  begin_worker_thread("vpci-relay");
  while (!stopping_.load()) {
    if (waiters_.load()) std::this_thread::yield();  // let interpose()/remove() take the lock
    std::lock_guard lock(mu_);
    for (const Entry& e : entries_) {
      if (take(e.kick)) signal_eventfd(e.irq.get());
      if (take(e.doorbell.get())) signal_eventfd(e.call);
    }
  }
}

}  // namespace tandem::vhost_pci
