// vmm/vm_config.h: everything `tandem vm` needs to build one VM, and its validation.
//
// Parsing (cli.cc) fills a VmConfig; validate() reads and checks the kernel and initrd and every
// size against each other before anything is created, so bad input ends with one clear message and
// exit status 2 before any vCPU runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "devices/net/tap.h"
#include "devices/vhost_pci/link_protocol.h"
#include "devices/vhost_pci/peer_bar.h"
#include "vmm/seccomp/seccomp.h"

namespace tandem {

struct SerialSpec {
  enum class Kind { kStdio, kFile, kNone } kind = Kind::kStdio;
  std::string path;  // for kFile
};

// One --net device: a tap (optionally with vhost-net) or a vhost-user backend socket.
struct NetSpec {
  enum class Kind { kTap, kVhostUser } kind = Kind::kTap;
  std::string tap;     // interface name, for kTap
  bool vhost = false;  // kTap: the kernel's vhost-net moves the packets
  // kTap without vhost: tandem's datapath batching window in microseconds, 0 = off.
  uint32_t coalesce_us = net::kDefaultTapCoalesceUs;
  std::string socket;  // for kVhostUser
  std::string mac;     // empty: derived from the backend, stable across restarts
};

// One --vhost-pci device. Asymmetric (2.0, the default): tandem listens on `socket` for a peer's
// vhost-user front-end and maps the peer's memory into a BAR. Symmetric (2.1,
// docs/vhost-pci-net.md §9): both VMs have this device; the two tandems meet on `socket` (one
// listens, the other connects) and share only two output sections of `section_size` bytes.
struct VhostPciSpec {
  enum class Mode { kAsymmetric, kSymmetric } mode = Mode::kAsymmetric;
  std::string socket;
  uint64_t bar_size = vhost_pci::kDefaultPeerBarSize;  // asymmetric: the peer-memory BAR, the largest peer it can take
  // Asymmetric: the device is on the PCI bus only while a peer is connected: hot-added when a
  // peer's front-end connects, hot-removed when it goes (the 2017 design's "device created on
  // connect").
  bool hotplug_on_connect = false;
  // Asymmetric: take a peer's memory files that are not sealed against shrinking (hugetlbfs or
  // tmpfs files, which cannot be sealed). Such a peer can truncate its memory under this VM: only
  // for a trusted peer (docs/security.md).
  bool allow_unsealed = false;
  // Who may connect to a listening device (the same uid as tandem's by default), and how long a
  // peer that connects may say nothing (2.0: its first message; 2.1: its HELLO).
  std::optional<uint32_t> peer_uid, peer_gid;
  uint32_t peer_timeout_s = 10;
  bool listen = true;                   // symmetric: listen on `socket` (off: connect to it)
  uint64_t section_size = vhost_pci::link::kDefaultSectionSize;  // symmetric: bytes per output section, a power of two 1M-64M
};

struct VmConfig {
  std::string kernel;
  std::string initrd;
  std::string cmdline = "console=ttyS0";
  uint64_t memory = 512ULL << 20;
  uint32_t cpus = 1;
  // x86_64: false hides XSAVE, and every feature whose state it manages, from the guest's CPUID.
  bool xsave = true;
  SerialSpec serial;
  std::string api_socket;
  std::vector<NetSpec> nets;
  std::vector<VhostPciSpec> vhost_pcis;
  bool debug = false;
  // SIGTERM presses the guest's ACPI power button and waits this long for it to power off before
  // stopping the VM; 0: SIGTERM stops it at once.
  uint32_t shutdown_timeout_s = 10;
  // Per-thread system call allow-lists (vmm/seccomp): on (a call outside the list stops tandem),
  // log (the kernel logs it) or off.
  seccomp::Mode seccomp = seccomp::Mode::kOn;
  // An inherited fd on which "READY\n" is written when the guest's init starts (the boot-timer
  // mark), then closed; -1: none.
  int ready_fd = -1;
};

// "512M", "2G", "65536K", "1073741824": binary units (K=1024). Errors name the bad text.
Result<uint64_t> parse_size(const std::string& text);
// "stdio", "file:PATH", "none".
Result<SerialSpec> parse_serial(const std::string& text);

// "tap=NAME[,vhost=on|off][,coalesce=US][,mac=MAC]" or "vhost-user=SOCKET[,mac=MAC]". Errors
// name the bad part.
Result<NetSpec> parse_net(const std::string& text);
// A tap datapath's batching window: a whole number of microseconds up to net::kMaxTapCoalesceUs.
Result<uint32_t> parse_coalesce_us(const std::string& text);
// The peer-memory BAR size rule: a power of two from 4G to 32G.
Status check_peer_bar_size(uint64_t size);
// The symmetric output-section size rule: a power of two from 1M to 64M.
Status check_section_size(uint64_t size);
// "socket=PATH[,bar=SIZE][,hotplug_on_connect=on][,allow_unsealed=on]" or (either mode)
// ",peer_uid=N,peer_gid=N,peer_timeout=SECONDS", or
// "socket=PATH,mode=symmetric[,listen=on|off][,section=SIZE]". Errors name the bad part.
Result<VhostPciSpec> parse_vhost_pci(const std::string& text);
// The MAC a --net device gets when none is given: derived from what identifies the device on this
// host (the tap name or the socket path), so two VMs never clash and a restarted VM keeps its MAC.
std::string default_mac_seed(const NetSpec& spec);
// The --net value that parses back to `spec` ("tap=tp0,vhost=on,mac=...").
std::string net_spec_text(const NetSpec& spec);
// The --vhost-pci value that parses back to `spec`.
std::string vhost_pci_spec_text(const VhostPciSpec& spec);

// The kernel and initrd as read from disk, checked.
struct BootFiles {
  std::vector<uint8_t> kernel;
  std::vector<uint8_t> initrd;
};

// Reads the files and checks everything that can be checked without KVM: the kernel is a 64-bit
// bzImage with a recent boot protocol, the command line fits, memory size is sane, the initrd fits.
Result<BootFiles> validate(const VmConfig& cfg);

// Reads a whole file (bounded by max_bytes).
Result<std::vector<uint8_t>> read_file(const std::string& path, const std::string& what, uint64_t max_bytes);

}  // namespace tandem
