// vmm/shutdown.cc: signals, power-button presses and the shutdown deadline.
#include "vmm/shutdown.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>

#include "base/signal_name.h"

namespace tandem {

Shutdown::Shutdown(asio::io_context& io, ExitController& exit, uint32_t timeout_s, std::function<void()> power_button,
                   std::function<void(const std::string&, int64_t)> announce)
    : exit_(exit), timeout_s_(timeout_s), power_button_(std::move(power_button)), announce_(std::move(announce)),
      signals_(io, SIGINT, SIGTERM, SIGHUP), deadline_(io) {}

void Shutdown::watch_signals() { wait_signal(); }

void Shutdown::wait_signal() {
  signals_.async_wait([this](const asio::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGTERM && !sigterm_seen_ && timeout_s_ > 0 && power_button_) {
      sigterm_seen_ = true;
      press("SIGTERM", 128 + SIGTERM);
      wait_signal();
      return;
    }
    exit_.request(128 + sig, "stopped by signal " + signal_name(sig));
  });
}

void Shutdown::arm_deadline(const std::string& by, int deadline_status) {
  deadline_.async_wait([this, by, deadline_status](const asio::error_code& e) {
    if (e) return;
    std::string what = by == "SIGTERM" ? "stopped by signal SIGTERM" : "stopped after " + by;
    exit_.request(deadline_status, what + ": the guest did not power off within " + std::to_string(timeout_s_) +
                                       " s of the power button");
  });
}

int64_t Shutdown::press(const std::string& by, int deadline_status) {
  power_button_();
  if (!pressed_ && timeout_s_ > 0) {
    deadline_.expires_after(std::chrono::seconds(timeout_s_));
    arm_deadline(by, deadline_status);
  }
  pressed_ = true;
  int64_t left = -1;
  if (timeout_s_ > 0) {
    auto until = deadline_.expiry() - asio::steady_timer::clock_type::now();
    left = std::max<int64_t>(0, std::chrono::ceil<std::chrono::seconds>(until).count());
    std::fprintf(stderr, "tandem: %s: pressed the guest's power button; stopping in %lld s unless it powers off\n", by.c_str(),
                 static_cast<long long>(left));
  } else {
    std::fprintf(stderr, "tandem: %s: pressed the guest's power button\n", by.c_str());
  }
  announce_(by, left);
  return left;
}

}  // namespace tandem
