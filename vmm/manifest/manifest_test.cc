// vmm/manifest/manifest_test.cc: manifests that must start (defaults, references, start order,
// the `tandem vm` arguments they produce) and a table of bad ones, each with its exact message.
#include "vmm/manifest/manifest.h"

#include "vmm/arch/machine.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "vmm/cli.h"

using namespace tandem;
using namespace tandem::manifest;

namespace {
Defaults defaults() {
  Defaults d;
  d.kernel = "/boot/k";
  d.initrd = "/cache/i.cpio.gz";
  d.run_dir = "/run/t";
  d.check_files = false;
  return d;
}

// The `tandem vm` arguments of `vm`, parsed back by tandem vm's own command line.
CliResult cli_of(const Vm& vm) {
  std::vector<std::string> argv{"tandem", "vm"};
  for (auto& s : vm_arguments(vm.config)) argv.push_back(s);
  return parse_cli(argv);
}

// The value of the `n`th --vhost-pci argument of `vm`.
std::string vhost_pci_arg(const Vm& vm, size_t n) {
  auto a = vm_arguments(vm.config);
  for (size_t i = 0; i + 1 < a.size(); ++i) {
    if (a[i] == "--vhost-pci" && n-- == 0) return a[i + 1];
  }
  return "";
}

const char* kTwoVms = R"(
[[vm]]
name = "vm2"
cmdline = "console=ttyS0 tandem.ip=10.0.0.2/24"
  [[vm.virtio-net]]
  peer = "vm1"

[[vm]]
name = "vm1"
memory = "768M"
cpus = 2
  [[vm.vhost-pci-net]]
)";
}  // namespace

TEST_CASE("manifest: two VMs, the vhost-pci side first, sockets and MACs from names") {
  auto m = parse_manifest(kTwoVms, "ex/two.toml", defaults());
  REQUIRE_MESSAGE(m.ok(), m.message());
  REQUIRE(m->vms.size() == 2);
  CHECK(m->run_dir == "/run/t");
  CHECK(m->shutdown_timeout_s == 30);
  CHECK_FALSE(m->sequential_boot);
  const Vm& a = m->vms[0];
  const Vm& b = m->vms[1];
  CHECK(a.name == "vm1");  // listed second, started first: vm2 connects to it
  CHECK(b.name == "vm2");
  CHECK(b.after == std::vector<std::string>{"vm1"});
  CHECK(a.after.empty());
  CHECK(a.config.memory == 768ULL << 20);
  CHECK(a.config.cpus == 2);
  CHECK(a.config.xsave);  // the default
  const auto args = vm_arguments(a.config);
  CHECK(std::find(args.begin(), args.end(), "--xsave") == args.end());
  CHECK(a.config.kernel == "/boot/k");
  CHECK(a.config.initrd == "/cache/i.cpio.gz");
  CHECK(a.config.cmdline == "console=ttyS0");
  REQUIRE(a.config.devices.of<VhostPciSpec>().size() == 1);
  CHECK(a.config.devices.of<VhostPciSpec>()[0].socket == "/run/t/vm1-vpci0.sock");
  REQUIRE(b.config.devices.of<NetSpec>().size() == 1);
  CHECK(b.config.devices.of<NetSpec>()[0].kind == NetSpec::Kind::kVhostUser);
  CHECK(b.config.devices.of<NetSpec>()[0].socket == "/run/t/vm1-vpci0.sock");
  CHECK(b.config.devices.of<NetSpec>()[0].mac.size() == 17);
  CHECK(a.console);

  // The MAC is a function of the names: the same manifest gives the same MAC, another name another.
  auto again = parse_manifest(kTwoVms, "ex/two.toml", defaults());
  REQUIRE(again.ok());
  CHECK(again->vms[1].config.devices.of<NetSpec>()[0].mac == b.config.devices.of<NetSpec>()[0].mac);
  std::string renamed = kTwoVms;
  renamed.replace(renamed.find("\"vm2\""), 5, "\"vm3\"");
  auto other = parse_manifest(renamed, "ex/two.toml", defaults());
  REQUIRE(other.ok());
  CHECK(other->vms[1].config.devices.of<NetSpec>()[0].mac != b.config.devices.of<NetSpec>()[0].mac);
}

TEST_CASE("manifest: vm_arguments gives tandem vm exactly the same configuration") {
  const char* text = R"(
run_dir = "run"
shutdown_timeout = 5
sequential_boot = true
[[vm]]
name = "a"
kernel = "bz"
serial = "file:a.log"
restart = "on-failure"
seccomp = "log"
xsave = false
  [[vm.virtio-net]]
  tap = "tap7"
  vhost = true
  mac = "52:54:00:00:00:07"
  [[vm.virtio-net]]
  vhost-user = "/tmp/x.sock"
  [[vm.virtio-net]]
  tap = "tap8"
  coalesce = 0
  [[vm.vhost-pci-net]]
  name = "left"
  bar = "8G"
  hotplug_on_connect = true
  allow_unsealed = true
  peer_uid = 1000
  peer_timeout = 5
)";
  auto m = parse_manifest(text, "dir/m.toml", defaults());
  REQUIRE_MESSAGE(m.ok(), m.message());
  const Vm& a = m->vms[0];
  CHECK(m->run_dir == "dir/run");
  CHECK(m->shutdown_timeout_s == 5);
  CHECK(m->sequential_boot);
  CHECK(a.restart == Restart::kOnFailure);
  CHECK_FALSE(a.console);
  CHECK(a.config.kernel == "dir/bz");
  CHECK(a.config.serial.path == "dir/a.log");
  CHECK(a.config.devices.of<VhostPciSpec>()[0].socket == "dir/run/a-left.sock");
  CliResult cli = cli_of(a);
  REQUIRE_MESSAGE(cli.action == CliResult::Action::kRunVm, cli.error);
  CHECK(cli.vm.kernel == a.config.kernel);
  CHECK(cli.vm.initrd == a.config.initrd);
  CHECK(cli.vm.cmdline == a.config.cmdline);
  CHECK(cli.vm.memory == a.config.memory);
  CHECK(cli.vm.serial.kind == SerialSpec::Kind::kFile);
  CHECK(cli.vm.shutdown_timeout_s == 5);
  CHECK(a.config.seccomp == seccomp::Mode::kLog);
  CHECK(cli.vm.seccomp == seccomp::Mode::kLog);
  CHECK_FALSE(a.config.xsave);
  CHECK_FALSE(cli.vm.xsave);
  CHECK(cli.vm.serial.path == "dir/a.log");
  REQUIRE(cli.vm.devices.of<NetSpec>().size() == 3);
  CHECK(cli.vm.devices.of<NetSpec>()[0].tap == "tap7");
  CHECK(cli.vm.devices.of<NetSpec>()[0].vhost);
  CHECK(cli.vm.devices.of<NetSpec>()[0].mac == "52:54:00:00:00:07");
  CHECK(cli.vm.devices.of<NetSpec>()[1].socket == "/tmp/x.sock");
  CHECK(cli.vm.devices.of<NetSpec>()[1].mac == a.config.devices.of<NetSpec>()[1].mac);
  CHECK(a.config.devices.of<NetSpec>()[2].coalesce_us == 0);
  CHECK(cli.vm.devices.of<NetSpec>()[2].coalesce_us == 0);
  CHECK(cli.vm.devices.of<NetSpec>()[0].coalesce_us == net::kDefaultTapCoalesceUs);
  REQUIRE(cli.vm.devices.of<VhostPciSpec>().size() == 1);
  CHECK(cli.vm.devices.of<VhostPciSpec>()[0].bar_size == 8ULL << 30);
  CHECK(cli.vm.devices.of<VhostPciSpec>()[0].socket == "dir/run/a-left.sock");
  CHECK(a.config.devices.of<VhostPciSpec>()[0].hotplug_on_connect);
  CHECK(cli.vm.devices.of<VhostPciSpec>()[0].hotplug_on_connect);
  CHECK(a.config.devices.of<VhostPciSpec>()[0].allow_unsealed);
  CHECK(cli.vm.devices.of<VhostPciSpec>()[0].allow_unsealed);
  CHECK(cli.vm.devices.of<VhostPciSpec>()[0].peer_uid == 1000u);
  CHECK_FALSE(cli.vm.devices.of<VhostPciSpec>()[0].peer_gid);
  CHECK(cli.vm.devices.of<VhostPciSpec>()[0].peer_timeout_s == 5);
}

TEST_CASE("manifest: a chain starts from its tail; a bridge port gets a tap name") {
  const char* text = R"(
[[vm]]
name = "head"
  [[vm.virtio-net]]
  peer = "middle"
[[vm]]
name = "middle"
  [[vm.vhost-pci-net]]
  [[vm.virtio-net]]
  peer = "tail"
[[vm]]
name = "tail"
  [[vm.vhost-pci-net]]
  [[vm.virtio-net]]
  bridge = "br-up"
)";
  auto m = parse_manifest(text, "c.toml", defaults());
  REQUIRE_MESSAGE(m.ok(), m.message());
  CHECK(m->vms[0].name == "tail");
  CHECK(m->vms[1].name == "middle");
  CHECK(m->vms[2].name == "head");
  REQUIRE(m->vms[0].bridges.size() == 1);
  CHECK(m->vms[0].bridges[0].bridge == "br-up");
  CHECK(m->vms[0].bridges[0].tap == "tdm-tail-0");
  CHECK(m->vms[0].config.devices.of<NetSpec>()[0].tap == "tdm-tail-0");
}

namespace {
const char* kSymmetric = R"(
[[vm]]
name = "vm2"
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  peer = "vm1"

[[vm]]
name = "vm1"
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  section = "16M"
)";
}  // namespace

TEST_CASE("manifest: a symmetric pair: the end with peer connects to the other's socket, after it, with its section") {
  auto m = parse_manifest(kSymmetric, "ex/sym.toml", defaults());
  REQUIRE_MESSAGE(m.ok(), m.message());
  REQUIRE(m->vms.size() == 2);
  const Vm& listener = m->vms[0];
  const Vm& connector = m->vms[1];
  CHECK(listener.name == "vm1");  // listed second, started first: vm2 connects to it
  CHECK(connector.name == "vm2");
  CHECK(listener.after.empty());
  CHECK(connector.after == std::vector<std::string>{"vm1"});
  REQUIRE(listener.config.devices.of<VhostPciSpec>().size() == 1);
  REQUIRE(connector.config.devices.of<VhostPciSpec>().size() == 1);
  const VhostPciSpec& l = listener.config.devices.of<VhostPciSpec>()[0];
  const VhostPciSpec& c = connector.config.devices.of<VhostPciSpec>()[0];
  CHECK(l.mode == VhostPciSpec::Mode::kSymmetric);
  CHECK(l.listen);
  CHECK(l.socket == "/run/t/vm1-vpci0.sock");
  CHECK(l.section_size == 16ULL << 20);
  CHECK(c.mode == VhostPciSpec::Mode::kSymmetric);
  CHECK_FALSE(c.listen);
  CHECK(c.socket == "/run/t/vm1-vpci0.sock");  // the listener's
  CHECK(c.section_size == 16ULL << 20);         // inherited
  CHECK(connector.config.devices.of<NetSpec>().empty());

  CHECK(vhost_pci_arg(listener, 0) == "socket=/run/t/vm1-vpci0.sock,mode=symmetric,listen=on,section=16777216");
  CHECK(vhost_pci_arg(connector, 0) == "socket=/run/t/vm1-vpci0.sock,mode=symmetric,listen=off,section=16777216");
  for (const Vm* vm : {&listener, &connector}) {
    CliResult cli = cli_of(*vm);
    REQUIRE_MESSAGE(cli.action == CliResult::Action::kRunVm, cli.error);
    REQUIRE(cli.vm.devices.of<VhostPciSpec>().size() == 1);
    CHECK(cli.vm.devices.of<VhostPciSpec>()[0].mode == VhostPciSpec::Mode::kSymmetric);
    CHECK(cli.vm.devices.of<VhostPciSpec>()[0].listen == vm->config.devices.of<VhostPciSpec>()[0].listen);
    CHECK(cli.vm.devices.of<VhostPciSpec>()[0].socket == "/run/t/vm1-vpci0.sock");
    CHECK(cli.vm.devices.of<VhostPciSpec>()[0].section_size == 16ULL << 20);
  }
}

TEST_CASE("manifest: symmetric defaults: 4M sections, an equal explicit section, a listener nobody connects to") {
  const char* text = R"(
[[vm]]
name = "a"
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  name = "left"
  socket = "a-left.sock"
  [[vm.vhost-pci-net]]
  mode = "symmetric"
[[vm]]
name = "b"
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  peer = "a:left"
  section = 4194304
)";
  auto m = parse_manifest(text, "dir/m.toml", defaults());
  REQUIRE_MESSAGE(m.ok(), m.message());
  REQUIRE(m->vms.size() == 2);
  const Vm& a = m->vms[0];
  const Vm& b = m->vms[1];
  CHECK(b.after == std::vector<std::string>{"a"});
  CHECK(a.config.devices.of<VhostPciSpec>()[0].socket == "dir/a-left.sock");
  CHECK(a.config.devices.of<VhostPciSpec>()[0].section_size == 4ULL << 20);
  CHECK(a.config.devices.of<VhostPciSpec>()[1].listen);  // no peer: it listens, and waits (like a 2.0 device without one)
  CHECK(a.config.devices.of<VhostPciSpec>()[1].socket == "/run/t/a-vpci1.sock");
  CHECK(vhost_pci_arg(a, 1) == "socket=/run/t/a-vpci1.sock,mode=symmetric,listen=on,section=4194304");
  CHECK(vhost_pci_arg(b, 0) == "socket=dir/a-left.sock,mode=symmetric,listen=off,section=4194304");
  CHECK(cli_of(b).action == CliResult::Action::kRunVm);
}

TEST_CASE("manifest: 2.0 and symmetric side by side: each peer picks the device of its kind") {
  const char* text = R"(
[[vm]]
name = "hub"
  [[vm.vhost-pci-net]]
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  name = "sym"
  section = "1M"
  [[vm.vhost-pci-net]]
  mode = "asymmetric"
  name = "out"
  bar = "4G"
  hotplug_on_connect = true
[[vm]]
name = "front"
  [[vm.virtio-net]]
  peer = "hub:vpci0"
[[vm]]
name = "twin"
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  peer = "hub"
[[vm]]
name = "tail"
  [[vm.virtio-net]]
  peer = "hub:out"
)";
  auto m = parse_manifest(text, "m.toml", defaults());
  REQUIRE_MESSAGE(m.ok(), m.message());
  REQUIRE(m->vms.size() == 4);
  CHECK(m->vms[0].name == "hub");
  const Vm& hub = m->vms[0];
  CHECK(vhost_pci_arg(hub, 0) == "socket=/run/t/hub-vpci0.sock,bar=17179869184");
  CHECK(vhost_pci_arg(hub, 1) == "socket=/run/t/hub-sym.sock,mode=symmetric,listen=on,section=1048576");
  CHECK(vhost_pci_arg(hub, 2) == "socket=/run/t/hub-out.sock,bar=4294967296,hotplug_on_connect=on");
  CHECK(m->vms[1].config.devices.of<NetSpec>()[0].socket == "/run/t/hub-vpci0.sock");
  CHECK(vhost_pci_arg(m->vms[2], 0) == "socket=/run/t/hub-sym.sock,mode=symmetric,listen=off,section=1048576");
  CHECK(m->vms[3].config.devices.of<NetSpec>()[0].socket == "/run/t/hub-out.sock");
  for (size_t i = 1; i < 4; ++i) CHECK(m->vms[i].after == std::vector<std::string>{"hub"});

  // Without ":DEVICE", a virtio-net picks the only asymmetric device, a symmetric one the only listener.
  const char* unnamed = R"(
[[vm]]
name = "x"
  [[vm.virtio-net]]
  peer = "hub"
[[vm]]
name = "y"
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  peer = "hub"
[[vm]]
name = "hub"
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  [[vm.vhost-pci-net]]
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  peer = "z"
[[vm]]
name = "z"
  [[vm.vhost-pci-net]]
  mode = "symmetric"
)";
  auto u = parse_manifest(unnamed, "m.toml", defaults());
  REQUIRE_MESSAGE(u.ok(), u.message());
  std::vector<std::string> order;
  for (const auto& vm : u->vms) order.push_back(vm.name);
  CHECK(order == std::vector<std::string>{"z", "hub", "x", "y"});
  CHECK(u->vms[2].config.devices.of<NetSpec>()[0].socket == "/run/t/hub-vpci1.sock");
  CHECK(u->vms[3].config.devices.of<VhostPciSpec>()[0].socket == "/run/t/hub-vpci0.sock");
  CHECK(u->vms[1].config.devices.of<VhostPciSpec>()[2].socket == "/run/t/z-vpci0.sock");
  CHECK_FALSE(u->vms[1].config.devices.of<VhostPciSpec>()[2].listen);
  CHECK(u->vms[1].after == std::vector<std::string>{"z"});
}

TEST_CASE("manifest: a chain of symmetric links starts from its tail") {
  const char* text = R"(
[[vm]]
name = "head"
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  peer = "middle"
[[vm]]
name = "middle"
  [[vm.vhost-pci-net]]
  mode = "symmetric"
  [[vm.virtio-net]]
  peer = "tail"
[[vm]]
name = "tail"
  [[vm.vhost-pci-net]]
)";
  auto m = parse_manifest(text, "c.toml", defaults());
  REQUIRE_MESSAGE(m.ok(), m.message());
  CHECK(m->vms[0].name == "tail");
  CHECK(m->vms[1].name == "middle");
  CHECK(m->vms[2].name == "head");
  CHECK(m->vms[2].after == std::vector<std::string>{"middle"});
}

namespace {
struct Bad {
  const char* what;
  const char* text;
  const char* error;  // the whole message
};

const Bad kBad[] = {
    {"not TOML", "[[vm]\nname = \"a\"\n", "m.toml:1:6: not valid TOML: Error while parsing table header: expected ']', saw '\\n'"},
    {"no VM", "run_dir = \"/r\"\n", "m.toml:1:1: manifest: no [[vm]] table: a manifest describes at least one VM"},
    {"unknown top-level key", "runddir = \"/r\"\n[[vm]]\nname = \"a\"\n",
     "m.toml:1:1: manifest: unknown key 'runddir' (expected run_dir, shutdown_timeout, sequential_boot, vm)"},
    {"vm is a table", "[vm]\nname = \"a\"\n",
     "m.toml:1:1: manifest: 'vm' must be an array of tables ([[vm]]), not a table"},
    {"unknown VM key", "[[vm]]\nname = \"a\"\nmemroy = \"1G\"\n",
     "m.toml:3:1: vm \"a\": unknown key 'memroy' (expected name, arch, kernel, initrd, cmdline, memory, cpus, xsave, serial, api_socket, restart, seccomp, virtio-net, vhost-pci-net, disk)"},
    {"unknown arch", "[[vm]]\nname = \"a\"\narch = \"riscv64\"\n", "m.toml:3:8: vm \"a\": arch \"riscv64\" is not \"x86_64\" or \"aarch64\""},
    {"no name", "[[vm]]\ncpus = 1\n", "m.toml:1:1: vm[0]: no 'name' (every VM needs one: it names its console, sockets and MACs)"},
    {"bad name", "[[vm]]\nname = \"a b\"\n",
     "m.toml:2:8: vm[0]: name \"a b\" must be 1-32 letters, digits, '-' or '_', starting with a letter or digit"},
    {"duplicate name", "[[vm]]\nname = \"a\"\n[[vm]]\nname = \"a\"\n",
     "m.toml:4:8: vm[1]: duplicate VM name \"a\" (first at m.toml:2:8)"},
    {"cpus is a string", "[[vm]]\nname = \"a\"\ncpus = \"2\"\n", "m.toml:3:8: vm \"a\": 'cpus' must be an integer, not a string"},
    {"xsave is a string", "[[vm]]\nname = \"a\"\nxsave = \"off\"\n", "m.toml:3:9: vm \"a\": 'xsave' must be true or false, not a string"},
    {"too many cpus", "[[vm]]\nname = \"a\"\ncpus = 300\n", "m.toml:3:8: vm \"a\": 'cpus' is 300; expected 1 to 255"},
    {"bad memory unit", "[[vm]]\nname = \"a\"\nmemory = \"12X\"\n",
     "m.toml:3:10: vm \"a\": 'memory': size '12X' has an unknown unit (use K, M, G or T)"},
    {"memory as float", "[[vm]]\nname = \"a\"\nmemory = 1.5\n",
     "m.toml:3:10: vm \"a\": 'memory' must be a size like \"512M\", not a floating-point number"},
    {"bad serial", "[[vm]]\nname = \"a\"\nserial = \"tty\"\n",
     "m.toml:3:10: vm \"a\": serial \"tty\" is not \"console\", \"none\" or \"file:PATH\""},
    {"bad restart", "[[vm]]\nname = \"a\"\nrestart = \"always\"\n",
     "m.toml:3:11: vm \"a\": restart \"always\" is not \"no\" or \"on-failure\""},
    {"two backends", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\ntap = \"t0\"\nvhost-user = \"/s\"\n",
     "m.toml:3:1: vm \"a\": virtio-net[0]: needs exactly one backend: tap = \"NAME\", bridge = \"NAME\", vhost-user = \"SOCKET\" or peer = \"VM\" (found 2)"},
    {"no backend", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\nmac = \"52:54:00:00:00:01\"\n",
     "m.toml:3:1: vm \"a\": virtio-net[0]: needs exactly one backend: tap = \"NAME\", bridge = \"NAME\", vhost-user = \"SOCKET\" or peer = \"VM\""},
    {"unknown device key", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\ntap = \"t0\"\nqueues = 2\n",
     "m.toml:5:1: vm \"a\": virtio-net[0]: unknown key 'queues' (expected tap, bridge, vhost-user, peer, vhost, coalesce, mac)"},
    {"coalesce out of range", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\ntap = \"t0\"\ncoalesce = 20000\n",
     "m.toml:5:12: vm \"a\": virtio-net[0]: 'coalesce' is 20000; expected 0 to 10000"},
    {"coalesce not a number", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\ntap = \"t0\"\ncoalesce = \"50us\"\n",
     "m.toml:5:12: vm \"a\": virtio-net[0]: 'coalesce' must be an integer, not a string"},
    {"coalesce with vhost-net", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\ntap = \"t0\"\nvhost = true\ncoalesce = 10\n",
     "m.toml:6:12: vm \"a\": virtio-net[0]: 'coalesce' applies to tap and bridge backends without vhost only"},
    {"bad MAC", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\ntap = \"t0\"\nmac = \"01:00:00:00:00:01\"\n",
     "m.toml:5:7: vm \"a\": virtio-net[0]: mac: MAC address 01:00:00:00:00:01 is a multicast address"},
    {"duplicate MAC", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\ntap = \"t0\"\nmac = \"52:54:00:00:00:01\"\n[[vm]]\nname = \"b\"\n[[vm.virtio-net]]\ntap = \"t1\"\nmac = \"52:54:00:00:00:01\"\n",
     "m.toml:10:7: vm \"b\": virtio-net[0]: MAC 52:54:00:00:00:01 is already used at m.toml:5:7"},
    {"duplicate tap", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\ntap = \"t0\"\n[[vm]]\nname = \"b\"\n[[vm.virtio-net]]\ntap = \"t0\"\n",
     "m.toml:8:7: vm \"b\": virtio-net[0]: tap \"t0\" is already used at m.toml:4:7"},
    {"tap name too long", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\ntap = \"a-very-long-tap-name\"\n",
     "m.toml:4:7: vm \"a\": virtio-net[0]: tap \"a-very-long-tap-name\": tap name 'a-very-long-tap-name' is 20 bytes; interface names have at most 15"},
    {"vhost on vhost-user", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\nvhost-user = \"/s\"\nvhost = true\n",
     "m.toml:5:9: vm \"a\": virtio-net[0]: 'vhost' applies to tap and bridge backends only"},
    {"peer names no VM", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\npeer = \"c\"\n[[vm]]\nname = \"b\"\n",
     "m.toml:4:8: vm \"a\": virtio-net[0]: peer \"c\" names no VM in this manifest (VMs: a, b)"},
    {"peer without vhost-pci-net", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\npeer = \"b\"\n[[vm]]\nname = \"b\"\n",
     "m.toml:4:8: vm \"a\": virtio-net[0]: peer \"b\": vm \"b\" has no vhost-pci-net device to connect to"},
    {"peer is itself", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\n[[vm.virtio-net]]\npeer = \"a\"\n",
     "m.toml:5:8: vm \"a\": virtio-net[0]: peer \"a\" names its own VM; a VM cannot be its own vhost-pci peer"},
    {"ambiguous peer", "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\npeer = \"b\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\n[[vm.vhost-pci-net]]\nname = \"x\"\n",
     "m.toml:4:8: vm \"a\": virtio-net[0]: peer \"b\" is ambiguous: vm \"b\" has 2 vhost-pci-net devices (\"b:vpci0\", \"b:x\")"},
    {"two peers on one device",
     "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\npeer = \"c\"\n[[vm]]\nname = \"b\"\n[[vm.virtio-net]]\npeer = \"c\"\n[[vm]]\nname = \"c\"\n[[vm.vhost-pci-net]]\n",
     "m.toml:8:8: vm \"b\": virtio-net[0]: vm \"c\"'s vhost-pci-net \"vpci0\" already has a peer (vm \"a\": virtio-net[0] at m.toml:4:8); it takes one"},
    {"cycle",
     "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\n[[vm.virtio-net]]\npeer = \"b\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\n[[vm.virtio-net]]\npeer = \"a\"\n",
     "m.toml:1:1: vm \"a\": the peers form a cycle (a -> b -> a): each VM's virtio-net needs the next one's vhost-pci-net listening first, so no start order exists"},
    {"duplicate socket", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nsocket = \"/s\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\nsocket = \"/s\"\n",
     "m.toml:8:10: vm \"b\": vhost-pci-net[0]: socket /s is already used at m.toml:4:10"},
    {"socket too long for sun_path",
     "run_dir = \"/run/a-directory-whose-name-is-far-too-long-for-a-unix-socket-path-to-fit-inside-sun-path-okabc\"\n[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\n",
     "m.toml:4:1: vm \"a\": vhost-pci-net[0]: socket path /run/a-directory-whose-name-is-far-too-long-for-a-unix-socket-path-to-fit-inside-sun-path-okabc/a-vpci0.sock is 108 bytes long; a Unix socket path has at most 107 (choose a shorter run_dir or socket)"},
    {"bad BAR size", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nbar = \"3G\"\n",
     "m.toml:4:7: vm \"a\": vhost-pci-net[0]: bar=3221225472: the peer BAR must be a power of two from 4G to 32G"},
    {"sequential_boot not a boolean", "sequential_boot = \"yes\"\n[[vm]]\nname = \"a\"\n",
     "m.toml:1:19: manifest: 'sequential_boot' must be true or false, not a string"},
    {"bad seccomp mode", "[[vm]]\nname = \"a\"\nseccomp = \"strict\"\n",
     "m.toml:3:11: vm \"a\": seccomp \"strict\" is not \"on\", \"log\" or \"off\""},
    {"shutdown_timeout zero", "shutdown_timeout = 0\n[[vm]]\nname = \"a\"\n",
     "m.toml:1:20: manifest: 'shutdown_timeout' is 0; expected 1 to 3600"},
    // Symmetric vhost-pci-net (docs/vhost-pci-net.md §9.7).
    {"unknown vhost-pci-net key", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nqueues = 2\n",
     "m.toml:4:1: vm \"a\": vhost-pci-net[0]: unknown key 'queues' (expected name, mode, socket, bar, hotplug_on_connect, allow_unsealed, peer_uid, peer_gid, peer_timeout, section, peer)"},
    {"unknown mode", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"mirrored\"\nsection = \"3M\"\n",
     "m.toml:4:8: vm \"a\": vhost-pci-net[0]: mode \"mirrored\" is not \"asymmetric\" (2.0, the default) or \"symmetric\""},
    {"bar on a symmetric device", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\nbar = \"8G\"\n",
     "m.toml:5:7: vm \"a\": vhost-pci-net[0]: 'bar' is for mode = \"asymmetric\"; this device is symmetric: it has no peer-memory BAR (its shared memory is 'section')"},
    {"hotplug_on_connect on a symmetric device", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\nhotplug_on_connect = true\n",
     "m.toml:5:22: vm \"a\": vhost-pci-net[0]: 'hotplug_on_connect' is for mode = \"asymmetric\"; this device is symmetric"},
    {"allow_unsealed on a symmetric device", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\nallow_unsealed = true\n",
     "m.toml:5:18: vm \"a\": vhost-pci-net[0]: 'allow_unsealed' is for mode = \"asymmetric\"; this device is symmetric: a symmetric peer's section is always sealed"},
    {"section on a default device", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nsection = \"4M\"\n",
     "m.toml:4:11: vm \"a\": vhost-pci-net[0]: 'section' is for mode = \"symmetric\"; this device is asymmetric (the default)"},
    {"section on an asymmetric device", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"asymmetric\"\nsection = \"4M\"\n",
     "m.toml:5:11: vm \"a\": vhost-pci-net[0]: 'section' is for mode = \"symmetric\"; this device is asymmetric"},
    {"peer on an asymmetric device", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\npeer = \"b\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\n",
     "m.toml:4:8: vm \"a\": vhost-pci-net[0]: 'peer' is for mode = \"symmetric\"; this device is asymmetric (the default): it listens, and another VM's virtio-net connects to it with peer = \"a\""},
    {"section not a power of two", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\nsection = \"3M\"\n",
     "m.toml:5:11: vm \"a\": vhost-pci-net[0]: section=3145728: a section must be a power of two from 1M to 64M"},
    {"section too large", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\nsection = \"128M\"\n",
     "m.toml:5:11: vm \"a\": vhost-pci-net[0]: section=134217728: a section must be a power of two from 1M to 64M"},
    {"section too small", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\nsection = \"512K\"\n",
     "m.toml:5:11: vm \"a\": vhost-pci-net[0]: section=524288: a section must be a power of two from 1M to 64M"},
    {"socket on a connecting device",
     "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"b\"\nsocket = \"/s\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\n",
     "m.toml:6:10: vm \"a\": vhost-pci-net[0]: 'socket' is for a device that listens; with 'peer' it connects to its peer's socket"},
    {"symmetric peer names no VM", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"c\"\n[[vm]]\nname = \"b\"\n",
     "m.toml:5:8: vm \"a\": vhost-pci-net[0]: peer \"c\" names no VM in this manifest (VMs: a, b)"},
    {"symmetric peer is itself", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"a\"\n",
     "m.toml:7:8: vm \"a\": vhost-pci-net[1]: peer \"a\" names its own VM; a VM cannot be its own vhost-pci peer"},
    {"symmetric peer without vhost-pci-net", "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"b\"\n[[vm]]\nname = \"b\"\n",
     "m.toml:5:8: vm \"a\": vhost-pci-net[0]: peer \"b\": vm \"b\" has no vhost-pci-net device to connect to"},
    {"symmetric peer without a symmetric listener",
     "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"b\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\n[[vm.vhost-pci-net]]\nname = \"s\"\nmode = \"symmetric\"\npeer = \"c\"\n[[vm]]\nname = \"c\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\n",
     "m.toml:5:8: vm \"a\": vhost-pci-net[0]: peer \"b\": vm \"b\" has no symmetric vhost-pci-net that listens (mode = \"symmetric\", no 'peer') to connect to: \"b:vpci0\" is asymmetric (a virtio-net's peer), \"b:s\" connects to a peer itself"},
    {"symmetric peer names a missing device",
     "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"b:x\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\n",
     "m.toml:5:8: vm \"a\": vhost-pci-net[0]: peer \"b:x\": vm \"b\" has no vhost-pci-net named \"x\" to connect to"},
    {"symmetric peer names an asymmetric device",
     "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"b:vpci0\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\n",
     "m.toml:5:8: vm \"a\": vhost-pci-net[0]: peer \"b:vpci0\": vm \"b\"'s vhost-pci-net \"vpci0\" is asymmetric (2.0): a virtio-net with peer = \"b:vpci0\" connects to it, not a symmetric vhost-pci-net"},
    {"symmetric peers name each other",
     "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"b:vpci0\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"a:vpci0\"\n",
     "m.toml:5:8: vm \"a\": vhost-pci-net[0]: peer \"b:vpci0\": vm \"b\"'s vhost-pci-net \"vpci0\" connects to a peer itself; of the two symmetric ends, one listens (has no 'peer')\n"
     "m.toml:10:8: vm \"b\": vhost-pci-net[0]: peer \"a:vpci0\": vm \"a\"'s vhost-pci-net \"vpci0\" connects to a peer itself; of the two symmetric ends, one listens (has no 'peer')"},
    {"ambiguous symmetric peer",
     "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"b\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\nname = \"x\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\nname = \"y\"\n",
     "m.toml:5:8: vm \"a\": vhost-pci-net[0]: peer \"b\" is ambiguous: vm \"b\" has 2 symmetric vhost-pci-net devices that listen (\"b:x\", \"b:y\")"},
    {"two symmetric peers on one listener",
     "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"c\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"c\"\n[[vm]]\nname = \"c\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\n",
     "m.toml:10:8: vm \"b\": vhost-pci-net[0]: vm \"c\"'s vhost-pci-net \"vpci0\" already has a peer (vm \"a\": vhost-pci-net[0] at m.toml:5:8); it takes one"},
    {"section sizes differ",
     "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"b\"\nsection = \"8M\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\nsection = \"16M\"\n",
     "m.toml:6:11: vm \"a\": vhost-pci-net[0]: section 8M differs from that of vm \"b\"'s vhost-pci-net \"vpci0\" (16M at m.toml:11:11); both ends of a symmetric pair have one section size"},
    {"section differs from the default",
     "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"b\"\nsection = \"8M\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\n",
     "m.toml:6:11: vm \"a\": vhost-pci-net[0]: section 8M differs from that of vm \"b\"'s vhost-pci-net \"vpci0\" (4M, the default); both ends of a symmetric pair have one section size"},
    {"virtio-net peer names a symmetric device",
     "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\npeer = \"b:s\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\nname = \"s\"\nmode = \"symmetric\"\n",
     "m.toml:4:8: vm \"a\": virtio-net[0]: peer \"b:s\": vm \"b\"'s vhost-pci-net \"s\" is symmetric: a virtio-net cannot connect to it (a [[vm.vhost-pci-net]] with mode = \"symmetric\" and peer = \"b:s\" can)"},
    {"virtio-net peer finds only symmetric devices",
     "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\npeer = \"b\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\n",
     "m.toml:4:8: vm \"a\": virtio-net[0]: peer \"b\": vm \"b\" has no asymmetric vhost-pci-net to connect to: \"b:vpci0\" is symmetric (a symmetric vhost-pci-net's peer)"},
    {"ambiguous virtio-net peer beside a symmetric device",
     "[[vm]]\nname = \"a\"\n[[vm.virtio-net]]\npeer = \"b\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\n[[vm.vhost-pci-net]]\nname = \"x\"\n",
     "m.toml:4:8: vm \"a\": virtio-net[0]: peer \"b\" is ambiguous: vm \"b\" has 2 asymmetric vhost-pci-net devices (\"b:vpci0\", \"b:x\")"},
    {"symmetric cycle",
     "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"b\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"a\"\n",
     "m.toml:1:1: vm \"a\": the peers form a cycle (a -> b -> a): each VM connects to the next one's vhost-pci-net, which must listen first, so no start order exists"},
    {"cycle of a virtio-net and a symmetric link",
     "[[vm]]\nname = \"a\"\n[[vm.vhost-pci-net]]\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\npeer = \"b\"\n[[vm]]\nname = \"b\"\n[[vm.vhost-pci-net]]\nmode = \"symmetric\"\n[[vm.virtio-net]]\npeer = \"a\"\n",
     "m.toml:1:1: vm \"a\": the peers form a cycle (a -> b -> a): each VM connects to the next one's vhost-pci-net, which must listen first, so no start order exists"},
};
}  // namespace

TEST_CASE("manifest: the table of bad manifests has at least 15 rows, each named once") {
  CHECK(std::size(kBad) >= 15);
  std::set<std::string> names;
  for (const Bad& b : kBad) names.insert(b.what);
  CHECK(names.size() == std::size(kBad));  // a subcase a name: two rows of one name would run as one
}

TEST_CASE("manifest: each bad manifest gets its exact message and location") {
  // A subcase a row: a failure names its row. No REQUIRE: a failed one would end the test case,
  // and the rows after it with it.
  for (const Bad& b : kBad) {
    SUBCASE(b.what) {
      auto m = parse_manifest(b.text, "m.toml", defaults());
      CHECK_FALSE(m.ok());
      if (!m.ok()) CHECK(m.message() == std::string(b.error));  // a string, so a failure prints it
    }
  }
}

TEST_CASE("manifest: arch names this tandem's architecture; the other one is refused at its VM") {
  const std::string self = arch::name();
  const std::string other = self == "x86_64" ? "aarch64" : "x86_64";
  auto ok = parse_manifest("[[vm]]\nname = \"a\"\narch = \"" + self + "\"\n", "m.toml", defaults());
  CHECK(ok.ok());
  auto bad = parse_manifest("[[vm]]\nname = \"a\"\narch = \"" + other + "\"\n", "m.toml", defaults());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.message().rfind("m.toml:3:8: vm \"a\": arch \"" + other + "\", but this tandem is built for " + self, 0) == 0);
}

TEST_CASE("manifest: every error is reported, one per line, in file order") {
  auto m = parse_manifest("[[vm]]\nname = \"a\"\ncpus = 0\nmemory = \"x\"\n", "m.toml", defaults());
  REQUIRE_FALSE(m.ok());
  CHECK(m.message() ==
        "m.toml:3:8: vm \"a\": 'cpus' is 0; expected 1 to 255\n"
        "m.toml:4:10: vm \"a\": 'memory': size 'x' does not start with a number");
}

TEST_CASE("manifest: a missing kernel is found before anything starts, at its VM") {
  Defaults d = defaults();
  d.check_files = true;
  auto m = parse_manifest("[[vm]]\nname = \"a\"\nkernel = \"/nonexistent/bzImage\"\n", "m.toml", d);
  REQUIRE_FALSE(m.ok());
  CHECK(m.message() == "m.toml:1:1: vm \"a\": kernel /nonexistent/bzImage: No such file or directory");
  d.kernel.clear();
  auto none = parse_manifest("[[vm]]\nname = \"a\"\n", "m.toml", d);
  REQUIRE_FALSE(none.ok());
  CHECK(none.message() == "m.toml:1:1: vm \"a\": no 'kernel', and neither $TANDEM_GUEST_KERNEL nor /boot/vmlinuz-<running release> to default to (guest-images/build --env prints a kernel and an initrd)");
  auto missing = load_manifest("/nonexistent/m.toml", d);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.message() == "manifest /nonexistent/m.toml: No such file or directory");
}

// The reader any device kind gets in a manifest when it has none of its own: the kind's keys, of
// their types, then the kind's checks. Pinned here with the two kinds that have their own readers.
#include "vmm/manifest/manifest_parser.h"

namespace {
struct KindTable {
  detail::Parser parser;
  toml::table root;
  detail::VmTable v;

  KindTable(const Defaults& d, const char* text)
      : parser("m.toml", d), root(toml::parse(std::string_view(text), std::string_view("m.toml"))), v{0, root, "vm[0]", Vm{}} {}
  const toml::table& device(const char* kind) { return *root[kind].as_array()->get(0)->as_table(); }
  std::string errors() const { return parser.c.failed() ? parser.c.result().message : ""; }
};
}  // namespace

TEST_CASE("a device kind's table read by the kind's keys alone") {
  Defaults d = defaults();
  SUBCASE("virtio-net: the same spec as --net") {
    KindTable k(d, "[[virtio-net]]\ntap = \"t0\"\nvhost = true\nmac = \"52:54:00:00:00:07\"\n");
    k.parser.kind_table(k.v, 0, k.device("virtio-net"), device_kinds::VirtioNet{});
    CHECK(k.errors() == "");
    REQUIRE(k.v.vm.config.devices.of<NetSpec>().size() == 1);
    CHECK(device_text(k.v.vm.config.devices.of<NetSpec>()[0]) == "tap=t0,vhost=on,mac=52:54:00:00:00:07");
  }
  SUBCASE("vhost-pci-net: sizes as text or bytes, counts bounded by the key") {
    KindTable k(d, "[[vhost-pci-net]]\nsocket = \"/s\"\nmode = \"symmetric\"\nsection = \"8M\"\npeer_uid = 7\n");
    k.parser.kind_table(k.v, 0, k.device("vhost-pci-net"), device_kinds::VhostPciNet{});
    CHECK(k.errors() == "");
    REQUIRE(k.v.vm.config.devices.of<VhostPciSpec>().size() == 1);
    CHECK(device_text(k.v.vm.config.devices.of<VhostPciSpec>()[0]) == "socket=/s,mode=symmetric,listen=on,section=8388608,peer_uid=7");
  }
  SUBCASE("a value of the wrong type is reported at the value, the kind's refusal at the table") {
    KindTable k(d, "[[virtio-net]]\ntap = \"t0\"\nvhost = \"on\"\nqueues = 2\n\n[[vhost-pci-net]]\nsocket = \"/s\"\nbar = \"3G\"\n");
    k.parser.kind_table(k.v, 0, k.device("virtio-net"), device_kinds::VirtioNet{});
    k.parser.kind_table(k.v, 0, k.device("vhost-pci-net"), device_kinds::VhostPciNet{});
    CHECK(k.errors() ==
          "m.toml:3:9: vm[0]: virtio-net[0]: 'vhost' must be true or false, not a string\n"
          "m.toml:4:1: vm[0]: virtio-net[0]: unknown key 'queues' (expected tap, vhost-user, vhost, coalesce, mac)\n"
          "m.toml:6:1: vm[0]: vhost-pci-net[0]: bar=3221225472: the peer BAR must be a power of two from 4G to 32G");
    CHECK(k.v.vm.config.devices.size() == 0);
  }
  SUBCASE("a string that would spill into the command line's KEY=VALUE text is refused") {
    KindTable k(d, "[[vhost-pci-net]]\nsocket = \"/a,hotplug_on_connect=on\"\n");
    k.parser.kind_table(k.v, 0, k.device("vhost-pci-net"), device_kinds::VhostPciNet{});
    CHECK(k.errors() == "m.toml:2:10: vm[0]: vhost-pci-net[0]: 'socket' must not contain ','");
    CHECK(k.v.vm.config.devices.size() == 0);
  }
}

TEST_CASE("manifest: a disk's relative path starts at the manifest's directory, as a kernel's does") {
  auto m = parse_manifest("[[vm]]\nname = \"a\"\n  [[vm.disk]]\n  path = \"images/root.img\"\n  [[vm.disk]]\n  path = \"/srv/data.img\"\n  readonly = true\n",
                          "/etc/tandem/pair.toml", defaults());
  REQUIRE(m);
  const auto& disks = m->vms[0].config.devices.of<DiskSpec>();
  REQUIRE(disks.size() == 2);
  CHECK(disks[0].path == "/etc/tandem/images/root.img");
  CHECK(disks[1].path == "/srv/data.img");
  CHECK(disks[1].read_only);
}

TEST_CASE("expand_env: ${NAME} from the environment (a fixed list of names only), $${ kept, every bad form named") {
  EnvLookup env = [](const std::string& n) -> std::optional<std::string> {
    if (n == "TANDEM_DEBIAN_DISK") return std::string("/cache/debian/disk.raw");
    if (n == "TANDEM_CACHE") return std::string();
    if (n == "HOME") return std::string("/home/u");
    if (n == "AWS_SECRET_ACCESS_KEY") return std::string("secret");
    return std::nullopt;
  };
  CHECK(*expand_env("${TANDEM_DEBIAN_DISK}", env) == "/cache/debian/disk.raw");
  CHECK(*expand_env("a${TANDEM_CACHE}b $HOME $$ $${TANDEM_DEBIAN_DISK}", env) == "ab $HOME $$ ${TANDEM_DEBIAN_DISK}");
  CHECK(*expand_env("x=${TANDEM_DEBIAN_DISK},y=${HOME}/i", env) == "x=/cache/debian/disk.raw,y=/home/u/i");
  CHECK(expand_env("${TANDEM_GUEST_KERNEL}", env).message() == "${TANDEM_GUEST_KERNEL} is not set in the environment");
  CHECK(expand_env("k=${AWS_SECRET_ACCESS_KEY}", env).message() ==
        "${AWS_SECRET_ACCESS_KEY}: a manifest reads only HOME, USER, XDG_RUNTIME_DIR, XDG_CACHE_HOME, XDG_DATA_HOME, "
        "XDG_CONFIG_HOME, TANDEM_CACHE, TANDEM_GUEST_KERNEL, TANDEM_GUEST_INITRD, TANDEM_DEBIAN_DISK, "
        "TANDEM_DEBIAN_KERNEL and TANDEM_DEBIAN_INITRD from the environment");
  CHECK(!expand_env("${XDG_SESSION_COOKIE}", env));
  CHECK(!expand_env("${TANDEM_API_TOKEN}", env));
  CHECK(expand_env("${TANDEM_DEBIAN_DISK", env).message() == "'${' without its '}' (write $${ for a literal ${)");
  CHECK(expand_env("${}", env).message() ==
        "'${}' is not a variable name (letters, digits and '_', not starting with a digit, at most 64)");
  CHECK(!expand_env("${1A}", env));
  CHECK(!expand_env("${A-B}", env));
  CHECK(!expand_env("${" + std::string(65, 'A') + "}", env));
  EnvLookup big = [](const std::string&) -> std::optional<std::string> { return std::string(40000, 'x'); };
  CHECK(expand_env("${HOME}${HOME}", big).message() == "longer than 64 KiB once its ${...} are expanded");
}

TEST_CASE("manifest: ${NAME} in a string value is the environment's; an unset one is an error at its value") {
  Defaults d = defaults();
  d.env = [](const std::string& n) -> std::optional<std::string> {
    if (n == "TANDEM_DEBIAN_DISK") return std::string("/cache/debian/disk.raw");
    if (n == "TANDEM_DEBIAN_KERNEL") return std::string("/cache/debian/vmlinuz");
    return std::nullopt;
  };
  auto m = parse_manifest("[[vm]]\nname = \"a\"\nkernel = \"${TANDEM_DEBIAN_KERNEL}\"\n  [[vm.disk]]\n  path = \"${TANDEM_DEBIAN_DISK}\"\n",
                          "/etc/tandem/pair.toml", d);
  REQUIRE(m);
  CHECK(m->vms[0].config.kernel == "/cache/debian/vmlinuz");
  CHECK(m->vms[0].config.devices.of<DiskSpec>()[0].path == "/cache/debian/disk.raw");
  auto bad = parse_manifest("[[vm]]\nname = \"a\"\ninitrd = \"${TANDEM_DEBIAN_INITRD}\"\n", "/etc/tandem/pair.toml", d);
  REQUIRE(!bad);
  CHECK(bad.message() == "/etc/tandem/pair.toml:3:10: vm \"a\": 'initrd': ${TANDEM_DEBIAN_INITRD} is not set in the environment");
}

TEST_CASE("manifest: a relative disk path is checked once resolved (a ',' in the manifest's directory is refused)") {
  auto m = parse_manifest("[[vm]]\nname = \"a\"\n  [[vm.disk]]\n  path = \"root.img\"\n", "/tmp/x,serial=a/pair.toml", defaults());
  REQUIRE(!m);
  CHECK(m.message() == "/tmp/x,serial=a/pair.toml:4:10: vm \"a\": disk[0]: 'path' must not contain ','");
}
