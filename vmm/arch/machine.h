// vmm/arch/machine.h: what a VM needs from its architecture, as one small set of plain functions.
//
// vmm/vm.cc is the same on every architecture; it asks this interface for the memory map, the VM's
// in-kernel interrupt controller, the platform devices (console, boot mark, PCI configuration
// access, power and hotplug where the platform has them), the kernel loading and the vCPUs' entry
// state. One implementation per architecture: vmm/arch/x86_64/machine.cc (a PC: ACPI, e820,
// bzImage) and vmm/arch/aarch64/machine.cc (GICv3 + ITS, a device tree, the arm64 Image). Bazel
// picks one (//vmm/arch:machine); nothing else in tandem needs to know which.
#pragma once

#include <linux/kvm.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "devices/bus.h"
#include "devices/pci/hotplug.h"
#include "devices/pci/pci_root.h"
#include "memory/guest_memory.h"
#include "memory/ram.h"
#include "vmm/kvm/kvm.h"

namespace tandem::arch {

// "x86_64" or "aarch64": the architecture this tandem was built for.
const char* name();

// The KVM capabilities the architecture needs beyond the common ones (Kvm::require_extensions).
std::span<const kvm::Extension> kvm_extensions();

// A vCPU's registers, formatted for a failure message.
std::string describe_registers(const kvm::Vcpu& vcpu);

// The guest-physical map of one VM.
struct MemoryPlan {
  std::vector<RamRegion> ram;
  uint64_t mmio64_base = 0, mmio64_size = 0;    // 64-bit BARs (the guest may move them inside)
  uint64_t section_base = 0, section_size = 0;  // vhost-pci 2.1 sections, outside every PCI window
};
// Errors name the problem with the size ("memory size 3 MiB is below the minimum of 64 MiB").
Result<MemoryPlan> plan_memory(uint64_t ram_size);

// The most vCPUs the platform can describe (x86_64: 255 APIC IDs; aarch64: the GIC redistributor
// region), checked before KVM's own limit.
uint32_t max_cpus();

// Whether the platform has PCI hotplug (x86_64: ACPI; aarch64: not yet). Without it, device.add
// and hotplug_on_connect are refused.
bool has_pci_hotplug();

// Checks the kernel, command line and initrd against the platform and the memory plan before
// anything runs: the wrong architecture's kernel, a command line too long, a kernel or initrd that
// does not fit. The kernel may be replaced by the form that is loaded (aarch64 decompresses a gzip
// Image). Errors name the file's problem; the caller names the file.
Status check_boot_files(const MemoryPlan& plan, const std::string& cmdline, std::vector<uint8_t>& kernel, size_t initrd_size);

// Creates the VM and its VM-wide state: x86_64: TSS, identity map, PIC/IOAPIC and PIT; aarch64:
// the IPA size.
Result<kvm::Vm> create_vm(const kvm::Kvm& kvm, const MemoryPlan& plan);

// The GSI routes of the platform's wired interrupts; every routing table keeps them, MSI routes
// take GSIs above them.
std::vector<kvm_irq_routing_entry> base_gsi_routes();
// Whether an MSI route carries its PCI requester ID (aarch64's ITS needs it).
bool msi_carries_requester_id();

// The platform devices. The caller builds the ones every architecture has and hands them in; the
// architecture places them on its buses and wires their interrupts.
struct PlatformParts {
  std::shared_ptr<BusDevice> serial;     // a 16550
  int serial_irq = -1;                   // the eventfd the serial raises its interrupt on
  std::shared_ptr<BusDevice> boot_mark;  // a guest write marks "init reached"
  std::shared_ptr<PciRoot> pci;
  std::function<void()> power_off;       // the guest powered off (x86_64: ACPI sleep register)
  std::function<void(const std::string&)> reboot;  // the guest reset itself, and how ("i8042", "ACPI")
  std::function<void(uint8_t)> ejected;  // the guest ejected a hot-plugged slot
  // Runs `fn` on the event loop after `delay` (a button's release).
  std::function<void(std::chrono::milliseconds delay, std::function<void()> fn)> later;
};
struct Platform {
  // Presses the guest's power button (x86_64: the ACPI GED's; aarch64: a PL061 line wired to
  // gpio-keys), from the event loop.
  std::function<void()> press_power_button;
  // The PCI hotplug registers, or null when the platform has none (aarch64 for now: no ACPI): then
  // device.add is refused.
  std::shared_ptr<PciHotplug> hotplug;
  std::vector<UniqueFd> fds;                     // eventfds the platform's interrupts hang on
  std::vector<std::shared_ptr<void>> keep;       // other state that must live as long as the VM
};
Result<Platform> add_platform_devices(const kvm::Vm& vm, Bus& pio, Bus& mmio, const PlatformParts& parts);

// The vCPUs with the in-kernel interrupt controller they need (aarch64: the GICv3 and ITS, which
// need the vCPUs first). `keep` holds what must live as long as the VM.
struct Vcpus {
  std::vector<kvm::Vcpu> vcpus;
  std::vector<std::shared_ptr<void>> keep;
};
Result<Vcpus> create_vcpus(const kvm::Kvm& kvm, const kvm::Vm& vm, uint32_t count, int mmap_size);

// Loads the kernel (as check_boot_files left it), the initrd and the platform's boot tables (x86_64:
// ACPI, boot_params; aarch64: the device tree) into guest memory, and sets every vCPU's entry state.
// Errors name what failed.
struct BootSpec {
  std::span<const uint8_t> kernel;
  std::span<const uint8_t> initrd;
  std::string cmdline;
  bool xsave = true;  // x86_64: false hides XSAVE and the state it manages from the guest (--xsave off)
};
Status boot(const kvm::Kvm& kvm, const MemoryPlan& plan, const GuestMemory& mem, Vcpus& vcpus, const BootSpec& spec);

}  // namespace tandem::arch
