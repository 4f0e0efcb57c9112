// vmm/memslot_thread.h: the one thread that changes KVM memory slots while tandem runs.
//
// KVM_SET_USER_MEMORY_REGION is in the VMM's seccomp list only (vmm/seccomp/ioctls.cc): a device
// worker that parses a peer's messages, or a vCPU that runs the guest, must not be able to remap
// guest memory itself. Whoever needs a slot changed (a vhost-pci device installing a peer's memory
// on its worker, a BAR the guest moved on a vCPU) hands the change to this thread and waits for its
// result. The thread starts before any list is in place and confines itself to the VMM's list.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "base/result.h"

namespace tandem {

class MemslotThread {
 public:
  MemslotThread();
  ~MemslotThread();
  MemslotThread(const MemslotThread&) = delete;
  MemslotThread& operator=(const MemslotThread&) = delete;

  // Runs `change` on the thread; returns its result once it is done. Callers may hold their own
  // locks: the thread takes none but its queue's.
  Status run(const std::function<Status()>& change);

 private:
  struct Job {
    const std::function<Status()>* change;
    Status result;
    bool done = false;
  };
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tandem
