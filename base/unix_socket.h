// base/unix_socket.h: the address of a Unix stream socket, with the path-length rule checked in one
// place (sun_path holds 107 bytes and the terminating NUL).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "base/result.h"

namespace tandem {

inline constexpr size_t kUnixPathMax = sizeof(sockaddr_un::sun_path) - 1;

// The sockaddr_un for `path`, or an error when it is empty or too long for sun_path.
inline Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() > kUnixPathMax) {
    return Error{"socket path \"" + path + "\" is empty or longer than " + std::to_string(kUnixPathMax) + " bytes"};
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

}  // namespace tandem
