// vmm/vm.cc: one VM in stages: KVM and memory, vCPUs, platform devices, PCI devices, boot, the API,
// the event loop, teardown. Each stage is a short function; the parts are the members of Vm (vm.h).
#include "vmm/vm.h"

#include <unistd.h>

#include <cstdio>

#include "base/worker_thread.h"
#include "vmm/seccomp/seccomp.h"
#include "vmm/vm_api.h"

namespace tandem {

VmOutcome run_vm(const VmConfig& cfg, BootFiles files) {
  Vm vm(cfg);
  return vm.run(std::move(files));
}

VmOutcome Vm::run(BootFiles files) {
  // Before any thread starts: each one installs its own allow-list (vmm/seccomp) as it begins, and
  // device workers (base/worker_thread.h) get theirs from here.
  if (auto s = seccomp::set_process_mode(cfg_.seccomp); !s) return {exit_status::kFailure, s.message()};
  set_worker_thread_hook([] { seccomp::enter(seccomp::ThreadKind::kDevice); });
  for (auto stage : {&Vm::open_kvm, &Vm::create_memory, &Vm::create_vcpus, &Vm::add_platform, &Vm::add_pci_devices}) {
    if (auto stop = (this->*stage)()) return *stop;
  }
  if (auto stop = boot(std::move(files))) return *stop;
  if (auto stop = open_api()) return *stop;
  start_loop();
  io_.run();
  return teardown();
}

Vm::Stage Vm::open_kvm() {
  auto kvm = kvm::Kvm::open();
  if (!kvm) return fail(exit_status::kFailure, kvm.message());
  if (auto s = kvm->require_extensions(arch::kvm_extensions()); !s) return fail(exit_status::kFailure, s.message());
  if (int max = kvm->max_vcpus(); cfg_.cpus > static_cast<uint32_t>(max)) {
    return fail(exit_status::kBadInput, "--cpus: " + std::to_string(cfg_.cpus) + " vCPUs requested; KVM allows at most " + std::to_string(max));
  }
  auto mmap_size = kvm->vcpu_mmap_size();
  if (!mmap_size) return fail(exit_status::kFailure, mmap_size.message());
  mmap_size_ = *mmap_size;
  auto plan = arch::plan_memory(cfg_.memory);
  if (!plan) return fail(exit_status::kBadInput, "--memory: " + plan.message());
  plan_ = std::move(plan).value();
  kvm_.emplace(std::move(kvm).value());
  return {};
}

Vm::Stage Vm::create_memory() {
  auto vm = arch::create_vm(*kvm_, *plan_);
  if (!vm) return fail(exit_status::kFailure, vm.message());
  vm_.emplace(std::move(vm).value());
  auto mem = GuestMemory::create(plan_->ram);
  if (!mem) return fail(exit_status::kFailure, mem.message());
  mem_.emplace(std::move(mem).value());
  uint32_t slot = 0;
  for (const auto& r : mem_->regions()) {
    if (auto s = vm_->set_user_memory_region(slot++, r.gpa, r.size, r.host); !s) return fail(exit_status::kFailure, s.message());
  }
  return {};
}

// The vCPUs and the interrupt controller that needs them (aarch64), before any interrupt route.
Vm::Stage Vm::create_vcpus() {
  auto vcpus = arch::create_vcpus(*kvm_, *vm_, cfg_.cpus, mmap_size_);
  if (!vcpus) return fail(exit_status::kFailure, vcpus.message());
  vcpus_.emplace(std::move(vcpus).value());
  return {};
}

Vm::Stage Vm::add_platform() {
  services_ = std::make_shared<KvmVmServices>(*vm_, mmio_, arch::base_gsi_routes(), arch::msi_carries_requester_id());
  if (auto s = services_->init(); !s) return fail(exit_status::kFailure, s.message());
  if (auto stop = make_serial()) return stop;
  make_boot_timer();
  arch::PlatformParts parts;
  parts.serial = serial_;
  parts.serial_irq = serial_irq_.get();
  parts.boot_mark = boot_timer_;
  parts.pci = pci_;
  parts.power_off = [this] { exit_.request(exit_status::kPowerOff, ""); };
  parts.reboot = [this](const std::string& how) { exit_.request(exit_status::kReboot, "guest reset (" + how + ")"); };
  parts.ejected = [this](uint8_t slot) {  // a vCPU thread; devices_ is set before the vCPUs start
    if (devices_) devices_->ejected(slot);
  };
  parts.later = [this](std::chrono::milliseconds delay, std::function<void()> fn) {
    auto timer = std::make_shared<asio::steady_timer>(io_, delay);
    timer->async_wait([timer, fn = std::move(fn)](const asio::error_code& e) {
      if (!e) fn();
    });
  };
  auto platform = arch::add_platform_devices(*vm_, pio_, mmio_, parts);
  if (!platform) return fail(exit_status::kFailure, "platform devices: " + platform.message());
  platform_.emplace(std::move(platform).value());
  return {};
}

// PCI devices: BARs come from the 64-bit window above RAM (the guest may move them). The hotplug
// registers share the GED's interrupt with the power button.
Vm::Stage Vm::add_pci_devices() {
  auto notify = [this](DeviceEvent event) {
    auto [method, params] = device_event_notification(event);
    this->notify(std::move(method), std::move(params));
  };
  devices_.emplace(io_, pci_, services_, *mem_, AddressAllocator(plan_->mmio64_base, plan_->mmio64_size), notify);
  devices_->set_section_window(plan_->section_base, plan_->section_size);
  if (platform_->hotplug) devices_->set_hotplug(platform_->hotplug);
  if (auto s = devices_->add_cold(cfg_.devices); !s) return fail(exit_status::kBadInput, s.message());
  return {};
}

// The kernel and the platform's boot tables; the vCPUs' entry state. The files are freed here:
// the kernel and initrd then live in guest memory only.
Vm::Stage Vm::boot(BootFiles files) {
  if (auto s = arch::boot(*kvm_, *plan_, *mem_, *vcpus_, arch::BootSpec{files.kernel, files.initrd, cfg_.cmdline, cfg_.xsave}); !s) {
    return fail(exit_status::kFailure, "boot: " + s.message());
  }
  vcpu_set_.emplace(std::move(vcpus_->vcpus), pio_, mmio_, exit_, arch::describe_registers);
  vcpu_set_->on_memory_fault([services = services_] { return services->repair_memory_fault(); });
  return {};
}

// The API socket (docs/api.md) and the shutdown paths it shares with signals.
Vm::Stage Vm::open_api() {
  shutdown_.emplace(io_, exit_, cfg_.shutdown_timeout_s, platform_->press_power_button, [this](const std::string& by, int64_t left) {
    if (api_server_) api_server_->notify("vm.power-button", api::Json{{"by", by}, {"deadline_s", left}});
  });
  if (cfg_.api_socket.empty()) return {};
  auto s = api::Server::create(io_, cfg_.api_socket);
  if (!s) return fail(exit_status::kBadInput, "--api-socket: " + s.message());
  api_server_ = std::move(s).value();
  add_vm_methods(*api_server_, VmParts{cfg_, start_, exit_, *vcpu_set_, *devices_, *shutdown_});
  std::fprintf(stderr, "tandem: API socket %s\n", cfg_.api_socket.c_str());
  return {};
}

// The event loop's sources (exit requests, signals; console input has its own thread), then the
// vCPUs and the devices' threads. The loop itself runs in the sandbox of the VMM thread.
void Vm::start_loop() {
  terminal_.emplace();
  if (cfg_.serial.kind == SerialSpec::Kind::kStdio) {
    console_ = std::make_unique<ConsoleInput>(*serial_, exit_, terminal_->active());
    console_in_.store(console_.get());
  }
  watch_exit();
  shutdown_->watch_signals();
  vcpu_set_->start();
  devices_->start();
  seccomp::enter(seccomp::ThreadKind::kVmm);  // the event loop, the API and the teardown
}

VmOutcome Vm::teardown() {
  vcpu_set_->stop();
  devices_->stop();
  if (api_server_) api_server_->close();
  services_->close();
  console_in_.store(nullptr);
  console_.reset();
  if (cfg_.debug && pio_.unclaimed() + mmio_.unclaimed() > 0) {
    std::fprintf(stderr, "tandem: debug: %llu unclaimed port and %llu unclaimed MMIO accesses\n",
                 static_cast<unsigned long long>(pio_.unclaimed()), static_cast<unsigned long long>(mmio_.unclaimed()));
  }
  return VmOutcome{exit_.status(), exit_.reason()};
}

}  // namespace tandem
