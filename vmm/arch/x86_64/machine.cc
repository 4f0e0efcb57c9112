// vmm/arch/x86_64/machine.cc: vmm/arch/machine.h for a PC: RAM around the 32-bit PCI hole, the
// in-kernel PIC/IOAPIC/PIT, the COM1 port, ACPI (hardware-reduced, with a Generic Event Device for
// the power button and PCI hotplug), the bzImage boot protocol and 64-bit entry.
#include "vmm/arch/machine.h"

#include <sys/eventfd.h>

#include <algorithm>

#include "base/eventfd.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/serial.h"
#include "vmm/arch/x86_64/acpi/tables.h"
#include "vmm/arch/x86_64/boot_cpu.h"
#include "vmm/arch/x86_64/cpuid.h"
#include "vmm/arch/x86_64/kvm_x86_64.h"
#include "vmm/arch/x86_64/layout.h"
#include "vmm/arch/x86_64/loader/linux_loader.h"

namespace tandem::arch {

namespace {
namespace layout = x86::layout;

constexpr uint64_t kTssAddr = 0xfffbd000;
constexpr uint64_t kIdentityMapAddr = 0xfffbc000;
constexpr uint32_t kMaxCpus = 255;  // xAPIC IDs, and the MADT tandem writes

// The end of the kernel once loaded: the larger of its file and its init_size.
uint64_t kernel_end(const loader::BzImage& img) {
  return layout::kKernelLoadAddr + std::max<uint64_t>(img.kernel().size(), img.header.init_size);
}
}  // namespace

const char* name() { return "x86_64"; }

std::span<const kvm::Extension> kvm_extensions() { return kvm::arch_extensions(); }

std::string describe_registers(const kvm::Vcpu& vcpu) { return kvm::describe_registers(vcpu); }

Result<MemoryPlan> plan_memory(uint64_t ram_size) {
  auto ram = x86::plan_ram(ram_size);
  if (!ram) return ram.error();
  MemoryPlan p;
  p.ram = std::move(ram).value();
  p.mmio64_base = x86::mmio64_start(p.ram);
  p.mmio64_size = layout::kMmio64Size;
  p.section_base = p.mmio64_base + p.mmio64_size;
  p.section_size = layout::kSectionWindowSize;
  return p;
}

bool has_pci_hotplug() { return true; }

uint32_t max_cpus() { return kMaxCpus; }

Status check_boot_files(const MemoryPlan& plan, const std::string& cmdline, std::vector<uint8_t>& kernel, size_t initrd_size) {
  auto img = loader::parse_bzimage(kernel);
  if (!img) return img.error();
  uint64_t cmd_max = img->header.cmdline_size ? img->header.cmdline_size : 255;
  if (cmdline.size() > cmd_max) {
    return Error{"--cmdline is " + std::to_string(cmdline.size()) + " bytes; this kernel accepts at most " + std::to_string(cmd_max)};
  }
  uint64_t end = kernel_end(*img);
  if (end > plan.ram[0].size) return Error{"--memory is too small for this kernel (it needs " + std::to_string(end >> 20) + " MiB)"};
  if (initrd_size > 0) {
    auto at = loader::place_initrd(img->header, plan.ram, end, initrd_size);
    if (!at) return Error{"initrd: " + at.message()};
  }
  return {};
}

Result<kvm::Vm> create_vm(const kvm::Kvm& kvm, const MemoryPlan&) {
  auto vm = kvm.create_vm();
  if (!vm) return vm.error();
  TANDEM_TRY(kvm::set_tss_addr(*vm, kTssAddr));
  if (kvm.check_extension(KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) TANDEM_TRY(kvm::set_identity_map_addr(*vm, kIdentityMapAddr));
  TANDEM_TRY(kvm::create_irqchip(*vm));
  TANDEM_TRY(kvm::create_pit2(*vm));
  return vm;
}

// ISA IRQs to the PICs and IOAPIC pins, IRQ0 (the PIT) to IOAPIC pin 2 as the MADT's interrupt
// source override says.
std::vector<kvm_irq_routing_entry> base_gsi_routes() {
  std::vector<kvm_irq_routing_entry> routes;
  auto add = [&](uint32_t gsi, uint32_t chip, uint32_t pin) {
    kvm_irq_routing_entry e{};
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_IRQCHIP;
    e.u.irqchip.irqchip = chip;
    e.u.irqchip.pin = pin;
    routes.push_back(e);
  };
  for (uint32_t i = 0; i < 16; ++i) {
    if (i == 2) continue;
    add(i, i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, i % 8);
  }
  for (uint32_t i = 0; i < 24; ++i) {
    if (i == 2) continue;
    add(i, KVM_IRQCHIP_IOAPIC, i == 0 ? 2 : i);
  }
  return routes;
}

bool msi_carries_requester_id() { return false; }

Result<Platform> add_platform_devices(const kvm::Vm& vm, Bus& pio, Bus& mmio, const PlatformParts& parts) {
  Platform p;
  TANDEM_TRY(vm.irqfd(parts.serial_irq, layout::kCom1Irq));
  // The Generic Event Device's interrupt: one edge per power button press or hotplug request (the
  // event selector in devices/pci/hotplug.h says which).
  UniqueFd ged_irq(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!ged_irq) return errno_error("eventfd for the GED interrupt");
  TANDEM_TRY(vm.irqfd(ged_irq.get(), layout::kPowerButtonIrq));
  int ged_fd = ged_irq.get();
  p.fds.push_back(std::move(ged_irq));
  p.hotplug = std::make_shared<PciHotplug>([ged_fd] { signal_eventfd(ged_fd); }, parts.ejected);
  p.press_power_button = [h = p.hotplug] { h->press_power_button(); };
  auto reboot = parts.reboot;
  auto i8042 = std::make_shared<I8042>([reboot] { reboot("i8042"); });
  static_assert(layout::kAcpiResetPort == layout::kAcpiSleepPort + AcpiPm::kResetOffset);
  auto acpi_pm = std::make_shared<AcpiPm>(layout::kAcpiResetValue, parts.power_off, [reboot] { reboot("ACPI"); });
  TANDEM_TRY(mmio.insert(std::make_shared<PciEcam>(parts.pci), layout::kEcamStart, layout::kEcamSize));
  for (auto [dev, base, len] : std::initializer_list<std::tuple<std::shared_ptr<BusDevice>, uint64_t, uint64_t>>{
           {std::make_shared<PciConfigIo>(parts.pci), layout::kPciConfigPort, 8},
           {parts.serial, layout::kCom1Port, Serial::kPorts},
           {i8042, layout::kI8042Port, 5},
           {acpi_pm, layout::kAcpiSleepPort, 2},
           {parts.boot_mark, layout::kBootTimerPort, 1},
           {p.hotplug, layout::kHotplugPort, PciHotplug::kPorts}}) {
    TANDEM_TRY(pio.insert(dev, base, len));
  }
  return p;
}

Result<Vcpus> create_vcpus(const kvm::Kvm&, const kvm::Vm& vm, uint32_t count, int mmap_size) {
  Vcpus v;
  for (uint32_t i = 0; i < count; ++i) {
    auto c = vm.create_vcpu(i, mmap_size);
    if (!c) return c.error();
    v.vcpus.push_back(std::move(c).value());
  }
  return v;
}

Status boot(const kvm::Kvm& kvm, const MemoryPlan& plan, const GuestMemory& mem, Vcpus& vcpus, const BootSpec& spec) {
  TANDEM_TRY(x86::write_boot_tables(mem));
  acpi::Config acpi_cfg{};
  acpi_cfg.num_cpus = static_cast<uint32_t>(vcpus.vcpus.size());
  acpi_cfg.power_button_gsi = layout::kPowerButtonIrq;
  acpi_cfg.ecam_base = layout::kEcamStart;
  acpi_cfg.ecam_size = layout::kEcamSize;
  acpi_cfg.mmio32_base = layout::kMmio32Start;
  acpi_cfg.mmio32_size = layout::kMmio32Size;
  acpi_cfg.mmio64_base = plan.mmio64_base;
  acpi_cfg.mmio64_size = plan.mmio64_size;
  acpi_cfg.pio_base = layout::kPioWindowStart;
  acpi_cfg.pio_size = layout::kPioWindowSize;
  acpi_cfg.hotplug_port = layout::kHotplugPort;
  auto rsdp = acpi::write_tables(mem, acpi_cfg);
  if (!rsdp) return Error{"ACPI tables: " + rsdp.message()};
  loader::LoadRequest req{spec.kernel, spec.initrd, spec.cmdline, *rsdp};
  auto loaded = loader::load_linux(mem, plan.ram, req);
  if (!loaded) return loaded.error();
  auto supported = kvm::supported_cpuid(kvm);
  if (!supported) return supported.error();
  if (kvm.check_extension(KVM_CAP_TSC_DEADLINE_TIMER) > 0) x86::expose_tsc_deadline(*supported);
  if (!spec.xsave) x86::hide_xsave(*supported);
  std::string brand = x86::host_brand_string();
  x86::fill_brand_string(*supported, brand.empty() ? "tandem virtual CPU" : brand);
  const auto n = static_cast<uint32_t>(vcpus.vcpus.size());
  for (uint32_t i = 0; i < n; ++i) {
    TANDEM_TRY(x86::setup_vcpu(vcpus.vcpus[i], *supported, n, i == 0, loaded->entry, loaded->boot_params));
  }
  return {};
}

}  // namespace tandem::arch
