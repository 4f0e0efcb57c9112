// base/worker_thread.cc: the worker-thread hook (see worker_thread.h).
#include "base/worker_thread.h"

#include <pthread.h>
#include <sys/eventfd.h>

#include <atomic>
#include <cstring>
#include <string>

#include "base/eventfd.h"

namespace tandem {

namespace {
std::atomic<WorkerThreadHook> g_hook{nullptr};
}  // namespace

void set_worker_thread_hook(WorkerThreadHook hook) { g_hook.store(hook); }

void begin_worker_thread(const char* name) {
  std::string short_name(name, strnlen(name, 15));  // the kernel's limit for a thread name
  pthread_setname_np(pthread_self(), short_name.c_str());
  if (WorkerThreadHook hook = g_hook.load()) hook();
}

Status WorkerThread::start(const char* name, std::function<void()> body) {
  stop();
  stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_) return errno_error("eventfd");
  thread_ = std::thread([name, body = std::move(body)] {
    begin_worker_thread(name);  // the VMM's sandbox
    body();
  });
  return {};
}

void WorkerThread::stop() {
  if (!thread_.joinable()) return;
  signal_eventfd(stop_.get());
  thread_.join();
}

}  // namespace tandem
