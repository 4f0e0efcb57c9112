// vmm/console.cc: the serial console's terminal side: output, raw mode and the input thread.
#include "vmm/console.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <vector>

#include "base/eventfd.h"
#include "vmm/seccomp/seccomp.h"

namespace tandem {

void write_all(int fd, std::span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the sink went away: drop output, keep the guest running
    done += static_cast<size_t>(n);
  }
}

RawTerminal::RawTerminal() {
  if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) < 0) return;
  termios raw = saved_;
  ::cfmakeraw(&raw);
  raw.c_oflag |= OPOST | ONLCR;  // keep our own stderr messages readable
  if (::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) active_ = true;
}

RawTerminal::~RawTerminal() {
  if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
}

ConsoleInput::ConsoleInput(Serial& serial, ExitController& exit, bool escapes)
    : serial_(serial), exit_(exit), escapes_(escapes), stop_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  thread_ = std::thread([this] { loop(); });
}

ConsoleInput::~ConsoleInput() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  signal_eventfd(stop_fd_.get());
  if (thread_.joinable()) thread_.join();
}

void ConsoleInput::drained() {
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

bool ConsoleInput::take_escapes(std::span<const uint8_t> in, std::vector<uint8_t>& out) {
  for (uint8_t c : in) {
    if (escapes_ && saw_ctrl_a_) {
      saw_ctrl_a_ = false;
      if (c == 'x' || c == 'X') {
        exit_.request(exit_status::kPowerOff, "quit from the console (Ctrl-A x)");
        return false;
      }
      if (c != 0x01) out.push_back(0x01);
    } else if (escapes_ && c == 0x01) {
      saw_ctrl_a_ = true;
      continue;
    }
    out.push_back(c);
  }
  return true;
}

bool ConsoleInput::deliver(std::span<const uint8_t> rest) {
  while (!rest.empty()) {
    rest = rest.subspan(serial_.enqueue_input(rest));
    if (rest.empty()) break;
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stopping_; });
    if (stopping_) return false;
  }
  return true;
}

void ConsoleInput::loop() {
  pthread_setname_np(pthread_self(), "console-in");
  seccomp::enter(seccomp::ThreadKind::kConsole);
  std::vector<uint8_t> buf(256);
  while (true) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return;  // EOF: the guest simply gets no more input
    std::vector<uint8_t> in;
    if (!take_escapes(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), in)) return;
    if (!deliver(in)) return;
  }
}

}  // namespace tandem
