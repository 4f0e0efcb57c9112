// vmm/vm.h: builds and runs one VM from a validated configuration.
//
// The boot path as stages (vm.cc): KVM and guest RAM with its memslots, the vCPUs, the platform
// devices on the buses, the PCI devices, the kernel and boot tables in guest memory, the API
// socket; then the event loop until something asks the VMM to end, and the teardown. The serial
// console, the boot mark and the exit path are in vm_events.cc.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "base/unique_fd.h"
#include "devices/bus.h"
#include "devices/legacy/boot_timer.h"
#include "devices/legacy/serial.h"
#include "devices/pci/pci_root.h"
#include "memory/guest_memory.h"
#include "vmm/api/server.h"
#include "vmm/arch/machine.h"
#include "vmm/console.h"
#include "vmm/device_manager.h"
#include "vmm/exit_controller.h"
#include "vmm/kvm/kvm.h"
#include "vmm/shutdown.h"
#include "vmm/vcpu_set.h"
#include "vmm/vm_config.h"
#include "vmm/vm_services_kvm.h"

namespace tandem {

struct VmOutcome {
  int status;           // the process exit status (exit_controller.h)
  std::string message;  // why it ended (empty for a clean power-off)
};

// Takes the boot files by value: they are freed once loaded into guest memory.
VmOutcome run_vm(const VmConfig& cfg, BootFiles files);

// One VM. Its parts are members, declared in the order they are built: they are torn down in
// reverse, the event loop last.
class Vm {
 public:
  explicit Vm(const VmConfig& cfg) : cfg_(cfg) {}
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;
  // Builds the VM, runs it until it ends, and tears it down.
  VmOutcome run(BootFiles files);

 private:
  using Stage = std::optional<VmOutcome>;  // set: the VM cannot go on, and why
  static Stage fail(int status, std::string message) { return VmOutcome{status, std::move(message)}; }

  // vm.cc: the stages.
  Stage open_kvm();
  Stage create_memory();
  Stage create_vcpus();
  Stage add_platform();
  Stage add_pci_devices();
  Stage boot(BootFiles files);
  Stage open_api();
  void start_loop();
  VmOutcome teardown();
  // vm_events.cc: the console, the boot mark, notifications and the exit path.
  Stage make_serial();
  void make_boot_timer();
  void notify(std::string event, api::Json params);  // from any thread
  void watch_exit();
  void finish_exit();

  const VmConfig& cfg_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  // The event loop (exit requests, signals, the API socket) comes first: device threads post their
  // events to it, so it must outlive them.
  asio::io_context io_;
  std::unique_ptr<api::Server> api_server_;
  std::optional<kvm::Kvm> kvm_;
  int mmap_size_ = 0;
  std::optional<arch::MemoryPlan> plan_;
  std::optional<kvm::Vm> vm_;
  std::optional<GuestMemory> mem_;
  std::optional<arch::Vcpus> vcpus_;
  ExitController exit_;
  Bus pio_{"pio"}, mmio_{"mmio"};
  std::shared_ptr<KvmVmServices> services_;
  UniqueFd serial_irq_, serial_file_;
  std::atomic<ConsoleInput*> console_in_{nullptr};
  std::shared_ptr<Serial> serial_;
  std::shared_ptr<BootTimer> boot_timer_;
  std::shared_ptr<PciRoot> pci_ = std::make_shared<PciRoot>();
  std::optional<arch::Platform> platform_;
  std::optional<DeviceManager> devices_;
  std::optional<VcpuSet> vcpu_set_;
  std::optional<Shutdown> shutdown_;
  std::optional<RawTerminal> terminal_;
  std::unique_ptr<ConsoleInput> console_;
  std::optional<asio::posix::stream_descriptor> exit_desc_;
  asio::steady_timer exit_flush_{io_};
  int exit_flush_left_ = 30;  // on exit, subscribers' notifications get up to 300 ms to go out
};

}  // namespace tandem
