// vmm/up/run_files.h: the files `tandem up` makes for a run, safe against other local users: its
// run and log directories (created 0700; one that exists must be ours and not writable by group or
// others, nothing under a world-writable directory such as /tmp may be someone else's or a
// symlink, and every directory above must be root's or ours and writable by nobody else unless
// sticky), and its log files (opened with O_NOFOLLOW: a symlink planted at a log path is refused,
// not followed).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace tandem::up {

// mkdir -p with mode 0700 and the ownership rules above; returns the directories it created,
// deepest last (the caller removes them at the end).
Result<std::vector<std::string>> make_private_dirs(const std::string& path);

// A log file: truncated and created 0600 (`append` false), or opened to append to (true).
Result<UniqueFd> open_log_file(const std::string& path, bool append);

}  // namespace tandem::up
