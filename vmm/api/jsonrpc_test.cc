// vmm/api/jsonrpc_test.cc: request decoding against every malformed request we know of, with the
// exact code and message each gets, and the encoders' output.
#include "vmm/api/jsonrpc.h"

#include <doctest/doctest.h>

namespace tandem::api {

TEST_CASE("a well-formed request decodes") {
  auto r = parse_request(R"({"jsonrpc":"2.0","id":7,"method":"vm.info","params":{"a":1}})");
  REQUIRE(std::holds_alternative<Request>(r));
  auto& req = std::get<Request>(r);
  CHECK(req.id == Json(7));
  CHECK(req.method == "vm.info");
  CHECK(req.params == Json{{"a", 1}});
  auto s = parse_request(R"({"jsonrpc":"2.0","id":"x","method":"vmm.ping"})");
  REQUIRE(std::holds_alternative<Request>(s));
  CHECK(std::get<Request>(s).params == Json::object());
  CHECK(std::get<Request>(s).id == Json("x"));
}

TEST_CASE("malformed requests get the JSON-RPC code and a message naming the problem") {
  struct Case {
    const char* line;
    int code;
    const char* message;
    Json id;
  };
  const Case cases[] = {
      {"not json", code::kParseError, "parse error: the line is not valid JSON", nullptr},
      {"{\"jsonrpc\":\"2.0\",", code::kParseError, "parse error: the line is not valid JSON", nullptr},
      {"\"hello\"", code::kInvalidRequest, "invalid request: expected a JSON object, got a string", nullptr},
      {"42", code::kInvalidRequest, "invalid request: expected a JSON object, got an integer", nullptr},
      {"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vmm.ping\"}]", code::kInvalidRequest,
       "invalid request: expected a JSON object, got an array (batches are not supported)", nullptr},
      {"{\"id\":1,\"method\":\"vmm.ping\"}", code::kInvalidRequest, "invalid request: missing \"jsonrpc\": \"2.0\"", 1},
      {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"vmm.ping\"}", code::kInvalidRequest,
       "invalid request: \"jsonrpc\" must be \"2.0\", got \"1.0\"", 1},
      {"{\"jsonrpc\":2.0,\"id\":1,\"method\":\"vmm.ping\"}", code::kInvalidRequest,
       "invalid request: \"jsonrpc\" must be \"2.0\", got 2.0", 1},
      {"{\"jsonrpc\":\"2.0\",\"id\":1}", code::kInvalidRequest, "invalid request: missing \"method\"", 1},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", code::kInvalidRequest, "invalid request: \"method\" must be a string, not an integer", 1},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", code::kInvalidRequest, "invalid request: \"method\" is empty", 1},
      {"{\"jsonrpc\":\"2.0\",\"method\":\"vmm.ping\"}", code::kInvalidRequest,
       "invalid request: missing \"id\" (notifications are not accepted; add an id to get a reply)", nullptr},
      {"{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"vmm.ping\"}", code::kInvalidRequest,
       "invalid request: \"id\" must be a string, an integer or null, not an object", nullptr},
      {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"vmm.ping\"}", code::kInvalidRequest,
       "invalid request: \"id\" must be a string, an integer or null, not a number", nullptr},
      {"{\"jsonrpc\":\"2.0\",\"id\":\"r\",\"method\":\"vmm.ping\",\"params\":3}", code::kInvalidRequest,
       "invalid request: \"params\" must be an object or an array, not an integer", "r"},
      {"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"vmm.ping\",\"extra\":true}", code::kInvalidRequest,
       "invalid request: unknown member \"extra\" (expected jsonrpc, id, method, params)", 2},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\xff\"}", code::kParseError, "parse error: the line is not valid JSON", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    auto r = parse_request(c.line);
    REQUIRE(std::holds_alternative<BadRequest>(r));
    const auto& b = std::get<BadRequest>(r);
    CHECK(b.error.code == c.code);
    CHECK(b.error.message == c.message);
    CHECK(b.id == c.id);
  }
}

TEST_CASE("a line over the limit is refused before parsing") {
  std::string big(kMaxLineBytes + 1, ' ');
  auto r = parse_request(big);
  REQUIRE(std::holds_alternative<BadRequest>(r));
  CHECK(std::get<BadRequest>(r).error.code == code::kTooLarge);
}

TEST_CASE("deep nesting is refused before parsing (nlohmann-json recurses on nested values)") {
  const size_t depth = 400000;  // 800 KB of brackets: parsed, this crashed the server
  std::string line = R"({"jsonrpc":"2.0","id":1,"method":"x","params":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  REQUIRE(line.size() < kMaxLineBytes);
  auto r = parse_request(line);
  REQUIRE(std::holds_alternative<BadRequest>(r));
  CHECK(std::get<BadRequest>(r).error.code == code::kInvalidRequest);
  CHECK(std::get<BadRequest>(r).error.message == "invalid request: arrays and objects nested 400001 deep; at most 64");
  // Brackets inside strings do not count; 64 levels are fine.
  std::string ok = R"({"jsonrpc":"2.0","id":1,"method":"x","params":{"s":"[[[[[[\"[[[[[[[[[[[[[[[["})" "}";
  CHECK(std::holds_alternative<Request>(parse_request(ok)));
  std::string deep63 = R"({"jsonrpc":"2.0","id":1,"method":"x","params":)" + std::string(63, '[') + std::string(63, ']') + "}";
  CHECK(std::holds_alternative<Request>(parse_request(deep63)));
}

TEST_CASE("encoders write one line of JSON-RPC 2.0") {
  CHECK(encode_result(1, Json{{"ok", true}}) == "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":{\"ok\":true}}\n");
  CHECK(encode_error("a", RpcError{code::kMethodNotFound, "nope", nullptr}) ==
        "{\"error\":{\"code\":-32601,\"message\":\"nope\"},\"id\":\"a\",\"jsonrpc\":\"2.0\"}\n");
  CHECK(encode_notification("event", Json{{"event", "x"}}) == "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"event\":\"x\"}}\n");
  // Invalid UTF-8 from a device name or a guest string must not throw.
  CHECK_NOTHROW(encode_result(1, Json(std::string("a\xff"))));
}

TEST_CASE("expect_keys names the unknown parameter and the known ones") {
  auto bad = expect_keys(Json{{"type", "virtio-net"}, {"tapp", "x"}}, {"type", "tap"});
  REQUIRE(std::holds_alternative<RpcError>(bad));
  CHECK(std::get<RpcError>(bad).code == code::kInvalidParams);
  CHECK(std::get<RpcError>(bad).message == "invalid params: unknown parameter \"tapp\" (expected type, tap)");
  CHECK(std::holds_alternative<std::monostate>(expect_keys(Json::object(), {})));
  CHECK(std::holds_alternative<std::monostate>(expect_keys(Json::array(), {})));
  auto arr = expect_keys(Json::array({1}), {"id"});
  REQUIRE(std::holds_alternative<RpcError>(arr));
  CHECK(std::get<RpcError>(arr).message == "invalid params: expected an object (parameters: id)");
}

}  // namespace tandem::api
