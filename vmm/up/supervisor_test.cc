// vmm/up/supervisor_test.cc: where `tandem up` takes its defaults from, and which sockets a VM
// listens on or connects to (what the start and restart waits follow), and how it passes on a
// child's output (with a script for tandem; the supervisor with real VMs: tests/e2e/up-two-vms.sh
// and up-restart.sh).
#include "vmm/up/supervisor.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

TEST_CASE("listening_sockets, connecting_sockets: a symmetric connecting end waits for its listener, as a virtio-net does") {
  manifest::Defaults d;
  d.kernel = "/boot/k";
  d.run_dir = "/run/t";
  d.check_files = false;
  auto m = manifest::parse_manifest(R"(
[[vm]]
name = "vm1"
  [[vm.vhost-pci-net]]
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  name = "sym"
[[vm]]
name = "vm2"
  [[vm.virtio-net]]
  vhost-user = "/run/outside.sock"
  [[vm.virtio-net]]
  peer = "vm1:vpci0"
  [[vm.virtio-net]]
  tap = "tap9"
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  peer = "vm1"
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  name = "back"
)", "m.toml", d);
  REQUIRE_MESSAGE(m.ok(), m.message());
  REQUIRE(m->vms.size() == 2);
  const manifest::Vm& vm1 = m->vms[0];
  const manifest::Vm& vm2 = m->vms[1];
  CHECK(up::listening_sockets(vm1) == std::vector<std::string>{"/run/t/vm1-vpci0.sock", "/run/t/vm1-sym.sock"});
  CHECK(up::connecting_sockets(vm1).empty());
  // vm2's connecting symmetric device uses vm1's socket: vm1 listens there, not vm2.
  CHECK(up::listening_sockets(vm2) == std::vector<std::string>{"/run/t/vm2-back.sock"});
  CHECK(up::connecting_sockets(vm2) ==
        std::vector<std::string>{"/run/outside.sock", "/run/t/vm1-vpci0.sock", "/run/t/vm1-sym.sock"});
}

TEST_CASE("the newest stock kernel under /boot, by version, of this architecture") {
  using tandem::up::newest_stock_kernel;
  std::vector<std::string> boot{"vmlinuz-6.1.0-9-amd64", "vmlinuz-6.1.0-10-amd64", "initrd.img-6.1.0-10-amd64",
                                "vmlinuz-6.1.0-12-arm64", "config-6.1.0-11-amd64", "vmlinuz-6.1.0-10-amd64.old", "."};
  CHECK(newest_stock_kernel(boot, "-amd64") == "vmlinuz-6.1.0-10-amd64");
  CHECK(newest_stock_kernel(boot, "-arm64") == "vmlinuz-6.1.0-12-arm64");
  CHECK(newest_stock_kernel({"vmlinuz-", "vmlinuz-amd64"}, "-amd64") == "");
  CHECK(newest_stock_kernel({}, "-amd64") == "");
}

// Runs `run` over a one-VM manifest whose "tandem" is `script`, and returns what it printed.
static std::string run_with_fake_tandem(const std::string& script) {
  char dir_template[] = "/tmp/supervisor-test.XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  const std::string exe = dir + "/fake-tandem", kernel = dir + "/vmlinuz", out = dir + "/out";
  { std::ofstream(exe) << "#!/bin/sh\n" << script; }
  ::chmod(exe.c_str(), 0755);
  { std::ofstream(kernel) << "not a kernel"; }
  manifest::Defaults d;
  d.run_dir = dir + "/run";
  d.check_files = false;
  auto m = manifest::parse_manifest("[[vm]]\nname = \"a\"\nkernel = \"" + kernel + "\"\n", dir + "/m.toml", d);
  REQUIRE(m);
  std::fflush(stdout);
  const int saved = ::dup(1);
  const int file = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(file >= 0);
  ::dup2(file, 1);
  const int status = up::run(*m, up::Options{exe, ""});
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  ::close(file);
  CHECK(status == 0);
  std::stringstream printed;
  printed << std::ifstream(out).rdbuf();
  std::filesystem::remove_all(dir);
  return printed.str();
}

TEST_CASE("a VM's console line stays whole when tandem writes a message of its own in the middle of it") {
  // The guest's console (stdout) has written "NET-" when tandem's own message (stderr) comes.
  std::string printed = run_with_fake_tandem(
      "printf 'NET-'\nsleep 0.3\necho 'tandem: a message of its own' >&2\nsleep 0.3\necho 'SINK-DONE'\nprintf 'tail'\n");
  CAPTURE(printed);
  CHECK(printed.find("a | NET-SINK-DONE\n") != std::string::npos);
  CHECK(printed.find("a | tandem: a message of its own\n") != std::string::npos);
  CHECK(printed.find("a | tail\n") != std::string::npos);  // a last line without its newline
  CHECK(printed.find("tandem up: done: a exited with status 0") != std::string::npos);
}
