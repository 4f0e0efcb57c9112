// vmm/arch/x86_64/loader/linux_loader.cc: bzImage parsing, initrd placement and boot_params.
#include "vmm/arch/x86_64/loader/linux_loader.h"

#include "base/hex.h"

#include <algorithm>
#include <sstream>

#include "base/le.h"
#include "vmm/arch/x86_64/layout.h"

namespace tandem::loader {

namespace {

// Offsets inside the bzImage file and inside boot_params (the setup header sits at the same
// offsets in both).
constexpr size_t kSetupSects = 0x1f1;
constexpr size_t kBootFlag = 0x1fe;
constexpr size_t kJump = 0x200;
constexpr size_t kHeaderMagic = 0x202;
constexpr size_t kVersion = 0x206;
constexpr size_t kVidMode = 0x1fa;
constexpr size_t kTypeOfLoader = 0x210;
constexpr size_t kLoadflags = 0x211;
constexpr size_t kRamdiskImage = 0x218;
constexpr size_t kRamdiskSize = 0x21c;
constexpr size_t kHeapEndPtr = 0x224;
constexpr size_t kCmdLinePtr = 0x228;
constexpr size_t kInitrdAddrMax = 0x22c;
constexpr size_t kKernelAlignment = 0x230;
constexpr size_t kRelocatable = 0x234;
constexpr size_t kXloadflags = 0x236;
constexpr size_t kCmdlineSize = 0x238;
constexpr size_t kPrefAddress = 0x258;
constexpr size_t kInitSize = 0x260;
constexpr size_t kAcpiRsdpAddr = 0x070;
constexpr size_t kExtRamdiskImage = 0x0c0;
constexpr size_t kExtRamdiskSize = 0x0c4;
constexpr size_t kExtCmdLinePtr = 0x0c8;
constexpr size_t kE820Entries = 0x1e8;
constexpr size_t kE820Table = 0x2d0;
constexpr size_t kE820Max = 128;
constexpr size_t kBootParamsSize = 4096;

constexpr uint8_t kLoadedHigh = 0x01;
constexpr uint8_t kCanUseHeap = 0x80;
constexpr uint16_t kXlfKernel64 = 0x01;
constexpr uint16_t kMinVersion = 0x020c;  // 2.12: xloadflags, 64-bit entry documented

std::string mib(uint64_t v) { return std::to_string((v + (1 << 20) - 1) >> 20) + " MiB"; }

}  // namespace

Result<BzImage> parse_bzimage(std::span<const uint8_t> file) {
  if (auto kind = kernel_kind(file); kind == kArm64Image || kind == kGzipData) {
    return Error{"kernel: this is " + std::string(kind) + "; tandem for x86_64 needs an x86_64 bzImage"};
  }
  if (file.size() < 0x270) return Error{"kernel image is too small to be a bzImage (" + std::to_string(file.size()) + " bytes)"};
  if (load_le<uint16_t>(file, kBootFlag) != 0xaa55) return Error{"kernel image is not a bzImage (no 0xAA55 boot signature)"};
  if (load_le<uint32_t>(file, kHeaderMagic) != 0x53726448u) return Error{"kernel image is not a bzImage (no \"HdrS\" setup header)"};
  BzImage img;
  SetupHeader& h = img.header;
  h.version = *load_le<uint16_t>(file, kVersion);
  if (h.version < kMinVersion) {
    std::ostringstream s;
    s << "kernel boot protocol " << (h.version >> 8) << "." << (h.version & 0xff) << " is too old (tandem needs 2.12 or later)";
    return Error{s.str()};
  }
  h.setup_sects = file[kSetupSects];
  h.loadflags = file[kLoadflags];
  h.initrd_addr_max = *load_le<uint32_t>(file, kInitrdAddrMax);
  h.kernel_alignment = *load_le<uint32_t>(file, kKernelAlignment);
  h.relocatable_kernel = file[kRelocatable];
  h.xloadflags = *load_le<uint16_t>(file, kXloadflags);
  h.cmdline_size = *load_le<uint32_t>(file, kCmdlineSize);
  h.pref_address = *load_le<uint64_t>(file, kPrefAddress);
  h.init_size = *load_le<uint32_t>(file, kInitSize);
  h.header_end = 0x202 + file[kJump + 1];
  if (h.header_end > file.size() || h.header_end < kInitSize + 4) return Error{"kernel setup header length is inconsistent"};
  if (!(h.xloadflags & kXlfKernel64)) return Error{"kernel is not 64-bit capable (no XLF_KERNEL_64 in xloadflags)"};
  if (!(h.loadflags & kLoadedHigh)) return Error{"kernel is not a bzImage loaded high (LOADED_HIGH clear)"};
  size_t sects = h.setup_sects == 0 ? 4 : h.setup_sects;
  img.setup_size = (sects + 1) * 512;
  if (img.setup_size >= file.size()) return Error{"kernel image is truncated: setup code ends past the file"};
  img.file = file;
  return img;
}

std::vector<E820Entry> build_e820(const std::vector<RamRegion>& ram) {
  using namespace x86::layout;
  std::vector<E820Entry> e;
  for (const auto& r : ram) {
    if (r.gpa == 0) {
      e.push_back({0, kEbdaStart, kE820Ram});
      e.push_back({kEbdaStart, 0xa0000 - kEbdaStart, kE820Reserved});
      e.push_back({kBiosAreaStart, kBiosAreaEnd - kBiosAreaStart, kE820Reserved});
      if (r.size > kBiosAreaEnd) e.push_back({kBiosAreaEnd, r.size - kBiosAreaEnd, kE820Ram});
    } else {
      e.push_back({r.gpa, r.size, kE820Ram});
    }
  }
  return e;
}

Result<uint64_t> place_initrd(const SetupHeader& hdr, const std::vector<RamRegion>& ram, uint64_t kernel_end,
                              uint64_t initrd_size) {
  if (ram.empty() || ram[0].gpa != 0) return Error{"guest RAM does not start at 0"};
  uint64_t limit = ram[0].size;  // low RAM end
  uint64_t max = static_cast<uint64_t>(hdr.initrd_addr_max) + 1;
  if (hdr.initrd_addr_max == 0) max = 0x38000000;  // protocol default before 2.03
  limit = std::min(limit, max);
  uint64_t floor = (kernel_end + 0xfff) & ~0xfffULL;
  if (initrd_size > limit || limit - initrd_size < floor) {
    return Error{"initrd of " + mib(initrd_size) + " does not fit in guest memory: " + mib(limit > floor ? limit - floor : 0) +
                 " free between the kernel and " + hex(limit)};
  }
  return (limit - initrd_size) & ~0xfffULL;
}

Result<BootLayout> load_linux(const GuestMemory& mem, const std::vector<RamRegion>& ram, const LoadRequest& req) {
  using namespace x86::layout;
  auto img_r = parse_bzimage(req.kernel);
  if (!img_r) return img_r.error();
  const BzImage& img = *img_r;
  const SetupHeader& h = img.header;

  // Command line: the kernel's own limit (cmdline_size excludes the NUL) and ours.
  uint64_t cmd_max = std::min<uint64_t>(h.cmdline_size ? h.cmdline_size : 255, kCmdlineMax - 1);
  if (req.cmdline.size() > cmd_max) {
    return Error{"kernel command line is " + std::to_string(req.cmdline.size()) + " bytes, the kernel accepts at most " +
                 std::to_string(cmd_max)};
  }

  BootLayout out;
  out.kernel_addr = kKernelLoadAddr;
  out.entry = kKernelLoadAddr + 0x200;
  out.boot_params = kBootParamsAddr;
  out.cmdline_addr = kCmdlineAddr;
  auto kernel = img.kernel();
  uint64_t kernel_end = kKernelLoadAddr + std::max<uint64_t>(kernel.size(), h.init_size);
  if (ram.empty() || ram[0].gpa != 0 || kernel_end > ram[0].size) {
    return Error{"guest memory is too small for the kernel: it needs " + mib(kernel_end) + " of low RAM"};
  }
  TANDEM_TRY(with_context(mem.write(kKernelLoadAddr, kernel), "loading the kernel"));

  if (!req.initrd.empty()) {
    auto at = place_initrd(h, ram, kernel_end, req.initrd.size());
    if (!at) return at.error();
    out.initrd_addr = *at;
    out.initrd_size = req.initrd.size();
    TANDEM_TRY(with_context(mem.write(out.initrd_addr, req.initrd), "loading the initrd"));
  }

  std::vector<uint8_t> cmd(req.cmdline.begin(), req.cmdline.end());
  cmd.push_back(0);
  TANDEM_TRY(with_context(mem.write(kCmdlineAddr, cmd), "writing the command line"));

  // boot_params: zeroed, the file's setup header copied in, then our fields.
  std::vector<uint8_t> bp(kBootParamsSize, 0);
  std::copy(img.file.begin() + kSetupSects, img.file.begin() + static_cast<long>(h.header_end), bp.begin() + kSetupSects);
  store_le<uint16_t>(bp, kVidMode, 0xffff);
  bp[kTypeOfLoader] = 0xff;
  bp[kLoadflags] = static_cast<uint8_t>(h.loadflags | kCanUseHeap);
  store_le<uint16_t>(bp, kHeapEndPtr, 0xfe00);
  store_le<uint32_t>(bp, kCmdLinePtr, static_cast<uint32_t>(kCmdlineAddr));
  store_le<uint32_t>(bp, kExtCmdLinePtr, 0);
  store_le<uint32_t>(bp, kRamdiskImage, static_cast<uint32_t>(out.initrd_addr));
  store_le<uint32_t>(bp, kRamdiskSize, static_cast<uint32_t>(out.initrd_size));
  store_le<uint32_t>(bp, kExtRamdiskImage, static_cast<uint32_t>(out.initrd_addr >> 32));
  store_le<uint32_t>(bp, kExtRamdiskSize, static_cast<uint32_t>(out.initrd_size >> 32));
  if (h.version >= 0x020e) store_le<uint64_t>(bp, kAcpiRsdpAddr, req.rsdp_addr);
  auto e820 = build_e820(ram);
  if (e820.size() > kE820Max) return Error{"too many e820 entries"};
  bp[kE820Entries] = static_cast<uint8_t>(e820.size());
  for (size_t i = 0; i < e820.size(); ++i) {
    size_t at = kE820Table + i * 20;
    store_le<uint64_t>(bp, at, e820[i].addr);
    store_le<uint64_t>(bp, at + 8, e820[i].size);
    store_le<uint32_t>(bp, at + 16, e820[i].type);
  }
  TANDEM_TRY(with_context(mem.write(kBootParamsAddr, bp), "writing boot_params"));
  return out;
}

}  // namespace tandem::loader
