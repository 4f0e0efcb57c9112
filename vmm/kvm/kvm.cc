// vmm/kvm/kvm.cc: the ioctls behind the KVM wrappers.
#include "vmm/kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cstdio>
#include <algorithm>
#include <cstring>

namespace tandem::kvm {

namespace {

// The uapi headers declare trailing flexible arrays with __DECLARE_FLEX_ARRAY, which in C++ inserts
// an empty struct (size 1): sizeof and the array offset of kvm_cpuid2, kvm_msrs, kvm_msr_list and
// kvm_irq_routing come out wrong, and so do the ioctl numbers derived from them (the kernel answers
// EINVAL). These are the kernel's real layouts: a header, then the entries.
struct CountHeader {
  uint32_t count;
  uint32_t pad;
};
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

// A header followed by `n` entries of T, as one zeroed buffer.
template <typename T>
std::vector<uint8_t> counted_buffer(size_t header, size_t n) {
  return std::vector<uint8_t>(header + n * sizeof(T), 0);
}

template <typename... A>
Status io(int fd, unsigned long req, const char* name, A... args) {
  if (::ioctl(fd, req, args...) < 0) return errno_error(name);
  return {};
}
}  // namespace

kvm_cpuid_entry2* CpuidTable::find(uint32_t function, uint32_t index) {
  for (auto& e : entries) {
    if (e.function == function && (!(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e.index == index)) return &e;
  }
  return nullptr;
}
const kvm_cpuid_entry2* CpuidTable::find(uint32_t function, uint32_t index) const {
  return const_cast<CpuidTable*>(this)->find(function, index);
}

Result<Kvm> Kvm::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    if (err == ENOENT) {
      return Error{"no " + path + ": this machine has no KVM; run tandem inside tools/nested-kvm (tools/nested-kvm -- tandem vm ...)"};
    }
    return errno_error("cannot open " + path + " (run tandem inside tools/nested-kvm if this machine has no usable KVM)", err);
  }
  int version = ::ioctl(fd.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    return Error{path + ": KVM API version " + std::to_string(version) + ", tandem needs " + std::to_string(KVM_API_VERSION)};
  }
  return Kvm(std::move(fd));
}

int Kvm::check_extension(long cap) const { return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap); }

Status Kvm::require_extensions() const {
  const struct {
    long cap;
    const char* name;
  } caps[] = {
      {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},   {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
      {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},               {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
      {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},   {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
      {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},       {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
      {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
  };
  for (const auto& c : caps) {
    if (check_extension(c.cap) <= 0) {
      return Error{std::string("KVM lacks ") + c.name + ", which tandem needs (try tools/nested-kvm)"};
    }
  }
  return {};
}

Result<int> Kvm::vcpu_mmap_size() const {
  int size = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size <= 0) return errno_error("KVM_GET_VCPU_MMAP_SIZE");
  return size;
}

int Kvm::max_vcpus() const {
  int n = check_extension(KVM_CAP_MAX_VCPUS);
  if (n <= 0) n = check_extension(KVM_CAP_NR_VCPUS);
  return n > 0 ? n : 4;
}

Result<CpuidTable> Kvm::supported_cpuid() const {
  for (size_t n = 128; n <= 4096; n *= 2) {
    auto buf = counted_buffer<kvm_cpuid_entry2>(sizeof(CountHeader), n);
    CountHeader h{static_cast<uint32_t>(n), 0};
    std::memcpy(buf.data(), &h, sizeof h);
    if (::ioctl(fd_.get(), kGetSupportedCpuid, buf.data()) == 0) {
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

Result<std::vector<uint32_t>> Kvm::msr_index_list() const {
  constexpr uint32_t kMax = 1024;
  auto buf = counted_buffer<uint32_t>(sizeof(MsrListHeader), kMax);
  MsrListHeader h{kMax};
  std::memcpy(buf.data(), &h, sizeof h);
  if (::ioctl(fd_.get(), kGetMsrIndexList, buf.data()) < 0) return errno_error("KVM_GET_MSR_INDEX_LIST");
  std::memcpy(&h, buf.data(), sizeof h);
  std::vector<uint32_t> out(std::min(h.nmsrs, kMax));
  std::memcpy(out.data(), buf.data() + sizeof h, out.size() * sizeof(uint32_t));
  return out;
}

Result<Vm> Kvm::create_vm() const {
  int fd = ::ioctl(fd_.get(), KVM_CREATE_VM, 0);
  if (fd < 0) return errno_error("KVM_CREATE_VM");
  return Vm(UniqueFd(fd));
}

Status Vm::set_tss_addr(uint64_t addr) const { return io(fd_.get(), KVM_SET_TSS_ADDR, "KVM_SET_TSS_ADDR", static_cast<unsigned long>(addr)); }

Status Vm::set_identity_map_addr(uint64_t addr) const {
  uint64_t a = addr;
  return io(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, "KVM_SET_IDENTITY_MAP_ADDR", &a);
}

Status Vm::create_irqchip() const { return io(fd_.get(), KVM_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP", 0); }

Status Vm::create_pit2() const {
  kvm_pit_config cfg{};
  cfg.flags = KVM_PIT_SPEAKER_DUMMY;
  return io(fd_.get(), KVM_CREATE_PIT2, "KVM_CREATE_PIT2", &cfg);
}

Status Vm::set_user_memory_region(uint32_t slot, uint64_t gpa, uint64_t size, void* host, uint32_t flags) const {
  kvm_userspace_memory_region r{};
  r.slot = slot;
  r.flags = flags;
  r.guest_phys_addr = gpa;
  r.memory_size = size;
  r.userspace_addr = reinterpret_cast<uint64_t>(host);
  return io(fd_.get(), KVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION", &r);
}

Status Vm::set_gsi_routing(const std::vector<kvm_irq_routing_entry>& entries) const {
  auto buf = counted_buffer<kvm_irq_routing_entry>(sizeof(CountHeader), entries.size());
  CountHeader h{static_cast<uint32_t>(entries.size()), 0};
  std::memcpy(buf.data(), &h, sizeof h);
  std::memcpy(buf.data() + sizeof h, entries.data(), entries.size() * sizeof(kvm_irq_routing_entry));
  return io(fd_.get(), kSetGsiRouting, "KVM_SET_GSI_ROUTING", buf.data());
}

Status Vm::irqfd(int eventfd, uint32_t gsi, bool deassign) const {
  kvm_irqfd f{};
  f.fd = static_cast<uint32_t>(eventfd);
  f.gsi = gsi;
  f.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0;
  return io(fd_.get(), KVM_IRQFD, "KVM_IRQFD", &f);
}

Status Vm::ioeventfd(int eventfd, uint64_t addr, uint32_t len, bool pio, bool deassign) const {
  kvm_ioeventfd e{};
  e.addr = addr;
  e.len = len;
  e.fd = eventfd;
  e.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
  return io(fd_.get(), KVM_IOEVENTFD, "KVM_IOEVENTFD", &e);
}

Status Vm::irq_line(uint32_t irq, bool level) const {
  kvm_irq_level l{};
  l.irq = irq;
  l.level = level ? 1 : 0;
  return io(fd_.get(), KVM_IRQ_LINE, "KVM_IRQ_LINE", &l);
}

Result<Vcpu> Vm::create_vcpu(uint32_t id, int mmap_size) const {
  int fd = ::ioctl(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (fd < 0) return errno_error("KVM_CREATE_VCPU " + std::to_string(id));
  UniqueFd owned(fd);
  auto map = Mapping::map(static_cast<size_t>(mmap_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (!map) return Error{"mapping kvm_run of vCPU " + std::to_string(id) + ": " + map.message()};
  return Vcpu(std::move(owned), std::move(map).value(), id);
}

Result<bool> Vcpu::run() const {
  if (::ioctl(fd_.get(), KVM_RUN, 0) < 0) {
    if (errno == EINTR || errno == EAGAIN) return false;
    return errno_error("KVM_RUN on vCPU " + std::to_string(id_));
  }
  return true;
}

Result<kvm_regs> Vcpu::get_regs() const {
  kvm_regs r{};
  if (::ioctl(fd_.get(), KVM_GET_REGS, &r) < 0) return errno_error("KVM_GET_REGS");
  return r;
}
Status Vcpu::set_regs(const kvm_regs& r) const { return io(fd_.get(), KVM_SET_REGS, "KVM_SET_REGS", &r); }
Result<kvm_sregs> Vcpu::get_sregs() const {
  kvm_sregs s{};
  if (::ioctl(fd_.get(), KVM_GET_SREGS, &s) < 0) return errno_error("KVM_GET_SREGS");
  return s;
}
Status Vcpu::set_sregs(const kvm_sregs& s) const { return io(fd_.get(), KVM_SET_SREGS, "KVM_SET_SREGS", &s); }
Status Vcpu::set_fpu(const kvm_fpu& f) const { return io(fd_.get(), KVM_SET_FPU, "KVM_SET_FPU", &f); }

Status Vcpu::set_cpuid(const CpuidTable& table) const {
  auto buf = counted_buffer<kvm_cpuid_entry2>(sizeof(CountHeader), table.entries.size());
  CountHeader h{static_cast<uint32_t>(table.entries.size()), 0};
  std::memcpy(buf.data(), &h, sizeof h);
  std::memcpy(buf.data() + sizeof h, table.entries.data(), table.entries.size() * sizeof(kvm_cpuid_entry2));
  return io(fd_.get(), kSetCpuid2, "KVM_SET_CPUID2", buf.data());
}

Status Vcpu::set_xcr0(uint64_t xcr0) const {
  kvm_xcrs x{};
  x.nr_xcrs = 1;
  x.xcrs[0].xcr = 0;
  x.xcrs[0].value = xcr0;
  return io(fd_.get(), KVM_SET_XCRS, "KVM_SET_XCRS", &x);
}

Status Vcpu::set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs) const {
  auto buf = counted_buffer<kvm_msr_entry>(sizeof(CountHeader), msrs.size());
  CountHeader h{static_cast<uint32_t>(msrs.size()), 0};
  std::memcpy(buf.data(), &h, sizeof h);
  for (size_t i = 0; i < msrs.size(); ++i) {
    kvm_msr_entry e{};
    e.index = msrs[i].first;
    e.data = msrs[i].second;
    std::memcpy(buf.data() + sizeof h + i * sizeof e, &e, sizeof e);
  }
  int n = ::ioctl(fd_.get(), kSetMsrs, buf.data());
  if (n < 0) return errno_error("KVM_SET_MSRS");
  if (static_cast<size_t>(n) != msrs.size()) {
    char buf2[64];
    std::snprintf(buf2, sizeof buf2, "KVM_SET_MSRS: MSR 0x%x was refused", msrs[static_cast<size_t>(n)].first);
    return Error{buf2};
  }
  return {};
}

Result<kvm_lapic_state> Vcpu::get_lapic() const {
  kvm_lapic_state l{};
  if (::ioctl(fd_.get(), KVM_GET_LAPIC, &l) < 0) return errno_error("KVM_GET_LAPIC");
  return l;
}
Status Vcpu::set_lapic(const kvm_lapic_state& l) const { return io(fd_.get(), KVM_SET_LAPIC, "KVM_SET_LAPIC", &l); }
Result<kvm_mp_state> Vcpu::get_mp_state() const {
  kvm_mp_state s{};
  if (::ioctl(fd_.get(), KVM_GET_MP_STATE, &s) < 0) return errno_error("KVM_GET_MP_STATE");
  return s;
}

}  // namespace tandem::kvm
