// vmm/seccomp/ioctls.cc: which ioctl requests each kind of tandem thread makes, and where.
//
// Each number comes from the kernel headers' macros at compile time, so it is right on x86_64 and
// aarch64 alike; a request only one architecture makes is under its #if. docs/tandem-vm.md
// ("Seccomp") has the same table for people.
#include "vmm/seccomp/ioctls.h"

#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

// <linux/virtio_ring.h>'s legacy vring_init() is not valid C++; vhost.h pulls it in.
#define VIRTIO_RING_NO_LEGACY
#include <linux/vhost.h>

#include <cstdint>
#include <initializer_list>
#include <span>

namespace tandem::seccomp {
namespace {

constexpr ArgMatch request(unsigned long value, std::string_view name) {
  return ArgMatch{1, 0xffffffffu, static_cast<uint32_t>(value), name};
}
#define TANDEM_REQUEST(r) request(r, #r)

// A uapi struct ending in a flexible array comes out the wrong size in C++ (vmm/kvm/ioctl.h), and
// so does the request number its header derives: these are the numbers tandem really sends, with
// the kernel's 8-byte headers (vmm/kvm/kvm.cc, devices/vhost/kernel.cc).
struct CountHeader {
  uint32_t count;
  uint32_t pad;
};
constexpr unsigned long kSetGsiRouting = _IOW(KVMIO, 0x6a, CountHeader);
constexpr unsigned long kVhostSetMemTable = _IOW(VHOST_VIRTIO, 0x03, CountHeader);
static_assert(kSetGsiRouting == 0x4008ae6aUL && kVhostSetMemTable == 0x4008af03UL);

// Memory slots (KVM_SET_USER_MEMORY_REGION on the VM fd): vmm/vm_services_kvm.cc add_memslot and
// remove_memslot, which run them on the VMM's memslot thread whoever asks (a vhost-pci device
// installing a peer's memory on its worker, a BAR moved from a vCPU).
constexpr ArgMatch kMemslots[] = {TANDEM_REQUEST(KVM_SET_USER_MEMORY_REGION)};

// Interrupt routes and doorbells on the VM fd (vmm/kvm/kvm.cc Vm::irqfd, Vm::ioeventfd,
// Vm::set_gsi_routing through vmm/vm_services_kvm.cc): an MSI-X vector routed or masked
// (devices/pci/msix.cc MsixVectors::sync, set_source, ~MsixVectors), doorbells following a BAR
// (devices/virtio/pci_transport.cc, devices/vhost_pci/*.cc move_doorbells_locked) or wired to a
// peer's eventfds (vhost_pci wire_locked, wire_doorbells_locked).
constexpr ArgMatch kRouting[] = {
    TANDEM_REQUEST(KVM_IRQFD),
    TANDEM_REQUEST(KVM_IOEVENTFD),
    request(kSetGsiRouting, "KVM_SET_GSI_ROUTING"),
};

// A vCPU's own fd: running it (vmm/kvm/kvm.cc Vcpu::run) and its registers for a failure message
// (Vcpu::describe_registers, from vmm/vcpu_set.cc VcpuSet::dump_registers).
constexpr ArgMatch kVcpuRun[] = {
    TANDEM_REQUEST(KVM_RUN),
#if defined(__x86_64__)
    TANDEM_REQUEST(KVM_GET_REGS),
    TANDEM_REQUEST(KVM_GET_SREGS),
#endif
#if defined(__aarch64__)
    TANDEM_REQUEST(KVM_GET_ONE_REG),
#endif
};

// Opening a tap for a device hot-added through the API (devices/net/tap.cc Tap::open,
// check_vnet_hdr_support, set_up; the last two on an AF_UNIX socket).
constexpr ArgMatch kTapOpen[] = {
    TANDEM_REQUEST(TUNSETIFF),
    TANDEM_REQUEST(TUNGETFEATURES),
    TANDEM_REQUEST(SIOCGIFFLAGS),
    TANDEM_REQUEST(SIOCSIFFLAGS),
};

// The guest's driver starting a tap-backed device (DRIVER_OK, on its vCPU: devices/virtio/net_tap.cc
// and net_vhost.cc start, through devices/net/tap.cc set_vnet_hdr_size and set_offloads).
constexpr ArgMatch kTapStart[] = {TANDEM_REQUEST(TUNSETVNETHDRSZ), TANDEM_REQUEST(TUNSETOFFLOAD)};

// vhost-net (devices/vhost/kernel.cc): opened for a hot-added device (make_vhost_net_backend),
// programmed when the driver starts it (devices/virtio/vhost_rings.cc program_vhost, net_vhost.cc
// start), detached when it is reset or destroyed (net_vhost.cc stop).
constexpr ArgMatch kVhostOpen[] = {TANDEM_REQUEST(VHOST_SET_OWNER), TANDEM_REQUEST(VHOST_GET_FEATURES)};
constexpr ArgMatch kVhostStart[] = {
    TANDEM_REQUEST(VHOST_SET_FEATURES),   request(kVhostSetMemTable, "VHOST_SET_MEM_TABLE"),
    TANDEM_REQUEST(VHOST_SET_VRING_NUM),  TANDEM_REQUEST(VHOST_SET_VRING_ADDR),
    TANDEM_REQUEST(VHOST_SET_VRING_BASE), TANDEM_REQUEST(VHOST_SET_VRING_KICK),
    TANDEM_REQUEST(VHOST_SET_VRING_CALL),
};
constexpr ArgMatch kVhostStop[] = {TANDEM_REQUEST(VHOST_NET_SET_BACKEND), TANDEM_REQUEST(VHOST_GET_VRING_BASE)};

// asio makes a descriptor non-blocking with FIONBIO before its first asynchronous operation (the
// API's connections, vmm/api/server.cc; the exit eventfd, vmm/vm.cc).
constexpr ArgMatch kAsio[] = {TANDEM_REQUEST(FIONBIO)};

// The terminal on stdin restored at the end (vmm/vm.cc ~RawTerminal: tcsetattr(TCSANOW) is TCSETS;
// it was read and set raw with TCGETS/TCSETS before any list was in place).
constexpr ArgMatch kTerminal[] = {TANDEM_REQUEST(TCSETS)};

#undef TANDEM_REQUEST

std::vector<ArgMatch> join(std::initializer_list<std::span<const ArgMatch>> parts) {
  std::vector<ArgMatch> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

std::vector<ArgMatch> ioctl_requests(ThreadKind kind) {
  switch (kind) {
    // The main thread after start-up (the API, hotplug, teardown) and the memslot thread.
    case ThreadKind::kVmm: return join({kMemslots, kRouting, kTapOpen, kVhostOpen, kVhostStop, kAsio, kTerminal});
    // The guest's register accesses start and reset devices here; the workers it starts inherit
    // this list, so it holds theirs too.
    case ThreadKind::kVcpu: return join({kVcpuRun, kRouting, kTapStart, kVhostStart, kVhostStop});
    case ThreadKind::kDevice: return join({kRouting});
    case ThreadKind::kConsole: return {};
  }
  return {};
}

}  // namespace tandem::seccomp
