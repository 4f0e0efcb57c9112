// vmm/device_kinds/virtio_blk.cc: virtio-blk's keys, checks and build.
#include "vmm/device_kinds/virtio_blk.h"

#include "devices/virtio/blk/blk.h"
#include "devices/virtio/pci_transport.h"

namespace tandem {

namespace device_kinds {

namespace {

constexpr Key kKeys[] = {
    {"path", ValueType::kString, "a file path", true, UINT64_MAX, true},
    {"readonly", ValueType::kOnOff, "on or off"},
    {"serial", ValueType::kString, "at most 20 printable ASCII characters"},
};

}  // namespace

std::span<const Key> VirtioBlk::keys() { return kKeys; }

Result<DiskSpec> VirtioBlk::from_options(const Options& options) {
  OptionReader r(options);
  DiskSpec spec;
  auto path = r.string("path");
  if (!path) return Error{(options.empty() ? "no image file" : "'" + options_text(options) + "' names no image file") + ": give path=FILE"};
  spec.path = *path;
  if (auto ro = r.on_off("readonly")) spec.read_only = *ro;
  if (auto serial = r.string("serial")) {
    if (serial->size() > virtio::blk::kIdBytes) return Error{"serial=" + *serial + ": at most 20 characters"};
    for (char c : *serial)
      if (c < 0x21 || c > 0x7e) return Error{"serial=" + *serial + ": printable ASCII only"};
    spec.serial = *serial;
  }
  return spec;
}

Options VirtioBlk::to_options(const DiskSpec& spec) {
  Options o{{"path", spec.path}};
  if (spec.read_only) o.push_back({"readonly", true});
  if (!spec.serial.empty()) o.push_back({"serial", spec.serial});
  return o;
}

Status VirtioBlk::check_files(const DiskSpec& spec) {
  auto disk = virtio::blk::Disk::open({spec.path, spec.read_only, spec.serial});
  if (!disk) return disk.error();
  return {};
}

DeviceResult<BuiltDevice> VirtioBlk::build(const DiskSpec& spec, BuildContext& ctx) {
  auto disk = virtio::blk::Disk::open({spec.path, spec.read_only, spec.serial});
  if (!disk) return DeviceError{DeviceError::Kind::kInvalid, disk.message()};
  auto bar = hold(ctx.mmio64, virtio::kBar0Size);
  if (!bar) return DeviceError{DeviceError::Kind::kNoRoom, "no room for BAR 0 in the 64-bit window: " + bar.message()};
  auto blk = std::make_shared<virtio::blk::Blk>(std::move(disk).value());
  auto view = std::make_shared<RequesterVmServices>(ctx.services);
  auto dev = virtio::PciTransport::create(blk, view, ctx.mem, bar->addr());
  if (!dev) return DeviceError{DeviceError::Kind::kInternal, dev.message()};
  BuiltDevice b;
  b.type = kName;
  b.device = *dev;
  b.services = view;
  b.backend = to_options(spec);
  b.counters = blk->counters();
  b.bars = {bar->keep()};
  return b;
}

}  // namespace device_kinds

Result<DiskSpec> parse_disk(const std::string& text) { return device_kinds::spec_from_text<device_kinds::VirtioBlk>(text); }

}  // namespace tandem
