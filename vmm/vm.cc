// vmm/vm.cc: wiring of KVM, memory, devices, ACPI, the boot path, vCPUs and the event loop.
#include "vmm/vm.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <termios.h>
#include <unistd.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>

#include "base/eventfd.h"
#include "base/signal_name.h"
#include "base/worker_thread.h"
#include "devices/bus.h"
#include "devices/legacy/boot_timer.h"
#include "devices/legacy/serial.h"
#include "devices/pci/hotplug.h"
#include "devices/pci/pci_root.h"
#include "memory/address_allocator.h"
#include "memory/guest_memory.h"
#include "vmm/api/server.h"
#include "vmm/arch/machine.h"
#include "vmm/cli.h"
#include "vmm/device_manager.h"
#include "vmm/exit_controller.h"
#include "vmm/kvm/kvm.h"
#include "vmm/vcpu_set.h"
#include "vmm/vm_api.h"
#include "vmm/vm_services_kvm.h"
#include "vmm/seccomp/seccomp.h"

namespace tandem {

namespace {

void write_all(int fd, std::span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the sink went away: drop output, keep the guest running
    done += static_cast<size_t>(n);
  }
}

// Puts a terminal on stdin into raw mode for the guest's console and restores it on destruction.
class RawTerminal {
 public:
  RawTerminal() {
    if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) < 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    raw.c_oflag |= OPOST | ONLCR;  // keep our own stderr messages readable
    if (::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) active_ = true;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  bool active() const { return active_; }

 private:
  termios saved_{};
  bool active_ = false;
};

// Feeds stdin to the serial port on its own thread, holding input back while the UART's receive
// FIFO is full. With a terminal, Ctrl-A x quits tandem (Ctrl-A Ctrl-A sends a Ctrl-A).
class ConsoleInput {
 public:
  ConsoleInput(Serial& serial, ExitController& exit, bool escapes)
      : serial_(serial), exit_(exit), escapes_(escapes), stop_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~ConsoleInput() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    signal_eventfd(stop_fd_.get());
    if (thread_.joinable()) thread_.join();
  }
  // Called (on a vCPU thread) when the guest drained the receive FIFO.
  void drained() {
    std::lock_guard lock(mu_);
    cv_.notify_all();
  }

 private:
  void loop() {
    pthread_setname_np(pthread_self(), "console-in");
    seccomp::enter(seccomp::ThreadKind::kConsole);
    std::vector<uint8_t> buf(256);
    bool saw_ctrl_a = false;
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
      for (ssize_t i = 0; i < n; ++i) {
        uint8_t c = buf[static_cast<size_t>(i)];
        if (escapes_) {
          if (saw_ctrl_a) {
            saw_ctrl_a = false;
            if (c == 'x' || c == 'X') {
              exit_.request(exit_status::kPowerOff, "quit from the console (Ctrl-A x)");
              return;
            }
            if (c != 0x01) in.push_back(0x01);
          } else if (c == 0x01) {
            saw_ctrl_a = true;
            continue;
          }
        }
        in.push_back(c);
      }
      std::span<const uint8_t> rest(in);
      while (!rest.empty()) {
        size_t took = serial_.enqueue_input(rest);
        rest = rest.subspan(took);
        if (rest.empty()) break;
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stopping_; });
        if (stopping_) return;
      }
    }
  }

  Serial& serial_;
  ExitController& exit_;
  bool escapes_;
  UniqueFd stop_fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

VmOutcome run_vm(const VmConfig& cfg, BootFiles files) {
  const auto start = std::chrono::steady_clock::now();
  // The event loop (exit requests, signals, the API socket) is created first: device threads post
  // their events to it, so it must outlive them.
  asio::io_context io;
  std::unique_ptr<api::Server> api_server;
  auto notify = [&io, &api_server](std::string event, api::Json params) {  // from any thread
    asio::post(io, [&api_server, event = std::move(event), params = std::move(params)] {
      if (api_server) api_server->notify(event, params);
    });
  };
  auto fail = [](int status, const std::string& m) { return VmOutcome{status, m}; };
  // Before any thread starts: each one installs its own allow-list (vmm/seccomp) as it begins.
  if (auto s = seccomp::set_process_mode(cfg.seccomp); !s) return fail(exit_status::kFailure, s.message());
  // Device workers begin through base/worker_thread.h: their allow-list comes from here.
  set_worker_thread_hook([] { seccomp::enter(seccomp::ThreadKind::kDevice); });

  auto kvm = kvm::Kvm::open();
  if (!kvm) return fail(exit_status::kFailure, kvm.message());
  if (auto s = kvm->require_extensions(); !s) return fail(exit_status::kFailure, s.message());
  int max_vcpus = kvm->max_vcpus();
  if (cfg.cpus > static_cast<uint32_t>(max_vcpus)) {
    return fail(exit_status::kBadInput, "--cpus: " + std::to_string(cfg.cpus) + " vCPUs requested; KVM allows at most " +
                                            std::to_string(max_vcpus));
  }
  auto mmap_size = kvm->vcpu_mmap_size();
  if (!mmap_size) return fail(exit_status::kFailure, mmap_size.message());
  auto plan = arch::plan_memory(cfg.memory);
  if (!plan) return fail(exit_status::kBadInput, "--memory: " + plan.message());
  auto vm = arch::create_vm(*kvm, *plan);
  if (!vm) return fail(exit_status::kFailure, vm.message());

  // Guest RAM.
  auto mem = GuestMemory::create(plan->ram);
  if (!mem) return fail(exit_status::kFailure, mem.message());
  uint32_t slot = 0;
  for (const auto& r : mem->regions()) {
    if (auto s = vm->set_user_memory_region(slot++, r.gpa, r.size, r.host); !s) return fail(exit_status::kFailure, s.message());
  }

  // The vCPUs and the interrupt controller that needs them (aarch64), before any interrupt route.
  auto vcpus = arch::create_vcpus(*kvm, *vm, cfg.cpus, *mmap_size);
  if (!vcpus) return fail(exit_status::kFailure, vcpus.message());

  // Platform devices.
  ExitController exit;
  Bus pio("pio"), mmio("mmio");
  auto services = std::make_shared<KvmVmServices>(*vm, mmio, arch::base_gsi_routes(), arch::msi_carries_requester_id());
  if (auto s = services->init(); !s) return fail(exit_status::kFailure, s.message());
  UniqueFd serial_irq(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!serial_irq) return fail(exit_status::kFailure, "eventfd for the serial interrupt failed");
  UniqueFd serial_file;
  int out_fd = -1;
  if (cfg.serial.kind == SerialSpec::Kind::kStdio) {
    out_fd = STDOUT_FILENO;
  } else if (cfg.serial.kind == SerialSpec::Kind::kFile) {
    serial_file.reset(::open(cfg.serial.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!serial_file) return fail(exit_status::kBadInput, errno_error("--serial file " + cfg.serial.path).message);
    out_fd = serial_file.get();
  }
  std::atomic<ConsoleInput*> console_in{nullptr};
  int irq_fd = serial_irq.get();
  auto serial = std::make_shared<Serial>(
      [out_fd](std::span<const uint8_t> bytes) {
        if (out_fd >= 0) write_all(out_fd, bytes);
      },
      [irq_fd] { signal_eventfd(irq_fd); },
      [&console_in] {
        if (auto* c = console_in.load()) c->drained();
      });
  // --ready-fd: the first boot-timer mark (the guest's init started) is written there as one line,
  // then the fd is closed: how `tandem up` boots guests one at a time.
  auto ready_fd = std::make_shared<std::atomic<int>>(cfg.ready_fd);
  auto boot_timer = std::make_shared<BootTimer>(start, [ready_fd](std::chrono::nanoseconds t) {
    std::fprintf(stderr, "tandem: boot-timer: guest init reached after %.1f ms\n", static_cast<double>(t.count()) / 1e6);
    if (int fd = ready_fd->exchange(-1); fd >= 0) {
      static constexpr char kReady[] = "READY\n";
      [[maybe_unused]] ssize_t n = ::write(fd, kReady, sizeof kReady - 1);
      UniqueFd closing(fd);
    }
  });
  auto pci = std::make_shared<PciRoot>();
  DeviceManager* device_manager_ptr = nullptr;  // set below, before any vCPU can eject a slot
  arch::PlatformParts parts;
  parts.serial = serial;
  parts.serial_irq = serial_irq.get();
  parts.boot_mark = boot_timer;
  parts.pci = pci;
  parts.power_off = [&exit] { exit.request(exit_status::kPowerOff, ""); };
  parts.reboot = [&exit](const std::string& how) { exit.request(exit_status::kReboot, "guest reset (" + how + ")"); };
  parts.ejected = [&device_manager_ptr](uint8_t slot) {
    if (device_manager_ptr) device_manager_ptr->ejected(slot);
  };
  parts.later = [&io](std::chrono::milliseconds delay, std::function<void()> fn) {
    auto timer = std::make_shared<asio::steady_timer>(io, delay);
    timer->async_wait([timer, fn = std::move(fn)](const asio::error_code& e) {
      if (!e) fn();
    });
  };
  auto platform = arch::add_platform_devices(*vm, pio, mmio, parts);
  if (!platform) return fail(exit_status::kFailure, "platform devices: " + platform.message());
  auto hotplug = platform->hotplug;
  auto power_button = platform->press_power_button;

  // PCI devices: BARs come from the 64-bit window above RAM (the guest may move them). The hotplug
  // registers share the GED's interrupt with the power button.
  DeviceManager device_manager(io, pci, services, *mem, AddressAllocator(plan->mmio64_base, plan->mmio64_size), notify);
  device_manager.set_section_window(plan->section_base, plan->section_size);
  device_manager_ptr = &device_manager;
  if (hotplug) device_manager.set_hotplug(hotplug);
  for (const NetSpec& n : cfg.nets) {
    if (auto s = device_manager.add_cold(n); !s) return fail(exit_status::kBadInput, s.message());
  }
  for (const VhostPciSpec& v : cfg.vhost_pcis) {
    if (auto s = device_manager.add_cold(v); !s) return fail(exit_status::kBadInput, s.message());
  }

  // The kernel and the platform's boot tables; the vCPUs' entry state.
  if (auto s = arch::boot(*kvm, *plan, *mem, *vcpus, arch::BootSpec{files.kernel, files.initrd, cfg.cmdline, cfg.xsave}); !s) {
    return fail(exit_status::kFailure, "boot: " + s.message());
  }
  files = BootFiles{};  // the kernel and initrd now live in guest memory only
  VcpuSet vcpu_set(std::move(vcpus->vcpus), pio, mmio, exit);

  // The event loop: exit requests and signals. Console input has its own thread.
  RawTerminal terminal;
  std::unique_ptr<ConsoleInput> console;
  if (cfg.serial.kind == SerialSpec::Kind::kStdio) {
    console = std::make_unique<ConsoleInput>(*serial, exit, terminal.active());
    console_in.store(console.get());
  }
  asio::posix::stream_descriptor exit_desc(io, ::dup(exit.fd()));
  // On exit, subscribers hear why; their notifications get up to 300 ms to go out.
  asio::steady_timer exit_flush(io);
  int exit_flush_left = 30;
  std::function<void()> finish_exit = [&] {
    if (!api_server || api_server->queued_bytes() == 0 || exit_flush_left-- <= 0) {
      io.stop();
      return;
    }
    exit_flush.expires_after(std::chrono::milliseconds(10));
    exit_flush.async_wait([&](const asio::error_code&) { finish_exit(); });
  };
  exit_desc.async_wait(asio::posix::stream_descriptor::wait_read, [&](const asio::error_code&) {
    if (api_server) {
      api_server->notify("vm.exit", api::Json{{"status", exit.status()}, {"reason", exit.reason()}});
      api_server->stop_accepting();
    }
    finish_exit();
  });
  // SIGTERM presses the guest's power button once (an orderly shutdown, like a host shutting down
  // its VMs); the VM stops anyway after --shutdown-timeout, or at once on a second SIGTERM, SIGINT
  // or SIGHUP.
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  asio::steady_timer shutdown_deadline(io);
  bool button_pressed = false;
  auto arm_deadline = [&](const std::string& by, int deadline_status) {
    shutdown_deadline.async_wait([&, by, deadline_status](const asio::error_code& e) {
      if (!e) {
        std::string what = by == "SIGTERM" ? "stopped by signal SIGTERM" : "stopped after " + by;
        exit.request(deadline_status, what + ": the guest did not power off within " + std::to_string(cfg.shutdown_timeout_s) +
                                          " s of the power button");
      }
    });
  };
  // The power button: one press per shutdown request (SIGTERM or vm.shutdown); the first also arms
  // the deadline after which the VM stops anyway (status `deadline_status`).
  // Returns the seconds left until that deadline (-1: none, with --shutdown-timeout 0).
  auto press_power_button = [&](const std::string& by, int deadline_status) -> int64_t {
    power_button();
    if (!button_pressed && cfg.shutdown_timeout_s > 0) {
      shutdown_deadline.expires_after(std::chrono::seconds(cfg.shutdown_timeout_s));
      arm_deadline(by, deadline_status);
    }
    button_pressed = true;
    int64_t left = -1;
    if (cfg.shutdown_timeout_s > 0) {
      left = std::max<int64_t>(0, std::chrono::ceil<std::chrono::seconds>(shutdown_deadline.expiry() - asio::steady_timer::clock_type::now()).count());
      std::fprintf(stderr, "tandem: %s: pressed the guest's power button; stopping in %lld s unless it powers off\n", by.c_str(),
                   static_cast<long long>(left));
    } else {
      std::fprintf(stderr, "tandem: %s: pressed the guest's power button\n", by.c_str());
    }
    if (api_server) api_server->notify("vm.power-button", api::Json{{"by", by}, {"deadline_s", left}});
    return left;
  };
  bool sigterm_seen = false;  // a second SIGTERM stops at once (a vm.shutdown before is no SIGTERM)
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](const asio::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGTERM && !sigterm_seen && cfg.shutdown_timeout_s > 0 && power_button) {
        sigterm_seen = true;
        press_power_button("SIGTERM", 128 + SIGTERM);
        wait_signal();
        return;
      }
      exit.request(128 + sig, "stopped by signal " + signal_name(sig));
    });
  };
  wait_signal();

  // The API socket (docs/api.md).
  if (!cfg.api_socket.empty()) {
    auto s = api::Server::create(io, cfg.api_socket);
    if (!s) return fail(exit_status::kBadInput, "--api-socket: " + s.message());
    api_server = std::move(s).value();
    auto& a = *api_server;
    using api::Json;
    using api::Reply;
    // Methods without parameters: any given are an invalid-params error naming the method.
    auto add_plain = [&a](const std::string& method, std::function<Reply()> f) {
      a.add_method(method, [method, f = std::move(f)](const Json& p) -> Reply {
        if (!p.empty()) return api::error_reply(api::code::kInvalidParams, "invalid params: " + method + " takes no parameters");
        return f();
      });
    };
    auto state = [&]() -> std::string {
      if (exit.requested()) return "stopping";
      if (vcpu_set.paused()) return "paused";
      return button_pressed ? "shutting-down" : "running";
    };
    auto device_list = [&device_manager] { return device_manager.list(); };
    add_plain("vmm.ping", [] { return Json{{"pong", true}}; });
    add_plain("vmm.version", [] { return Json{{"version", kVersion}, {"api", "1"}}; });
    add_plain("vm.info", [=, &cfg] {
      auto up = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return Json{{"state", state()},       {"memory", cfg.memory},   {"cpus", cfg.cpus},
                  {"kernel", cfg.kernel},   {"initrd", cfg.initrd},   {"cmdline", cfg.cmdline},
                  {"pid", ::getpid()},      {"uptime_s", up},         {"devices", device_list()}};
    });
    add_plain("device.list", [=] { return Json{{"devices", device_list()}}; });
    add_plain("vm.pause", [&]() -> Reply {
      if (exit.requested()) return api::error_reply(api::code::kBusy, "vm.pause: the VM is stopping");
      if (vcpu_set.paused()) return api::error_reply(api::code::kBusy, "vm.pause: the VM is already paused");
      vcpu_set.pause();
      api_server->notify("vm.paused", Json::object());
      return Json{{"state", "paused"}};
    });
    add_plain("vm.resume", [&]() -> Reply {
      if (exit.requested()) return api::error_reply(api::code::kBusy, "vm.resume: the VM is stopping");
      if (!vcpu_set.paused()) return api::error_reply(api::code::kBusy, "vm.resume: the VM is not paused");
      vcpu_set.resume();
      api_server->notify("vm.resumed", Json::object());
      return Json{{"state", "running"}};
    });
    add_plain("vm.shutdown", [&, press_power_button]() -> Reply {
      if (exit.requested()) return api::error_reply(api::code::kBusy, "vm.shutdown: the VM is stopping");
      if (!power_button) {
        return api::error_reply(api::code::kUnavailable, std::string("vm.shutdown: this ") + arch::name() +
                                                             " machine has no power button; use vm.kill");
      }
      if (vcpu_set.paused()) {
        return api::error_reply(api::code::kBusy, "vm.shutdown: the VM is paused and cannot react to the power button; vm.resume it first, or vm.kill");
      }
      int64_t left = press_power_button("vm.shutdown", 128 + SIGTERM);
      return Json{{"power_button", "pressed"}, {"deadline_s", left}};
    });
    add_plain("vm.kill", [&]() -> Reply {
      exit.request(exit_status::kKilled, "stopped through the API (vm.kill)");
      return Json{{"state", "stopping"}, {"status", exit_status::kKilled}};
    });
    a.add_method("device.add", [&](const Json& p) -> Reply {
      auto req = parse_device_add(p);
      if (auto* e = std::get_if<api::RpcError>(&req)) return *e;
      if (exit.requested()) return api::error_reply(api::code::kBusy, "device.add: the VM is stopping");
      return device_manager.hot_add(std::get<DeviceRequest>(req));
    });
    a.add_method("device.remove", [&](const Json& p) -> Reply {
      auto id = parse_device_remove(p);
      if (auto* e = std::get_if<api::RpcError>(&id)) return *e;
      if (exit.requested()) return api::error_reply(api::code::kBusy, "device.remove: the VM is stopping");
      return device_manager.hot_remove(std::get<std::string>(id), vcpu_set.paused());
    });
    std::fprintf(stderr, "tandem: API socket %s\n", cfg.api_socket.c_str());
  }

  vcpu_set.start();
  device_manager.start();
  seccomp::enter(seccomp::ThreadKind::kVmm);  // the event loop, the API and the teardown below
  io.run();

  vcpu_set.stop();
  device_manager.stop();
  if (api_server) api_server->close();
  services->close();
  console_in.store(nullptr);
  console.reset();
  if (cfg.debug && pio.unclaimed() + mmio.unclaimed() > 0) {
    std::fprintf(stderr, "tandem: debug: %llu unclaimed port and %llu unclaimed MMIO accesses\n",
                 static_cast<unsigned long long>(pio.unclaimed()), static_cast<unsigned long long>(mmio.unclaimed()));
  }
  return VmOutcome{exit.status(), exit.reason()};
}

}  // namespace tandem
