// vmm/arch/aarch64/loader/linux_loader.cc: arm64 Image header parsing, gzip inflation (zlib), RAM
// placement and loading.
#include "vmm/arch/aarch64/loader/linux_loader.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <string>

#include "base/hex.h"
#include "base/le.h"
#include "vmm/boot/kernel_kind.h"

namespace tandem::loader {

namespace {

// Header offsets (booting.rst): code0, code1, text_offset, image_size, flags, res2-4, magic, res5.
constexpr size_t kHeaderSize = 64;
constexpr size_t kTextOffset = 0x08;
constexpr size_t kImageSize = 0x10;
constexpr size_t kFlags = 0x18;
constexpr size_t kMagic = 0x38;

constexpr uint64_t kOldTextOffset = 0x80000;
constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
constexpr uint64_t kKernelAlign = 2 * MiB;
constexpr uint64_t kDtbAlign = 2 * MiB;
constexpr uint64_t kInitrdAlign = 4 * KiB;
constexpr uint64_t kInitrdWindowAlign = GiB;  // the initrd and the kernel share a 1 GiB-aligned
constexpr uint64_t kInitrdWindowSize = 32 * GiB;  // window of at most 32 GiB

uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }

// Exact sizes for messages: "64 MiB", "12 KiB", "12345 bytes".
std::string size(uint64_t v) {
  if (v != 0 && v % MiB == 0) return std::to_string(v / MiB) + " MiB";
  if (v != 0 && v % KiB == 0) return std::to_string(v / KiB) + " KiB";
  return std::to_string(v) + " bytes";
}

bool is_gzip(std::span<const uint8_t> file) { return file.size() >= 2 && file[0] == 0x1f && file[1] == 0x8b; }

}  // namespace

Result<Arm64Image> parse_arm64_image(std::span<const uint8_t> file) {
  auto kind = kernel_kind(file);
  if (kind == kX86BzImage) {
    return Error{"kernel: this is " + std::string(kind) + "; tandem for aarch64 needs an arm64 Image (or its gzip)"};
  }
  if (kind == kGzipData) return Error{"kernel: this is " + std::string(kind) + "; inflate it (decompress_kernel) first"};
  if (file.size() < kHeaderSize) {
    return Error{"kernel: file of " + std::to_string(file.size()) + " bytes is too small for an arm64 Image (its header is 64)"};
  }
  if (*load_le<uint32_t>(file, kMagic) != kArm64ImageMagic) {
    return Error{"kernel: not an arm64 Image (no \"ARM\\x64\" magic at offset 0x38)"};
  }
  Arm64Image img;
  img.text_offset = *load_le<uint64_t>(file, kTextOffset);
  img.image_size = *load_le<uint64_t>(file, kImageSize);
  img.flags = *load_le<uint64_t>(file, kFlags);
  img.file = file;
  if (img.image_size == 0) {
    // Before Linux 3.17: text_offset in the kernel's endianness and always 0x80000, flags unset.
    img.text_offset = kOldTextOffset;
    img.flags = 0;
  }
  if (img.flags & kArm64FlagBigEndian) {
    return Error{"kernel: big-endian arm64 kernel (header flags bit 0); tandem runs little-endian guests only"};
  }
  if (img.text_offset >= kKernelAlign || img.text_offset % 4096 != 0) {
    return Error{"kernel: header text_offset " + hex(img.text_offset) +
                 " is not a page-aligned offset inside a 2 MiB block (corrupt header?)"};
  }
  img.image_size = std::max<uint64_t>(img.image_size, file.size());
  return img;
}

Result<std::vector<uint8_t>> decompress_kernel(std::span<const uint8_t> file, size_t max_size) {
  if (!is_gzip(file)) {
    if (file.size() > max_size) {
      return Error{"kernel: file of " + size(file.size()) + " exceeds the limit of " + size(max_size)};
    }
    return std::vector<uint8_t>(file.begin(), file.end());
  }
  z_stream zs{};
  if (int rc = inflateInit2(&zs, 16 + MAX_WBITS); rc != Z_OK) {  // 16: gzip header and trailer
    return Error{"kernel: zlib inflateInit2 failed (" + std::to_string(rc) + ")"};
  }
  struct End {
    z_stream* zs;
    ~End() { inflateEnd(zs); }
  } end{&zs};

  // One byte of room past max_size: output that reaches it is too large.
  size_t limit = max_size == SIZE_MAX ? max_size : max_size + 1;
  std::vector<uint8_t> out(std::min<size_t>(limit, std::max<size_t>(4 * file.size(), 1 * MiB)));
  size_t in_pos = 0, out_pos = 0;
  for (;;) {
    if (zs.avail_in == 0 && in_pos < file.size()) {
      size_t n = std::min<size_t>(file.size() - in_pos, UINT_MAX);
      zs.next_in = const_cast<Bytef*>(file.data() + in_pos);  // zlib's API is not const; it only reads
      zs.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    if (out_pos == out.size()) {
      if (out.size() >= limit) break;
      out.resize(out.size() > limit / 2 ? limit : 2 * out.size());
    }
    zs.next_out = out.data() + out_pos;
    zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - out_pos, UINT_MAX));
    uInt room = zs.avail_out;
    int rc = inflate(&zs, Z_NO_FLUSH);
    out_pos += room - zs.avail_out;
    if (rc == Z_STREAM_END) {
      out.resize(out_pos);
      if (out_pos > max_size) break;
      return out;
    }
    size_t consumed = in_pos - zs.avail_in;
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
      return Error{"kernel: gzip data is corrupt near compressed byte " + std::to_string(consumed) + ": " +
                   (zs.msg ? zs.msg : "invalid data")};
    }
    if (rc == Z_MEM_ERROR) return Error{"kernel: zlib ran out of memory inflating the gzip data"};
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && in_pos == file.size()) {
      return Error{"kernel: gzip data is truncated: the stream ends after " + std::to_string(file.size()) +
                   " bytes without its end marker"};
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) return Error{"kernel: zlib inflate failed (" + std::to_string(rc) + ")"};
  }
  return Error{"kernel: decompressed size exceeds the limit of " + size(max_size)};
}

Result<Arm64Layout> plan_arm64(const Arm64Image& img, uint64_t ram_base, uint64_t ram_size, uint64_t initrd_size,
                               uint64_t dtb_size) {
  if (ram_size == 0) return Error{"guest RAM is empty"};
  if (ram_base + ram_size < ram_base) return Error{"guest RAM at " + hex(ram_base) + " of " + size(ram_size) + " wraps around"};
  if (dtb_size == 0) return Error{"device tree: empty"};
  if (dtb_size > kArm64MaxDtbSize) {
    return Error{"device tree: " + size(dtb_size) + " exceed the " + size(kArm64MaxDtbSize) + " Linux accepts on arm64"};
  }
  if (img.image_size > ram_size) {
    return Error{"kernel: image_size of " + size(img.image_size) + " is larger than guest RAM (" + size(ram_size) + ")"};
  }
  uint64_t ram_end = ram_base + ram_size;
  Arm64Layout out;
  uint64_t base = align_down(ram_base + kKernelAlign - 1, kKernelAlign);
  out.kernel_addr = base + img.text_offset;
  out.entry = out.kernel_addr;
  uint64_t kernel_end = out.kernel_addr + img.image_size;
  out.dtb_addr = dtb_size <= ram_size ? align_down(ram_end - dtb_size, kDtbAlign) : 0;
  if (base < ram_base || kernel_end > ram_end || out.dtb_addr < kernel_end) {
    return Error{"kernel: guest RAM of " + size(ram_size) + " is too small for the kernel (" + size(img.image_size) +
                 " at " + hex(out.kernel_addr) + ") and the device tree (" + size(dtb_size) +
                 " in a 2 MiB block of its own at the top of RAM)"};
  }
  if (initrd_size != 0) {
    uint64_t window_end = align_down(out.kernel_addr, kInitrdWindowAlign) + kInitrdWindowSize;
    uint64_t top = std::min(out.dtb_addr, window_end);
    uint64_t floor = align_down(kernel_end + kInitrdAlign - 1, kInitrdAlign);
    if (top < floor || top - floor < initrd_size) {
      std::string limit = top == out.dtb_addr ? "the device tree at " + hex(top)
                                              : "the end of the kernel's 32 GiB initrd window at " + hex(top);
      return Error{"initrd of " + size(initrd_size) + " does not fit in guest memory: " +
                   size(top > floor ? top - floor : 0) + " free between the kernel's end at " + hex(floor) + " and " +
                   limit};
    }
    out.initrd_addr = align_down(top - initrd_size, kInitrdAlign);
    out.initrd_size = initrd_size;
  }
  return out;
}

Status load_arm64(const GuestMemory& mem, const Arm64Image& img, const Arm64Layout& layout,
                  std::span<const uint8_t> initrd, std::span<const uint8_t> dtb) {
  if (initrd.size() != layout.initrd_size) {
    return Error{"initrd: " + size(initrd.size()) + " given, the layout was planned for " + size(layout.initrd_size)};
  }
  if (dtb.size() > kArm64MaxDtbSize) {
    return Error{"device tree: " + size(dtb.size()) + " exceed the " + size(kArm64MaxDtbSize) + " Linux accepts on arm64"};
  }
  if (layout.dtb_addr % 8 != 0) return Error{"device tree: address " + hex(layout.dtb_addr) + " is not 8-byte aligned"};
  TANDEM_TRY(with_context(mem.write(layout.kernel_addr, img.file), "kernel: loading the Image at " + hex(layout.kernel_addr)));
  if (!initrd.empty()) {
    TANDEM_TRY(with_context(mem.write(layout.initrd_addr, initrd), "initrd: loading it at " + hex(layout.initrd_addr)));
  }
  TANDEM_TRY(with_context(mem.write(layout.dtb_addr, dtb), "device tree: loading it at " + hex(layout.dtb_addr)));
  return {};
}

}  // namespace tandem::loader
