// vmm/up/supervisor.cc: the `tandem up` supervisor: processes, output, signals, restarts, cleanup.
#include "vmm/up/supervisor.h"
#include "vmm/up/run_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <asio.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "base/signal_name.h"
#include "base/unique_fd.h"
#include "devices/net/bridge.h"

namespace tandem::up {

namespace {

using Clock = std::chrono::steady_clock;
using manifest::Manifest;
using manifest::Vm;

constexpr auto kSocketWait = std::chrono::seconds(60);  // for a peer's vhost-pci-net socket
constexpr auto kRestartDelay = std::chrono::seconds(1);
constexpr auto kBootWait = std::chrono::seconds(300);    // sequential_boot: at most this per guest
constexpr int kReadyFd = 3;                              // the child's --ready-fd
constexpr unsigned kMaxRestarts = 10;
constexpr uint32_t kKillGraceSeconds = 5;  // after shutdown_timeout, for a tandem that hangs

bool is_socket(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// A pipe, both ends O_CLOEXEC: {read end, write end}.
Result<std::pair<UniqueFd, UniqueFd>> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return errno_error("pipe");
  return std::pair<UniqueFd, UniqueFd>{UniqueFd(p[0]), UniqueFd(p[1])};
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

class Supervisor {
 public:
  Supervisor(const Manifest& m, const Options& o)
      : m_(m), o_(o), signals_(io_, SIGINT, SIGTERM, SIGHUP), sigchld_(io_, SIGCHLD), start_timer_(io_), kill_timer_(io_) {
    for (const Vm& vm : m.vms) {
      children_.push_back(std::make_unique<Child>(io_));
      children_.back()->vm = &vm;
      width_ = std::max(width_, vm.name.size());
      for (const auto& s : listening_sockets(vm)) listener_owner_[s] = children_.back().get();
    }
  }

  int run() {
    bool ok = prepare();
    if (ok) {
      wait_signals();
      wait_children();
      io_.post([this] { start_next(); });
      io_.run();
    }
    cleanup();
    return report(ok);
  }

 private:
  enum class State { kWaiting, kRunning, kRestartPending, kEnded };
  // One of a child's output pipes (its stdout: the guest's console; its stderr: tandem's own
  // messages), read apart so that a line of one never lands inside a line of the other.
  struct Output {
    explicit Output(asio::io_context& io) : pipe(io) {}
    asio::posix::stream_descriptor pipe;
    bool open = false;
    std::array<char, 4096> buf{};
    std::string partial;
  };
  struct Child {
    explicit Child(asio::io_context& io) : out(io), err(io), ready_pipe(io), restart_timer(io) {}
    bool output_open() const { return out.open || err.open; }
    const Vm* vm = nullptr;
    State state = State::kWaiting;
    pid_t pid = -1;
    Output out, err;
    asio::posix::stream_descriptor ready_pipe;  // sequential_boot: "READY" when the guest's init ran
    std::array<char, 16> ready_buf{};
    bool ready = false;
    Clock::time_point started_at{};
    asio::steady_timer restart_timer;
    unsigned restarts = 0;
    bool failed = false;
    std::string outcome = "not started";
  };

  void say(const std::string& text) {
    std::string line = "tandem up: " + text + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  }

  // Run directory, log directory, bridge ports: everything before the first VM.
  bool prepare() {
    auto made = make_private_dirs(m_.run_dir);
    if (!made) {
      say("run directory: " + made.message() + " (set run_dir in " + m_.path + ")");
      return false;
    }
    made_dirs_ = *made;
    if (!o_.logs_dir.empty()) {
      auto logs = make_private_dirs(o_.logs_dir);
      if (!logs) {
        say("--logs: " + logs.message());
        return false;
      }
    }
    for (const Vm& vm : m_.vms) {
      for (const auto& s : listening_sockets(vm)) {
        if (is_socket(s)) ::unlink(s.c_str());  // left by a VMM that was killed
      }
      for (const auto& port : vm.bridges) {
        if (!bridges_.count(port.bridge) && !shared_bridges_.count(port.bridge)) {
          auto created = net::ensure_bridge(port.bridge);
          if (!created) {
            say("vm \"" + vm.name + "\": bridge \"" + port.bridge + "\": " + created.message());
            return false;
          }
          (*created ? bridges_ : shared_bridges_).insert(port.bridge);
        }
        if (auto s = net::create_bridge_port(port.bridge, port.tap); !s) {
          say("vm \"" + vm.name + "\": bridge \"" + port.bridge + "\": " + s.message());
          return false;
        }
        taps_.push_back(port.tap);
      }
      if (!o_.logs_dir.empty()) {
        if (auto log = open_log_file(log_path(vm), false); !log) {
          say("vm \"" + vm.name + "\": " + log.message());
          return false;
        }
      }
    }
    return true;
  }

  std::string log_path(const Vm& vm) const { return o_.logs_dir + "/" + vm.name + ".log"; }

  // Starts the VMs in order; a VM that connects to a vhost-pci-net waits for its socket.
  void start_next() {
    if (stopping_) return;
    while (next_ < children_.size()) {
      Child& c = *children_[next_];
      if (m_.sequential_boot && next_ > 0 && !previous_booted(*children_[next_ - 1], c)) {
        start_timer_.expires_after(std::chrono::milliseconds(200));
        start_timer_.async_wait([this](const asio::error_code& ec) {
          if (!ec) start_next();
        });
        return;
      }
      auto [missing, owner_ended] = peer_socket(c);
      if (!missing.empty()) {
        if (owner_ended) {
          say("vm \"" + c.vm->name + "\" not started: the VM whose vhost-pci-net it connects to (" + missing + ") has ended");
          c.state = State::kEnded;
          c.failed = true;
          ++next_;
          wait_started_ = {};
          continue;
        }
        if (wait_started_ == Clock::time_point{}) wait_started_ = Clock::now();
        if (Clock::now() - wait_started_ < kSocketWait) {
          start_timer_.expires_after(std::chrono::milliseconds(100));
          start_timer_.async_wait([this](const asio::error_code& ec) {
            if (!ec) start_next();
          });
          return;
        }
        say("vm \"" + c.vm->name + "\" not started: its peer's socket " + missing + " did not appear within " +
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kSocketWait).count()) + " s");
        c.state = State::kEnded;
        c.failed = true;
      } else if (std::string gone = missing_file(*c.vm); !gone.empty()) {
        // Nothing half-started stays up: a VM that cannot start stops the others.
        say("vm \"" + c.vm->name + "\" not started: " + gone);
        c.state = State::kEnded;
        c.failed = true;
        ++next_;
        stop_all("vm \"" + c.vm->name + "\" cannot start");
        return;
      } else {
        spawn(c);
      }
      wait_started_ = {};
      ++next_;
    }
    maybe_finish();
  }

  // sequential_boot: whether `next` may start: `prev`'s guest reached init, or prev ended, or it has
  // been booting for longer than kBootWait.
  bool previous_booted(Child& prev, const Child& next) {
    if (prev.ready || prev.state == State::kEnded) return true;
    if (Clock::now() - prev.started_at < kBootWait) return false;
    say("vm \"" + prev.vm->name + "\" has not reported its guest's init within " +
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kBootWait).count()) + " s; starting vm \"" +
        next.vm->name + "\" anyway");
    prev.ready = true;
    return true;
  }

  // The kernel or initrd, read when the manifest was checked, may have gone since.
  static std::string missing_file(const Vm& vm) {
    for (const auto& [field, path] : {std::pair<const char*, std::string>{"kernel", vm.config.kernel}, {"initrd", vm.config.initrd}}) {
      if (!path.empty() && ::access(path.c_str(), R_OK) != 0) {
        return std::string(field) + " " + errno_error(path).message + " (it was there when the manifest was checked)";
      }
    }
    return "";
  }

  void spawn(Child& c) {
    const Vm& vm = *c.vm;
    std::vector<std::string> args{o_.tandem_exe, "vm"};
    for (auto& a : manifest::vm_arguments(vm.config)) args.push_back(std::move(a));
    UniqueFd ready_read, ready_write;
    if (m_.sequential_boot) {
      auto p = make_pipe();
      if (!p) return spawn_failed(c, p.message());
      std::tie(ready_read, ready_write) = std::move(*p);
      args.insert(args.end(), {"--ready-fd", std::to_string(kReadyFd)});
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    UniqueFd out_read, out_write, err_read, err_write;
    if (o_.logs_dir.empty()) {
      auto p = make_pipe();
      if (!p) return spawn_failed(c, p.message());
      std::tie(out_read, out_write) = std::move(*p);
      auto e = make_pipe();
      if (!e) return spawn_failed(c, e.message());
      std::tie(err_read, err_write) = std::move(*e);
    } else {
      auto log = open_log_file(log_path(vm), true);
      if (!log) return spawn_failed(c, log.message());
      out_write = std::move(log).value();
    }
    if (!devnull) return spawn_failed(c, errno_error("/dev/null").message);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return spawn_failed(c, errno_error("fork").message);
    if (pid == 0) {
      // The child: its own process group (a terminal's Ctrl-C reaches only the supervisor, which
      // stops the VMs in order), dead with the supervisor, output into the pipe or log.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(devnull.get(), 0);
      ::dup2(out_write.get(), 1);
      ::dup2(err_write ? err_write.get() : out_write.get(), 2);
      if (ready_write) {
        ::dup2(ready_write.get(), kReadyFd);
        ::fcntl(kReadyFd, F_SETFD, 0);  // inherited across exec (dup2 onto itself keeps CLOEXEC)
      }
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(argv[0], argv.data());
      const char msg[] = "tandem up: cannot execute the tandem binary\n";
      [[maybe_unused]] ssize_t n = ::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    c.pid = pid;
    c.state = State::kRunning;
    c.started_at = Clock::now();
    c.ready = false;
    if (ready_read) {
      asio::error_code ignored;
      c.ready_pipe.close(ignored);
      c.ready_pipe.assign(ready_read.release());
      read_ready(c);
    }
    say("vm \"" + vm.name + "\" started (pid " + std::to_string(pid) + ")" +
        (o_.logs_dir.empty() ? "" : ", output in " + log_path(vm)));
    if (out_read) {
      read_output(c, c.out, std::move(out_read));
      read_output(c, c.err, std::move(err_read));
    }
  }

  void spawn_failed(Child& c, const std::string& why) {
    say("vm \"" + c.vm->name + "\" not started: " + why);
    c.state = State::kEnded;
    c.failed = true;
  }

  void read_ready(Child& c) {
    c.ready_pipe.async_read_some(asio::buffer(c.ready_buf), [this, &c](const asio::error_code& ec, size_t n) {
      if (n) c.ready = true;
      if (ec || n == 0) {
        asio::error_code ignored;
        c.ready_pipe.close(ignored);
        return;
      }
      read_ready(c);
    });
  }

  void read_output(Child& c, Output& o, UniqueFd fd) {
    o.pipe.assign(fd.release());
    o.open = true;
    o.partial.clear();
    read_more(c, o);
  }

  void read_more(Child& c, Output& o) {
    o.pipe.async_read_some(asio::buffer(o.buf), [this, &c, &o](const asio::error_code& ec, size_t n) {
      if (n) {
        o.partial.append(o.buf.data(), n);
        emit_lines(c, o, false);
      }
      if (ec) {
        emit_lines(c, o, true);
        asio::error_code ignored;
        o.pipe.close(ignored);
        o.open = false;
        maybe_finish();
        return;
      }
      read_more(c, o);
    });
  }

  // Writes the complete lines of `o` with the VM's name in front (all: the rest too, at the end).
  void emit_lines(Child& c, Output& o, bool all) {
    std::string prefix = c.vm->name + std::string(width_ - c.vm->name.size(), ' ') + " | ";
    std::string out;
    size_t pos = 0;
    for (size_t nl; (nl = o.partial.find('\n', pos)) != std::string::npos; pos = nl + 1) {
      std::string line = o.partial.substr(pos, nl - pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      out += prefix + line + "\n";
    }
    o.partial.erase(0, pos);
    if (!o.partial.empty() && (all || o.partial.size() > 8192)) {
      out += prefix + o.partial + "\n";
      o.partial.clear();
    }
    if (!out.empty()) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      std::fflush(stdout);
    }
  }

  void wait_signals() {
    signals_.async_wait([this](const asio::error_code& ec, int sig) {
      if (ec) return;
      stop_all(signal_name(sig), true);
      wait_signals();
    });
  }

  void wait_children() {
    sigchld_.async_wait([this](const asio::error_code& ec, int) {
      if (ec) return;
      reap();
      wait_children();
    });
  }

  void reap() {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      for (auto& cp : children_) {
        Child& c = *cp;
        if (c.pid != pid) continue;
        c.pid = -1;
        const bool exited = WIFEXITED(status);
        const int code = exited ? WEXITSTATUS(status) : 0;
        const int sig = exited ? 0 : WTERMSIG(status);
        c.outcome = exited ? "exited with status " + std::to_string(code) : "killed by " + signal_name(sig);
        // Asked to stop: tandem ends with 128+SIGTERM (or 0 when the guest powered off in time).
        const bool requested = stopping_ && ((exited && (code == 0 || code == 128 + SIGTERM)) || sig == SIGKILL);
        if (requested) c.outcome += " (stopped on request)";
        c.failed = !requested && !(exited && code == 0);
        say("vm \"" + c.vm->name + "\" " + c.outcome);
        if (c.failed && !stopping_ && c.vm->restart == manifest::Restart::kOnFailure && c.restarts < kMaxRestarts) {
          ++c.restarts;
          c.state = State::kRestartPending;
          say("vm \"" + c.vm->name + "\" restarts in 1 s (restart " + std::to_string(c.restarts) + " of at most " +
              std::to_string(kMaxRestarts) + ")");
          restart_after(c, kRestartDelay);
        } else {
          c.state = State::kEnded;
        }
      }
    }
    maybe_finish();
  }

  // A peer vhost-pci-net socket `c` connects to (from a virtio-net or a symmetric vhost-pci-net)
  // that cannot serve it yet (empty: none), and whether that is for good: the VM that owns it has
  // ended (its socket, even a stale file left by a killed tandem, will not serve again). An ended
  // owner is reported before a socket still to appear.
  struct PeerSocket {
    std::string missing;
    bool owner_ended = false;
  };
  PeerSocket peer_socket(const Child& c) const {
    PeerSocket r;
    for (const auto& s : connecting_sockets(*c.vm)) {
      auto owner = listener_owner_.find(s);
      if (owner == listener_owner_.end()) continue;
      if (owner->second->state == State::kEnded) return PeerSocket{s, true};
      if (r.missing.empty() && !is_socket(s)) r.missing = s;
    }
    return r;
  }

  // Starts `c` again after `delay`, once the old instance's output has drained and, as at the first
  // start, its peers' vhost-pci-net sockets exist again (their VMs may be restarting too; at most
  // kSocketWait). A VM whose peer has ended for good is not started again: it could only fail.
  void restart_after(Child& c, std::chrono::milliseconds delay, Clock::time_point waiting_since = {}) {
    c.restart_timer.expires_after(delay);
    c.restart_timer.async_wait([this, &c, waiting_since](const asio::error_code& e) {
      if (e || stopping_ || c.state != State::kRestartPending) return;
      if (c.output_open()) return restart_after(c, std::chrono::milliseconds(100), waiting_since);
      auto [missing, owner_ended] = peer_socket(c);
      if (!missing.empty()) {
        auto since = waiting_since == Clock::time_point{} ? Clock::now() : waiting_since;
        if (!owner_ended && Clock::now() - since < kSocketWait) {
          return restart_after(c, std::chrono::milliseconds(100), since);
        }
        say("vm \"" + c.vm->name + "\" not restarted: " +
            (owner_ended ? "the VM whose vhost-pci-net it connects to (" + missing + ") has ended"
                         : "its peer's socket " + missing + " did not come back within " +
                               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kSocketWait).count()) +
                               " s"));
        c.state = State::kEnded;
        --c.restarts;  // announced, never made
        return maybe_finish();
      }
      spawn(c);
    });
  }

  // Stops every VM: SIGTERM, SIGKILL at the deadline. `why` leads the message; a second signal
  // kills at once.
  void stop_all(const std::string& why, bool by_signal = false) {
    if (stopping_) {
      if (!by_signal) return;
      say(why + " again: killing every VM now");
      for (auto& c : children_) {
        if (c->pid > 0) ::kill(c->pid, SIGKILL);
      }
      return;
    }
    stopping_ = true;
    start_timer_.cancel();
    size_t running = 0;
    for (auto& c : children_) {
      if (c->state == State::kWaiting || c->state == State::kRestartPending) {
        c->restart_timer.cancel();
        c->state = State::kEnded;
      }
      if (c->pid > 0) {
        ::kill(c->pid, SIGTERM);
        ++running;
      }
    }
    // Each tandem presses its guest's power button and stops the VM itself after shutdown_timeout;
    // SIGKILL a little later is for a tandem that hangs.
    const uint32_t kill_after = m_.shutdown_timeout_s + kKillGraceSeconds;
    say(why + ": stopping " + std::to_string(running) + " VM" + (running == 1 ? "" : "s") +
        " (power button; stopped after " + std::to_string(m_.shutdown_timeout_s) + " s, SIGKILL after " +
        std::to_string(kill_after) + " s)");
    kill_timer_.expires_after(std::chrono::seconds(kill_after));
    kill_timer_.async_wait([this, kill_after](const asio::error_code& ec) {
      if (ec) return;
      for (auto& c : children_) {
        if (c->pid <= 0) continue;
        say("vm \"" + c->vm->name + "\" did not stop within " + std::to_string(kill_after) + " s: SIGKILL");
        ::kill(c->pid, SIGKILL);
      }
    });
    maybe_finish();
  }

  void maybe_finish() {
    if (next_ < children_.size() && !stopping_) return;
    for (auto& c : children_) {
      if (c->state != State::kEnded && !(stopping_ && c->state == State::kWaiting)) return;
      if (c->output_open()) return;
    }
    kill_timer_.cancel();
    io_.stop();
  }

  void cleanup() {
    for (auto& c : children_) {
      if (c->pid > 0) {
        ::kill(c->pid, SIGKILL);
        int st;
        ::waitpid(c->pid, &st, 0);
        c->pid = -1;
      }
    }
    for (const Vm& vm : m_.vms) {
      for (const auto& s : listening_sockets(vm)) {
        if (is_socket(s)) ::unlink(s.c_str());
      }
      if (!vm.config.api_socket.empty() && is_socket(vm.config.api_socket)) ::unlink(vm.config.api_socket.c_str());
    }
    for (const auto& tap : taps_) {
      if (auto s = net::delete_tap(tap); !s) say("cleanup: " + s.message());
    }
    for (const auto& br : bridges_) {
      if (auto s = net::delete_bridge(br); !s) say("cleanup: " + s.message());
    }
    for (auto it = made_dirs_.rbegin(); it != made_dirs_.rend(); ++it) ::rmdir(it->c_str());
  }

  // One line: how each VM ended.
  int report(bool started) {
    bool failed = !started;
    std::string line;
    for (auto& c : children_) {
      line += (line.empty() ? "" : ", ") + c->vm->name + " " + c->outcome;
      if (c->restarts) line += " after " + std::to_string(c->restarts) + " restart" + (c->restarts == 1 ? "" : "s");
      failed = failed || c->failed;
    }
    if (started) say(std::string(failed ? "failed" : "done") + ": " + line);
    return failed ? 1 : 0;
  }

  const Manifest& m_;
  const Options& o_;
  asio::io_context io_;
  asio::signal_set signals_;
  asio::signal_set sigchld_;
  asio::steady_timer start_timer_;
  asio::steady_timer kill_timer_;
  std::vector<std::unique_ptr<Child>> children_;
  std::map<std::string, Child*> listener_owner_;  // vhost-pci-net socket -> the VM that listens there
  size_t width_ = 0;
  size_t next_ = 0;
  Clock::time_point wait_started_{};
  bool stopping_ = false;
  std::vector<std::string> made_dirs_;
  std::set<std::string> bridges_;         // created here: deleted at the end
  std::set<std::string> shared_bridges_;  // existed before: left alone
  std::vector<std::string> taps_;
};

// The names in directory `dir` ("." and ".." too); none when it cannot be read.
std::vector<std::string> dir_names(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) names.push_back(e->d_name);
    ::closedir(d);
  }
  return names;
}

// Whether `n` is `prefix`, then at least one character, then `suffix`.
bool framed(const std::string& n, const std::string& prefix, const std::string& suffix) {
  return n.size() > prefix.size() + suffix.size() && n.rfind(prefix, 0) == 0 &&
         n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The newest image guest-images/build made for kernel release `release`:
// ${TANDEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tandem}/guest-images/tandem-l2-<release>-<key>.cpio.gz.
std::string newest_guest_image(const std::string& release) {
  auto env = env_or_empty;
  std::string cache = env("TANDEM_CACHE");
  if (cache.empty()) cache = env("XDG_CACHE_HOME").empty() ? env("HOME") + "/.cache/tandem" : env("XDG_CACHE_HOME") + "/tandem";
  const std::string dir = cache + "/guest-images", prefix = "tandem-l2-" + release + "-", suffix = ".cpio.gz";
  std::string best;
  timespec best_time{};
  for (const auto& n : dir_names(dir)) {
    if (!framed(n, prefix, suffix)) continue;
    struct stat st {};
    if (::stat((dir + "/" + n).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (best.empty() || st.st_mtim.tv_sec > best_time.tv_sec ||
        (st.st_mtim.tv_sec == best_time.tv_sec && st.st_mtim.tv_nsec > best_time.tv_nsec)) {
      best = dir + "/" + n;
      best_time = st.st_mtim;
    }
  }
  return best;
}

}  // namespace

std::vector<std::string> listening_sockets(const Vm& vm) {
  std::vector<std::string> out;
  vm.config.devices.each([&](auto kind, const auto& spec) {
    if (auto s = decltype(kind)::listens_on(spec); !s.empty()) out.push_back(s);
  });
  return out;
}

std::vector<std::string> connecting_sockets(const Vm& vm) {
  std::vector<std::string> out;
  vm.config.devices.each([&](auto kind, const auto& spec) {
    if (auto s = decltype(kind)::connects_to(spec); !s.empty()) out.push_back(s);
  });
  return out;
}

std::string newest_stock_kernel(const std::vector<std::string>& names, const std::string& suffix) {
  std::string best;
  for (const auto& n : names) {
    if (!framed(n, "vmlinuz-", suffix)) continue;
    if (best.empty() || ::strverscmp(n.c_str(), best.c_str()) > 0) best = n;
  }
  return best;
}

manifest::Defaults environment_defaults(const std::string& manifest_path) {
  manifest::Defaults d;
  auto env = env_or_empty;
  d.kernel = env("TANDEM_GUEST_KERNEL");
  bool guessed = false;
  if (d.kernel.empty()) {
    utsname u{};
    if (::uname(&u) == 0) {
      std::string stock = std::string("/boot/vmlinuz-") + u.release;
      if (::access(stock.c_str(), R_OK) == 0) d.kernel = stock;
    }
  }
  if (d.kernel.empty()) {
#if defined(__aarch64__)
    const std::string suffix = "-arm64";
#else
    const std::string suffix = "-amd64";
#endif
    std::string newest = newest_stock_kernel(dir_names("/boot"), suffix);
    if (!newest.empty()) d.kernel = "/boot/" + newest;
    guessed = !newest.empty();
  }
  d.initrd = env("TANDEM_GUEST_INITRD");
  if (d.initrd.empty() && d.kernel.rfind("/boot/vmlinuz-", 0) == 0) d.initrd = newest_guest_image(d.kernel.substr(14));
  if (guessed) {
    d.notice = "tandem up: no $TANDEM_GUEST_KERNEL and no /boot/vmlinuz-<running release>: using " + d.kernel + " and " +
               (d.initrd.empty() ? "no initrd (guest-images/build makes the guest image for it)" : d.initrd);
  }
  std::string stem = manifest_path.substr(manifest_path.rfind('/') == std::string::npos ? 0 : manifest_path.rfind('/') + 1);
  if (stem.size() > 5 && stem.substr(stem.size() - 5) == ".toml") stem.resize(stem.size() - 5);
  std::string runtime = env("XDG_RUNTIME_DIR");
  d.run_dir = (runtime.empty() ? "/tmp/tandem-" + std::to_string(::getuid()) : runtime + "/tandem") + "/" + stem;
  return d;
}

int run(const Manifest& m, const Options& options) {
  Supervisor s(m, options);
  return s.run();
}

}  // namespace tandem::up
