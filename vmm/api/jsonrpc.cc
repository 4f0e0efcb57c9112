// vmm/api/jsonrpc.cc: JSON-RPC 2.0 decoding and encoding (see jsonrpc.h).
#include "vmm/api/jsonrpc.h"

#include <algorithm>

namespace tandem::api {

namespace {

BadRequest bad(Json id, int c, std::string message) { return BadRequest{std::move(id), RpcError{c, std::move(message), nullptr}}; }

const char* type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    default: return "a binary value";
  }
}

// The deepest nesting of arrays and objects in a JSON text (strings skipped). nlohmann-json
// recurses on nested values (copy, destruction), so a 1 MiB line of '[' would overflow the stack.
size_t nesting_depth(std::string_view text) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

std::variant<Request, BadRequest> parse_request(std::string_view line) {
  if (line.size() > kMaxLineBytes) {
    return bad(nullptr, code::kTooLarge, "request of " + std::to_string(line.size()) + " bytes; at most " +
                                             std::to_string(kMaxLineBytes) + " bytes per line");
  }
  if (size_t d = nesting_depth(line); d > kMaxNesting) {
    return bad(nullptr, code::kInvalidRequest, "invalid request: arrays and objects nested " + std::to_string(d) +
                                                   " deep; at most " + std::to_string(kMaxNesting));
  }
  Json j = Json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad(nullptr, code::kParseError, "parse error: the line is not valid JSON");
  if (!j.is_object()) {
    return bad(nullptr, code::kInvalidRequest,
               std::string("invalid request: expected a JSON object, got ") + type_name(j) +
                   (j.is_array() ? " (batches are not supported)" : ""));
  }
  Request r;
  if (auto it = j.find("id"); it != j.end()) {
    if (!it->is_string() && !it->is_number_integer() && !it->is_number_unsigned() && !it->is_null()) {
      return bad(nullptr, code::kInvalidRequest, std::string("invalid request: \"id\" must be a string, an integer or null, not ") + type_name(*it));
    }
    r.id = *it;
    r.has_id = true;
  }
  auto v = j.find("jsonrpc");
  if (v == j.end()) return bad(r.id, code::kInvalidRequest, "invalid request: missing \"jsonrpc\": \"2.0\"");
  if (!v->is_string() || v->get<std::string>() != "2.0") {
    return bad(r.id, code::kInvalidRequest, "invalid request: \"jsonrpc\" must be \"2.0\", got " + v->dump());
  }
  auto m = j.find("method");
  if (m == j.end()) return bad(r.id, code::kInvalidRequest, "invalid request: missing \"method\"");
  if (!m->is_string()) return bad(r.id, code::kInvalidRequest, std::string("invalid request: \"method\" must be a string, not ") + type_name(*m));
  r.method = m->get<std::string>();
  if (r.method.empty()) return bad(r.id, code::kInvalidRequest, "invalid request: \"method\" is empty");
  if (auto p = j.find("params"); p != j.end()) {
    if (!p->is_object() && !p->is_array()) {
      return bad(r.id, code::kInvalidRequest, std::string("invalid request: \"params\" must be an object or an array, not ") + type_name(*p));
    }
    r.params = *p;
  } else {
    r.params = Json::object();
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "jsonrpc" && key != "id" && key != "method" && key != "params") {
      return bad(r.id, code::kInvalidRequest, "invalid request: unknown member \"" + key + "\" (expected jsonrpc, id, method, params)");
    }
  }
  if (!r.has_id) {
    // A JSON-RPC notification gets no reply at all; our API has no method worth calling that way,
    // so say so rather than drop it silently.
    return bad(nullptr, code::kInvalidRequest, "invalid request: missing \"id\" (notifications are not accepted; add an id to get a reply)");
  }
  return r;
}

std::string encode_result(const Json& id, const Json& result) {
  Json j = {{"jsonrpc", "2.0"}, {"id", id}, {"result", result}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string encode_error(const Json& id, const RpcError& error) {
  Json e = {{"code", error.code}, {"message", error.message}};
  if (!error.data.is_null()) e["data"] = error.data;
  Json j = {{"jsonrpc", "2.0"}, {"id", id}, {"error", e}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string encode_notification(const std::string& method, const Json& params) {
  Json j = {{"jsonrpc", "2.0"}, {"method", method}, {"params", params}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string encode_request(const Json& id, const std::string& method, const Json& params) {
  Json j = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::variant<std::monostate, RpcError> expect_keys(const Json& params, std::initializer_list<const char*> allowed) {
  return expect_keys(params, std::vector<std::string>(allowed.begin(), allowed.end()));
}

std::variant<std::monostate, RpcError> expect_keys(const Json& params, const std::vector<std::string>& allowed) {
  auto list = [&] {
    std::string s;
    for (const auto& a : allowed) s += (s.empty() ? "" : ", ") + a;
    return s.empty() ? std::string("none") : s;
  };
  if (params.is_array()) {
    if (params.empty()) return std::monostate{};
    return RpcError{code::kInvalidParams, "invalid params: expected an object (parameters: " + list() + ")", nullptr};
  }
  for (const auto& [key, value] : params.items()) {
    bool known = false;
    for (const auto& a : allowed) known = known || key == a;
    if (!known) return RpcError{code::kInvalidParams, "invalid params: unknown parameter \"" + key + "\" (expected " + list() + ")", nullptr};
  }
  return std::monostate{};
}

}  // namespace tandem::api
