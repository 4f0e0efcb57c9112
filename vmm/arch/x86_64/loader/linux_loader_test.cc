// Unit tests for vmm/arch/x86_64/loader: bzImage validation, initrd placement, boot_params and e820.
#include <doctest/doctest.h>

#include <dirent.h>

#include <fstream>
#include <iterator>

#include "base/le.h"
#include "tests/unit/arm64_kernel.h"
#include "tests/unit/skip.h"
#include "vmm/arch/x86_64/layout.h"
#include "vmm/arch/x86_64/loader/linux_loader.h"

using namespace tandem;
using namespace tandem::loader;
using namespace tandem::x86::layout;

namespace {
// A minimal bzImage: 4 setup sectors + boot sector, then `kernel_bytes` of "kernel".
std::vector<uint8_t> fake_bzimage(size_t kernel_bytes = 0x3000, uint16_t version = 0x020f, uint16_t xloadflags = 0x1) {
  std::vector<uint8_t> f(5 * 512 + kernel_bytes, 0);
  f[0x1f1] = 4;
  store_le<uint16_t>(f, 0x1fe, 0xaa55);
  f[0x200] = 0xeb;
  f[0x201] = 0x6a;  // header ends at 0x26c
  store_le<uint32_t>(f, 0x202, 0x53726448);
  store_le<uint16_t>(f, 0x206, version);
  f[0x211] = 0x01;  // LOADED_HIGH
  store_le<uint32_t>(f, 0x22c, 0x7fffffff);
  store_le<uint32_t>(f, 0x230, 0x200000);
  f[0x234] = 1;
  store_le<uint16_t>(f, 0x236, xloadflags);
  store_le<uint32_t>(f, 0x238, 2048);
  store_le<uint64_t>(f, 0x258, 0x1000000);
  store_le<uint32_t>(f, 0x260, 0x800000);  // init_size 8 MiB
  for (size_t i = 5 * 512; i < f.size(); ++i) f[i] = static_cast<uint8_t>(i);
  return f;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
// The path of a stock Debian x86 kernel in /boot, or "" when there is none.
std::string stock_x86_kernel() {
  DIR* d = opendir("/boot");
  if (d == nullptr) return "";
  std::string found;
  while (auto* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind("vmlinuz-", 0) == 0 && n.find("amd64") != std::string::npos) found = "/boot/" + n;
  }
  closedir(d);
  return found;
}

}  // namespace

TEST_CASE("a valid bzImage parses") {
  auto f = fake_bzimage();
  auto img = parse_bzimage(f);
  REQUIRE(img.ok());
  CHECK(img->header.version == 0x020f);
  CHECK(img->setup_size == 5 * 512);
  CHECK(img->kernel().size() == 0x3000);
  CHECK(img->header.cmdline_size == 2048);
  CHECK(img->header.init_size == 0x800000);
}

TEST_CASE("bad kernels are refused with the reason") {
  std::vector<uint8_t> tiny(100, 0);
  CHECK(parse_bzimage(tiny).message().find("too small") != std::string::npos);
  auto f = fake_bzimage();
  f[0x1fe] = 0;
  CHECK(parse_bzimage(f).message().find("0xAA55") != std::string::npos);
  f = fake_bzimage();
  f[0x202] = 'X';
  CHECK(parse_bzimage(f).message().find("HdrS") != std::string::npos);
  f = fake_bzimage(0x3000, 0x020a);
  CHECK(parse_bzimage(f).message() == "kernel boot protocol 2.10 is too old (tandem needs 2.12 or later)");
  f = fake_bzimage(0x3000, 0x020f, 0);
  CHECK(parse_bzimage(f).message().find("not 64-bit capable") != std::string::npos);
  f = fake_bzimage();
  f[0x1f1] = 200;  // setup claims more sectors than the file has
  CHECK(parse_bzimage(f).message().find("truncated") != std::string::npos);
  f = fake_bzimage();
  f[0x211] = 0;
  CHECK(parse_bzimage(f).message().find("LOADED_HIGH") != std::string::npos);
}

TEST_CASE("the stock Debian kernel parses (64-bit, protocol >= 2.12)") {
  std::string found = stock_x86_kernel();
  REQUIRE_MESSAGE(!found.empty(), "no /boot/vmlinuz-*-amd64: tools/setup installs linux-image-amd64");
  auto file = read_file(found);
  auto img = parse_bzimage(file);
  REQUIRE_MESSAGE(img.ok(), (img.ok() ? "" : img.message()));
  CHECK(img->header.version >= 0x020c);
  CHECK(img->header.relocatable_kernel == 1);
  CHECK(img->header.cmdline_size >= 2047);
}

TEST_CASE("initrd goes as high as allowed, and too-large ones are refused") {
  SetupHeader h;
  h.initrd_addr_max = 0x7fffffff;
  std::vector<RamRegion> ram{{0, 512 * MiB}};
  auto at = place_initrd(h, ram, 0x900000, 10 * MiB + 5);
  REQUIRE(at.ok());
  CHECK(*at % 4096 == 0);
  CHECK(*at + 10 * MiB + 5 <= 512 * MiB);
  CHECK(*at >= 512 * MiB - 10 * MiB - 4096);
  // Limited by initrd_addr_max, not RAM.
  h.initrd_addr_max = 64 * MiB - 1;
  at = place_initrd(h, ram, 0x900000, MiB);
  REQUIRE(at.ok());
  CHECK(*at == 63 * MiB);
  // Too large for the space between the kernel and the limit.
  auto big = place_initrd(h, ram, 0x900000, 60 * MiB);
  REQUIRE_FALSE(big.ok());
  CHECK(big.message().find("does not fit in guest memory") != std::string::npos);
  // With RAM above 4 GiB the initrd still stays in low RAM.
  h.initrd_addr_max = 0xffffffff;
  std::vector<RamRegion> big_ram{{0, 2 * GiB}, {4 * GiB, GiB}};
  at = place_initrd(h, big_ram, 0x900000, 100 * MiB);
  REQUIRE(at.ok());
  CHECK(*at + 100 * MiB <= 2 * GiB);
}

TEST_CASE("load_linux fills boot_params, cmdline, kernel and initrd") {
  std::vector<RamRegion> ram{{0, 128 * MiB}};
  auto mem = GuestMemory::create(ram);
  REQUIRE(mem.ok());
  auto f = fake_bzimage();
  std::vector<uint8_t> initrd(12345, 0x5a);
  LoadRequest req{f, initrd, "console=ttyS0 quiet", 0xe0000};
  auto bl = load_linux(*mem, ram, req);
  REQUIRE_MESSAGE(bl.ok(), (bl.ok() ? "" : bl.message()));
  CHECK(bl->entry == 0x100200);
  CHECK(mem->read_le<uint8_t>(0x100000 + 7).value() == static_cast<uint8_t>(5 * 512 + 7));
  CHECK(mem->read_le<uint8_t>(bl->initrd_addr).value() == 0x5a);
  uint64_t bp = bl->boot_params;
  CHECK(mem->read_le<uint32_t>(bp + 0x202).value() == 0x53726448u);
  CHECK(mem->read_le<uint8_t>(bp + 0x210).value() == 0xff);
  CHECK(mem->read_le<uint32_t>(bp + 0x228).value() == kCmdlineAddr);
  CHECK(mem->read_le<uint32_t>(bp + 0x218).value() == bl->initrd_addr);
  CHECK(mem->read_le<uint32_t>(bp + 0x21c).value() == 12345u);
  CHECK(mem->read_le<uint64_t>(bp + 0x70).value() == 0xe0000u);
  std::vector<uint8_t> cmd(20);
  REQUIRE(mem->read(kCmdlineAddr, cmd).ok());
  CHECK(std::string(cmd.begin(), cmd.end() - 1) == "console=ttyS0 quiet");
  CHECK(cmd.back() == 0);
  // e820: 4 entries for a guest below 3 GiB, last one RAM from 1 MiB.
  CHECK(mem->read_le<uint8_t>(bp + 0x1e8).value() == 4);
  CHECK(mem->read_le<uint64_t>(bp + 0x2d0 + 3 * 20).value() == 0x100000u);
  CHECK(mem->read_le<uint64_t>(bp + 0x2d0 + 3 * 20 + 8).value() == 127 * MiB);
  CHECK(mem->read_le<uint32_t>(bp + 0x2d0 + 3 * 20 + 16).value() == kE820Ram);
}

TEST_CASE("load_linux refuses a too-long command line and a too-large initrd") {
  std::vector<RamRegion> ram{{0, 64 * MiB}};
  auto mem = GuestMemory::create(ram);
  REQUIRE(mem.ok());
  auto f = fake_bzimage();
  LoadRequest req{f, {}, std::string(2049, 'x'), 0};
  auto r = load_linux(*mem, ram, req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() == "kernel command line is 2049 bytes, the kernel accepts at most 2048");
}

TEST_CASE("a kernel for the other architecture is refused by name") {
  // An arm64 Image: "MZ" (EFI stub) and the "ARM\x64" magic at 0x38.
  std::vector<uint8_t> arm64(64 * 1024, 0);
  arm64[0] = 'M';
  arm64[1] = 'Z';
  store_le<uint32_t>(arm64, 0x38, 0x644d5241);
  CHECK(kernel_kind(arm64) == kArm64Image);
  CHECK(parse_bzimage(arm64).message() == "kernel: this is an arm64 Image; tandem for x86_64 needs an x86_64 bzImage");
  // A gzip file (an arm64 Image.gz, say).
  std::vector<uint8_t> gz{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  gz.resize(4096);
  CHECK(kernel_kind(gz) == kGzipData);
  CHECK(parse_bzimage(gz).message() == "kernel: this is gzip-compressed data; tandem for x86_64 needs an x86_64 bzImage");
  // Ours and nothing: a bzImage, and too little to tell.
  auto f = fake_bzimage();
  CHECK(kernel_kind(f) == kX86BzImage);
  CHECK(parse_bzimage(f).ok());
  CHECK(kernel_kind(std::vector<uint8_t>(10, 0)).empty());
  CHECK(parse_bzimage(std::vector<uint8_t>(100, 0)).message().find("too small") != std::string::npos);
  // The stock kernel carries the x86 PE magic at 0x38, not the arm64 one.
  std::string found = stock_x86_kernel();
  REQUIRE_MESSAGE(!found.empty(), "no /boot/vmlinuz-*-amd64: tools/setup installs linux-image-amd64");
  CHECK(kernel_kind(read_file(found)) == kX86BzImage);
}

TEST_CASE("a real arm64 kernel is refused by name (when one is cached)") {
  // tools/test fetches one into the cache (tools/lib/arm64.sh) before the unit tests run.
  std::string path = tandem_arm64_kernel();
  if (path.empty()) TANDEM_SKIP("no arm64 kernel under ~/.cache/tandem/arm64");
  CHECK(parse_bzimage(read_file(path)).message() ==
        "kernel: this is an arm64 Image; tandem for x86_64 needs an x86_64 bzImage");
}
