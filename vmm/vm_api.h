// vmm/vm_api.h: a running VM's JSON-RPC methods (docs/api.md), and the parameters of its device
// methods in the command line's words: {"type": "virtio-net", "tap": "tp0"} is --net tap=tp0,
// {"type": "vhost-pci-net", "socket": "/x.sock"} is --vhost-pci socket=/x.sock. The same parsers
// check both.
#pragma once

#include <chrono>
#include <string>
#include <variant>

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
// device.add and device.remove on `server`. `vm` must outlive the server's event loop.
void add_vm_methods(api::Server& server, const VmParts& vm);

// device.add's params: "type" and the backend's keys, optional "id". Errors are invalid-params
// replies naming the parameter.
std::variant<DeviceRequest, api::RpcError> parse_device_add(const api::Json& params);
// device.remove's params: {"id": "net1"}.
std::variant<std::string, api::RpcError> parse_device_remove(const api::Json& params);
// A device id: 1 to 32 of [a-z0-9_-], starting with a letter.
bool valid_device_id(const std::string& id);

}  // namespace tandem
