// vmm/exit_controller.h: how any thread asks the VMM to end, and with which status.
//
// The first request wins; it is made visible to the event loop through an eventfd. Exit statuses
// (documented in docs/exit-status.md): 0 guest powered off, 1 VMM or guest failure (triple fault,
// KVM error), 2 bad input, 3 guest reboot, 130/143 interrupted/terminated, 137 vm.kill.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <mutex>
#include <string>

#include "base/eventfd.h"
#include "base/unique_fd.h"

namespace tandem {

namespace exit_status {
constexpr int kPowerOff = 0;
constexpr int kFailure = 1;
constexpr int kBadInput = 2;
constexpr int kReboot = 3;
constexpr int kKilled = 137;  // vm.kill through the API (as if killed by SIGKILL)
}  // namespace exit_status

class ExitController {
 public:
  ExitController() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

  void request(int status, const std::string& reason) {
    {
      std::lock_guard lock(mu_);
      if (requested_) return;
      requested_ = true;
      status_ = status;
      reason_ = reason;
    }
    signal_eventfd(fd_.get());
  }
  bool requested() const {
    std::lock_guard lock(mu_);
    return requested_;
  }
  int status() const {
    std::lock_guard lock(mu_);
    return status_;
  }
  std::string reason() const {
    std::lock_guard lock(mu_);
    return reason_;
  }
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  mutable std::mutex mu_;
  bool requested_ = false;
  int status_ = 0;
  std::string reason_;
};

}  // namespace tandem
