// vmm/up/run_files.cc: run and log directories and log files that other local users cannot hijack.
#include "vmm/up/run_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace tandem::up {

namespace {

// A directory we may keep sockets and logs in: a real directory (no symlink), ours, and not
// writable by anyone else.
Status check_private(const std::string& dir, const struct stat& st) {
  if (S_ISLNK(st.st_mode)) return Error{dir + " is a symlink: refusing it as a run directory"};
  if (!S_ISDIR(st.st_mode)) return Error{dir + " is not a directory"};
  if (st.st_uid != ::geteuid()) return Error{dir + " belongs to uid " + std::to_string(st.st_uid) + ", not to us (uid " + std::to_string(::geteuid()) + ")"};
  if (st.st_mode & (S_IWGRP | S_IWOTH)) return Error{dir + " is writable by its group or by others"};
  return {};
}

// A directory above the run directory: root's or ours, and nobody else may rename what is in it
// (not writable by group or others, or sticky as /tmp is). A symlink is followed only if root or
// we made it.
Status check_trusted_parent(const std::string& dir, const struct stat& st) {
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return Error{dir + " belongs to uid " + std::to_string(st.st_uid) + ": refusing a run directory under it"};
  }
  if (S_ISDIR(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
    return Error{dir + " is writable by its group or by others and not sticky: refusing a run directory under it"};
  }
  return {};
}

}  // namespace

Result<std::vector<std::string>> make_private_dirs(const std::string& path) {
  if (path.empty() || path[0] != '/') return Error{"the run directory must be an absolute path: \"" + path + "\""};
  std::vector<std::string> made;
  bool shared_parent = false;  // the component's parent is world-writable (/tmp)
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string dir = path.substr(0, pos);
    if (::mkdir(dir.c_str(), 0700) == 0) made.push_back(dir);
    else if (errno != EEXIST) return errno_error("cannot create " + dir);
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) return errno_error(dir);
    const bool last = pos == path.size();
    if (shared_parent || last) TANDEM_TRY(check_private(dir, st));
    else TANDEM_TRY(check_trusted_parent(dir, st));
    shared_parent = shared_parent || (S_ISDIR(st.st_mode) && (st.st_mode & S_IWOTH));
  }
  if (::access(path.c_str(), W_OK | X_OK) != 0) return errno_error(path);
  return made;
}

Result<UniqueFd> open_log_file(const std::string& path, bool append) {
  int flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW | (append ? O_APPEND : O_CREAT | O_TRUNC);
  UniqueFd fd(::open(path.c_str(), flags, 0600));
  if (!fd) return errno_error("log file " + path + (errno == ELOOP ? " (a symlink: not followed)" : ""));
  return fd;
}

}  // namespace tandem::up
