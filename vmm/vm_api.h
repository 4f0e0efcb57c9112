// vmm/vm_api.h: a running VM's JSON-RPC methods (docs/api.md). Their device parameters are
// parsed in device_request.h.
#pragma once

#include <chrono>
#include <string>
#include <utility>

#include "vmm/api/jsonrpc.h"
#include "vmm/api/server.h"
#include "vmm/device_manager.h"
#include "vmm/exit_controller.h"
#include "vmm/shutdown.h"
#include "vmm/vcpu_set.h"
#include "vmm/vm_config.h"

namespace tandem {

// What the API's methods act on: the parts of one running VM.
struct VmParts {
  const VmConfig& cfg;
  std::chrono::steady_clock::time_point start;
  ExitController& exit;
  VcpuSet& vcpus;
  DeviceManager& devices;
  Shutdown& shutdown;
};
// Registers vmm.ping, vmm.version, vm.info, vm.pause, vm.resume, vm.shutdown, vm.kill, device.list,
// vm.counters, device.add and device.remove on `server`. `vm` must outlive the server's event loop.
void add_vm_methods(api::Server& server, const VmParts& vm);

// A device event as the API's notification: its method ("device.added") and params.
std::pair<std::string, api::Json> device_event_notification(const DeviceEvent& event);

}  // namespace tandem
