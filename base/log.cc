// base/log.cc: log lines on stderr and the debug switch.
#include "base/log.h"

#include <atomic>
#include <cstdio>

namespace tandem {

namespace {
std::atomic<bool> g_debug{false};
}  // namespace

void log_line(const std::string& who, const std::string& what) {
  std::string line = "tandem: " + who + ": " + what + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

bool debug_logging() { return g_debug.load(std::memory_order_relaxed); }
void set_debug_logging(bool on) { g_debug.store(on); }

}  // namespace tandem
