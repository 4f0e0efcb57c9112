// tests/fuzz/jsonrpc_fuzzer.cc: the API socket's request handling (vmm/api/jsonrpc, vmm/device_request)
// on any line a client can send.
//
// The line is parsed as a JSON-RPC 2.0 request; a valid request's params go through the device
// parameter parsers (device.add, device.remove) and every reply is encoded. A bad request must
// come back as an error object with a code in the JSON-RPC ranges, and every encoded reply must be
// one line of valid JSON. A crash, an uncaught exception or a broken reply is a finding.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "vmm/api/jsonrpc.h"
#include "vmm/device_request.h"

using namespace tandem;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}

void check_line(const std::string& line) {
  check(!line.empty() && line.back() == '\n');
  check(line.find('\n') == line.size() - 1);
  auto parsed = api::Json::parse(line, nullptr, false);
  check(!parsed.is_discarded() && parsed.is_object());
}

void check_error(const api::RpcError& e) {
  check(!e.message.empty());
  check(e.code <= -32000 && e.code >= -32700);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto parsed = api::parse_request(line);
  if (auto* bad = std::get_if<api::BadRequest>(&parsed)) {
    check_error(bad->error);
    check_line(api::encode_error(bad->id, bad->error));
    return 0;
  }
  const auto& req = std::get<api::Request>(parsed);
  check(!req.method.empty());
  if (req.method == "device.add") {
    auto r = parse_device_add(req.params);
    if (auto* e = std::get_if<api::RpcError>(&r)) {
      check_error(*e);
      check_line(api::encode_error(req.id, *e));
    }
  } else if (req.method == "device.remove") {
    auto r = parse_device_remove(req.params);
    if (auto* e = std::get_if<api::RpcError>(&r)) {
      check_error(*e);
      check_line(api::encode_error(req.id, *e));
    } else {
      check(!std::get<std::string>(r).empty());
    }
  }
  check_line(api::encode_result(req.id, req.params));
  return 0;
}
