// vmm/ctl_test.cc: `tandem ctl`'s words to params, and --human output.
#include "vmm/ctl.h"

#include <doctest/doctest.h>

namespace tandem {

TEST_CASE("KEY=VALUE words become the params object, typed") {
  auto p = ctl_params({"type=virtio-net", "tap=tp0", "vhost=true", "n=42", "neg=-3", "x=null", "j={\"a\":[1]}", "s=\"007\"", "mac=52:54:00:00:00:01"});
  REQUIRE(p.ok());
  CHECK(*p == api::Json{{"type", "virtio-net"}, {"tap", "tp0"}, {"vhost", true}, {"n", 42}, {"neg", -3}, {"x", nullptr},
                        {"j", {{"a", {1}}}}, {"s", "007"}, {"mac", "52:54:00:00:00:01"}});
  CHECK(ctl_params({})->is_object());
  CHECK(*ctl_params({"{\"type\":\"vhost-pci-net\"}"}) == api::Json{{"type", "vhost-pci-net"}});
}

TEST_CASE("bad words are named") {
  CHECK(ctl_params({"tap"}).message() == "'tap' is not KEY=VALUE (or give the params as one JSON object)");
  CHECK(ctl_params({"=x"}).message() == "'=x' is not KEY=VALUE (or give the params as one JSON object)");
  CHECK(ctl_params({"a=1", "a=2"}).message() == "'a' is given twice");
  CHECK(ctl_params({"{nope"}).message() == "the params '{nope' are not valid JSON");
  CHECK(ctl_params({"a=[1,"}).message() == "the value of 'a' starts like JSON but is not valid JSON: [1,");
}

TEST_CASE("--human prints objects as lines and lists of objects as tables") {
  api::Json info = {{"state", "running"},
                    {"cpus", 1},
                    {"devices", {{{"id", "net0"}, {"type", "virtio-net"}}, {{"id", "vpci0"}, {"type", "vhost-pci-net"}, {"link", "up"}}}}};
  CHECK(human_text(info) ==
        "cpus   1\n"
        "state  running\n"
        "\n"
        "devices:\n"
        "ID     TYPE           LINK\n"
        "net0   virtio-net     -\n"
        "vpci0  vhost-pci-net  up\n");
  CHECK(human_text(api::Json("x")) == "x\n");
  // Identifying columns come first, whatever the key order.
  api::Json devs = {{{"backend", {{"tap", "t0"}}}, {"id", "net0"}, {"pci", "0000:00:01.0"}, {"type", "virtio-net"}}};
  CHECK(human_text(devs) ==
        "ID    TYPE        PCI           TAP\n"
        "net0  virtio-net  0000:00:01.0  t0\n");
}

TEST_CASE("--human spreads a row's objects into columns: vm.counters as two tables") {
  api::Json counters = {
      {"devices",
       {{{"id", "net0"}, {"type", "virtio-net"}, {"counters", {{"rx_packets", 7}, {"tx_packets", 5}}}},
        {{"id", "blk0"}, {"type", "virtio-blk"}, {"counters", {{"read_requests", 2}}}}}},
      {"vcpus", {{{"vcpu", 0}, {"exits", {{"io", 10}, {"mmio", 4}}}}}}};
  CHECK(human_text(counters) ==
        "\n"
        "devices:\n"
        "ID    TYPE        RX_PACKETS  TX_PACKETS  READ_REQUESTS\n"
        "net0  virtio-net  7           5           -\n"
        "blk0  virtio-blk  -           -           2\n"
        "\n"
        "vcpus:\n"
        "VCPU  IO  MMIO\n"
        "0     10  4\n");
  // A member named like one of the row's own values keeps its object's name.
  api::Json devs = {{{"id", "net0"}, {"mac", "02:00:00:00:00:01"}, {"guest", {{"mac", "02:00:00:00:00:02"}}}}};
  CHECK(human_text(devs) ==
        "ID    GUEST.MAC          MAC\n"
        "net0  02:00:00:00:00:02  02:00:00:00:00:01\n");
}

}  // namespace tandem
