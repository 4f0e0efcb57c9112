// vmm/device_request_test.cc: device.add / device.remove parameters: the CLI's words, every bad shape.
#include "vmm/device_request.h"

#include <doctest/doctest.h>

namespace tandem {

TEST_CASE("device.add takes the command line's words") {
  auto tap = parse_device_add(api::Json{{"type", "virtio-net"}, {"tap", "tp0"}, {"vhost", true}, {"mac", "52:54:00:00:00:01"}});
  REQUIRE(std::holds_alternative<DeviceRequest>(tap));
  const auto& n = std::get<NetSpec>(std::get<DeviceRequest>(tap).spec);
  CHECK(n.kind == NetSpec::Kind::kTap);
  CHECK(n.tap == "tp0");
  CHECK(n.vhost);
  CHECK(n.mac == "52:54:00:00:00:01");
  auto co = parse_device_add(api::Json{{"type", "virtio-net"}, {"tap", "tp1"}, {"coalesce", 0}});
  REQUIRE(std::holds_alternative<DeviceRequest>(co));
  CHECK(std::get<NetSpec>(std::get<DeviceRequest>(co).spec).coalesce_us == 0);
  auto vu = parse_device_add(api::Json{{"type", "virtio-net"}, {"vhost-user", "/run/x.sock"}, {"id", "uplink"}});
  REQUIRE(std::holds_alternative<DeviceRequest>(vu));
  CHECK(std::get<DeviceRequest>(vu).id == "uplink");
  CHECK(std::get<NetSpec>(std::get<DeviceRequest>(vu).spec).socket == "/run/x.sock");
  auto vp = parse_device_add(api::Json{{"type", "vhost-pci-net"}, {"socket", "/run/p.sock"}, {"bar", "8G"}});
  REQUIRE(std::holds_alternative<DeviceRequest>(vp));
  CHECK(std::get<VhostPciSpec>(std::get<DeviceRequest>(vp).spec).bar_size == (8ULL << 30));
  auto sym = parse_device_add(api::Json{{"type", "vhost-pci-net"}, {"socket", "/run/q.sock"}, {"mode", "symmetric"}, {"listen", false}, {"section", 8388608}});
  REQUIRE(std::holds_alternative<DeviceRequest>(sym));
  const auto& ss = std::get<VhostPciSpec>(std::get<DeviceRequest>(sym).spec);
  CHECK(ss.mode == VhostPciSpec::Mode::kSymmetric);
  CHECK_FALSE(ss.listen);
  CHECK(ss.section_size == (8ULL << 20));
  // Every key of the command line but hotplug_on_connect, with JSON's types.
  auto peers = parse_device_add(api::Json{{"type", "vhost-pci-net"}, {"socket", "/run/r.sock"}, {"allow_unsealed", "on"}, {"peer_uid", 1000}, {"peer_gid", 100}, {"peer_timeout", 30}});
  REQUIRE(std::holds_alternative<DeviceRequest>(peers));
  const auto& ps = std::get<VhostPciSpec>(std::get<DeviceRequest>(peers).spec);
  CHECK(ps.allow_unsealed);
  CHECK(ps.peer_uid == 1000u);
  CHECK(ps.peer_gid == 100u);
  CHECK(ps.peer_timeout_s == 30);
}

TEST_CASE("bad device.add params name the parameter") {
  struct Case {
    api::Json params;
    const char* message;
  };
  using J = api::Json;
  const Case cases[] = {
      {J::array({1}), "invalid params: expected an object with \"type\""},
      {J::object(), "invalid params: missing \"type\" (virtio-net, vhost-pci-net or virtio-blk)"},
      {J{{"type", 3}}, "invalid params: \"type\" must be a string (virtio-net, vhost-pci-net or virtio-blk)"},
      {J{{"type", "virtio-gpu"}}, "invalid params: unknown device type \"virtio-gpu\" (virtio-net, vhost-pci-net or virtio-blk)"},
      {J{{"type", "virtio-net"}}, "invalid params: no backend: give tap=NAME or vhost-user=SOCKET"},
      {J{{"type", "virtio-net"}, {"tap", 5}}, "invalid params: \"tap\" must be a string"},
      {J{{"type", "virtio-net"}, {"tap", ""}}, "invalid params: \"tap\" is empty"},
      {J{{"type", "virtio-net"}, {"tap", "a,vhost=on"}}, "invalid params: \"tap\" must not contain ','"},
      {J{{"type", "virtio-net"}, {"tap", "t0"}, {"vhost-user", "/s"}}, "invalid params: 'tap=t0,vhost-user=/s' names more than one backend (tap= or vhost-user=)"},
      {J{{"type", "virtio-net"}, {"tap", "t0"}, {"vhost", 1}}, "invalid params: \"vhost\" must be true, false, \"on\" or \"off\""},
      {J{{"type", "virtio-net"}, {"vhost-user", "/s"}, {"vhost", true}}, "invalid params: vhost=on only goes with tap=NAME"},
      {J{{"type", "virtio-net"}, {"tap", "t0"}, {"mac", "zz"}}, nullptr},
      {J{{"type", "virtio-net"}, {"tap", "t0"}, {"socket", "/s"}}, "invalid params: unknown parameter \"socket\" (expected type, id, tap, vhost-user, vhost, coalesce, mac)"},
      {J{{"type", "virtio-net"}, {"tap", "t0"}, {"coalesce", -5}}, "invalid params: \"coalesce\" must be a whole number of microseconds"},
      {J{{"type", "virtio-net"}, {"tap", "t0"}, {"coalesce", "50"}}, "invalid params: \"coalesce\" must be a whole number of microseconds"},
      {J{{"type", "virtio-net"}, {"tap", "t0"}, {"coalesce", 20000}}, "invalid params: coalesce=20000: at most 10000 microseconds"},
      {J{{"type", "virtio-net"}, {"vhost-user", "/s"}, {"coalesce", 10}}, "invalid params: coalesce= only goes with tap=NAME without vhost=on (the batching of tandem's own datapath)"},
      {J{{"type", "virtio-net"}, {"tap", "t0"}, {"id", "Net0"}}, "invalid params: \"id\" must be 1 to 32 characters of a-z, 0-9, '_' and '-', starting with a letter"},
      {J{{"type", "vhost-pci-net"}}, "invalid params: no socket: give socket=PATH"},
      {J{{"type", "vhost-pci-net"}, {"socket", "/s"}, {"bar", "3G"}}, nullptr},
      {J{{"type", "vhost-pci-net"}, {"socket", "/s"}, {"bar", -1}}, "invalid params: \"bar\" must be a size (\"16G\") or a number of bytes"},
      {J{{"type", "vhost-pci-net"}, {"socket", "/s"}, {"tap", "t"}}, "invalid params: unknown parameter \"tap\" (expected type, id, socket, mode, bar, allow_unsealed, peer_uid, peer_gid, peer_timeout, listen, section)"},
      {J{{"type", "vhost-pci-net"}, {"socket", "/s"}, {"mode", "symmetric"}, {"listen", "yes"}}, "invalid params: \"listen\" must be true, false, \"on\" or \"off\""},
      {J{{"type", "vhost-pci-net"}, {"socket", "/s"}, {"mode", "symmetric"}, {"section", "3M"}}, nullptr},
      {J{{"type", "vhost-pci-net"}, {"socket", "/s"}, {"section", "4M"}}, nullptr},
      {J{{"type", "vhost-pci-net"}, {"socket", "/s"}, {"mode", 2}}, nullptr},
      {J{{"type", "vhost-pci-net"}, {"socket", "/s"}, {"hotplug_on_connect", true}}, "invalid params: unknown parameter \"hotplug_on_connect\" (expected type, id, socket, mode, bar, allow_unsealed, peer_uid, peer_gid, peer_timeout, listen, section)"},
      {J{{"type", "vhost-pci-net"}, {"socket", "/s"}, {"peer_uid", 4294967295ULL}}, "invalid params: \"peer_uid\" must be a numeric id"},
      {J{{"type", "vhost-pci-net"}, {"socket", "/s"}, {"peer_timeout", 0}}, "invalid params: peer_timeout=0: expected seconds from 1 to 3600"},
      {J{{"type", "vhost-pci-net"}, {"socket", "/s"}, {"mode", "symmetric"}, {"allow_unsealed", true}}, nullptr},
      {J{{"type", "virtio-blk"}}, nullptr},
      {J{{"type", "virtio-blk"}, {"path", 7}}, nullptr},
      {J{{"type", "virtio-blk"}, {"path", "/d.img"}, {"readonly", "maybe"}}, nullptr},
      {J{{"type", "virtio-blk"}, {"path", "/d.img"}, {"tap", "t0"}}, nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.params.dump());
    auto r = parse_device_add(c.params);
    REQUIRE(std::holds_alternative<api::RpcError>(r));
    CHECK(std::get<api::RpcError>(r).code == api::code::kInvalidParams);
    if (c.message) {
      CHECK(std::get<api::RpcError>(r).message == c.message);
    } else {
      CHECK(std::get<api::RpcError>(r).message.rfind("invalid params: ", 0) == 0);
    }
  }
}

TEST_CASE("device.remove wants one string id") {
  auto ok = parse_device_remove(api::Json{{"id", "net0"}});
  REQUIRE(std::holds_alternative<std::string>(ok));
  CHECK(std::get<std::string>(ok) == "net0");
  CHECK(std::get<api::RpcError>(parse_device_remove(api::Json::object())).message == "invalid params: missing \"id\" (see device.list)");
  CHECK(std::get<api::RpcError>(parse_device_remove(api::Json{{"id", 1}})).message == "invalid params: \"id\" must be a string");
  CHECK(std::get<api::RpcError>(parse_device_remove(api::Json{{"id", "a"}, {"x", 1}})).message ==
        "invalid params: unknown parameter \"x\" (expected id)");
}

}  // namespace tandem
