// vmm/api/server.h: the JSON-RPC API server of one VM: a Unix socket (mode 0600) served by asio on
// the VMM's event loop, one request per line, one reply line per request, in order.
//
// Methods are plain functions registered by name (the VM registers vm.*, device.*, vmm.*); the
// server itself answers events.subscribe, after which the client also receives every notification
// sent with notify(). Limits: kMaxLineBytes per request line (a longer one gets an error and is
// skipped), max_clients connections at once (one more gets an error line and is closed), and a
// client that does not read its replies is dropped once max_queued_bytes are waiting for it. No
// request, however malformed, stops the server or affects another client.
#pragma once

#include <asio.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "base/result.h"
#include "vmm/api/jsonrpc.h"

namespace tandem::api {

struct ServerOptions {
  size_t max_clients = 128;
  size_t max_queued_bytes = 4 << 20;
};

class Server {
 public:
  using Handler = std::function<Reply(const Json& params)>;

  // Binds PATH: a stale socket left by a VMM that is gone is replaced; a socket some process still
  // listens on, or a path that is not a socket, is an error naming the path.
  static Result<std::unique_ptr<Server>> create(asio::io_context& io, const std::string& path, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void add_method(const std::string& name, Handler handler);
  // Sends {"jsonrpc":"2.0","method":"event","params":{"event":EVENT,...params}} to subscribers.
  void notify(const std::string& event, const Json& params);
  // No new connections; the socket file is removed. Clients stay connected (their queued replies
  // and notifications still go out while the event loop runs; see queued_bytes()).
  void stop_accepting();
  // stop_accepting(), and every connection closed at once (what is still queued is dropped).
  // Idempotent; the destructor calls it.
  void close();

  const std::string& path() const { return path_; }
  size_t clients() const { return clients_.size(); }
  // Replies and notifications waiting to be written, over all clients.
  size_t queued_bytes() const;

  class Client;  // one connection (server.cc)

 private:
  Server(asio::io_context& io, std::string path, ServerOptions options);
  void accept();
  void handle_line(const std::shared_ptr<Client>& client, std::string_view line);
  void drop(const std::shared_ptr<Client>& client);

  asio::io_context& io_;
  std::string path_;
  ServerOptions options_;
  asio::local::stream_protocol::acceptor acceptor_;
  std::map<std::string, Handler> methods_;
  std::set<std::shared_ptr<Client>> clients_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool bound_ = false;
  bool accepting_stopped_ = false;
  bool closed_ = false;
  friend class Client;
};

}  // namespace tandem::api
