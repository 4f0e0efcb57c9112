// vmm/device_kinds/kinds_test.cc: the kinds' options: text in, typed spec out, and back to the
// same text; bad text names the bad part; the list of kinds.
#include "vmm/device_kinds/kinds.h"

#include <doctest/doctest.h>

namespace tandem::device_kinds {

TEST_CASE("options from text keep their order and types") {
  auto o = options_from_text("tap=tp0,vhost=on,coalesce=20", VirtioNet::keys());
  REQUIRE(o.ok());
  REQUIRE(o->size() == 3);
  CHECK((*o)[0].key == "tap");
  CHECK(std::get<std::string>((*o)[0].value) == "tp0");
  CHECK(std::get<bool>((*o)[1].value));
  CHECK(std::get<uint64_t>((*o)[2].value) == 20);
  CHECK(options_text(*o) == "tap=tp0,vhost=on,coalesce=20");
  auto sizes = options_from_text("socket=/s,bar=8G", VhostPciNet::keys());
  REQUIRE(sizes.ok());
  CHECK(std::get<uint64_t>((*sizes)[1].value) == (8ULL << 30));
}

TEST_CASE("bad option text names the bad part") {
  struct Case {
    const char* text;
    const char* says;
  };
  for (auto c : {Case{"tap", "'tap' in 'tap' is not KEY=VALUE"}, Case{"tap=", "is not KEY=VALUE"}, Case{"=x", "is not KEY=VALUE"},
                 Case{"tap=a,,vhost=on", "'' in"}, Case{"tap=a,bogus=1", "unknown key 'bogus' in 'tap=a,bogus=1' (expected tap, vhost-user, vhost, coalesce, mac)"},
                 Case{"tap=a,vhost=yes", "vhost=yes: expected on or off"}, Case{"tap=a,coalesce=1e3", "coalesce=1e3: expected a whole number of microseconds"},
                 Case{"tap=a,coalesce=1000000", "coalesce=1000000: expected a whole number"},
                 Case{"tap=a,mac=52:54:00:00:00:01,mac=x", "'tap=a,mac=52:54:00:00:00:01,mac=x' gives mac= twice"}}) {
    CAPTURE(c.text);
    auto o = options_from_text(c.text, VirtioNet::keys());
    REQUIRE_FALSE(o.ok());
    CHECK(o.message().find(c.says) != std::string::npos);
  }
}

TEST_CASE("every spec goes to text and back unchanged") {
  for (const char* text : {"tap=tp0", "tap=tp0,vhost=on", "tap=tp0,coalesce=0,mac=52:54:00:00:00:01", "vhost-user=/run/x.sock"}) {
    CAPTURE(text);
    auto spec = parse_net(text);
    REQUIRE(spec.ok());
    CHECK(device_text(*spec) == text);
  }
  for (const char* text : {"socket=/a,bar=8589934592", "socket=/a,bar=17179869184,hotplug_on_connect=on,allow_unsealed=on,peer_uid=7,peer_timeout=30",
                           "socket=/a,mode=symmetric,listen=off,section=8388608,peer_gid=9"}) {
    CAPTURE(text);
    auto spec = parse_vhost_pci(text);
    REQUIRE(spec.ok());
    CHECK(device_text(*spec) == text);
  }
}

TEST_CASE("the kinds: names, options and id prefixes are distinct") {
  CHECK(kind_names() == "virtio-net, vhost-pci-net or virtio-blk");
  std::vector<std::string> seen;
  Kinds::each([&](auto kind) {
    using K = decltype(kind);
    for (const char* s : {K::kName, K::kOption, K::kIdPrefix}) {
      CHECK(std::find(seen.begin(), seen.end(), s) == seen.end());
      seen.push_back(s);
    }
    CHECK_FALSE(K::keys().empty());
  });
  bool found = Kinds::with_name("vhost-pci-net", [](auto kind) { CHECK(std::string(decltype(kind)::kOption) == "--vhost-pci"); });
  CHECK(found);
  CHECK_FALSE(Kinds::with_name("virtio-scsi", [](auto) { FAIL("no such kind"); }));
}

TEST_CASE("virtio-blk: --disk text, its checks, and back") {
  auto d = parse_disk("path=/images/a.raw,readonly=on,serial=disk-A1");
  REQUIRE(d.ok());
  CHECK(d->path == "/images/a.raw");
  CHECK(d->read_only);
  CHECK(d->serial == "disk-A1");
  CHECK(device_text(*d) == "path=/images/a.raw,readonly=on,serial=disk-A1");
  CHECK(parse_disk("readonly=on").message().find("names no image file") != std::string::npos);
  CHECK_FALSE(parse_disk("").ok());
  CHECK_FALSE(parse_disk("path=").ok());
  CHECK(parse_disk("path=/a,readonly=maybe").message().find("readonly") != std::string::npos);
  CHECK(parse_disk("path=/a,serial=123456789012345678901").message().find("at most 20") != std::string::npos);
  CHECK_FALSE(parse_disk("path=/a,size=1G").ok());
}

TEST_CASE("a VM's device lists go kind by kind") {
  DeviceSpecs specs;
  specs.of<VhostPciSpec>().push_back(*parse_vhost_pci("socket=/v"));
  specs.of<NetSpec>().push_back(*parse_net("tap=t0"));
  specs.of<NetSpec>().push_back(*parse_net("tap=t1"));
  std::vector<std::string> order;
  specs.each([&](auto, const auto& spec) { order.push_back(device_option_text(spec)); });
  CHECK(specs.size() == 3);
  CHECK(order == std::vector<std::string>{"--net tap=t0", "--net tap=t1", "--vhost-pci socket=/v,bar=17179869184"});
}

}  // namespace tandem::device_kinds
