// tests/tools/section_write_probe.h: every way a hostile peer VMM could try to write a symmetric
// vhost-pci-net output section it received in HELLO (docs/vhost-pci-net.md §9.5): a writable shared
// mapping, a read-only one turned writable with mprotect, a reopen through /proc/self/fd (which
// hands back write access to a plain file), write(), and ftruncate(). Used by the
// link_section_writer tool and by the device's unit test.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace tandem::testing {

struct WriteAttempt {
  std::string how;
  bool refused = false;
  std::string error;  // strerror of the refusal, or "succeeded"
};

inline WriteAttempt attempt(std::string how, bool ok, int err) {
  return WriteAttempt{std::move(how), !ok, ok ? "succeeded" : std::strerror(err)};
}

inline WriteAttempt try_shared_mapping(const std::string& how, int fd, size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  if (p == MAP_FAILED) return attempt(how, false, err);
  static_cast<volatile char*>(p)[0] = 0x5a;
  ::munmap(p, size);
  return attempt(how, true, 0);
}

inline std::vector<WriteAttempt> probe_section_writes(int fd, size_t size) {
  std::vector<WriteAttempt> out;
  out.push_back(try_shared_mapping("mmap(PROT_WRITE, MAP_SHARED)", fd, size));

  void* ro = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (ro == MAP_FAILED) {
    out.push_back(WriteAttempt{"mprotect(PROT_WRITE) of a read-only mapping", true, std::string("no read-only mapping: ") + std::strerror(errno)});
  } else {
    bool ok = ::mprotect(ro, size, PROT_READ | PROT_WRITE) == 0;
    out.push_back(attempt("mprotect(PROT_WRITE) of a read-only mapping", ok, errno));
    ::munmap(ro, size);
  }

  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  int rw = ::open(self.c_str(), O_RDWR | O_CLOEXEC);
  if (rw < 0) {
    out.push_back(attempt("open(" + self + ", O_RDWR)", false, errno));
  } else {
    out.push_back(try_shared_mapping("mmap(PROT_WRITE, MAP_SHARED) of a reopen with O_RDWR", rw, size));
    bool wrote = ::pwrite(rw, "x", 1, 0) == 1;
    out.push_back(attempt("pwrite() to a reopen with O_RDWR", wrote, errno));
    ::close(rw);
  }
  bool wrote = ::pwrite(fd, "x", 1, 0) == 1;
  out.push_back(attempt("pwrite()", wrote, errno));
  bool shrunk = ::ftruncate(fd, 0) == 0;
  out.push_back(attempt("ftruncate(0)", shrunk, errno));
  return out;
}

}  // namespace tandem::testing
