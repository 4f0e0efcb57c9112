// vmm/api/server.cc: the API socket: accepting, reading lines, dispatching, writing replies.
#include "vmm/api/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <deque>

#include "base/unique_fd.h"
#include "base/unix_socket.h"

namespace tandem::api {

class Server::Client : public std::enable_shared_from_this<Server::Client> {
 public:
  Client(Server& server, asio::local::stream_protocol::socket socket) : server_(server), socket_(std::move(socket)) {}

  void start() { read(); }

  void send(std::string line) {
    if (closed_) return;
    queued_ += line.size();
    if (queued_ > server_.options_.max_queued_bytes) {
      std::fprintf(stderr, "tandem: api: a client is not reading its replies (%zu bytes waiting); disconnecting it\n", queued_);
      server_.drop(shared_from_this());
      return;
    }
    out_.push_back(std::move(line));
    if (out_.size() == 1) write();
  }

  // For a connection that is refused: one line, best effort, without blocking, then close.
  void refuse(const std::string& line) {
    [[maybe_unused]] ssize_t n = ::send(socket_.native_handle(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown();
  }

  void shutdown() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_both, ec);
    socket_.close(ec);
  }

  bool subscribed = false;
  size_t queued() const { return queued_; }

 private:
  void read() {
    auto self = shared_from_this();
    // Once closed_ (by the server), a completion must not touch the server: it may be gone.
    socket_.async_read_some(asio::buffer(buf_), [this, self](const asio::error_code& ec, size_t n) {
      if (closed_) return;
      if (ec == asio::error::eof && !out_.empty()) {
        // The client is done sending (shutdown(SHUT_WR), e.g. socat on end of input): its
        // replies still go out; write() closes once they have.
        read_done_ = true;
        return;
      }
      if (ec) {
        server_.drop(self);
        return;
      }
      consume(std::string_view(buf_.data(), n));
      if (!closed_) read();
    });
  }

  // Splits what arrived into lines. A line longer than the limit is answered with an error once and
  // skipped up to its newline; a partial line at the end waits for more.
  void consume(std::string_view data) {
    auto self = shared_from_this();
    while (!data.empty() && !closed_) {
      size_t nl = data.find('\n');
      std::string_view part = data.substr(0, nl == std::string_view::npos ? data.size() : nl);
      if (!skipping_) {
        if (in_.size() + part.size() > kMaxLineBytes) {
          skipping_ = true;
          in_.clear();
          send(encode_error(nullptr, RpcError{code::kTooLarge,
                                              "request line longer than " + std::to_string(kMaxLineBytes) +
                                                  " bytes; skipped up to its end",
                                              nullptr}));
        } else {
          in_.append(part);
        }
      }
      if (nl == std::string_view::npos) return;
      data.remove_prefix(nl + 1);
      if (skipping_) {
        skipping_ = false;
        continue;
      }
      std::string line = std::move(in_);
      in_.clear();
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines are ignored
      server_.handle_line(self, line);
    }
  }

  void write() {
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(out_.front()), [this, self](const asio::error_code& ec, size_t) {
      if (closed_) return;
      if (ec) {
        server_.drop(self);
        return;
      }
      queued_ -= out_.front().size();
      out_.pop_front();
      if (!out_.empty()) {
        write();
      } else if (read_done_) {
        server_.drop(self);
      }
    });
  }

  Server& server_;
  asio::local::stream_protocol::socket socket_;
  std::array<char, 64 * 1024> buf_{};
  std::string in_;
  bool skipping_ = false;
  bool read_done_ = false;  // end of the client's input seen; close after the last reply
  std::deque<std::string> out_;
  size_t queued_ = 0;
  bool closed_ = false;
};

Server::Server(asio::io_context& io, std::string path, ServerOptions options)
    : io_(io), path_(std::move(path)), options_(options), acceptor_(io) {}

Result<std::unique_ptr<Server>> Server::create(asio::io_context& io, const std::string& path, ServerOptions options) {
  const std::string what = "API socket " + path;
  if (path.empty()) return Error{"API socket: the path is empty"};
  if (path.size() > kUnixPathMax) {
    return Error{what + ": the path is " + std::to_string(path.size()) + " bytes long; a Unix socket path has at most " +
                 std::to_string(kUnixPathMax)};
  }
  // Owner-only, a stale socket replaced, a live one or a file that is not a socket refused
  // (base/unix_socket.h, as for every listener of tandem).
  auto fd = listen_private(path, SOMAXCONN);
  if (!fd) return Error{"API socket: " + fd.message()};
  std::unique_ptr<Server> s(new Server(io, path, options));
  s->bound_ = true;
  asio::error_code ec;
  s->acceptor_.assign(asio::local::stream_protocol(), fd->get(), ec);
  if (ec) return Error{what + ": " + ec.message()};  // fd still ours: closed on the way out
  (void)fd->release();  // the acceptor's now
  s->accept();
  return s;
}

Server::~Server() {
  close();
  *alive_ = false;
}

void Server::add_method(const std::string& name, Handler handler) { methods_[name] = std::move(handler); }

void Server::accept() {
  // The completion may run after the server is gone (the io_context outlives it): check alive first.
  acceptor_.async_accept([this, alive = alive_](const asio::error_code& ec, asio::local::stream_protocol::socket socket) {
    if (!*alive || accepting_stopped_) return;
    if (!ec) {
      auto client = std::make_shared<Client>(*this, std::move(socket));
      if (clients_.size() >= options_.max_clients) {
        client->refuse(encode_error(nullptr, RpcError{code::kTooManyClients,
                                                      "too many API clients (" + std::to_string(options_.max_clients) +
                                                          " connected); try again later",
                                                      nullptr}));
      } else {
        clients_.insert(client);
        client->start();
      }
    } else if (ec == asio::error::operation_aborted) {
      return;
    } else {
      std::fprintf(stderr, "tandem: api: accept on %s: %s\n", path_.c_str(), ec.message().c_str());
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
        // Out of fds: wait a little instead of spinning.
        auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
        t->async_wait([this, t, alive = alive_](const asio::error_code&) {
          if (*alive && !accepting_stopped_) accept();
        });
        return;
      }
    }
    accept();
  });
}

void Server::handle_line(const std::shared_ptr<Client>& client, std::string_view line) {
  auto parsed = parse_request(line);
  if (auto* b = std::get_if<BadRequest>(&parsed)) {
    client->send(encode_error(b->id, b->error));
    return;
  }
  auto& req = std::get<Request>(parsed);
  if (req.method == "events.subscribe") {
    if (auto e = expect_keys(req.params, {}); auto* err = std::get_if<RpcError>(&e)) {
      client->send(encode_error(req.id, *err));
      return;
    }
    client->subscribed = true;
    client->send(encode_result(req.id, Json{{"subscribed", true}}));
    return;
  }
  auto it = methods_.find(req.method);
  if (it == methods_.end()) {
    std::string known = "events.subscribe";
    for (const auto& [name, h] : methods_) known += ", " + name;
    client->send(encode_error(req.id, RpcError{code::kMethodNotFound, "method not found: \"" + req.method + "\" (known: " + known + ")", nullptr}));
    return;
  }
  Reply reply = [&]() -> Reply {
    try {
      return it->second(req.params);
    } catch (const std::exception& e) {  // a handler bug (or a json type error) must not end the VM
      return RpcError{code::kInternalError, std::string("internal error in ") + req.method + ": " + e.what(), nullptr};
    }
  }();
  if (auto* r = std::get_if<Json>(&reply)) {
    client->send(encode_result(req.id, *r));
  } else {
    client->send(encode_error(req.id, std::get<RpcError>(reply)));
  }
}

void Server::drop(const std::shared_ptr<Client>& client) {
  client->shutdown();
  clients_.erase(client);
}

void Server::notify(const std::string& event, const Json& params) {
  Json p = params.is_object() ? params : Json::object();
  p["event"] = event;
  std::string line = encode_notification("event", p);
  // Copy: send() may drop a client that stopped reading.
  auto all = clients_;
  for (const auto& c : all) {
    if (c->subscribed) c->send(line);
  }
}

size_t Server::queued_bytes() const {
  size_t n = 0;
  for (const auto& c : clients_) n += c->queued();
  return n;
}

void Server::stop_accepting() {
  if (accepting_stopped_) return;
  accepting_stopped_ = true;
  asio::error_code ec;
  acceptor_.close(ec);
  if (bound_) ::unlink(path_.c_str());  // only the socket we made: a failed bind leaves others' alone
}

void Server::close() {
  if (closed_) return;
  stop_accepting();
  closed_ = true;
  for (const auto& c : clients_) c->shutdown();
  clients_.clear();
}

}  // namespace tandem::api
