// vmm/device_kinds/virtio_blk.h: the virtio-blk device kind, in one place: its settings (--disk,
// device.add's "virtio-blk", a manifest's [[vm.disk]]), their checks, and its build.
#pragma once

#include <span>
#include <string>

#include "vmm/device_kinds/build.h"
#include "vmm/device_kinds/options.h"

namespace tandem {

namespace device_kinds {
struct VirtioBlk;
}

// One virtio-blk on a raw image file.
struct DiskSpec {
  using Of = device_kinds::VirtioBlk;  // its kind
  std::string path;
  bool read_only = false;
  std::string serial;  // GET_ID: at most 20 printable ASCII characters; empty: none
};

namespace device_kinds {

struct VirtioBlk {
  using Spec = DiskSpec;
  static constexpr const char* kName = "virtio-blk";  // device.add's "type"
  static constexpr const char* kTable = "disk";       // the manifest's [[vm.disk]]
  static constexpr const char* kOption = "--disk";    // the command line's option
  static constexpr const char* kIdPrefix = "disk";    // disk0, disk1...
  static constexpr const char* kHelp = "virtio-blk device on a raw image, repeatable: path=FILE[,readonly=on][,serial=ID]";

  // path, readonly, serial.
  static std::span<const Key> keys();
  // Every check of the settings, whichever source they came from. Errors name the bad part. The
  // file itself is checked when the device is built (Disk::open).
  static Result<DiskSpec> from_options(const Options& options);
  static Options to_options(const DiskSpec& spec);
  static std::string connects_to(const DiskSpec&) { return ""; }
  static std::string listens_on(const DiskSpec&) { return ""; }
  static bool needs_hotplug(const DiskSpec&) { return false; }
  // The image opens as the spec asks (exists, readable or writable, a file or block device, at
  // least a sector): tandem vm checks this before anything runs.
  static Status check_files(const DiskSpec& spec);
  static DeviceResult<BuiltDevice> build(const DiskSpec& spec, BuildContext& ctx);
};

}  // namespace device_kinds

// "path=FILE[,readonly=on|off][,serial=ID]".
Result<DiskSpec> parse_disk(const std::string& text);

}  // namespace tandem
