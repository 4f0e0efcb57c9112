// vmm/kvm/kvm.cc: the ioctls behind the KVM wrappers.
#include "vmm/kvm/kvm.h"

#include "vmm/kvm/ioctl.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cstring>

namespace tandem::kvm {

namespace {
constexpr unsigned long kSetGsiRouting = _IOW(KVMIO, 0x6a, CountHeader);
static_assert(kSetGsiRouting == 0x4008ae6aUL);
}  // namespace


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

Status Kvm::require_extensions(std::span<const Extension> arch) const {
  const Extension common[] = {
      {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},   {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
      {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},               {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
      {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},   {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
  };
  for (std::span<const Extension> caps : {std::span<const Extension>(common), arch}) {
    for (const auto& c : caps) {
      if (check_extension(c.cap) <= 0) {
        return Error{std::string("KVM lacks ") + c.name + ", which tandem needs (try tools/nested-kvm)"};
      }
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


Result<Vm> Kvm::create_vm(unsigned long type) const {
  int fd = ::ioctl(fd_.get(), KVM_CREATE_VM, type);
  if (fd < 0) return errno_error("KVM_CREATE_VM");
  return Vm(UniqueFd(fd));
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

Result<Device> Vm::create_device(uint32_t type, const std::string& what) const {
  kvm_create_device d{};
  d.type = type;
  if (::ioctl(fd_.get(), KVM_CREATE_DEVICE, &d) < 0) return errno_error("KVM_CREATE_DEVICE (" + what + ")");
  return Device(UniqueFd(static_cast<int>(d.fd)));
}

Status Device::set_attr(uint32_t group, uint64_t attr, const void* value, const std::string& what) const {
  kvm_device_attr a{};
  a.group = group;
  a.attr = attr;
  a.addr = reinterpret_cast<uint64_t>(value);
  if (::ioctl(fd_.get(), KVM_SET_DEVICE_ATTR, &a) < 0) return errno_error("KVM_SET_DEVICE_ATTR (" + what + ")");
  return {};
}

bool Device::has_attr(uint32_t group, uint64_t attr) const {
  kvm_device_attr a{};
  a.group = group;
  a.attr = attr;
  return ::ioctl(fd_.get(), KVM_HAS_DEVICE_ATTR, &a) == 0;
}

Result<Vcpu> Vm::create_vcpu(uint32_t id, int mmap_size) const {
  int fd = ::ioctl(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (fd < 0) return errno_error("KVM_CREATE_VCPU " + std::to_string(id));
  UniqueFd owned(fd);
  auto map = Mapping::map(static_cast<size_t>(mmap_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (!map) return Error{"mapping kvm_run of vCPU " + std::to_string(id) + ": " + map.message()};
  return Vcpu(std::move(owned), std::move(map).value(), id);
}

Result<Vcpu::Run> Vcpu::run() const {
  if (::ioctl(fd_.get(), KVM_RUN, 0) < 0) {
    if (errno == EINTR || errno == EAGAIN) return Run::kInterrupted;
    if (errno == EFAULT) return Run::kMemoryFault;
    return errno_error("KVM_RUN on vCPU " + std::to_string(id_));
  }
  return Run::kExit;
}


}  // namespace tandem::kvm
