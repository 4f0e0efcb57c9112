// vmm/device_request.h: the parameters of the API's device methods (docs/api.md). device.add's
// "type" names a device kind (vmm/device_kinds); its other keys are that kind's, the command
// line's words as JSON values: {"type": "virtio-net", "tap": "tp0", "vhost": true} is
// --net tap=tp0,vhost=on. The kind checks them as it checks the command line's.
#pragma once

#include <string>
#include <variant>

#include "vmm/api/jsonrpc.h"
#include "vmm/device_kinds/kinds.h"

namespace tandem {

// A device.add request: the device and, optionally, its id.
struct DeviceRequest {
  std::string id;  // empty: tandem picks one (net<N>, vpci<N>)
  DeviceSpec spec;
};

// device.add's params: "type" and the kind's keys, optional "id". Errors are invalid-params
// replies naming the parameter.
std::variant<DeviceRequest, api::RpcError> parse_device_add(const api::Json& params);
// device.remove's params: {"id": "net1"}.
std::variant<std::string, api::RpcError> parse_device_remove(const api::Json& params);
// A device id: 1 to 32 of [a-z0-9_-], starting with a letter.
bool valid_device_id(const std::string& id);

}  // namespace tandem
