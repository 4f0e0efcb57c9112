// Unit tests for devices/requester_vm_services.h: MSI routes carry the function's requester ID,
// whatever the device model put there, and everything else reaches the VM unchanged.
#include "devices/requester_vm_services.h"

#include <doctest/doctest.h>

#include "devices/testing/recording_vm_services.h"

using namespace tandem;

TEST_CASE("a device's MSI routes carry the requester ID of the slot it was plugged into") {
  auto vm = std::make_shared<testing::RecordingVmServices>();
  RequesterVmServices view(vm);
  auto gsi = view.allocate_gsi();
  REQUIRE(gsi);
  CHECK(view.set_msi_route(*gsi, MsiMessage{0xfee00000, 0x4041, 0x7777}));
  CHECK(vm->routes.at(*gsi).requester_id == 0);  // not plugged yet: ID 0, not the model's value
  CHECK(vm->routes.at(*gsi).address == 0xfee00000);
  CHECK(vm->routes.at(*gsi).data == 0x4041);
  view.set_requester_id(5 << 3);  // bus 0, slot 5, function 0
  CHECK(view.requester_id() == 0x28);
  CHECK(view.set_msi_route(*gsi, MsiMessage{0x08090040, 7, 0}));
  CHECK(vm->routes.at(*gsi).requester_id == 0x28);
  CHECK(vm->routes.at(*gsi).address == 0x08090040);
  CHECK(view.remove_route(*gsi));
  CHECK(vm->routes.empty());
}

TEST_CASE("the view passes irqfds, doorbells, MMIO ranges and memslots through") {
  auto vm = std::make_shared<testing::RecordingVmServices>();
  RequesterVmServices view(vm);
  CHECK(view.set_irqfd(9, 30, true));
  CHECK(vm->irqfds.count({9, 30}) == 1);
  CHECK(view.set_ioeventfd(10, 0x1000, true));
  CHECK(vm->doorbells.count({10, 0x1000}) == 1);
  CHECK(view.map_mmio(nullptr, 0x2000, 0x100));
  CHECK(vm->mmio.at(0x2000) == 0x100);
  CHECK(view.unmap_mmio(0x2000));
  CHECK(vm->mmio.empty());
  auto slot = view.add_memslot(0x100000, 0x1000, nullptr, true);
  REQUIRE(slot);
  CHECK(vm->slots.at(*slot).read_only);
  CHECK(view.remove_memslot(*slot));
  CHECK_FALSE(view.remove_memslot(*slot));  // the VM's error comes back
}

TEST_CASE("the view passes a device's fault repair through to the VM, which calls it on a vCPU's EFAULT") {
  auto vm = std::make_shared<testing::RecordingVmServices>();
  RequesterVmServices view(vm);
  int calls = 0;
  view.add_fault_repair(&calls, [&] { return ++calls == 1; });
  CHECK(vm->repair_memory_fault());
  CHECK(calls == 1);
  view.remove_fault_repair(&calls);
  CHECK_FALSE(vm->repair_memory_fault());
  CHECK(calls == 1);
}
