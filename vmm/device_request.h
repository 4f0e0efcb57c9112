// vmm/device_request.h: the parameters of the API's device methods (docs/api.md), in the command
// line's words: {"type": "virtio-net", "tap": "tp0"} is --net tap=tp0, {"type": "vhost-pci-net",
// "socket": "/x.sock"} is --vhost-pci socket=/x.sock. The same parsers check both.
#pragma once

#include <string>
#include <variant>

#include "vmm/api/jsonrpc.h"
#include "vmm/vm_config.h"

namespace tandem {

// A device.add request: the device and, optionally, its id.
struct DeviceRequest {
  std::string id;  // empty: tandem picks one (net<N>, vpci<N>)
  std::variant<NetSpec, VhostPciSpec> spec;
};

// device.add's params: "type" and the backend's keys, optional "id". Errors are invalid-params
// replies naming the parameter.
std::variant<DeviceRequest, api::RpcError> parse_device_add(const api::Json& params);
// device.remove's params: {"id": "net1"}.
std::variant<std::string, api::RpcError> parse_device_remove(const api::Json& params);
// A device id: 1 to 32 of [a-z0-9_-], starting with a letter.
bool valid_device_id(const std::string& id);

}  // namespace tandem
