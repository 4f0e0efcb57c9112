// vmm/api/client.cc: a blocking API client (see client.h).
#include "vmm/api/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/unix_socket.h"

namespace tandem::api {

Result<Client> Client::connect(const std::string& path) {
  auto sa = unix_address(path);
  if (!sa) return Error{"API " + sa.message()};
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*sa), sizeof *sa) != 0) return errno_error("cannot connect to " + path);
  return Client(std::move(fd), path);
}

Result<std::string> Client::read_line(std::chrono::steady_clock::time_point deadline, bool forever) {
  while (true) {
    if (size_t nl = in_.find('\n'); nl != std::string::npos) {
      std::string line = in_.substr(0, nl);
      in_.erase(0, nl + 1);
      return line;
    }
    if (in_.size() > kMaxLineBytes * 4) return Error{path_ + ": reply line too long"};
    int ms = -1;
    if (!forever) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) return Error{path_ + ": no reply in time"};
      ms = static_cast<int>(left);
    }
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_error(path_ + ": poll");
    if (r == 0) continue;
    char buf[65536];
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(path_ + ": read");
    if (n == 0) return Error{path_ + ": the VMM closed the connection"};
    in_.append(buf, static_cast<size_t>(n));
  }
}

Result<Json> Client::next(std::chrono::milliseconds timeout) {
  auto line = read_line(std::chrono::steady_clock::now() + timeout, timeout.count() < 0);
  if (!line) return line.error();
  Json j = Json::parse(*line, nullptr, false);
  if (j.is_discarded()) return Error{path_ + ": the VMM sent a line that is not JSON: " + line->substr(0, 200)};
  return j;
}

Result<Json> Client::call(const std::string& method, const Json& params, std::chrono::milliseconds timeout,
                          const std::function<void(const Json&)>& on_notification) {
  const int64_t id = next_id_++;
  std::string req = encode_request(id, method, params);
  size_t done = 0;
  while (done < req.size()) {
    ssize_t n = ::send(fd_.get(), req.data() + done, req.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_error(path_ + ": send");
    done += static_cast<size_t>(n);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto line = read_line(deadline, false);
    if (!line) return line.error();
    Json j = Json::parse(*line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Error{path_ + ": the VMM sent a line that is not a JSON object: " + line->substr(0, 200)};
    if (!j.contains("id")) {
      if (on_notification) on_notification(j);
      continue;
    }
    if (j["id"] == Json(id)) return j;
    if (j["id"].is_null() && j.contains("error")) return j;  // the server could not read our id
  }
}

}  // namespace tandem::api
