// vmm/arch/x86_64/loader/linux_loader.h: the x86_64 Linux boot protocol for bzImage kernels (64-bit entry).
//
// Parses and validates the bzImage setup header, loads the protected-mode kernel at 1 MiB, places
// the initrd as high as the kernel allows, and fills boot_params (the "zero page") with the command
// line, the e820 map and the ACPI RSDP address. Plain functions from inputs to guest memory; every
// check fails with an Error naming the problem, before anything runs. Usable without the rest of tandem.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "memory/guest_memory.h"
#include "vmm/boot/kernel_kind.h"

namespace tandem::loader {

// What the setup header says (boot protocol fields tandem uses).
struct SetupHeader {
  uint8_t setup_sects = 0;
  uint16_t version = 0;         // boot protocol, 0x020f = 2.15
  uint8_t loadflags = 0;
  uint32_t initrd_addr_max = 0;
  uint32_t kernel_alignment = 0;
  uint8_t relocatable_kernel = 0;
  uint16_t xloadflags = 0;
  uint32_t cmdline_size = 0;
  uint64_t pref_address = 0;
  uint32_t init_size = 0;
  size_t header_end = 0;        // offset just past the header in the file (0x202 + jump byte)
};

struct BzImage {
  SetupHeader header;
  size_t setup_size = 0;                  // bytes of real-mode setup code (incl. boot sector)
  std::span<const uint8_t> file;          // the whole file
  std::span<const uint8_t> kernel() const { return file.subspan(setup_size); }
};

// Validates a bzImage: boot sector signature, "HdrS", boot protocol >= 2.12, 64-bit entry
// (XLF_KERNEL_64), loaded high, sizes consistent with the file. An arm64 Image or a gzip file is
// refused by that name.
Result<BzImage> parse_bzimage(std::span<const uint8_t> file);

struct E820Entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;  // 1 RAM, 2 reserved
};
constexpr uint32_t kE820Ram = 1;
constexpr uint32_t kE820Reserved = 2;

// The e820 map for these RAM regions: low memory up to the EBDA, the BIOS area (ACPI tables)
// reserved, RAM from 1 MiB, and RAM above 4 GiB.
std::vector<E820Entry> build_e820(const std::vector<RamRegion>& ram);

struct BootLayout {
  uint64_t kernel_addr = 0;     // where the protected-mode kernel is loaded
  uint64_t entry = 0;           // 64-bit entry point (kernel_addr + 0x200)
  uint64_t boot_params = 0;     // the zero page, passed in RSI
  uint64_t cmdline_addr = 0;
  uint64_t initrd_addr = 0;
  uint64_t initrd_size = 0;
};

// Where the initrd goes: the highest page-aligned address whose end is below both the kernel's
// initrd_addr_max and the end of low RAM, and above the kernel's init_size. Error if it does not fit.
Result<uint64_t> place_initrd(const SetupHeader& hdr, const std::vector<RamRegion>& ram, uint64_t kernel_end,
                              uint64_t initrd_size);

struct LoadRequest {
  std::span<const uint8_t> kernel;        // the bzImage file
  std::span<const uint8_t> initrd;        // may be empty
  std::string cmdline;
  uint64_t rsdp_addr = 0;                 // 0: none
};

// Loads everything into guest memory and returns where it went.
Result<BootLayout> load_linux(const GuestMemory& mem, const std::vector<RamRegion>& ram, const LoadRequest& req);

}  // namespace tandem::loader
