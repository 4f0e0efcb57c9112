// vmm/arch/x86_64/kvm_x86_64.cc: the x86_64-only KVM ioctls: CPUID, MSRs, the PIC/IOAPIC/PIT, the
// TSS, general and special registers, the LAPIC.
#include "vmm/arch/x86_64/kvm_x86_64.h"

#include <fcntl.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "vmm/kvm/ioctl.h"

namespace tandem::kvm {

namespace {
struct MsrListHeader {
  uint32_t nmsrs;
};
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CountHeader);
constexpr unsigned long kGetMsrIndexList = _IOWR(KVMIO, 0x02, MsrListHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CountHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, CountHeader);
constexpr unsigned long kSetGsiRouting = _IOW(KVMIO, 0x6a, CountHeader);
static_assert(kGetSupportedCpuid == 0xc008ae05UL && kSetCpuid2 == 0x4008ae90UL && kSetMsrs == 0x4008ae89UL &&
              kGetMsrIndexList == 0xc004ae02UL && kSetGsiRouting == 0x4008ae6aUL);
}  // namespace

std::span<const Extension> arch_extensions() {
  static constexpr Extension kCaps[] = {
      {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
      {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
      {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
  };
  return kCaps;
}

kvm_cpuid_entry2* CpuidTable::find(uint32_t function, uint32_t index) {
  for (auto& e : entries) {
    if (e.function == function && (!(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e.index == index)) return &e;
  }
  return nullptr;
}
const kvm_cpuid_entry2* CpuidTable::find(uint32_t function, uint32_t index) const {
  return const_cast<CpuidTable*>(this)->find(function, index);
}

Result<CpuidTable> supported_cpuid(const Kvm& kvm) {
  for (size_t n = 128; n <= 4096; n *= 2) {
    auto buf = counted_buffer<kvm_cpuid_entry2>(sizeof(CountHeader), n);
    CountHeader h{static_cast<uint32_t>(n), 0};
    std::memcpy(buf.data(), &h, sizeof h);
    if (::ioctl(kvm.fd(), kGetSupportedCpuid, buf.data()) == 0) {
      std::memcpy(&h, buf.data(), sizeof h);
      CpuidTable t;
      t.entries.resize(std::min<size_t>(h.count, n));
      std::memcpy(t.entries.data(), buf.data() + sizeof h, t.entries.size() * sizeof(kvm_cpuid_entry2));
      return t;
    }
    if (errno != E2BIG) return errno_error("KVM_GET_SUPPORTED_CPUID");
  }
  return Error{"KVM_GET_SUPPORTED_CPUID: table too large"};
}

Result<std::vector<uint32_t>> msr_index_list(const Kvm& kvm) {
  constexpr uint32_t kMax = 1024;
  auto buf = counted_buffer<uint32_t>(sizeof(MsrListHeader), kMax);
  MsrListHeader h{kMax};
  std::memcpy(buf.data(), &h, sizeof h);
  if (::ioctl(kvm.fd(), kGetMsrIndexList, buf.data()) < 0) return errno_error("KVM_GET_MSR_INDEX_LIST");
  std::memcpy(&h, buf.data(), sizeof h);
  std::vector<uint32_t> out(std::min(h.nmsrs, kMax));
  std::memcpy(out.data(), buf.data() + sizeof h, out.size() * sizeof(uint32_t));
  return out;
}

Status set_tss_addr(const Vm& vm, uint64_t addr) { return io(vm.fd(), KVM_SET_TSS_ADDR, "KVM_SET_TSS_ADDR", static_cast<unsigned long>(addr)); }

Status set_identity_map_addr(const Vm& vm, uint64_t addr) {
  uint64_t a = addr;
  return io(vm.fd(), KVM_SET_IDENTITY_MAP_ADDR, "KVM_SET_IDENTITY_MAP_ADDR", &a);
}

Status create_irqchip(const Vm& vm) { return io(vm.fd(), KVM_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP", 0); }

Status create_pit2(const Vm& vm) {
  kvm_pit_config cfg{};
  cfg.flags = KVM_PIT_SPEAKER_DUMMY;
  return io(vm.fd(), KVM_CREATE_PIT2, "KVM_CREATE_PIT2", &cfg);
}

Result<kvm_regs> get_regs(const Vcpu& vcpu) {
  kvm_regs r{};
  if (::ioctl(vcpu.fd(), KVM_GET_REGS, &r) < 0) return errno_error("KVM_GET_REGS");
  return r;
}
Status set_regs(const Vcpu& vcpu, const kvm_regs& r) { return io(vcpu.fd(), KVM_SET_REGS, "KVM_SET_REGS", &r); }
Result<kvm_sregs> get_sregs(const Vcpu& vcpu) {
  kvm_sregs s{};
  if (::ioctl(vcpu.fd(), KVM_GET_SREGS, &s) < 0) return errno_error("KVM_GET_SREGS");
  return s;
}
Status set_sregs(const Vcpu& vcpu, const kvm_sregs& s) { return io(vcpu.fd(), KVM_SET_SREGS, "KVM_SET_SREGS", &s); }
Status set_fpu(const Vcpu& vcpu, const kvm_fpu& f) { return io(vcpu.fd(), KVM_SET_FPU, "KVM_SET_FPU", &f); }

Status set_cpuid(const Vcpu& vcpu, const CpuidTable& table) {
  auto buf = counted_buffer<kvm_cpuid_entry2>(sizeof(CountHeader), table.entries.size());
  CountHeader h{static_cast<uint32_t>(table.entries.size()), 0};
  std::memcpy(buf.data(), &h, sizeof h);
  std::memcpy(buf.data() + sizeof h, table.entries.data(), table.entries.size() * sizeof(kvm_cpuid_entry2));
  return io(vcpu.fd(), kSetCpuid2, "KVM_SET_CPUID2", buf.data());
}

Status set_xcr0(const Vcpu& vcpu, uint64_t xcr0) {
  kvm_xcrs x{};
  x.nr_xcrs = 1;
  x.xcrs[0].xcr = 0;
  x.xcrs[0].value = xcr0;
  return io(vcpu.fd(), KVM_SET_XCRS, "KVM_SET_XCRS", &x);
}

Status set_msrs(const Vcpu& vcpu, const std::vector<std::pair<uint32_t, uint64_t>>& msrs) {
  auto buf = counted_buffer<kvm_msr_entry>(sizeof(CountHeader), msrs.size());
  CountHeader h{static_cast<uint32_t>(msrs.size()), 0};
  std::memcpy(buf.data(), &h, sizeof h);
  for (size_t i = 0; i < msrs.size(); ++i) {
    kvm_msr_entry e{};
    e.index = msrs[i].first;
    e.data = msrs[i].second;
    std::memcpy(buf.data() + sizeof h + i * sizeof e, &e, sizeof e);
  }
  int n = ::ioctl(vcpu.fd(), kSetMsrs, buf.data());
  if (n < 0) return errno_error("KVM_SET_MSRS");
  if (static_cast<size_t>(n) != msrs.size()) {
    char buf2[64];
    std::snprintf(buf2, sizeof buf2, "KVM_SET_MSRS: MSR 0x%x was refused", msrs[static_cast<size_t>(n)].first);
    return Error{buf2};
  }
  return {};
}

Result<kvm_lapic_state> get_lapic(const Vcpu& vcpu) {
  kvm_lapic_state l{};
  if (::ioctl(vcpu.fd(), KVM_GET_LAPIC, &l) < 0) return errno_error("KVM_GET_LAPIC");
  return l;
}
Status set_lapic(const Vcpu& vcpu, const kvm_lapic_state& l) { return io(vcpu.fd(), KVM_SET_LAPIC, "KVM_SET_LAPIC", &l); }
Result<kvm_mp_state> get_mp_state(const Vcpu& vcpu) {
  kvm_mp_state s{};
  if (::ioctl(vcpu.fd(), KVM_GET_MP_STATE, &s) < 0) return errno_error("KVM_GET_MP_STATE");
  return s;
}

std::string describe_registers(const Vcpu& vcpu) {
  auto regs = get_regs(vcpu);
  auto sregs = get_sregs(vcpu);
  if (!regs || !sregs) return "  (registers unavailable)";
  const kvm_regs& r = *regs;
  const kvm_sregs& s = *sregs;
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "  vCPU %u registers:\n"
                "  rip=%016llx rsp=%016llx rflags=%016llx\n"
                "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n"
                "  rsi=%016llx rdi=%016llx rbp=%016llx\n"
                "  r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx\n"
                "  r12=%016llx r13=%016llx r14=%016llx r15=%016llx\n"
                "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx\n"
                "  cs=%04x (base %016llx) ss=%04x gdt=%016llx/%x idt=%016llx/%x",
                vcpu.id(), r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10,
                r.r11, r.r12, r.r13, r.r14, r.r15, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.cs.selector, s.cs.base,
                s.ss.selector, s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit);
  std::string out = buf;
  // KVM on AMD puts a vCPU through INIT when it shuts down (the VMCB is undefined after a
  // SHUTDOWN intercept): after a triple fault there, these are the reset values.
  if (s.cs.base == 0xffff0000 && r.rip == 0xfff0) {
    out += "\n  (the vCPU's INIT state: KVM resets a vCPU that shuts down on AMD, so where the guest faulted is lost)";
  }
  return out;
}

}  // namespace tandem::kvm
