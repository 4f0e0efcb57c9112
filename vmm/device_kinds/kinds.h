// vmm/device_kinds/kinds.h: the device kinds tandem knows, and the lists of a VM's devices.
//
// The command line, the manifest, the API and the device manager iterate over `Kinds`; each kind
// (virtio_net.h, vhost_pci_net.h, virtio_blk.h) says in one place how it is written and built. A new kind is
// its own module plus its name in the list below.
#pragma once

#include <cstddef>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "vmm/device_kinds/vhost_pci_net.h"
#include "vmm/device_kinds/virtio_blk.h"
#include "vmm/device_kinds/virtio_net.h"

namespace tandem::device_kinds {

template <typename... K>
struct KindList {
  // Calls f(K{}) for each kind, in order.
  template <typename F>
  static void each(F&& f) {
    (f(K{}), ...);
  }
  // The first kind whose name is `name` gets f(K{}); false when none has it.
  template <typename F>
  static bool with_name(const std::string& name, F&& f) {
    return ((name == K::kName ? (f(K{}), true) : false) || ...);
  }
  using Spec = std::variant<typename K::Spec...>;
  using Lists = std::tuple<std::vector<typename K::Spec>...>;
};

// The registration: every device kind, in cold-plug order.
using Kinds = KindList<VirtioNet, VhostPciNet, VirtioBlk>;

// "virtio-net or vhost-pci-net": the kinds' names, for messages.
std::string kind_names();

}  // namespace tandem::device_kinds

namespace tandem {

// One device of any kind (an API request's).
using DeviceSpec = device_kinds::Kinds::Spec;

// The command line's value for `spec` ("tap=tp0,vhost=on"): it parses back to `spec`.
template <typename S>
std::string device_text(const S& spec) {
  return device_kinds::options_text(S::Of::to_options(spec));
}
// "--net tap=tp0": the option and its value, for messages.
template <typename S>
std::string device_option_text(const S& spec) {
  return std::string(S::Of::kOption) + " " + device_text(spec);
}

// A VM's devices, one list per kind (the command line's order within a kind).
struct DeviceSpecs {
  device_kinds::Kinds::Lists lists;

  template <typename S>
  std::vector<S>& of() { return std::get<std::vector<S>>(lists); }
  template <typename S>
  const std::vector<S>& of() const { return std::get<std::vector<S>>(lists); }
  size_t size() const {
    return std::apply([](const auto&... l) { return (l.size() + ... + size_t{0}); }, lists);
  }
  // f(kind, spec) for every device: the kinds in their order, each kind's devices in theirs.
  template <typename F>
  void each(F&& f) const {
    device_kinds::Kinds::each([&](auto kind) {
      for (const auto& spec : of<typename decltype(kind)::Spec>()) f(kind, spec);
    });
  }
};

}  // namespace tandem
