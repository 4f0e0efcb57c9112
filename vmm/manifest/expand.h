// vmm/manifest/expand.h: `${NAME}` in a manifest's string values, replaced by the environment
// variable NAME (as docker compose does), so that a manifest can name files whose place depends on
// the machine: `path = "${TANDEM_DEBIAN_DISK}"`.
//
// Only `${NAME}` (NAME: a letter or '_', then letters, digits or '_'; at most 64) is expanded; `$${`
// stands for a literal `${`; any other `$` is kept as it is. Only a fixed list of names may be read
// (HOME, USER, the XDG base directories, tandem's own TANDEM_CACHE, TANDEM_GUEST_* and
// TANDEM_DEBIAN_*): a manifest someone else wrote must not carry the rest of the user's environment
// (secrets) into a guest's command line. A variable outside these or not set, a `${` without its
// `}`, a bad name, or a result over 64 KiB is an error naming it. Sizes ("512M") are not expanded.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace tandem::manifest {

// Looks a variable up: its value, or nothing when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process's environment (getenv).
EnvLookup process_environment();

Result<std::string> expand_env(std::string_view text, const EnvLookup& lookup);

}  // namespace tandem::manifest
