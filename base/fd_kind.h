// base/fd_kind.h: what a file descriptor a peer passed us really is, before it is used as one.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>

namespace tandem {

// Whether `fd` is an eventfd (its /proc/self/fd link reads "anon_inode:[eventfd]").
inline bool is_eventfd(int fd) {
  char link[64];
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
  if (n < 0) return false;
  return std::string(link, static_cast<size_t>(n)) == "anon_inode:[eventfd]";
}

// The size of a regular file (a memfd is one), or nullopt for anything else (a pipe, a socket, a
// device, a closed fd).
inline std::optional<uint64_t> regular_file_size(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0) return std::nullopt;
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace tandem
