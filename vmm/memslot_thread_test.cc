// Unit tests for vmm/memslot_thread: a change runs on the memslot thread and its result comes back;
// a confined device worker gets a memory slot changed there although its own list forbids the
// ioctl.
#include <doctest/doctest.h>

#include <linux/kvm.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "vmm/memslot_thread.h"
#include "vmm/seccomp/seccomp.h"

using namespace tandem;

TEST_CASE("a change runs on the memslot thread and its result comes back") {
  MemslotThread t;
  std::thread::id ran_on;
  char name[16] = {};
  Status ok = t.run([&]() -> Status {
    ran_on = std::this_thread::get_id();
    pthread_getname_np(pthread_self(), name, sizeof name);
    return {};
  });
  CHECK(ok.ok());
  CHECK(ran_on != std::this_thread::get_id());
  CHECK(std::string(name) == "memslots");
  Status bad = t.run([]() -> Status { return Error{"no slot"}; });
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.message() == "no slot");
}

TEST_CASE("callers on many threads each get their own change done") {
  MemslotThread t;
  std::atomic<int> done{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 8; ++i)
    callers.emplace_back([&t, &done, i] {
      for (int k = 0; k < 50; ++k) {
        Status s = t.run([i, k]() -> Status {
          if ((i + k) % 7 == 0) return Error{std::to_string(i)};
          return {};
        });
        if (s.ok() == ((i + k) % 7 != 0) && (s.ok() || s.message() == std::to_string(i))) done.fetch_add(1);
      }
    });
  for (auto& c : callers) c.join();
  CHECK(done.load() == 8 * 50);
}

TEST_CASE("a device worker, whose list has no KVM_SET_USER_MEMORY_REGION, has it made on the memslot thread") {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!seccomp::set_process_mode(seccomp::Mode::kOn).ok()) ::_exit(10);
    MemslotThread t;  // started unconfined, as tandem starts it: it takes the VMM's list
    int result = 11;
    std::thread worker([&] {
      seccomp::enter(seccomp::ThreadKind::kDevice);
      // On any fd: the filter decides before the kernel looks at it (EBADF means it was let through).
      Status s = t.run([]() -> Status {
        if (::ioctl(-1, KVM_SET_USER_MEMORY_REGION, nullptr) == -1 && errno == EBADF) return {};
        return Error{"unexpected"};
      });
      result = s.ok() ? 0 : 12;
    });
    worker.join();
    ::_exit(result);
  }
  int ws = 0;
  REQUIRE(::waitpid(pid, &ws, 0) == pid);
  REQUIRE(WIFEXITED(ws));
  CHECK(WEXITSTATUS(ws) == 0);
}
