// Unit tests for devices/net/tap: real taps, in a network namespace of their own when the test may
// create one (it can inside Bazel's sandbox: its user namespace owns the new netns), else in the
// current one (then it needs CAP_NET_ADMIN). Without /dev/net/tun or the capability the tests fail
// and say so. Frames go both ways through the tap; the interface's own counters confirm what the
// kernel saw.
#include <doctest/doctest.h>

#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <sstream>
#include <fstream>
#include <vector>

#include "devices/net/tap.h"

using namespace tandem;
using namespace tandem::net;

namespace {

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

// Taps made here vanish with the namespace when the test exits, whatever happens to it.
const bool kPrivateNetns = ::unshare(CLONE_NEWNET) == 0;

// A name no other test run on this host uses at the same time: "tdt<pid><tag>".
std::string unique_name(char tag) { return "tdt" + std::to_string(::getpid()) + tag; }

Tap must_open(const std::string& name) {
  auto tap = Tap::open(name);
  INFO("Tap::open failed: ", (tap.ok() ? std::string() : tap.message()),
       " -- these tests need /dev/net/tun and CAP_NET_ADMIN (private netns: ", kPrivateNetns, ")");
  REQUIRE(tap.ok());
  return std::move(tap).value();
}

struct Counters {
  uint64_t rx_bytes = 0, rx_packets = 0, tx_bytes = 0, tx_packets = 0;
};

// The interface's counters from /proc/self/net/dev (which, unlike /sys/class/net, follows this
// process's network namespace).
Counters counters(const std::string& ifname) {
  std::ifstream f("/proc/self/net/dev");
  std::string line;
  while (std::getline(f, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream name(line.substr(0, colon));
    std::string n;
    name >> n;
    if (n != ifname) continue;
    std::istringstream in(line.substr(colon + 1));
    Counters c;
    uint64_t skip = 0;
    in >> c.rx_bytes >> c.rx_packets >> skip >> skip >> skip >> skip >> skip >> skip >> c.tx_bytes >> c.tx_packets;
    REQUIRE_MESSAGE(in, "cannot parse /proc/self/net/dev line: ", line);
    return c;
  }
  FAIL("no ", ifname, " in /proc/self/net/dev");
  return {};
}

bool exists(const std::string& ifname) { return ::if_nametoindex(ifname.c_str()) != 0; }

// A minimal Ethernet frame: broadcast, a locally administered source, the local-experimental
// ethertype 0x88b5, then `marker` and zero padding to 60 bytes.
std::vector<uint8_t> frame(uint8_t marker) {
  std::vector<uint8_t> f(60, 0);
  std::memset(f.data(), 0xff, 6);
  const uint8_t src[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  std::memcpy(f.data() + 6, src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  std::memset(f.data() + 14, marker, 16);
  return f;
}

}  // namespace

TEST_CASE("interface names are checked before the kernel sees them") {
  CHECK(validate_ifname("tap0").ok());
  CHECK(validate_ifname(std::string(15, 'a')).ok());
  auto too_long = validate_ifname(std::string(16, 'a'));
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.message() == "tap name 'aaaaaaaaaaaaaaaa' is 16 bytes; interface names have at most 15");
  CHECK(validate_ifname("").message() == "tap name is empty");
  CHECK(validate_ifname("a/b").message() == "tap name 'a/b' is not a valid interface name (no '/', ':' or whitespace)");
  CHECK_FALSE(validate_ifname("a:1").ok());
  CHECK_FALSE(validate_ifname("a b").ok());
  CHECK_FALSE(validate_ifname("..").ok());
  CHECK_FALSE(validate_ifname(std::string("a\0b", 3)).ok());

  // Tap::open refuses them too, without touching /dev/net/tun.
  CHECK(Tap::open("").message() == "tap name is empty");
  CHECK_FALSE(Tap::open(std::string(16, 'x')).ok());
  CHECK_FALSE(Tap::open("x/y").ok());
}

TEST_CASE("guest offload features map to tap offload flags") {
  const uint64_t csum = bit(kVirtioNetFGuestCsum), tso4 = bit(kVirtioNetFGuestTso4),
                 tso6 = bit(kVirtioNetFGuestTso6), ecn = bit(kVirtioNetFGuestEcn),
                 ufo = bit(kVirtioNetFGuestUfo);
  CHECK(tap_offloads_for_guest_features(0) == 0);
  CHECK(tap_offloads_for_guest_features(csum) == TUN_F_CSUM);
  CHECK(tap_offloads_for_guest_features(csum | tso4 | tso6 | ecn | ufo) ==
        (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO));
  CHECK(tap_offloads_for_guest_features(csum | tso6) == (TUN_F_CSUM | TUN_F_TSO6));
  // Nothing without checksum offload; ECN only with TSO.
  CHECK(tap_offloads_for_guest_features(tso4 | tso6 | ecn | ufo) == 0);
  CHECK(tap_offloads_for_guest_features(csum | ecn) == TUN_F_CSUM);
  // Host-side features do not count.
  CHECK(tap_offloads_for_guest_features(bit(0) | bit(11)  /* CSUM, HOST_TSO4 */) == 0);
}

TEST_CASE("the vnet header is 12 bytes with VERSION_1 or MRG_RXBUF, else 10") {
  CHECK(vnet_hdr_size_for(0) == 10);
  CHECK(vnet_hdr_size_for(bit(kVirtioFVersion1)) == 12);
  CHECK(vnet_hdr_size_for(bit(kVirtioNetFMrgRxbuf)) == 12);
}

TEST_CASE("a tap is created for the fd's lifetime, once") {
  const std::string name = unique_name('a');
  REQUIRE_FALSE(exists(name));
  {
    Tap tap = must_open(name);
    CHECK(tap.name() == name);
    CHECK(tap.fd() >= 0);
    CHECK(exists(name));
    CHECK(tap.check_vnet_hdr_support().ok());

    // A single-queue tap takes one attachment.
    auto second = Tap::open(name);
    REQUIRE_FALSE(second.ok());
    CHECK(second.message() == "tap '" + name + "': TUNSETIFF: Device or resource busy "
                               "(is another process attached to it?)");
  }
  CHECK_FALSE(exists(name));
}

TEST_CASE("an existing persistent tap is attached, not replaced") {
  const std::string name = unique_name('p');
  // What `ip tuntap add NAME mode tap` does: create, mark persistent, let go.
  {
    const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    REQUIRE_MESSAGE(fd >= 0, "open /dev/net/tun: ", std::strerror(errno));
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name.c_str(), name.size());
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    const bool made = ::ioctl(fd, TUNSETIFF, &ifr) == 0 && ::ioctl(fd, TUNSETPERSIST, 1) == 0;
    const int err = errno;
    ::close(fd);  // test-local raw fd; the library itself only uses UniqueFd
    REQUIRE_MESSAGE(made, "making persistent tap ", name, ": ", std::strerror(err));
  }
  const unsigned index = ::if_nametoindex(name.c_str());
  REQUIRE(index != 0);
  {
    Tap tap = must_open(name);
    CHECK(::if_nametoindex(name.c_str()) == index);
    CHECK(*tap.vnet_hdr_size() == 10);  // IFF_VNET_HDR was taken on although the tap was made without
    REQUIRE(::ioctl(tap.fd(), TUNSETPERSIST, 0) == 0);  // so it goes with our fd
  }
  CHECK_FALSE(exists(name));
}

TEST_CASE("vnet header size and offloads") {
  Tap tap = must_open(unique_name('b'));
  auto size = tap.vnet_hdr_size();
  REQUIRE(size.ok());
  CHECK(*size == 10);
  REQUIRE(tap.set_vnet_hdr_size(12).ok());
  CHECK(*tap.vnet_hdr_size() == 12);
  auto small = tap.set_vnet_hdr_size(9);
  REQUIRE_FALSE(small.ok());
  CHECK(small.message() == "tap '" + tap.name() + "': TUNSETVNETHDRSZ 9: Invalid argument");
  CHECK(*tap.vnet_hdr_size() == 12);

  CHECK(tap.set_offloads(0).ok());
  CHECK(tap.set_offloads(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN).ok());
  CHECK(tap.set_offloads(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO).ok());
  const uint64_t all = bit(kVirtioNetFGuestCsum) | bit(kVirtioNetFGuestTso4) |
                       bit(kVirtioNetFGuestTso6) | bit(kVirtioNetFGuestEcn) | bit(kVirtioNetFGuestUfo);
  CHECK(tap.set_offloads(tap_offloads_for_guest_features(all)).ok());
  // The tap refuses TSO without checksum offload: why the mapping drops it.
  auto tso_only = tap.set_offloads(TUN_F_TSO4);
  REQUIRE_FALSE(tso_only.ok());
  CHECK(tso_only.message() == "tap '" + tap.name() + "': TUNSETOFFLOAD 0x2: Invalid argument");
}

TEST_CASE("reading an empty tap reports would-block, not an error") {
  Tap tap = must_open(unique_name('c'));
  std::array<uint8_t, 2048> buf{};
  iovec iov{buf.data(), buf.size()};
  auto r = tap.readv({&iov, 1});
  REQUIRE_MESSAGE(r.ok(), r.message());
  CHECK_FALSE(r->has_value());
}

TEST_CASE("a frame written with its vnet header arrives on the interface") {
  Tap tap = must_open(unique_name('d'));
  REQUIRE(tap.set_vnet_hdr_size(12).ok());
  auto up = tap.set_up();
  REQUIRE_MESSAGE(up.ok(), up.message());
  CHECK(tap.set_up().ok());  // already up: fine

  // Written into the tap fd = received by the host's interface: the rx counters move.
  const Counters before = counters(tap.name());
  VirtioNetHdr hdr{};  // no checksum, no GSO
  std::vector<uint8_t> f = frame(0x5a);
  std::array<iovec, 2> iov{iovec{&hdr, sizeof hdr}, iovec{f.data(), f.size()}};
  auto w = tap.writev(iov);
  REQUIRE_MESSAGE(w.ok(), w.message());
  REQUIRE(w->has_value());
  CHECK(**w == 12 + f.size());
  const Counters after = counters(tap.name());
  CHECK(after.rx_packets == before.rx_packets + 1);
  // The header was taken as a vnet header, not as frame bytes.
  CHECK(after.rx_bytes == before.rx_bytes + f.size());
}

TEST_CASE("a frame the host sends on the interface is read with a vnet header in front") {
  Tap tap = must_open(unique_name('e'));
  REQUIRE(tap.set_vnet_hdr_size(12).ok());
  REQUIRE(tap.set_up().ok());

  // Sent by the host on the interface = transmitted by it = readable from the tap fd.
  const uint64_t tx_before = counters(tap.name()).tx_packets;
  const int sock = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  REQUIRE_MESSAGE(sock >= 0, "socket(AF_PACKET): ", std::strerror(errno));
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = static_cast<int>(::if_nametoindex(tap.name().c_str()));
  to.sll_halen = 6;
  std::memset(to.sll_addr, 0xff, 6);
  std::vector<uint8_t> f = frame(0xa5);
  const ssize_t sent = ::sendto(sock, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  const int send_errno = errno;
  ::close(sock);  // a test-local raw socket; the library itself only uses UniqueFd
  REQUIRE_MESSAGE(sent == static_cast<ssize_t>(f.size()), "sendto: ", std::strerror(send_errno));

  // The kernel may send its own frames (IPv6 neighbour discovery) on a fresh link: skip them.
  bool found = false;
  for (int i = 0; i < 32 && !found; ++i) {
    pollfd p{tap.fd(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 2000) == 1);
    VirtioNetHdr hdr{};
    std::array<uint8_t, 2048> buf{};
    std::array<iovec, 2> iov{iovec{&hdr, sizeof hdr}, iovec{buf.data(), buf.size()}};
    auto r = tap.readv(iov);
    REQUIRE_MESSAGE(r.ok(), r.message());
    if (!r->has_value()) continue;
    const size_t n = **r;
    REQUIRE(n >= 12);
    if (n - 12 == f.size() && std::memcmp(buf.data(), f.data(), f.size()) == 0) {
      found = true;
      CHECK(hdr.gso_type == 0  /* VIRTIO_NET_HDR_GSO_NONE */);
      CHECK(hdr.num_buffers == 0);
    }
  }
  CHECK(found);
  CHECK(counters(tap.name()).tx_packets > tx_before);
}
