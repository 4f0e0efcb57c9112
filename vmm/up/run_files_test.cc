// Unit tests for vmm/up/run_files: run directories other local users cannot plant or share, and
// log files that are never reached through a symlink.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "tests/unit/skip.h"
#include "vmm/up/run_files.h"

using namespace tandem;
using namespace tandem::up;

namespace {
struct Tmp {
  std::string path;
  Tmp() {
    char t[] = "/tmp/tandem-run-files.XXXXXX";
    REQUIRE(::mkdtemp(t) != nullptr);
    path = t;
  }
  ~Tmp() { REQUIRE(std::system(("rm -rf " + path).c_str()) == 0); }
};
mode_t mode_of(const std::string& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}
}  // namespace

TEST_CASE("run directories: made 0700; an existing one must be ours, a real directory, and private") {
  Tmp t;
  auto made = make_private_dirs(t.path + "/a/b");
  REQUIRE_MESSAGE(made.ok(), made.message());
  CHECK(*made == std::vector<std::string>{t.path + "/a", t.path + "/a/b"});
  CHECK(mode_of(t.path + "/a/b") == 0700);
  CHECK(make_private_dirs(t.path + "/a/b").ok());  // ours already: fine, nothing made
  CHECK(make_private_dirs(t.path + "/a/b")->empty());

  REQUIRE(::chmod((t.path + "/a/b").c_str(), 0770) == 0);
  auto shared = make_private_dirs(t.path + "/a/b");
  REQUIRE_FALSE(shared.ok());
  CHECK(shared.message().find("writable by its group or by others") != std::string::npos);

  REQUIRE(::symlink((t.path + "/a").c_str(), (t.path + "/link").c_str()) == 0);
  auto link = make_private_dirs(t.path + "/link");
  REQUIRE_FALSE(link.ok());
  CHECK(link.message().find("is a symlink") != std::string::npos);
  CHECK_FALSE(make_private_dirs("relative/run").ok());
}

TEST_CASE("outside /tmp, a parent that others may write (and is not sticky) is refused") {
  const char* base = std::getenv("TEST_TMPDIR");  // Bazel's, under its output base: not world-writable
  if (!base) TANDEM_SKIP("no TEST_TMPDIR (run under bazel test)");
  const std::string team = std::string(base) + "/team." + std::to_string(::getpid());
  REQUIRE(::mkdir(team.c_str(), 0770) == 0);
  REQUIRE(::chmod(team.c_str(), 0770) == 0);
  auto under_team = make_private_dirs(team + "/run");
  REQUIRE_FALSE(under_team.ok());
  CHECK_MESSAGE(under_team.message().find("writable by its group or by others and not sticky") != std::string::npos, under_team.message());
  REQUIRE(::chmod(team.c_str(), 01770) == 0);  // sticky, as /tmp: fine
  CHECK(make_private_dirs(team + "/run").ok());
  ::rmdir((team + "/run").c_str());
  ::rmdir(team.c_str());
}

TEST_CASE("under a world-writable directory (/tmp), a directory another user made is refused") {
  if (::geteuid() != 0) TANDEM_SKIP("needs root to make a directory another uid owns");
  // As /tmp/tandem-<uid> made first by uid 65534, right in /tmp (world-writable, sticky).
  const std::string planted = "/tmp/tandem-planted-test." + std::to_string(::getpid());
  REQUIRE(::mkdir(planted.c_str(), 0755) == 0);
  struct Cleanup {
    std::string p;
    ~Cleanup() { ::rmdir((p + "/two-vms").c_str()); ::rmdir(p.c_str()); }
  } cleanup{planted};
  if (::chown(planted.c_str(), 65534, 65534) != 0) TANDEM_SKIP("cannot chown here (a user namespace?)");
  auto r = make_private_dirs(planted + "/two-vms");
  REQUIRE_FALSE(r.ok());
  CHECK_MESSAGE(r.message().find(planted + " belongs to uid 65534") != std::string::npos, r.message());
  struct stat st {};
  CHECK(::lstat((planted + "/two-vms").c_str(), &st) != 0);  // nothing made inside it
}

TEST_CASE("log files: created 0600, appended to, and never opened through a symlink") {
  Tmp t;
  const std::string log = t.path + "/vm1.log", target = t.path + "/victim", link = t.path + "/vm2.log";
  {
    auto fd = open_log_file(log, false);
    REQUIRE(fd.ok());
    REQUIRE(::write(fd->get(), "one\n", 4) == 4);
  }
  CHECK(mode_of(log) == 0600);
  {
    auto fd = open_log_file(log, true);
    REQUIRE(fd.ok());
    REQUIRE(::write(fd->get(), "two\n", 4) == 4);
  }
  struct stat st {};
  REQUIRE(::stat(log.c_str(), &st) == 0);
  CHECK(st.st_size == 8);

  { UniqueFd v(::open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644)); }
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  for (bool append : {false, true}) {
    auto fd = open_log_file(link, append);
    REQUIRE_FALSE(fd.ok());
    CHECK(fd.message().find("a symlink: not followed") != std::string::npos);
  }
  REQUIRE(::stat(target.c_str(), &st) == 0);
  CHECK(st.st_size == 0);
}
