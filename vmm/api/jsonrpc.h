// vmm/api/jsonrpc.h: JSON-RPC 2.0 messages, one per line: decoding a request line with every check
// the spec asks for, and encoding results, errors and notifications (nlohmann-json).
//
// Pure functions, no I/O: the server (server.h) and `tandem ctl` both use them, and the unit test
// feeds them every malformed request we know of.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::api {

using Json = nlohmann::json;

// The error codes of JSON-RPC 2.0, and ours in the server-error range.
namespace code {
constexpr int kParseError = -32700;      // not JSON
constexpr int kInvalidRequest = -32600;  // JSON, but not a request object
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
constexpr int kInternalError = -32603;
constexpr int kBusy = -32000;            // the VM is in a state that does not allow it now
constexpr int kNotFound = -32001;        // a device (or other object) that does not exist
constexpr int kUnavailable = -32002;     // not supported by this VM or this build
constexpr int kTooLarge = -32003;        // a request line over the limit
constexpr int kTooManyClients = -32004;
constexpr int kNoRoom = -32005;          // no free PCI slot, or no room for a BAR
constexpr int kBackendFailed = -32006;   // the device's backend (tap, socket) could not be opened
}  // namespace code

// Requests longer than this (without the newline) are refused.
constexpr size_t kMaxLineBytes = 1 << 20;
// Deeper nesting of arrays and objects is refused before parsing.
constexpr size_t kMaxNesting = 64;

struct Request {
  Json id;              // null for a notification (no reply is sent)
  bool has_id = false;  // "id" present: a reply is expected
  std::string method;
  Json params;          // an object or an array; an empty object when absent
};

struct RpcError {
  int code = code::kInternalError;
  std::string message;
  Json data;  // optional extra detail (null: none)
};

// The request, or the error reply to send (with the request's id when it could be read, else null).
struct BadRequest {
  Json id;
  RpcError error;
};
std::variant<Request, BadRequest> parse_request(std::string_view line);

// One line each, newline included.
std::string encode_result(const Json& id, const Json& result);
std::string encode_error(const Json& id, const RpcError& error);
std::string encode_notification(const std::string& method, const Json& params);
std::string encode_request(const Json& id, const std::string& method, const Json& params);

// A handler's answer: a result or an error.
using Reply = std::variant<Json, RpcError>;
inline Reply error_reply(int c, std::string message) { return RpcError{c, std::move(message), nullptr}; }

// Parameter helpers for handlers: each names the parameter and what was expected.
// The params must be an object with only these keys.
std::variant<std::monostate, RpcError> expect_keys(const Json& params, std::initializer_list<const char*> allowed);
std::variant<std::monostate, RpcError> expect_keys(const Json& params, const std::vector<std::string>& allowed);

}  // namespace tandem::api
