// devices/vhost_user/testing/fixtures.h: what the vhost-user back-end and front-end unit tests
// share: guest RAM stand-ins (a memfd, sealed against shrinking as tandem's and QEMU's guest RAM is,
// or deliberately not), eventfds, and the process's open-fd count for leak checks.
#pragma once

#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#include "base/unique_fd.h"

namespace tandem::vhost_user::testing {

// Guest RAM stand-in: a memfd the front-end maps, sealed against shrinking and growing unless
// `sealed` is false (a hostile or careless front-end's memory).
struct Ram {
  UniqueFd fd;
  uint8_t* base = nullptr;
  size_t size = 0;
  Ram(const char* name, size_t n, bool sealed = true) : fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)), size(n) {
    REQUIRE(fd.valid());
    REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(n)) == 0);
    if (sealed) REQUIRE(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
    void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    REQUIRE(p != MAP_FAILED);
    base = static_cast<uint8_t*>(p);
  }
  explicit Ram(size_t n) : Ram("tandem-test-ram", n) {}
  Ram(const Ram&) = delete;
  Ram& operator=(const Ram&) = delete;
  ~Ram() { ::munmap(base, size); }
  uint64_t addr(uint64_t off = 0) const { return reinterpret_cast<uint64_t>(base) + off; }
};

inline UniqueFd make_eventfd() {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC));
  REQUIRE(fd.valid());
  return fd;
}
inline void notify(int fd, uint64_t v) { REQUIRE(::write(fd, &v, 8) == 8); }
inline uint64_t drain(int fd) {
  uint64_t v = 0;
  REQUIRE(::read(fd, &v, 8) == 8);
  return v;
}

// The process's open fds (the directory's own fd included, the same every time).
inline size_t open_fds() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  REQUIRE(d != nullptr);
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

}  // namespace tandem::vhost_user::testing
