// vmm/arch/aarch64/machine.cc: vmm/arch/machine.h for arm64: RAM from 1 GiB, the in-kernel GICv3
// with an ITS for MSI-X, a 16550 UART, a PL061 GPIO as the power button, the PCI host (ECAM)
// described by a device tree, PSCI for
// SMP bring-up, power-off and reset (handled by KVM: they end tandem as KVM_EXIT_SYSTEM_EVENT), and
// the arm64 Image boot protocol (x0 = the device tree, EL1h, interrupts masked).
#include "vmm/arch/machine.h"

#include <sys/eventfd.h>

#include <cstddef>

#include "base/eventfd.h"
#include "devices/legacy/pl061.h"
#include "devices/legacy/serial.h"
#include "vmm/arch/aarch64/fdt.h"
#include "vmm/arch/aarch64/gic.h"
#include "vmm/arch/aarch64/kvm_aarch64.h"
#include "vmm/arch/aarch64/layout.h"
#include "vmm/arch/aarch64/loader/linux_loader.h"

namespace tandem::arch {

namespace {
namespace L = arm64::layout;

constexpr uint64_t kMaxKernel = 256 * L::MiB;   // a decompressed Image
constexpr size_t kMaxCmdline = 2047;            // arm64's COMMAND_LINE_SIZE is 2048 with the NUL
constexpr uint64_t kDtbReserve = loader::kArm64MaxDtbSize;  // planned before the tree exists
constexpr uint64_t kMpidrAffinity = 0xff00ffffffULL;
// PSTATE at entry: EL1 with SP_EL1, debug, SError, IRQ and FIQ masked.
constexpr uint64_t kEntryPstate = 0x3c5;

}  // namespace

const char* name() { return "aarch64"; }

std::span<const kvm::Extension> kvm_extensions() { return kvm::arch_extensions(); }

std::string describe_registers(const kvm::Vcpu& vcpu) { return kvm::describe_registers(vcpu); }

Result<MemoryPlan> plan_memory(uint64_t ram_size) {
  // One region from 1 GiB, leaving room for the windows above it in the 40-bit space.
  const uint64_t max = L::kIpaLimit - L::kMmio64Size - L::kSectionWindowSize - 2 * L::GiB;
  TANDEM_TRY(check_ram_size(ram_size, max, "KVM's 40-bit guest-physical space on arm64"));
  MemoryPlan p;
  p.ram = {{L::kRamBase, ram_size}};
  p.mmio64_base = (L::kRamBase + ram_size + L::GiB - 1) & ~(L::GiB - 1);
  p.mmio64_size = L::kMmio64Size;
  p.section_base = p.mmio64_base + p.mmio64_size;
  p.section_size = L::kSectionWindowSize;
  return p;
}

bool has_pci_hotplug() { return false; }

uint32_t max_cpus() { return L::kMaxCpus; }

Status check_boot_files(const MemoryPlan& plan, const std::string& cmdline, std::vector<uint8_t>& kernel, size_t initrd_size) {
  auto raw = loader::decompress_kernel(kernel, kMaxKernel);  // Debian's vmlinuz is a gzip of the Image
  if (!raw) return raw.error();
  kernel = std::move(raw).value();
  auto img = loader::parse_arm64_image(kernel);
  if (!img) return img.error();
  if (cmdline.size() > kMaxCmdline) {
    return Error{"--cmdline is " + std::to_string(cmdline.size()) + " bytes; an arm64 kernel accepts at most " + std::to_string(kMaxCmdline)};
  }
  auto at = loader::plan_arm64(*img, L::kRamBase, plan.ram.front().size, initrd_size, kDtbReserve);
  if (!at) {
    if (at.message().rfind("initrd", 0) == 0) return Error{"initrd: " + at.message()};  // the caller names the file
    return at.error();
  }
  return {};
}

Result<kvm::Vm> create_vm(const kvm::Kvm& kvm, const MemoryPlan& plan) {
  const uint64_t end = plan.section_base + plan.section_size;
  if (end > L::kIpaLimit) return Error{"the guest-physical map ends above KVM's 40-bit limit"};
  // The default IPA size (type 0) is 40 bits; a host whose limit is smaller refuses it.
  int ipa = kvm.check_extension(KVM_CAP_ARM_VM_IPA_SIZE);
  if (ipa > 0 && ipa < 40) {
    return Error{"KVM on this host gives guests " + std::to_string(ipa) + " physical address bits; tandem's aarch64 memory map needs 40"};
  }
  return kvm.create_vm();
}

// SPI n is GSI n (pin n of the GIC's shared interrupts).
std::vector<kvm_irq_routing_entry> base_gsi_routes() {
  std::vector<kvm_irq_routing_entry> routes;
  for (uint32_t i = 0; i < L::kNumSpis; ++i) {
    kvm_irq_routing_entry e{};
    e.gsi = i;
    e.type = KVM_IRQ_ROUTING_IRQCHIP;
    e.u.irqchip.irqchip = 0;
    e.u.irqchip.pin = i;
    routes.push_back(e);
  }
  return routes;
}

bool msi_carries_requester_id() { return true; }

Result<Platform> add_platform_devices(const kvm::Vm& vm, Bus&, Bus& mmio, const PlatformParts& parts) {
  Platform p;
  TANDEM_TRY(vm.irqfd(parts.serial_irq, L::kUartSpi));
  TANDEM_TRY(mmio.insert(parts.serial, L::kUartBase, Serial::kPorts));
  TANDEM_TRY(mmio.insert(parts.boot_mark, L::kBootMarkBase, 1));
  TANDEM_TRY(mmio.insert(std::make_shared<PciEcam>(parts.pci), L::kEcamBase, L::kEcamSize));
  // The power button: a PL061 GPIO line the device tree gives to gpio-keys as KEY_POWER.
  UniqueFd gpio_irq(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!gpio_irq) return errno_error("eventfd for the GPIO interrupt");
  TANDEM_TRY(vm.irqfd(gpio_irq.get(), L::kGpioSpi));
  int fd = gpio_irq.get();
  p.fds.push_back(std::move(gpio_irq));
  auto gpio = std::make_shared<Pl061>([fd] { signal_eventfd(fd); });
  TANDEM_TRY(mmio.insert(gpio, L::kGpioBase, L::kGpioSize));
  // Pressed, then released after 100 ms (longer than gpio-keys' debounce), so every press is seen.
  p.press_power_button = [gpio, later = parts.later] {
    gpio->set_input(L::kPowerButtonLine, true);
    later(std::chrono::milliseconds(100), [gpio] { gpio->set_input(L::kPowerButtonLine, false); });
  };
  return p;  // no ACPI: no hotplug controller
}

Result<Vcpus> create_vcpus(const kvm::Kvm& kvm, const kvm::Vm& vm, uint32_t count, int mmap_size) {
  if (kvm.check_extension(KVM_CAP_ARM_PSCI_0_2) <= 0) return Error{"KVM lacks PSCI 0.2 (KVM_CAP_ARM_PSCI_0_2)"};
  auto target = kvm::preferred_target(vm);
  if (!target) return target.error();
  Vcpus v;
  for (uint32_t i = 0; i < count; ++i) {
    auto c = vm.create_vcpu(i, mmap_size);
    if (!c) return c.error();
    kvm_vcpu_init init = *target;
    init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
    if (i > 0) init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;  // started by the guest through PSCI CPU_ON
    TANDEM_TRY(kvm::init_vcpu(*c, init));
    v.vcpus.push_back(std::move(c).value());
  }
  auto gic = arm64::create_gic(vm, count);
  if (!gic) return gic.error();
  v.keep.push_back(std::make_shared<arm64::Gic>(std::move(gic).value()));
  return v;
}

Status boot(const kvm::Kvm&, const MemoryPlan& plan, const GuestMemory& mem, Vcpus& vcpus, const BootSpec& spec) {
  auto img = loader::parse_arm64_image(spec.kernel);
  if (!img) return img.error();
  const uint64_t ram_size = plan.ram.front().size;
  auto at = loader::plan_arm64(*img, L::kRamBase, ram_size, spec.initrd.size(), kDtbReserve);
  if (!at) return at.error();

  arm64::FdtConfig fc;
  for (const auto& v : vcpus.vcpus) {
    auto mpidr = kvm::get_one_reg(v, ARM64_SYS_REG(3, 0, 0, 0, 5));  // MPIDR_EL1
    if (!mpidr) return Error{"vCPU " + std::to_string(v.id()) + ": reading MPIDR_EL1: " + mpidr.message()};
    fc.mpidrs.push_back(*mpidr & kMpidrAffinity);
  }
  fc.ram_base = L::kRamBase;
  fc.ram_size = ram_size;
  fc.cmdline = spec.cmdline;
  fc.initrd_start = at->initrd_addr;
  fc.initrd_size = spec.initrd.size();
  fc.mmio64_base = plan.mmio64_base;
  fc.mmio64_size = plan.mmio64_size;
  auto dtb = arm64::build_fdt(fc);
  if (!dtb) return Error{"device tree: " + dtb.message()};
  TANDEM_TRY(loader::load_arm64(mem, *img, *at, spec.initrd, *dtb));

  const kvm::Vcpu& boot_cpu = vcpus.vcpus.front();
  TANDEM_TRY(kvm::set_one_reg(boot_cpu, kvm::core_reg(offsetof(kvm_regs, regs.pstate)), kEntryPstate));
  TANDEM_TRY(kvm::set_one_reg(boot_cpu, kvm::core_reg(offsetof(kvm_regs, regs.pc)), at->entry));
  TANDEM_TRY(kvm::set_one_reg(boot_cpu, kvm::core_reg(offsetof(kvm_regs, regs.regs[0])), at->dtb_addr));
  for (int r = 1; r <= 3; ++r) {  // x1-x3 are reserved and must be 0
    TANDEM_TRY(kvm::set_one_reg(boot_cpu, kvm::core_reg(offsetof(kvm_regs, regs.regs[0]) + sizeof(uint64_t) * static_cast<size_t>(r)), 0));
  }
  return {};
}

}  // namespace tandem::arch
