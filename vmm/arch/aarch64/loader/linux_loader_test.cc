// Unit tests for vmm/arch/aarch64/loader: Image header validation, gzip inflation, RAM placement and
// loading; real kernels when this machine has them.
#include <doctest/doctest.h>
#include <zlib.h>

#include <glob.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "base/le.h"
#include "memory/ram.h"
#include "tests/unit/arm64_kernel.h"
#include "tests/unit/skip.h"
#include "vmm/arch/aarch64/loader/linux_loader.h"

using namespace tandem;
using namespace tandem::loader;

namespace {

// KiB, MiB, GiB: memory/ram.h.
constexpr uint64_t kRamBase = 0x4000'0000;

// An Image of `bytes` bytes: the 64-byte header (EFI-stub style "MZ" code0), then a byte pattern.
std::vector<uint8_t> fake_image(size_t bytes = 64 * KiB, uint64_t text_offset = 0, uint64_t image_size = 4 * MiB,
                                uint64_t flags = 0xa) {
  std::vector<uint8_t> f(bytes, 0);
  for (size_t i = 64; i < f.size(); ++i) f[i] = static_cast<uint8_t>(i * 7 + (i >> 12));
  f[0] = 'M';
  f[1] = 'Z';
  store_le<uint64_t>(f, 0x08, text_offset);
  store_le<uint64_t>(f, 0x10, image_size);
  store_le<uint64_t>(f, 0x18, flags);
  store_le<uint32_t>(f, 0x38, 0x644d5241);
  return f;
}

// A bzImage's identifying marks: the boot signature and the "HdrS" setup header.
std::vector<uint8_t> fake_bzimage() {
  std::vector<uint8_t> f(64 * KiB, 0);
  f[0] = 'M';
  f[1] = 'Z';
  store_le<uint16_t>(f, 0x1fe, 0xaa55);
  store_le<uint32_t>(f, 0x202, 0x53726448);
  return f;
}

std::vector<uint8_t> gzip(std::span<const uint8_t> data) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<uint8_t> out(deflateBound(&zs, data.size()));
  zs.next_in = const_cast<Bytef*>(data.data());
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  REQUIRE(out[0] == 0x1f);
  REQUIRE(out[1] == 0x8b);
  return out;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string first_match(const std::string& pattern) {
  glob_t g{};
  std::string found;
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0 && g.gl_pathc > 0) found = g.gl_pathv[0];
  globfree(&g);
  return found;
}

Arm64Image parsed(const std::vector<uint8_t>& f) {
  auto img = parse_arm64_image(f);
  REQUIRE_MESSAGE(img.ok(), (img.ok() ? "" : img.message()));
  return *img;
}

}  // namespace

TEST_CASE("a valid Image header parses") {
  auto f = fake_image(64 * KiB, 0, 0x201'0000, 0xa);
  auto img = parsed(f);
  CHECK(img.text_offset == 0);
  CHECK(img.image_size == 0x201'0000);
  CHECK(img.flags == 0xa);
  CHECK(img.file.data() == f.data());
  CHECK(img.file.size() == f.size());
  // text_offset 0x80000 (kernels before 5.8).
  f = fake_image(64 * KiB, 0x80000, 8 * MiB, 0x2);
  img = parsed(f);
  CHECK(img.text_offset == 0x80000);
  CHECK(img.image_size == 8 * MiB);
  // image_size never below the file itself.
  f = fake_image(64 * KiB, 0, 4 * KiB);
  CHECK(parsed(f).image_size == 64 * KiB);
}

TEST_CASE("an old kernel (image_size 0) loads at 0x80000 with the file's size") {
  auto f = fake_image(100 * KiB, 0x12345, 0, 0xffff);  // text_offset and flags meaningless then
  auto img = parsed(f);
  CHECK(img.text_offset == 0x80000);
  CHECK(img.image_size == 100 * KiB);
  CHECK(img.flags == 0);
}

TEST_CASE("bad Images are refused with the reason") {
  std::vector<uint8_t> tiny(63, 0);
  CHECK(parse_arm64_image(tiny).message() == "kernel: file of 63 bytes is too small for an arm64 Image (its header is 64)");
  auto f = fake_image();
  f[0x3b] = 0x65;
  CHECK(parse_arm64_image(f).message() == "kernel: not an arm64 Image (no \"ARM\\x64\" magic at offset 0x38)");
  f = fake_image(64 * KiB, 0, 4 * MiB, 0xb);
  CHECK(parse_arm64_image(f).message() ==
        "kernel: big-endian arm64 kernel (header flags bit 0); tandem runs little-endian guests only");
  f = fake_image(64 * KiB, 0x20'0000, 4 * MiB);
  CHECK(parse_arm64_image(f).message() ==
        "kernel: header text_offset 0x200000 is not a page-aligned offset inside a 2 MiB block (corrupt header?)");
  f = fake_image(64 * KiB, 0x80001, 4 * MiB);
  CHECK(parse_arm64_image(f).message().find("text_offset 0x80001") != std::string::npos);
  auto bz = fake_bzimage();
  CHECK(parse_arm64_image(bz).message() ==
        "kernel: this is an x86 bzImage; tandem for aarch64 needs an arm64 Image (or its gzip)");
  auto gz = gzip(fake_image());
  CHECK(parse_arm64_image(gz).message() == "kernel: this is gzip-compressed data; inflate it (decompress_kernel) first");
}

TEST_CASE("the stock x86_64 kernel is refused by name") {
  std::string k = first_match("/boot/vmlinuz-*-amd64");
  REQUIRE_MESSAGE(!k.empty(), "no /boot/vmlinuz-*-amd64: tools/setup installs linux-image-amd64");
  auto file = read_file(k);
  REQUIRE(file.size() > 1 * MiB);
  CHECK(parse_arm64_image(file).message() ==
        "kernel: this is an x86 bzImage; tandem for aarch64 needs an arm64 Image (or its gzip)");
  auto copy = decompress_kernel(file, 256 * MiB);  // not gzip: copied, then refused as above
  REQUIRE(copy.ok());
  CHECK(*copy == file);
}

TEST_CASE("a real arm64 kernel parses and plans (when one is cached)") {
  std::string k = tandem_arm64_kernel();
  if (k.empty()) TANDEM_SKIP("no arm64 kernel under ~/.cache/tandem/arm64");
  auto raw = read_file(k);
  auto file = decompress_kernel(raw, 512 * MiB);  // Debian's is a plain EFI-stub Image; an Image.gz inflates
  REQUIRE_MESSAGE(file.ok(), (file.ok() ? "" : file.message()));
  auto img = parsed(*file);
  CHECK(img.file[0] == 'M');  // EFI stub
  CHECK(img.text_offset == 0);
  CHECK(img.image_size >= img.file.size());
  CHECK((img.flags & kArm64FlagBigEndian) == 0);
  CHECK((img.flags & kArm64FlagPageSizeMask) == 1 << 1);  // Debian: 4 KiB pages
  auto l = plan_arm64(img, kRamBase, 512 * MiB, 20 * MiB, 4 * KiB);
  REQUIRE(l.ok());
  CHECK(l->kernel_addr == kRamBase);
  CHECK(l->initrd_addr >= l->kernel_addr + img.image_size);
  // Its gzip (an Image.gz) inflates back to the same bytes, and not into less room.
  auto gz = gzip(*file);
  auto back = decompress_kernel(gz, file->size());
  REQUIRE_MESSAGE(back.ok(), (back.ok() ? "" : back.message()));
  CHECK(*back == *file);
  CHECK(decompress_kernel(gz, file->size() - 1).message().find("decompressed size exceeds") != std::string::npos);
}

TEST_CASE("gzip: round trip, copy-through, truncated, corrupt, over the limit") {
  // 8 MiB that compresses well, so the output buffer has to grow several times.
  auto image = fake_image(8 * MiB);
  for (size_t i = 64; i < image.size(); ++i) image[i] = static_cast<uint8_t>((i / 4096) & 0xff);
  auto gz = gzip(image);
  CHECK(gz.size() < image.size() / 8);
  auto out = decompress_kernel(gz, image.size());  // exactly at the limit is fine
  REQUIRE_MESSAGE(out.ok(), (out.ok() ? "" : out.message()));
  CHECK(*out == image);
  CHECK(parsed(*out).image_size == 8 * MiB);

  auto plain = decompress_kernel(image, 16 * MiB);
  REQUIRE(plain.ok());
  CHECK(*plain == image);
  CHECK(decompress_kernel(image, 8 * MiB - 1).message() == "kernel: file of 8 MiB exceeds the limit of 8388607 bytes");

  auto over = decompress_kernel(gz, image.size() - 1);
  CHECK(over.message() == "kernel: decompressed size exceeds the limit of 8388607 bytes");
  CHECK(decompress_kernel(gz, 1 * MiB).message() == "kernel: decompressed size exceeds the limit of 1 MiB");

  auto cut = std::vector<uint8_t>(gz.begin(), gz.end() - 12);
  CHECK(decompress_kernel(cut, 16 * MiB).message() ==
        "kernel: gzip data is truncated: the stream ends after " + std::to_string(cut.size()) +
            " bytes without its end marker");
  cut.resize(cut.size() / 2);
  CHECK(decompress_kernel(cut, 16 * MiB).message().find("truncated") != std::string::npos);
  std::vector<uint8_t> header_only(gz.begin(), gz.begin() + 10);
  CHECK(decompress_kernel(header_only, 16 * MiB).message().find("truncated") != std::string::npos);

  auto bad_crc = gz;
  bad_crc[bad_crc.size() - 8] ^= 0xff;  // the trailer's CRC32
  auto r = decompress_kernel(bad_crc, 16 * MiB);
  CHECK(r.message().rfind("kernel: gzip data is corrupt near compressed byte ", 0) == 0);
  CHECK(r.message().find("incorrect data check") != std::string::npos);
  auto bad_method = gz;
  bad_method[2] = 7;  // compression method: only 8 (deflate) exists
  CHECK(decompress_kernel(bad_method, 16 * MiB).message().find("unknown compression method") != std::string::npos);
}

TEST_CASE("plan_arm64 places kernel, initrd and device tree as booting.rst asks") {
  auto f = fake_image(64 * KiB, 0, 0x201'0000);
  auto img = parsed(f);
  auto l = plan_arm64(img, kRamBase, 512 * MiB, 10 * MiB + 5, 4 * KiB);
  REQUIRE_MESSAGE(l.ok(), (l.ok() ? "" : l.message()));
  CHECK(l->kernel_addr == kRamBase);
  CHECK(l->entry == kRamBase);
  CHECK(l->dtb_addr == kRamBase + 510 * MiB);  // the topmost 2 MiB block
  CHECK(l->initrd_size == 10 * MiB + 5);
  CHECK(l->initrd_addr == (kRamBase + 510 * MiB - (10 * MiB + 5)) / 4096 * 4096);
  CHECK(l->initrd_addr >= l->kernel_addr + 0x201'0000);

  // text_offset counts from a 2 MiB-aligned base; RAM that starts unaligned moves the base up.
  auto f2 = fake_image(64 * KiB, 0x80000, 4 * MiB);
  auto l2 = plan_arm64(parsed(f2), kRamBase + MiB, 255 * MiB, 0, 2 * MiB);
  REQUIRE(l2.ok());
  CHECK(l2->kernel_addr == kRamBase + 2 * MiB + 0x80000);
  CHECK(l2->dtb_addr == kRamBase + 254 * MiB);  // exactly 2 MiB: the last 2 MiB of RAM
  CHECK(l2->initrd_addr == 0);
  CHECK(l2->initrd_size == 0);

  // RAM not a multiple of 2 MiB: the device tree still starts 2 MiB-aligned and ends inside RAM.
  auto l3 = plan_arm64(img, kRamBase, 100 * MiB + 12 * KiB, 0, 8 * KiB);
  REQUIRE(l3.ok());
  CHECK(l3->dtb_addr == kRamBase + 100 * MiB);

  // The initrd stays in the 32 GiB window that starts at the kernel's 1 GiB boundary.
  auto big = plan_arm64(img, kRamBase, 40 * GiB, 1 * MiB, 4 * KiB);
  REQUIRE(big.ok());
  CHECK(big->dtb_addr == kRamBase + 40 * GiB - 2 * MiB);
  CHECK(big->initrd_addr == kRamBase + 32 * GiB - 1 * MiB);
}

TEST_CASE("plan_arm64 refuses what does not fit, naming the sizes") {
  auto f = fake_image(64 * KiB, 0, 80 * MiB);
  CHECK(plan_arm64(parsed(f), kRamBase, 64 * MiB, 0, 4 * KiB).message() ==
        "kernel: image_size of 80 MiB is larger than guest RAM (64 MiB)");
  f = fake_image(64 * KiB, 0, 63 * MiB);
  CHECK(plan_arm64(parsed(f), kRamBase, 64 * MiB, 0, 4 * KiB).message() ==
        "kernel: guest RAM of 64 MiB is too small for the kernel (63 MiB at 0x40000000) and the device tree (4 KiB in "
        "a 2 MiB block of its own at the top of RAM)");
  f = fake_image(64 * KiB, 0, 62 * MiB);  // exactly fits below the device tree's block
  CHECK(plan_arm64(parsed(f), kRamBase, 64 * MiB, 0, 4 * KiB).ok());
  CHECK(plan_arm64(parsed(f), kRamBase, 64 * MiB, 4 * KiB, 4 * KiB).message() ==
        "initrd of 4 KiB does not fit in guest memory: 0 bytes free between the kernel's end at 0x43e00000 and the "
        "device tree at 0x43e00000");
  f = fake_image(64 * KiB, 0, 32 * MiB);
  CHECK(plan_arm64(parsed(f), kRamBase, 512 * MiB, 600 * MiB, 4 * KiB).message() ==
        "initrd of 600 MiB does not fit in guest memory: 478 MiB free between the kernel's end at 0x42000000 and the "
        "device tree at 0x5fe00000");
  CHECK(plan_arm64(parsed(f), kRamBase, 512 * MiB, 0, 2 * MiB + 1).message() ==
        "device tree: 2097153 bytes exceed the 2 MiB Linux accepts on arm64");
  CHECK(plan_arm64(parsed(f), kRamBase, 512 * MiB, 0, 0).message() == "device tree: empty");
  CHECK(plan_arm64(parsed(f), kRamBase, 0, 0, 4 * KiB).message() == "guest RAM is empty");
  // Past the 32 GiB window: plenty of RAM, but not where the kernel can see an initrd.
  CHECK(plan_arm64(parsed(f), kRamBase, 64 * GiB, 33 * GiB, 4 * KiB).message().find("32 GiB initrd window") !=
        std::string::npos);
}

TEST_CASE("load_arm64 writes kernel, initrd and device tree where the plan says") {
  auto mem = GuestMemory::create({{kRamBase, 128 * MiB}});
  REQUIRE(mem.ok());
  auto f = fake_image(200 * KiB, 0x80000, 6 * MiB);
  auto img = parsed(f);
  std::vector<uint8_t> initrd(12345);
  for (size_t i = 0; i < initrd.size(); ++i) initrd[i] = static_cast<uint8_t>(i ^ 0x5a);
  std::vector<uint8_t> dtb(3000, 0xd7);
  auto l = plan_arm64(img, kRamBase, 128 * MiB, initrd.size(), dtb.size());
  REQUIRE(l.ok());
  REQUIRE(load_arm64(*mem, img, *l, initrd, dtb).ok());

  std::vector<uint8_t> back(f.size());
  REQUIRE(mem->read(l->kernel_addr, back).ok());
  CHECK(back == f);
  CHECK(mem->read_le<uint32_t>(kRamBase + 0x80000 + 0x38).value() == 0x644d5241u);
  back.resize(initrd.size());
  REQUIRE(mem->read(l->initrd_addr, back).ok());
  CHECK(back == initrd);
  back.resize(dtb.size());
  REQUIRE(mem->read(l->dtb_addr, back).ok());
  CHECK(back == dtb);
  CHECK(l->dtb_addr == kRamBase + 126 * MiB);
  CHECK(mem->read_le<uint8_t>(l->dtb_addr - 1).value() == 0);  // nothing else touched around them
  CHECK(mem->read_le<uint8_t>(l->kernel_addr - 1).value() == 0);

  // Inputs that do not match the plan.
  std::vector<uint8_t> other(100);
  CHECK(load_arm64(*mem, img, *l, other, dtb).message() == "initrd: 100 bytes given, the layout was planned for 12345 bytes");
  std::vector<uint8_t> huge_dtb(2 * MiB + 8);
  CHECK(load_arm64(*mem, img, *l, initrd, huge_dtb).message() ==
        "device tree: 2097160 bytes exceed the 2 MiB Linux accepts on arm64");
  // A layout outside RAM fails in the guest-memory check, with the place named.
  auto outside = *l;
  outside.kernel_addr = 0x1000;
  CHECK(load_arm64(*mem, img, outside, initrd, dtb).message().rfind("kernel: loading the Image at 0x1000: ", 0) == 0);
}
