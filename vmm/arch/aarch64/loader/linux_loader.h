// vmm/arch/aarch64/loader/linux_loader.h: the arm64 Linux boot protocol for `Image` kernels
// (Documentation/arch/arm64/booting.rst).
//
// Parses and validates the 64-byte Image header, inflates a gzip-compressed Image, plans where the
// kernel, the initrd and the device tree go in RAM, and copies them there. Plain functions from
// inputs to guest memory, like x86_64's loader; every check fails with an Error naming the problem,
// before anything runs. Architecture-neutral: built and tested on x86_64 as well.
//
// The vCPU that boots starts at `entry` with x0 = dtb_addr, x1 = x2 = x3 = 0, the MMU off (setting
// that up is the VMM's part).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "memory/guest_memory.h"

namespace tandem::loader {

constexpr uint32_t kArm64ImageMagic = 0x644d5241;  // "ARM\x64" at offset 0x38
constexpr uint64_t kArm64MaxDtbSize = 2 << 20;     // booting.rst: the DTB must not exceed 2 MiB

// Header flags (booting.rst).
constexpr uint64_t kArm64FlagBigEndian = 1 << 0;
constexpr uint64_t kArm64FlagPageSizeMask = 3 << 1;  // 0 unspecified, 1 4K, 2 16K, 3 64K
constexpr uint64_t kArm64FlagPlaceAnywhere = 1 << 3;

struct Arm64Image {
  uint64_t text_offset = 0;  // load offset from a 2 MiB-aligned base (0x80000 for an old kernel, see below)
  uint64_t image_size = 0;   // bytes from the load address the kernel may use: the header's, at least the file
  uint64_t flags = 0;        // the header's flags
  std::span<const uint8_t> file;  // the whole (uncompressed) Image
};

// Validates an uncompressed Image: at least the 64-byte header, the magic, little-endian. An old
// kernel (image_size 0, before Linux 3.17) gets text_offset 0x80000 and the file's size. An x86
// bzImage or gzip data is refused by that name.
Result<Arm64Image> parse_arm64_image(std::span<const uint8_t> file);

// The kernel file as an Image: a gzip file (Image.gz) inflated, anything else copied, so that
// callers have one path. Errors: truncated or corrupt gzip data, and a result over max_size bytes.
// Data after the first gzip member is ignored.
Result<std::vector<uint8_t>> decompress_kernel(std::span<const uint8_t> file, size_t max_size);

struct Arm64Layout {
  uint64_t kernel_addr = 0;  // 2 MiB-aligned RAM base + text_offset
  uint64_t entry = 0;        // kernel_addr: the header's code0 branches to the kernel proper
  uint64_t dtb_addr = 0;     // 2 MiB-aligned, in the topmost 2 MiB block that holds it
  uint64_t initrd_addr = 0;  // 0 without an initrd
  uint64_t initrd_size = 0;
};

// Where things go in RAM [ram_base, ram_base + ram_size):
//  - the kernel at the first 2 MiB-aligned address of RAM + text_offset, its image_size reserved
//    (this satisfies both settings of the placement flag: "as low as possible" and "anywhere");
//  - the device tree (at most 2 MiB) 2 MiB-aligned at the top of RAM, so that it shares no 2 MiB
//    block with anything else;
//  - the initrd page-aligned just below the device tree, and inside the 1 GiB-aligned 32 GiB window
//    that starts below the kernel (booting.rst asks that one window cover both).
// Errors name what does not fit and the sizes involved.
Result<Arm64Layout> plan_arm64(const Arm64Image& img, uint64_t ram_base, uint64_t ram_size, uint64_t initrd_size,
                               uint64_t dtb_size);

// Copies the Image, the initrd and the device tree where `layout` says; `initrd` must be the size
// the layout was planned for, `dtb` at most kArm64MaxDtbSize.
Status load_arm64(const GuestMemory& mem, const Arm64Image& img, const Arm64Layout& layout,
                  std::span<const uint8_t> initrd, std::span<const uint8_t> dtb);

}  // namespace tandem::loader
