// base/worker_thread.cc: the worker-thread hook (see worker_thread.h).
#include "base/worker_thread.h"

#include <pthread.h>

#include <atomic>
#include <cstring>
#include <string>

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

}  // namespace tandem
