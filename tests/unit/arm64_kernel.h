// tests/unit/arm64_kernel.h: the real arm64 kernel the loader tests read, when this machine has one.
//
// tools/test fetches it (tools/lib/arm64.sh) and passes its path as TANDEM_ARM64_KERNEL, set even
// when empty, so that the path is a part of each test's cache key: a skip cached while no kernel
// was there is not reused once one is. Without the variable (a plain `bazel test`), the first
// ~/.cache/tandem/arm64/*/boot/vmlinuz-*-arm64. Empty when there is none.
#pragma once

#include <glob.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

inline std::string tandem_arm64_kernel() {
  if (const char* env = std::getenv("TANDEM_ARM64_KERNEL"); env != nullptr) return env;
  const passwd* pw = getpwuid(getuid());
  std::string pattern = std::string(pw ? pw->pw_dir : "/nonexistent") + "/.cache/tandem/arm64/*/boot/vmlinuz-*-arm64";
  std::string found;
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0 && g.gl_pathc > 0) found = g.gl_pathv[0];
  globfree(&g);
  return found;
}
