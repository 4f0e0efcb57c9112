// Unit tests for devices/vhost_pci/link_protocol: exact wire bytes, round trips, and every bad
// message or fd a peer tandem could send (each an Error naming the message and the field).
#include "devices/vhost_pci/link_protocol.h"

#include <doctest/doctest.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

using namespace tandem;
using namespace tandem::vhost_pci::link;

namespace {

UniqueFd memfd(uint64_t size) {
  UniqueFd fd(::memfd_create("link-test", MFD_CLOEXEC));
  REQUIRE(fd.valid());
  REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
  return fd;
}

UniqueFd eventfd() {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC));
  REQUIRE(fd.valid());
  return fd;
}

std::vector<UniqueFd> hello_fds(uint64_t section) {
  std::vector<UniqueFd> fds;
  fds.push_back(memfd(section));
  fds.push_back(eventfd());
  fds.push_back(eventfd());
  return fds;
}

std::vector<uint8_t> hello_wire(uint32_t section = kDefaultSectionSize) {
  auto w = encode_hello(Hello{.section_size = section});
  REQUIRE(w.ok());
  return *w;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("HELLO and BYE: exact bytes and round trips") {
  auto w = hello_wire();
  REQUIRE(w.size() == kHeaderSize + kHelloPayloadSize);
  const std::vector<uint8_t> want = {1, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // header
                                     1, 0, 2, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  CHECK(w == want);
  auto m = decode(w, hello_fds(kDefaultSectionSize));
  REQUIRE(m.ok());
  CHECK(m->type == Type::kHello);
  CHECK(m->hello.version == kVersion);
  CHECK(m->hello.section_size == kDefaultSectionSize);
  CHECK(m->fds.size() == 3);
  CHECK(check_hello_fds(*m).ok());

  auto bye = decode(encode_bye(), {});
  REQUIRE(bye.ok());
  CHECK(bye->type == Type::kBye);
}

TEST_CASE("bad headers and payloads are refused, naming the message and field") {
  auto w = hello_wire();
  CHECK(contains(decode(std::span(w).first(15), {}).message(), "header of 15 bytes"));

  auto unknown = w;
  unknown[0] = 7;
  CHECK(contains(decode(unknown, hello_fds(kDefaultSectionSize)).message(), "unknown message type 7"));

  auto size = w;
  size[4] = 15;
  CHECK(contains(decode(size, hello_fds(kDefaultSectionSize)).message(), "HELLO: payload of 15 bytes (want 16)"));

  auto reserved = w;
  reserved[12] = 1;
  CHECK(contains(decode(reserved, hello_fds(kDefaultSectionSize)).message(), "reserved header bits"));

  auto truncated = w;
  truncated.pop_back();
  CHECK(contains(decode(truncated, hello_fds(kDefaultSectionSize)).message(), "31 bytes for a message of 32"));
  auto extra = w;
  extra.push_back(0);
  CHECK_FALSE(decode(extra, hello_fds(kDefaultSectionSize)).ok());

  auto version = w;
  version[16] = 0;  // 0x00020000: the 2.0 layout
  CHECK(contains(decode(version, hello_fds(kDefaultSectionSize)).message(), "version 0x20000"));

  auto features = w;
  features[31] = 0x80;
  CHECK(contains(decode(features, hello_fds(kDefaultSectionSize)).message(), "unknown feature bits"));

  auto bye_with_payload = encode_bye();
  bye_with_payload[4] = 16;
  CHECK(contains(decode(bye_with_payload, {}).message(), "BYE: payload of 16 bytes (want 0)"));
}

TEST_CASE("section sizes: powers of two from 1 MiB to 64 MiB") {
  CHECK(check_section_size(1 << 20).ok());
  CHECK(check_section_size(64 << 20).ok());
  CHECK_FALSE(check_section_size(0).ok());
  CHECK_FALSE(check_section_size(512 << 10).ok());
  CHECK_FALSE(check_section_size(128ull << 20).ok());
  CHECK_FALSE(check_section_size((4 << 20) + 4096).ok());
  CHECK_FALSE(encode_hello(Hello{.section_size = 3 << 20}).ok());
  auto w = hello_wire();
  w[16 + 6] = 0x30;  // 3 MiB
  CHECK(contains(decode(w, hello_fds(4 << 20)).message(), "section size 3145728 is not a power of two"));
}

TEST_CASE("fd counts: HELLO takes exactly three, BYE none") {
  auto w = hello_wire();
  auto two = hello_fds(kDefaultSectionSize);
  two.pop_back();
  CHECK(contains(decode(w, std::move(two)).message(), "HELLO: 2 fds (want 3)"));
  auto four = hello_fds(kDefaultSectionSize);
  four.push_back(eventfd());
  CHECK(contains(decode(w, std::move(four)).message(), "HELLO: 4 fds (want 3)"));
  std::vector<UniqueFd> one;
  one.push_back(eventfd());
  CHECK(contains(decode(encode_bye(), std::move(one)).message(), "BYE: 1 fds (want 0)"));
}

TEST_CASE("HELLO's fds must be what they claim") {
  auto w = hello_wire();
  SUBCASE("a pipe as the section") {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    UniqueFd keep(p[1]);
    auto fds = hello_fds(kDefaultSectionSize);
    fds[0] = UniqueFd(p[0]);
    auto m = decode(w, std::move(fds));
    REQUIRE(m.ok());
    CHECK(contains(check_hello_fds(*m).message(), "section fd is not a memory file"));
  }
  SUBCASE("a section file smaller than announced") {
    auto fds = hello_fds(kDefaultSectionSize);
    fds[0] = memfd(kDefaultSectionSize - 4096);
    auto m = decode(w, std::move(fds));
    REQUIRE(m.ok());
    CHECK(contains(check_hello_fds(*m).message(), "fewer than its 4194304"));
  }
  SUBCASE("a memfd where an eventfd belongs") {
    auto fds = hello_fds(kDefaultSectionSize);
    fds[2] = memfd(4096);
    auto m = decode(w, std::move(fds));
    REQUIRE(m.ok());
    CHECK(contains(check_hello_fds(*m).message(), "space doorbell fd is not an eventfd"));
  }
}

TEST_CASE("both sides must use the same section size") {
  CHECK(check_compatible(Hello{.section_size = 4 << 20}, Hello{.section_size = 4 << 20}).ok());
  CHECK(contains(check_compatible(Hello{.section_size = 4 << 20}, Hello{.section_size = 8 << 20}).message(),
                 "set the same section="));
}
