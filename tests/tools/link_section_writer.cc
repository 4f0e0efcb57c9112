// tests/tools/link_section_writer.cc: a hostile symmetric-link peer for
// tests/e2e/vhost-pci-symmetric-hostile.sh (issue 26 §3). It dials a listening tandem's
// `--vhost-pci socket=PATH,mode=symmetric` as the other tandem would, sends a correct HELLO (its
// own sealed section and two eventfds), takes tandem's HELLO, and then tries every way to write
// tandem's output section through the descriptor it received (tests/tools/section_write_probe.h).
//
//   link_section_writer --socket PATH [--section-size BYTES]
//
// Prints one "SECTION-WRITER <how>: refused (<error>)" or "...: SUCCEEDED" line per attempt, then
// says BYE. Exits 0 when every attempt was refused, 1 when one succeeded, 2 on bad usage or when
// the link did not come up.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "devices/vhost_pci/link_protocol.h"
#include "devices/vhost_user/connection.h"
#include "tests/tools/section_write_probe.h"

using namespace tandem;
using namespace std::chrono_literals;

namespace {

int fail(const std::string& why) {
  std::printf("SECTION-WRITER error: %s\n", why.c_str());
  return 2;
}

Result<vhost_pci::link::Message> receive(vhost_user::Connection& c) {
  std::array<uint8_t, vhost_pci::link::kHeaderSize> header{};
  std::vector<UniqueFd> fds;
  TANDEM_TRY(c.read_exact(header, fds, 10000ms));
  auto size = vhost_pci::link::decode_header(header);
  if (!size) return size.error();
  std::vector<uint8_t> wire(header.begin(), header.end());
  wire.resize(header.size() + *size);
  TANDEM_TRY(c.read_exact(std::span<uint8_t>(wire).subspan(header.size()), fds, 10000ms));
  return vhost_pci::link::decode(wire, std::move(fds));
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket;
  uint64_t section = vhost_pci::link::kDefaultSectionSize;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--socket" && i + 1 < argc) socket = argv[++i];
    else if (a == "--section-size" && i + 1 < argc) section = std::strtoull(argv[++i], nullptr, 0);
    else return fail("usage: link_section_writer --socket PATH [--section-size BYTES]");
  }
  if (socket.empty() || !vhost_pci::link::check_section_size(section)) return fail("a socket and a valid section size are needed");

  UniqueFd mem(::memfd_create("hostile-peer-section", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  UniqueFd data(::eventfd(0, EFD_CLOEXEC)), space(::eventfd(0, EFD_CLOEXEC));
  if (!mem || !data || !space || ::ftruncate(mem.get(), static_cast<off_t>(section)) != 0 ||
      ::fcntl(mem.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) {
    return fail("cannot make its own section");
  }
  auto conn = vhost_user::Connection::connect(socket);
  if (!conn) return fail(conn.message());
  vhost_pci::link::Hello ours;
  ours.section_size = static_cast<uint32_t>(section);
  auto hello = vhost_pci::link::encode_hello(ours);
  const int fds[] = {mem.get(), data.get(), space.get()};
  if (!hello) return fail(hello.message());
  if (auto s = conn->send(*hello, fds, 5000ms); !s) return fail("sending HELLO: " + s.message());
  auto theirs = receive(*conn);
  if (!theirs) return fail("tandem's HELLO: " + theirs.message());
  if (theirs->type != vhost_pci::link::Type::kHello || theirs->fds.size() != 3) return fail("tandem did not say HELLO");
  std::printf("SECTION-WRITER linked: tandem's section is %u bytes, its descriptor is %s\n", theirs->hello.section_size,
              (::fcntl(theirs->fds[0].get(), F_GETFL) & O_ACCMODE) == O_RDONLY ? "read-only" : "read-write");

  int succeeded = 0;
  for (const auto& a : testing::probe_section_writes(theirs->fds[0].get(), theirs->hello.section_size)) {
    if (a.refused) std::printf("SECTION-WRITER %s: refused (%s)\n", a.how.c_str(), a.error.c_str());
    else std::printf("SECTION-WRITER %s: SUCCEEDED\n", a.how.c_str());
    succeeded += a.refused ? 0 : 1;
  }
  (void)conn->send(vhost_pci::link::encode_bye(), {}, 1000ms);
  std::printf("SECTION-WRITER done: %d of tandem's section's write paths open\n", succeeded);
  return succeeded ? 1 : 0;
}
