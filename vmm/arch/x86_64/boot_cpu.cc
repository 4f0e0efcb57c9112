// vmm/arch/x86_64/boot_cpu.cc: page tables, GDT, registers and MSRs for the 64-bit Linux entry.
#include "vmm/arch/x86_64/boot_cpu.h"

#include "base/le.h"
#include "vmm/arch/x86_64/cpuid.h"
#include "vmm/arch/x86_64/layout.h"

namespace tandem::x86 {

namespace {
using namespace layout;

constexpr uint64_t kPml4 = kPageTablesAddr;
constexpr uint64_t kPdpt = kPageTablesAddr + 0x1000;
constexpr uint64_t kPd = kPageTablesAddr + 0x2000;  // 4 pages: 4 GiB in 2 MiB pages

constexpr uint64_t kGdt[] = {
    0,                      // null
    0,                      // unused
    0x00af9b000000ffffULL,  // 0x10: 64-bit code
    0x00cf93000000ffffULL,  // 0x18: data
    0x008f8b000000ffffULL,  // 0x20: TSS (busy, for VMX's sake)
};

kvm_segment seg(uint16_t selector, uint8_t type, bool code) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = code ? 0 : 1;
  s.s = 1;
  s.l = code ? 1 : 0;
  s.g = 1;
  return s;
}

// MSR numbers.
constexpr uint32_t kMsrSysenterCs = 0x174, kMsrSysenterEsp = 0x175, kMsrSysenterEip = 0x176;
constexpr uint32_t kMsrStar = 0xc0000081, kMsrLstar = 0xc0000082, kMsrCstar = 0xc0000083;
constexpr uint32_t kMsrSyscallMask = 0xc0000084, kMsrKernelGsBase = 0xc0000102;
constexpr uint32_t kMsrMiscEnable = 0x1a0, kMsrMtrrDefType = 0x2ff;
}  // namespace

Status write_boot_tables(const GuestMemory& mem) {
  for (size_t i = 0; i < std::size(kGdt); ++i) TANDEM_TRY(mem.write_le<uint64_t>(kGdtAddr + i * 8, kGdt[i]));
  TANDEM_TRY(mem.write_le<uint64_t>(kIdtAddr, 0));
  TANDEM_TRY(mem.write_le<uint64_t>(kPml4, kPdpt | 0x3));
  for (uint64_t i = 0; i < 4; ++i) TANDEM_TRY(mem.write_le<uint64_t>(kPdpt + i * 8, (kPd + i * 0x1000) | 0x3));
  for (uint64_t i = 0; i < 4 * 512; ++i) TANDEM_TRY(mem.write_le<uint64_t>(kPd + i * 8, (i << 21) | 0x83));
  return {};
}

kvm_sregs long_mode_sregs(const kvm_sregs& base) {
  kvm_sregs s = base;
  s.gdt.base = kGdtAddr;
  s.gdt.limit = sizeof(kGdt) - 1;
  s.idt.base = kIdtAddr;
  s.idt.limit = 7;
  s.cs = seg(0x10, 0xb, true);
  s.ds = s.es = s.fs = s.gs = s.ss = seg(0x18, 0x3, false);
  s.tr = seg(0x20, 0xb, false);
  s.tr.s = 0;
  s.tr.limit = 0xfffff;
  s.tr.g = 0;
  s.cr3 = kPml4;
  s.cr4 |= 1u << 5;                        // PAE
  s.cr0 |= (1u << 0) | (1u << 4) | (1u << 31);  // PE, ET, PG
  s.efer |= (1u << 8) | (1u << 10);        // LME, LMA
  return s;
}

kvm_regs entry_regs(uint64_t entry, uint64_t boot_params) {
  kvm_regs r{};
  r.rflags = 0x2;
  r.rip = entry;
  r.rsi = boot_params;
  r.rsp = 0x8ff0;
  r.rbp = 0x8ff0;
  return r;
}

kvm_fpu initial_fpu() {
  kvm_fpu f{};
  f.fcw = 0x37f;
  f.mxcsr = 0x1f80;
  return f;
}

std::vector<std::pair<uint32_t, uint64_t>> boot_msrs() {
  return {
      {kMsrSysenterCs, 0}, {kMsrSysenterEsp, 0}, {kMsrSysenterEip, 0}, {kMsrStar, 0},
      {kMsrCstar, 0},      {kMsrKernelGsBase, 0}, {kMsrSyscallMask, 0}, {kMsrLstar, 0},
      {kMsrMiscEnable, 1},                       // fast strings
      {kMsrMtrrDefType, (1u << 11) | 6},         // MTRRs on, write-back by default
  };
}

void set_lint_modes(kvm_lapic_state& lapic) {
  auto regs = std::span<uint8_t>(reinterpret_cast<uint8_t*>(lapic.regs), sizeof(lapic.regs));
  constexpr size_t kLint0 = 0x350, kLint1 = 0x360;
  auto set_mode = [&](size_t off, uint32_t mode) {
    uint32_t v = *load_le<uint32_t>(regs, off);
    v = (v & ~0x700u) | (mode << 8);
    store_le<uint32_t>(regs, off, v);
  };
  set_mode(kLint0, 0x7);  // ExtINT
  set_mode(kLint1, 0x4);  // NMI
}

Status setup_vcpu(const kvm::Vcpu& vcpu, const kvm::CpuidTable& supported, uint32_t num_cpus, bool boot_cpu,
                  uint64_t entry, uint64_t boot_params) {
  const std::string where = "vCPU " + std::to_string(vcpu.id());
  kvm::CpuidTable cpuid = supported;
  normalize_cpuid(cpuid, vcpu.id(), num_cpus);
  TANDEM_TRY(with_context(kvm::set_cpuid(vcpu, cpuid), where));
  // Start with XCR0 = every state component the CPUID exposes (what Linux enables). KVM derives
  // CPUID.0xD:EBX from XCR0; where the guest's XSETBV does not reach KVM (nested under QEMU TCG),
  // a reset value of x87-only would leave EBX disagreeing with the kernel's own size computation.
  if (uint64_t xcr0 = initial_xcr0(cpuid); xcr0 > 0x3) TANDEM_TRY(with_context(kvm::set_xcr0(vcpu, xcr0), where));
  TANDEM_TRY(with_context(kvm::set_msrs(vcpu, boot_msrs()), where));
  TANDEM_TRY(with_context(kvm::set_fpu(vcpu, initial_fpu()), where));
  auto lapic = kvm::get_lapic(vcpu);
  if (!lapic) return Error{where + ": " + lapic.message()};
  set_lint_modes(*lapic);
  TANDEM_TRY(with_context(kvm::set_lapic(vcpu, *lapic), where));
  if (boot_cpu) {
    auto sregs = kvm::get_sregs(vcpu);
    if (!sregs) return Error{where + ": " + sregs.message()};
    TANDEM_TRY(with_context(kvm::set_sregs(vcpu, long_mode_sregs(*sregs)), where));
    TANDEM_TRY(with_context(kvm::set_regs(vcpu, entry_regs(entry, boot_params)), where));
  }
  return {};
}

}  // namespace tandem::x86
