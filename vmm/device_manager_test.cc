// vmm/device_manager_test.cc: the device manager's life cycle with a real device (a symmetric
// vhost-pci-net, which needs no peer to be built): hot-add and list as typed results, errors as
// kinds, and no device outliving the manager in the event loop's queue (a device.remove pending at
// VM exit must not leave its device to be destroyed after the VM's memory and KVM are gone).
#include "vmm/device_manager.h"

#include <doctest/doctest.h>

#include <stdlib.h>
#include <unistd.h>

#include "devices/testing/recording_vm_services.h"

namespace tandem {

namespace {

struct Fixture {
  asio::io_context io;
  GuestMemory mem = GuestMemory::create({{0, 16 << 20}}, "dm-test").value();
  std::shared_ptr<testing::RecordingVmServices> services = std::make_shared<testing::RecordingVmServices>();
  std::shared_ptr<PciRoot> pci = std::make_shared<PciRoot>();
  std::vector<DeviceEvent> events;
  std::string dir;

  Fixture() {
    char tmpl[] = "/tmp/dm-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
  }
  ~Fixture() {
    (void)::unlink((dir + "/s.sock").c_str());
    (void)::rmdir(dir.c_str());
  }
  std::unique_ptr<DeviceManager> manager() {
    DeviceManager::Options o;
    o.eject_timeout = std::chrono::milliseconds(60000);
    auto dm = std::make_unique<DeviceManager>(io, pci, services, mem, AddressAllocator(1ULL << 40, 1ULL << 36),
                                              [this](DeviceEvent e) { events.push_back(std::move(e)); }, o);
    dm->set_section_window(1ULL << 32, 1ULL << 30);
    dm->set_hotplug(std::make_shared<PciHotplug>([] {}, [](uint8_t) {}));
    return dm;
  }
  DeviceSpec symmetric() { return *parse_vhost_pci("socket=" + dir + "/s.sock,mode=symmetric,section=1M"); }
};

}  // namespace

TEST_CASE("hot-add, list and remove answer with typed results") {
  Fixture f;
  auto dm = f.manager();
  auto added = dm->hot_add("", f.symmetric());
  REQUIRE(std::holds_alternative<DeviceInfo>(added));
  const DeviceInfo& info = std::get<DeviceInfo>(added);
  CHECK(info.id == "vpci0");
  CHECK(info.type == "vhost-pci-net");
  REQUIRE(info.slot.has_value());
  REQUIRE(info.link.has_value());
  CHECK(device_kinds::options_text(info.backend).rfind("socket=" + f.dir + "/s.sock,mode=symmetric,listen=on,section=1048576,shm_base=", 0) == 0);
  REQUIRE(f.events.size() == 1);
  CHECK(f.events[0].kind == DeviceEvent::Kind::kAdded);
  CHECK(dm->list().size() == 1);

  auto taken = dm->hot_add("vpci0", f.symmetric());
  REQUIRE(std::holds_alternative<DeviceError>(taken));
  CHECK(std::get<DeviceError>(taken).kind == DeviceError::Kind::kInvalid);
  auto missing = dm->hot_remove("nope", false);
  REQUIRE(std::holds_alternative<DeviceError>(missing));
  CHECK(std::get<DeviceError>(missing).kind == DeviceError::Kind::kNotFound);
  auto paused = dm->hot_remove("vpci0", true);
  REQUIRE(std::holds_alternative<DeviceError>(paused));
  CHECK(std::get<DeviceError>(paused).kind == DeviceError::Kind::kBusy);
  auto removing = dm->hot_remove("vpci0", false);
  REQUIRE(std::holds_alternative<DeviceManager::Removal>(removing));
  CHECK(std::get<DeviceManager::Removal>(removing) == DeviceManager::Removal::kRemoving);
  CHECK(dm->list()[0].removing);
}

TEST_CASE("no device outlives the manager in the event loop's queue") {
  // As in Vm: the device manager and the PCI bus go first, the event loop (here `f.io`) last.
  Fixture f;
  std::weak_ptr<PciDevice> device;
  SUBCASE("a removal the guest has not answered (the eject timer is pending)") {
    auto dm = f.manager();
    auto added = dm->hot_add("", f.symmetric());
    REQUIRE(std::holds_alternative<DeviceInfo>(added));
    device = f.pci->in_slot(*std::get<DeviceInfo>(added).slot);
    REQUIRE(std::holds_alternative<DeviceManager::Removal>(dm->hot_remove("vpci0", false)));
    dm->stop();  // as at VM exit: the timer is cancelled, its handler still queued
  }
  SUBCASE("an eject the loop has not handled yet") {
    auto dm = f.manager();
    auto added = dm->hot_add("", f.symmetric());
    REQUIRE(std::holds_alternative<DeviceInfo>(added));
    uint8_t slot = *std::get<DeviceInfo>(added).slot;
    device = f.pci->in_slot(slot);
    dm->ejected(slot);  // B0EJ from a vCPU: the rest is posted to the loop, which never runs here
  }
  f.pci.reset();  // (the bus still held a device the guest never ejected)
  CHECK(device.expired());  // gone with the manager and the bus, while the event loop still exists
}

}  // namespace tandem
