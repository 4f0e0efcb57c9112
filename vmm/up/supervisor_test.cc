// vmm/up/supervisor_test.cc: where `tandem up` takes its defaults from. (The supervisor itself runs
// real VMs: tests/e2e/up-two-vms.sh and up-restart.sh.)
#include "vmm/up/supervisor.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>

using namespace tandem;

TEST_CASE("environment_defaults: guest image from the environment, run directory per manifest") {
  ::setenv("TANDEM_GUEST_KERNEL", "/k/bzImage", 1);
  ::setenv("TANDEM_GUEST_INITRD", "/k/initrd", 1);
  ::setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
  auto d = up::environment_defaults("examples/two-vms.toml");
  CHECK(d.kernel == "/k/bzImage");
  CHECK(d.initrd == "/k/initrd");
  CHECK(d.run_dir == "/run/user/7/tandem/two-vms");
  CHECK(d.check_files);
  CHECK(up::environment_defaults("chain").run_dir == "/run/user/7/tandem/chain");

  // Without $TANDEM_GUEST_INITRD: the newest guest image built for the kernel's release.
  const std::string cache = "/tmp/tandem-supervisor-test-" + std::to_string(::getpid());
  ::setenv("TANDEM_CACHE", cache.c_str(), 1);
  ::setenv("TANDEM_GUEST_KERNEL", "/boot/vmlinuz-9.9.9-amd64", 1);
  ::unsetenv("TANDEM_GUEST_INITRD");
  CHECK(up::environment_defaults("m.toml").initrd.empty());
  REQUIRE(::system(("mkdir -p " + cache + "/guest-images && cd " + cache + "/guest-images && touch -d '2 hours ago' tandem-l2-9.9.9-amd64-aaaa.cpio.gz && touch tandem-l2-9.9.9-amd64-bbbb.cpio.gz tandem-l2-9.9.8-amd64-cccc.cpio.gz").c_str()) == 0);
  CHECK(up::environment_defaults("m.toml").initrd == cache + "/guest-images/tandem-l2-9.9.9-amd64-bbbb.cpio.gz");
  REQUIRE(::system(("rm -rf " + cache).c_str()) == 0);
  ::unsetenv("TANDEM_CACHE");

  ::unsetenv("XDG_RUNTIME_DIR");
  ::unsetenv("TANDEM_GUEST_INITRD");
  d = up::environment_defaults("/etc/x.toml");
  CHECK(d.run_dir == "/tmp/tandem-" + std::to_string(::getuid()) + "/x");
  CHECK(d.initrd.empty());
}
