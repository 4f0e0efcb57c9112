// vmm/vm_events.cc: the VM's serial console and boot mark, API notifications, and the exit path
// (the event loop stops once an exit is requested and subscribers have heard why).
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>

#include "base/eventfd.h"
#include "vmm/vm.h"

namespace tandem {

Vm::Stage Vm::make_serial() {
  serial_irq_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!serial_irq_) return fail(exit_status::kFailure, "eventfd for the serial interrupt failed");
  int out_fd = -1;
  if (cfg_.serial.kind == SerialSpec::Kind::kStdio) {
    out_fd = STDOUT_FILENO;
  } else if (cfg_.serial.kind == SerialSpec::Kind::kFile) {
    serial_file_.reset(::open(cfg_.serial.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!serial_file_) return fail(exit_status::kBadInput, errno_error("--serial file " + cfg_.serial.path).message);
    out_fd = serial_file_.get();
  }
  int irq_fd = serial_irq_.get();
  serial_ = std::make_shared<Serial>(
      [out_fd](std::span<const uint8_t> bytes) {
        if (out_fd >= 0) write_all(out_fd, bytes);
      },
      [irq_fd] { signal_eventfd(irq_fd); },
      [this] {
        if (auto* c = console_in_.load()) c->drained();
      });
  return {};
}

// --ready-fd: the first boot-timer mark (the guest's init started) is written there as one line,
// then the fd is closed: how `tandem up` boots guests one at a time.
void Vm::make_boot_timer() {
  auto ready_fd = std::make_shared<std::atomic<int>>(cfg_.ready_fd);
  boot_timer_ = std::make_shared<BootTimer>(start_, [ready_fd](std::chrono::nanoseconds t) {
    std::fprintf(stderr, "tandem: boot-timer: guest init reached after %.1f ms\n", static_cast<double>(t.count()) / 1e6);
    if (int fd = ready_fd->exchange(-1); fd >= 0) {
      static constexpr char kReady[] = "READY\n";
      [[maybe_unused]] ssize_t n = ::write(fd, kReady, sizeof kReady - 1);
      UniqueFd closing(fd);
    }
  });
}

void Vm::notify(std::string event, api::Json params) {
  asio::post(io_, [this, event = std::move(event), params = std::move(params)] {
    if (api_server_) api_server_->notify(event, params);
  });
}

void Vm::watch_exit() {
  exit_desc_.emplace(io_, ::dup(exit_.fd()));
  exit_desc_->async_wait(asio::posix::stream_descriptor::wait_read, [this](const asio::error_code&) {
    if (api_server_) {
      api_server_->notify("vm.exit", api::Json{{"status", exit_.status()}, {"reason", exit_.reason()}});
      api_server_->stop_accepting();
    }
    finish_exit();
  });
}

void Vm::finish_exit() {
  if (!api_server_ || api_server_->queued_bytes() == 0 || exit_flush_left_-- <= 0) {
    io_.stop();
    return;
  }
  exit_flush_.expires_after(std::chrono::milliseconds(10));
  exit_flush_.async_wait([this](const asio::error_code&) { finish_exit(); });
}

}  // namespace tandem
