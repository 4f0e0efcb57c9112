// Unit tests for vmm/cli and vmm/vm_config: options, sizes, serial specs, bad input.
#include <doctest/doctest.h>

#include <cstdlib>

#include "vmm/cli.h"

using namespace tandem;

namespace {
CliResult cli(std::vector<std::string> a) {
  a.insert(a.begin(), "tandem");
  return parse_cli(a);
}
}  // namespace

TEST_CASE("sizes take K/M/G/T suffixes; plain numbers are bytes") {
  CHECK(parse_size("512M").value() == 512ULL << 20);
  CHECK(parse_size("2G").value() == 2ULL << 30);
  CHECK(parse_size("2g").value() == 2ULL << 30);
  CHECK(parse_size("64K").value() == 64ULL << 10);
  CHECK(parse_size("1GiB").value() == 1ULL << 30);
  CHECK(parse_size("4096").value() == 4096);
  CHECK_FALSE(parse_size("").ok());
  CHECK_FALSE(parse_size("M").ok());
  CHECK_FALSE(parse_size("12Q").ok());
  CHECK_FALSE(parse_size("-5M").ok());
  CHECK(parse_size("99999999999999999999").message().find("too large") != std::string::npos);
  CHECK(parse_size("99999999999T").message().find("too large") != std::string::npos);
}

TEST_CASE("serial specs") {
  CHECK(parse_serial("stdio").value().kind == SerialSpec::Kind::kStdio);
  CHECK(parse_serial("none").value().kind == SerialSpec::Kind::kNone);
  auto f = parse_serial("file:/tmp/x.log");
  REQUIRE(f.ok());
  CHECK(f->kind == SerialSpec::Kind::kFile);
  CHECK(f->path == "/tmp/x.log");
  CHECK_FALSE(parse_serial("file:").ok());
  CHECK_FALSE(parse_serial("tcp:1234").ok());
}

TEST_CASE("tandem vm parses every option") {
  auto r = cli({"vm", "--kernel", "/k", "--initrd", "/i", "--cmdline", "console=ttyS0 quiet", "--memory", "1G",
                "--cpus", "2", "--serial", "file:/tmp/s", "--api-socket", "/tmp/a.sock"});
  REQUIRE(r.action == CliResult::Action::kRunVm);
  CHECK(r.vm.kernel == "/k");
  CHECK(r.vm.initrd == "/i");
  CHECK(r.vm.cmdline == "console=ttyS0 quiet");
  CHECK(r.vm.memory == 1ULL << 30);
  CHECK(r.vm.cpus == 2);
  CHECK(r.vm.serial.kind == SerialSpec::Kind::kFile);
  CHECK(r.vm.api_socket == "/tmp/a.sock");
  CHECK(r.vm.seccomp == seccomp::Mode::kOn);  // the default
  CHECK(r.vm.xsave);                         // the default
  CHECK_FALSE(cli({"vm", "--kernel", "/k", "--xsave", "off"}).vm.xsave);
  auto badxsave = cli({"vm", "--kernel", "/k", "--xsave", "no"});
  CHECK(badxsave.exit_code == 2);
  CHECK(badxsave.error.find("--xsave") != std::string::npos);
  CHECK(cli({"vm", "--kernel", "/k", "--seccomp", "log"}).vm.seccomp == seccomp::Mode::kLog);
  CHECK(cli({"vm", "--kernel", "/k", "--seccomp=off"}).vm.seccomp == seccomp::Mode::kOff);
  auto bad = cli({"vm", "--kernel", "/k", "--seccomp", "strict"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.error.find("--seccomp") != std::string::npos);
}

TEST_CASE("$TANDEM_SECCOMP sets --seccomp's default; the option still wins") {
  ::setenv("TANDEM_SECCOMP", "log", 1);
  CHECK(cli({"vm", "--kernel", "/k"}).vm.seccomp == seccomp::Mode::kLog);
  CHECK(cli({"vm", "--kernel", "/k", "--seccomp", "on"}).vm.seccomp == seccomp::Mode::kOn);
  ::setenv("TANDEM_SECCOMP", "sometimes", 1);
  auto bad = cli({"vm", "--kernel", "/k"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.error == "tandem vm: $TANDEM_SECCOMP: 'sometimes' is not on, log or off");
  ::unsetenv("TANDEM_SECCOMP");
  CHECK(cli({"vm", "--kernel", "/k"}).vm.seccomp == seccomp::Mode::kOn);
}

TEST_CASE("help and version exit 0; bad options exit 2 with one line") {
  auto v = cli({"--version"});
  CHECK(v.action == CliResult::Action::kExit);
  CHECK(v.exit_code == 0);
  CHECK(v.output.find("tandem 0.") == 0);
  auto h = cli({"help"});
  CHECK(h.exit_code == 0);
  CHECK(h.output.find("--kernel") != std::string::npos);
  auto none = cli({});
  CHECK(none.exit_code == 2);
  auto unknown = cli({"vm", "--kernel", "/k", "--bogus"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.error.find("--bogus") != std::string::npos);
  CHECK(unknown.error.find('\n') == std::string::npos);
  auto missing = cli({"vm"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.error.find("--kernel") != std::string::npos);
  auto badmem = cli({"vm", "--kernel", "/k", "--memory", "lots"});
  CHECK(badmem.exit_code == 2);
  CHECK(badmem.error.find("--memory") != std::string::npos);
  auto badcpus = cli({"vm", "--kernel", "/k", "--cpus", "two"});
  CHECK(badcpus.exit_code == 2);
}

TEST_CASE("validate refuses bad kernels, sizes and counts before anything runs") {
  VmConfig c;
  c.kernel = "/nonexistent/vmlinuz";
  CHECK(validate(c).message().find("kernel /nonexistent/vmlinuz") != std::string::npos);
  c.kernel = "/bin/sh";
  CHECK(validate(c).message().find("not a bzImage") != std::string::npos);
  c.memory = 0;
  CHECK(validate(c).message() == "--memory: memory size is 0");
  c.memory = (512ULL << 20) + 100;
  CHECK(validate(c).message().find("not a multiple of 4 KiB") != std::string::npos);
  c.memory = 1ULL << 60;
  CHECK(validate(c).message().find("above the maximum") != std::string::npos);
  c.memory = 512ULL << 20;
  c.cpus = 0;
  CHECK(validate(c).message().find("--cpus") != std::string::npos);
  c.cpus = 1000;
  CHECK(validate(c).message().find("at most 255") != std::string::npos);
}

TEST_CASE("--net is repeatable and takes tap=NAME[,vhost=on][,mac=..] or vhost-user=SOCKET[,mac=..]") {
  auto r = cli({"vm", "--kernel", "k", "--net", "tap=tp0", "--net", "tap=tp1,vhost=on,mac=52:54:00:00:00:01",
                  "--net", "vhost-user=/run/sw/v0.sock"});
  REQUIRE(r.action == CliResult::Action::kRunVm);
  REQUIRE(r.vm.devices.of<NetSpec>().size() == 3);
  CHECK(r.vm.devices.of<NetSpec>()[0].kind == NetSpec::Kind::kTap);
  CHECK(r.vm.devices.of<NetSpec>()[0].tap == "tp0");
  CHECK_FALSE(r.vm.devices.of<NetSpec>()[0].vhost);
  CHECK(r.vm.devices.of<NetSpec>()[1].vhost);
  CHECK(r.vm.devices.of<NetSpec>()[1].mac == "52:54:00:00:00:01");
  CHECK(r.vm.devices.of<NetSpec>()[2].kind == NetSpec::Kind::kVhostUser);
  CHECK(r.vm.devices.of<NetSpec>()[2].socket == "/run/sw/v0.sock");
  CHECK(default_mac_seed(r.vm.devices.of<NetSpec>()[0]) != default_mac_seed(r.vm.devices.of<NetSpec>()[1]));
  CHECK(r.vm.devices.of<NetSpec>()[0].coalesce_us == net::kDefaultTapCoalesceUs);
}

TEST_CASE("--net tap=NAME,coalesce=US sets the datapath's batching window; net_spec_text keeps it") {
  auto r = cli({"vm", "--kernel", "k", "--net", "tap=tp0,coalesce=0", "--net", "tap=tp1,coalesce=10000", "--net", "tap=tp2"});
  REQUIRE(r.action == CliResult::Action::kRunVm);
  CHECK(r.vm.devices.of<NetSpec>()[0].coalesce_us == 0);
  CHECK(r.vm.devices.of<NetSpec>()[1].coalesce_us == 10000);
  CHECK(device_text(r.vm.devices.of<NetSpec>()[0]) == "tap=tp0,coalesce=0");
  CHECK(device_text(r.vm.devices.of<NetSpec>()[2]) == "tap=tp2");  // the default is not spelled out
  auto back = parse_net(device_text(r.vm.devices.of<NetSpec>()[1]));
  REQUIRE(back);
  CHECK(back->coalesce_us == 10000);
}

TEST_CASE("bad --net specs exit 2 naming the bad part") {
  struct Case {
    const char* spec;
    const char* says;
  };
  for (auto [spec, says] : {Case{"tp0", "not KEY=VALUE"}, Case{"tap=", "not KEY=VALUE"}, Case{"tap=a/b", "tap=a/b"},
                            Case{"tap=waytoolongname0123", "tap=waytoolongname0123"}, Case{"mac=52:54:00:00:00:01", "names no backend"},
                            Case{"tap=tp0,vhost=yes", "vhost=yes"}, Case{"tap=tp0,mac=01:00:00:00:00:01", "multicast"},
                            Case{"tap=tp0,mac=zz", "'zz'"}, Case{"tap=tp0,vhost-user=/x", "more than one backend"},
                            Case{"vhost-user=/x,vhost=on", "only goes with tap"}, Case{"tap=tp0,queues=2", "unknown key 'queues'"},
                            Case{"tap=tp0,,mac=52:54:00:00:00:01", "not KEY=VALUE"},
                            Case{"tap=tp0,coalesce=10001", "coalesce=10001: at most 10000 microseconds"},
                            Case{"tap=tp0,coalesce=-1", "coalesce=-1: expected a whole number of microseconds"},
                            Case{"tap=tp0,coalesce=5us", "coalesce=5us: expected a whole number"},
                            Case{"tap=tp0,coalesce=99999999999", "coalesce=99999999999: expected a whole number"},
                            Case{"tap=tp0,vhost=on,coalesce=5", "coalesce= only goes with tap=NAME without vhost=on"},
                            Case{"vhost-user=/x,coalesce=5", "coalesce= only goes with tap=NAME"}}) {
    auto r = cli({"vm", "--kernel", "k", "--net", spec});
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.error.find(says) != std::string::npos, spec, " -> ", r.error);
    CHECK(r.error.find(std::string("--net ") + spec) != std::string::npos);
  }
}

TEST_CASE("--vhost-pci takes socket=PATH[,bar=SIZE]; bad specs exit 2") {
  auto r = cli({"vm", "--kernel", "k", "--vhost-pci", "socket=/run/vm1.sock", "--vhost-pci", "socket=/run/b.sock,bar=8G"});
  REQUIRE(r.action == CliResult::Action::kRunVm);
  REQUIRE(r.vm.devices.of<VhostPciSpec>().size() == 2);
  CHECK(r.vm.devices.of<VhostPciSpec>()[0].socket == "/run/vm1.sock");
  CHECK(r.vm.devices.of<VhostPciSpec>()[0].bar_size == (16ULL << 30));
  CHECK(r.vm.devices.of<VhostPciSpec>()[1].bar_size == (8ULL << 30));
  CHECK_FALSE(r.vm.devices.of<VhostPciSpec>()[0].hotplug_on_connect);
  auto hoc = cli({"vm", "--kernel", "k", "--vhost-pci", "socket=/run/c.sock,hotplug_on_connect=on"});
  REQUIRE(hoc.action == CliResult::Action::kRunVm);
  CHECK(hoc.vm.devices.of<VhostPciSpec>()[0].hotplug_on_connect);
  CHECK_FALSE(hoc.vm.devices.of<VhostPciSpec>()[0].allow_unsealed);
  auto unsealed = cli({"vm", "--kernel", "k", "--vhost-pci", "socket=/run/u.sock,allow_unsealed=on"});
  REQUIRE(unsealed.action == CliResult::Action::kRunVm);
  CHECK(unsealed.vm.devices.of<VhostPciSpec>()[0].allow_unsealed);
  auto round_trip = parse_vhost_pci(device_text(unsealed.vm.devices.of<VhostPciSpec>()[0]));
  REQUIRE(round_trip);
  CHECK(round_trip->allow_unsealed);
  CHECK_FALSE(unsealed.vm.devices.of<VhostPciSpec>()[0].peer_uid);
  CHECK(unsealed.vm.devices.of<VhostPciSpec>()[0].peer_timeout_s == 10);
  auto others = cli({"vm", "--kernel", "k", "--vhost-pci", "socket=/run/o.sock,peer_uid=1000,peer_gid=100,peer_timeout=3"});
  REQUIRE(others.action == CliResult::Action::kRunVm);
  auto o = parse_vhost_pci(device_text(others.vm.devices.of<VhostPciSpec>()[0]));  // and back from text
  REQUIRE(o);
  CHECK(o->peer_uid == 1000u);
  CHECK(o->peer_gid == 100u);
  CHECK(o->peer_timeout_s == 3);
  for (auto [spec, says] : {std::pair{"bar=8G", "names no socket"}, std::pair{"socket=/x,hotplug_on_connect=yes", "expected on or off"},
                            std::pair{"socket=/x,allow_unsealed=yes", "expected on or off"},
                            std::pair{"socket=/x,peer_uid=bob", "expected a numeric id"}, std::pair{"socket=/x,peer_gid=-1", "expected a numeric id"},
                            std::pair{"socket=/x,peer_uid=-18446744073709551615", "expected a numeric id"}, std::pair{"socket=/x,peer_uid=+5", "expected a numeric id"},
                            std::pair{"socket=/x,peer_timeout=0", "expected seconds from 1 to 3600"}, std::pair{"socket=/x,bar=3G", "power of two"},
                            std::pair{"socket=/x,bar=64G", "power of two"}, std::pair{"socket=/x,bar=lots", "bar=lots"},
                            std::pair{"sock=/x", "unknown key 'sock'"}, std::pair{"/x", "not KEY=VALUE"}}) {
    auto bad = cli({"vm", "--kernel", "k", "--vhost-pci", spec});
    CHECK(bad.exit_code == 2);
    CHECK_MESSAGE(bad.error.find(says) != std::string::npos, spec, " -> ", bad.error);
  }
  auto longpath = cli({"vm", "--kernel", "k", "--vhost-pci", "socket=/" + std::string(120, 'a')});
  CHECK(longpath.exit_code == 2);
}

TEST_CASE("--vhost-pci mode=symmetric takes listen= and section=; asymmetric-only keys are refused") {
  auto r = cli({"vm", "--kernel", "k", "--vhost-pci", "socket=/run/s.sock,mode=symmetric", "--vhost-pci",
                "socket=/run/t.sock,mode=symmetric,listen=off,section=16M"});
  REQUIRE(r.action == CliResult::Action::kRunVm);
  REQUIRE(r.vm.devices.of<VhostPciSpec>().size() == 2);
  CHECK(r.vm.devices.of<VhostPciSpec>()[0].mode == VhostPciSpec::Mode::kSymmetric);
  CHECK(r.vm.devices.of<VhostPciSpec>()[0].listen);
  CHECK(r.vm.devices.of<VhostPciSpec>()[0].section_size == (4ULL << 20));
  CHECK_FALSE(r.vm.devices.of<VhostPciSpec>()[1].listen);
  CHECK(r.vm.devices.of<VhostPciSpec>()[1].section_size == (16ULL << 20));
  // The text form parses back to the same device (how tandem up passes a manifest's devices on).
  auto again = parse_vhost_pci(device_text(r.vm.devices.of<VhostPciSpec>()[1]));
  REQUIRE(again);
  CHECK(again->mode == VhostPciSpec::Mode::kSymmetric);
  CHECK_FALSE(again->listen);
  CHECK(again->section_size == (16ULL << 20));
  for (auto [spec, says] : {std::pair{"socket=/x,mode=both", "expected asymmetric or symmetric"},
                            std::pair{"socket=/x,mode=symmetric,section=3M", "power of two"},
                            std::pair{"socket=/x,mode=symmetric,section=128M", "power of two"},
                            std::pair{"socket=/x,mode=symmetric,section=512K", "power of two"},
                            std::pair{"socket=/x,mode=symmetric,listen=maybe", "expected on or off"},
                            std::pair{"socket=/x,mode=symmetric,bar=8G", "no peer-memory BAR"},
                            std::pair{"socket=/x,mode=symmetric,hotplug_on_connect=on", "for mode=asymmetric"},
                            std::pair{"socket=/x,mode=symmetric,allow_unsealed=on", "for mode=asymmetric"},
                            std::pair{"socket=/x,listen=off", "for mode=symmetric"},
                            std::pair{"socket=/x,section=4M", "for mode=symmetric"}}) {
    auto bad = cli({"vm", "--kernel", "k", "--vhost-pci", spec});
    CHECK(bad.exit_code == 2);
    CHECK_MESSAGE(bad.error.find(says) != std::string::npos, spec, " -> ", bad.error);
  }
}
