// vmm/api/client.h: the client side of the API socket, for `tandem ctl` and tests: one request,
// its reply; optionally the notifications that follow.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "vmm/api/jsonrpc.h"

namespace tandem::api {

class Client {
 public:
  // Connects to the VM's API socket.
  static Result<Client> connect(const std::string& path);

  // Sends one request and waits (at most `timeout`) for the reply line with its id. Returns the
  // whole reply object ({"result": ...} or {"error": {...}}); notifications that arrive first go
  // to `on_notification`. Errors: the connection, the timeout, a reply that is not JSON.
  Result<Json> call(const std::string& method, const Json& params, std::chrono::milliseconds timeout,
                    const std::function<void(const Json&)>& on_notification = {});
  // Reads the next line as JSON (notifications after events.subscribe); an error at end of stream
  // or after `timeout` (negative: wait for ever).
  Result<Json> next(std::chrono::milliseconds timeout);

  int fd() const { return fd_.get(); }

 private:
  Client(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Result<std::string> read_line(std::chrono::steady_clock::time_point deadline, bool forever);

  UniqueFd fd_;
  std::string path_;
  std::string in_;
  int64_t next_id_ = 1;
};

}  // namespace tandem::api
