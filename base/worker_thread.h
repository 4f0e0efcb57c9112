// base/worker_thread.h: how a device's worker thread begins, without knowing the VMM's sandbox.
//
// The VMM sets one hook before any device starts (tandem vm: its seccomp allow-list for device
// workers), as Cloud Hypervisor's thread spawner hands each worker its filter; a device's worker
// calls begin_worker_thread(name) first thing. Devices thus never name the sandbox, and run without
// one in unit tests (no hook set).
#pragma once

#include <functional>
#include <thread>

#include "base/result.h"
#include "base/unique_fd.h"

namespace tandem {

using WorkerThreadHook = void (*)();

// Sets the hook every worker thread runs from then on (nullptr: none). Call before any worker starts.
void set_worker_thread_hook(WorkerThreadHook hook);

// Names the calling thread (at most 15 characters are kept) and runs the hook, if one is set.
void begin_worker_thread(const char* name);

// A device's worker thread and the eventfd that ends it. start() creates the eventfd and runs
// `body` on a new thread after begin_worker_thread(name); the body polls stop_fd() beside its own
// fds and returns once it is readable. stop() signals it and joins (idempotent; also on destruction).
class WorkerThread {
 public:
  WorkerThread() = default;
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;
  ~WorkerThread() { stop(); }

  Status start(const char* name, std::function<void()> body);  // Error "eventfd: ..."
  void stop();
  int stop_fd() const { return stop_.get(); }

 private:
  UniqueFd stop_;
  std::thread thread_;
};

}  // namespace tandem
