// vmm/shutdown.h: how a running VM is asked to stop: signals, the guest's power button and the
// deadline after it.
//
// SIGTERM presses the guest's power button once (an orderly shutdown, like a host shutting down its
// VMs); the VM stops anyway after --shutdown-timeout, or at once on a second SIGTERM, SIGINT or
// SIGHUP. vm.shutdown presses the button the same way. Everything runs on the event loop.
#pragma once

#include <asio.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "vmm/exit_controller.h"

namespace tandem {

class Shutdown {
 public:
  // `power_button` presses the guest's button (empty: the machine has none); `announce(by,
  // deadline_s)` tells API subscribers about a press.
  Shutdown(asio::io_context& io, ExitController& exit, uint32_t timeout_s, std::function<void()> power_button,
           std::function<void(const std::string&, int64_t)> announce);
  Shutdown(const Shutdown&) = delete;
  Shutdown& operator=(const Shutdown&) = delete;

  // Starts waiting for SIGINT, SIGTERM and SIGHUP.
  void watch_signals();
  bool has_power_button() const { return static_cast<bool>(power_button_); }
  // Whether the button was pressed (the VM is shutting down).
  bool pressed() const { return pressed_; }
  // One press for one shutdown request (`by`: "SIGTERM", "vm.shutdown"); the first also arms the
  // deadline, after which the VM stops with `deadline_status`. Returns the seconds left until that
  // deadline (-1: none, with --shutdown-timeout 0).
  int64_t press(const std::string& by, int deadline_status);

 private:
  void wait_signal();
  void arm_deadline(const std::string& by, int deadline_status);

  ExitController& exit_;
  uint32_t timeout_s_;
  std::function<void()> power_button_;
  std::function<void(const std::string&, int64_t)> announce_;
  asio::signal_set signals_;
  asio::steady_timer deadline_;
  bool pressed_ = false;
  bool sigterm_seen_ = false;  // a second SIGTERM stops at once (a vm.shutdown before is no SIGTERM)
};

}  // namespace tandem
