// vmm/memslot_thread.cc: the memslot thread (see memslot_thread.h).
#include "vmm/memslot_thread.h"

#include <pthread.h>

#include "vmm/seccomp/seccomp.h"

namespace tandem {

MemslotThread::MemslotThread() : thread_([this] { loop(); }) {}

MemslotThread::~MemslotThread() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status MemslotThread::run(const std::function<Status()>& change) {
  Job job{&change, {}, false};
  std::unique_lock lock(mu_);
  queue_.push_back(&job);
  cv_.notify_all();
  cv_.wait(lock, [&] { return job.done; });
  return job.result;
}

void MemslotThread::loop() {
  pthread_setname_np(pthread_self(), "memslots");
  seccomp::enter(seccomp::ThreadKind::kVmm);
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to do
    Job* job = queue_.front();
    queue_.pop_front();
    lock.unlock();
    Status result = (*job->change)();
    lock.lock();
    job->result = std::move(result);
    job->done = true;
    cv_.notify_all();
  }
}

}  // namespace tandem
