// devices/vhost_pci/spin_relay.h: TEST-ONLY. A vhost-pci-net that relays its notifications through
// a spinning user-space thread, built only with `--define tandem_test_relay=spin`.
//
// The real device hands the peer's kick eventfds to KVM as irqfds and its doorbells to KVM as
// ioeventfds on the peer's call eventfds: no thread of tandem's sees a packet. This relay puts one
// thread in between, as a naive design would: KVM gets eventfds of the relay's own, and the thread
// polls all of them without sleeping and passes every notification on. Traffic still flows; the
// e2e test tests/e2e/vhost-pci.sh must catch it by the CPU time and context switches of tandem's
// non-vCPU threads (docs/testing.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "base/unique_fd.h"

namespace tandem::vhost_pci {

class SpinRelay {
 public:
  SpinRelay();
  ~SpinRelay();
  SpinRelay(const SpinRelay&) = delete;
  SpinRelay& operator=(const SpinRelay&) = delete;

  // What KVM is given instead of the peer's fds for ring `index`: `irq` (an irqfd; the relay
  // signals it when `kick` fires) and `doorbell` (an ioeventfd; the relay passes it on to `call`).
  // -1 where the peer gave no fd. The peer's fds stay the caller's and must outlive remove().
  struct Fds {
    int irq = -1, doorbell = -1;
  };
  Fds interpose(uint32_t index, int kick, int call);
  void remove(uint32_t index);

 private:
  struct Entry {
    uint32_t index;
    int kick, call;
    UniqueFd irq, doorbell;
  };
  void spin();

  std::mutex mu_;
  std::vector<Entry> entries_;
  std::atomic<int> waiters_{0};  // callers waiting for mu_: the spinning thread yields to them
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace tandem::vhost_pci
