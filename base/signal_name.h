// base/signal_name.h: "SIGTERM" for SIGTERM (glibc's sigabbrev_np), "signal N" for unknown numbers.
#pragma once

#include <cstring>
#include <string>

namespace tandem {

inline std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

}  // namespace tandem
