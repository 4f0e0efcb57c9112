// vmm/vm_config.cc: size and serial parsing, and the up-front validation of a VM's inputs.
#include "vmm/vm_config.h"

#include "devices/net/mac.h"
#include "devices/net/tap.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "base/unique_fd.h"
#include "vmm/arch/machine.h"

namespace tandem {

Result<uint64_t> parse_size(const std::string& text) {
  if (text.empty()) return Error{"empty size"};
  size_t i = 0;
  uint64_t v = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    uint64_t d = static_cast<uint64_t>(text[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return Error{"size '" + text + "' is too large"};
    v = v * 10 + d;
    ++i;
  }
  if (i == 0) return Error{"size '" + text + "' does not start with a number"};
  std::string unit = text.substr(i);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  int shift = 0;
  if (unit.empty() || unit == "B") shift = 0;
  else if (unit == "K" || unit == "KB" || unit == "KIB") shift = 10;
  else if (unit == "M" || unit == "MB" || unit == "MIB") shift = 20;
  else if (unit == "G" || unit == "GB" || unit == "GIB") shift = 30;
  else if (unit == "T" || unit == "TB" || unit == "TIB") shift = 40;
  else return Error{"size '" + text + "' has an unknown unit (use K, M, G or T)"};
  if (shift && v > (UINT64_MAX >> shift)) return Error{"size '" + text + "' is too large"};
  return v << shift;
}

Result<SerialSpec> parse_serial(const std::string& text) {
  SerialSpec s;
  if (text == "stdio") return s;
  if (text == "none") {
    s.kind = SerialSpec::Kind::kNone;
    return s;
  }
  if (text.rfind("file:", 0) == 0 && text.size() > 5) {
    s.kind = SerialSpec::Kind::kFile;
    s.path = text.substr(5);
    return s;
  }
  return Error{"serial '" + text + "' is not stdio, none or file:PATH"};
}

namespace {
// "k1=v1,k2=v2" as (key, value) pairs in order; every item must be KEY=VALUE with both non-empty.
Result<std::vector<std::pair<std::string, std::string>>> split_options(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? text.size() + 1 : comma + 1;
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      return Error{"'" + item + "' in '" + text + "' is not KEY=VALUE"};
    }
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return out;
}
}  // namespace

Result<uint32_t> parse_coalesce_us(const std::string& text) {
  if (text.empty() || text.size() > 6 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Error{"expected a whole number of microseconds"};
  }
  uint32_t us = static_cast<uint32_t>(std::stoul(text));
  if (us > net::kMaxTapCoalesceUs) return Error{"at most " + std::to_string(net::kMaxTapCoalesceUs) + " microseconds"};
  return us;
}

Result<NetSpec> parse_net(const std::string& text) {
  NetSpec spec;
  bool have_backend = false, have_coalesce = false;
  auto items = split_options(text);
  if (!items) return items.error();
  for (const auto& [key, value] : *items) {
    if (key == "tap" || key == "vhost-user") {
      if (have_backend) return Error{"'" + text + "' names more than one backend (tap= or vhost-user=)"};
      have_backend = true;
      if (key == "tap") {
        if (auto s = net::validate_ifname(value); !s) return Error{"tap=" + value + ": " + s.message()};
        spec.kind = NetSpec::Kind::kTap;
        spec.tap = value;
      } else {
        spec.kind = NetSpec::Kind::kVhostUser;
        spec.socket = value;
      }
    } else if (key == "vhost") {
      if (value != "on" && value != "off") return Error{"vhost=" + value + ": expected on or off"};
      spec.vhost = value == "on";
    } else if (key == "mac") {
      if (auto m = net::parse_mac(value); !m) return m.error();
      spec.mac = value;
    } else if (key == "coalesce") {
      auto us = parse_coalesce_us(value);
      if (!us) return Error{"coalesce=" + value + ": " + us.message()};
      spec.coalesce_us = *us;
      have_coalesce = true;
    } else {
      return Error{"unknown key '" + key + "' in '" + text + "' (expected tap, vhost-user, vhost, coalesce, mac)"};
    }
  }
  if (!have_backend) return Error{"'" + text + "' names no backend: give tap=NAME or vhost-user=SOCKET"};
  if (spec.vhost && spec.kind != NetSpec::Kind::kTap) return Error{"vhost=on only goes with tap=NAME"};
  if (have_coalesce && (spec.kind != NetSpec::Kind::kTap || spec.vhost)) {
    return Error{"coalesce= only goes with tap=NAME without vhost=on (the batching of tandem's own datapath)"};
  }
  return spec;
}

Status check_peer_bar_size(uint64_t size) {
  if (!vhost_pci::valid_peer_bar_size(size)) {
    return Error{"the peer BAR must be a power of two from 4G to 32G"};
  }
  return {};
}

Result<VhostPciSpec> parse_vhost_pci(const std::string& text) {
  VhostPciSpec spec;
  auto items = split_options(text);
  if (!items) return items.error();
  bool have_bar = false, have_hotplug = false, have_listen = false, have_section = false, have_unsealed = false;
  for (const auto& [key, value] : *items) {
    if (key == "socket") {
      spec.socket = value;
    } else if (key == "mode") {
      if (value == "symmetric") spec.mode = VhostPciSpec::Mode::kSymmetric;
      else if (value == "asymmetric") spec.mode = VhostPciSpec::Mode::kAsymmetric;
      else return Error{"mode=" + value + ": expected asymmetric or symmetric"};
    } else if (key == "bar") {
      auto size = parse_size(value);
      if (!size) return Error{"bar=" + value + ": " + size.message()};
      if (auto ok = check_peer_bar_size(*size); !ok) return Error{"bar=" + value + ": " + ok.message()};
      spec.bar_size = *size;
      have_bar = true;
    } else if (key == "hotplug_on_connect") {
      if (value != "on" && value != "off") return Error{"hotplug_on_connect=" + value + ": expected on or off"};
      spec.hotplug_on_connect = value == "on";
      have_hotplug = true;
    } else if (key == "allow_unsealed") {
      if (value != "on" && value != "off") return Error{"allow_unsealed=" + value + ": expected on or off"};
      spec.allow_unsealed = value == "on";
      have_unsealed = true;
    } else if (key == "peer_uid" || key == "peer_gid" || key == "peer_timeout") {
      char* end = nullptr;
      errno = 0;
      unsigned long n = std::strtoul(value.c_str(), &end, 10);
      bool timeout = key == "peer_timeout";
      if (value.empty() || !std::isdigit(static_cast<unsigned char>(value[0])) || *end || errno ||
          n > (timeout ? 3600UL : 0xfffffffeUL) || (timeout && n == 0)) {
        return Error{key + "=" + value + (timeout ? ": expected seconds from 1 to 3600" : ": expected a numeric id")};
      }
      if (key == "peer_uid") spec.peer_uid = static_cast<uint32_t>(n);
      else if (key == "peer_gid") spec.peer_gid = static_cast<uint32_t>(n);
      else spec.peer_timeout_s = static_cast<uint32_t>(n);
    } else if (key == "listen") {
      if (value != "on" && value != "off") return Error{"listen=" + value + ": expected on or off"};
      spec.listen = value == "on";
      have_listen = true;
    } else if (key == "section") {
      auto size = parse_size(value);
      if (!size) return Error{"section=" + value + ": " + size.message()};
      if (auto ok = check_section_size(*size); !ok) return Error{"section=" + value + ": " + ok.message()};
      spec.section_size = *size;
      have_section = true;
    } else {
      return Error{"unknown key '" + key + "' in '" + text + "' (expected socket, mode, bar, hotplug_on_connect, allow_unsealed, peer_uid, peer_gid, peer_timeout, listen, section)"};
    }
  }
  if (spec.socket.empty()) return Error{"'" + text + "' names no socket: give socket=PATH"};
  if (spec.socket.size() >= 108) return Error{"socket path " + spec.socket + " is longer than a Unix socket allows (107)"};
  bool symmetric = spec.mode == VhostPciSpec::Mode::kSymmetric;
  if (symmetric && have_bar) return Error{"bar= is for mode=asymmetric: a symmetric device has no peer-memory BAR (see section=)"};
  if (symmetric && have_hotplug) return Error{"hotplug_on_connect= is for mode=asymmetric"};
  if (symmetric && have_unsealed) return Error{"allow_unsealed= is for mode=asymmetric (a symmetric peer's section must be sealed)"};
  if (!symmetric && have_listen) return Error{"listen= is for mode=symmetric (an asymmetric device always listens)"};
  if (!symmetric && have_section) return Error{"section= is for mode=symmetric"};
  return spec;
}

Status check_section_size(uint64_t size) {
  // The rule is the link's (both tandems of a pair check it there too); the words are the CLI's.
  if (!vhost_pci::link::check_section_size(size)) return Error{"a section must be a power of two from 1M to 64M"};
  return {};
}

std::string vhost_pci_spec_text(const VhostPciSpec& spec) {
  std::string peers = (spec.peer_uid ? ",peer_uid=" + std::to_string(*spec.peer_uid) : std::string()) +
                      (spec.peer_gid ? ",peer_gid=" + std::to_string(*spec.peer_gid) : std::string()) +
                      (spec.peer_timeout_s != 10 ? ",peer_timeout=" + std::to_string(spec.peer_timeout_s) : std::string());
  if (spec.mode == VhostPciSpec::Mode::kSymmetric) {
    return "socket=" + spec.socket + ",mode=symmetric,listen=" + (spec.listen ? "on" : "off") +
           ",section=" + std::to_string(spec.section_size) + peers;
  }
  return "socket=" + spec.socket + ",bar=" + std::to_string(spec.bar_size) + (spec.hotplug_on_connect ? ",hotplug_on_connect=on" : "") +
         (spec.allow_unsealed ? ",allow_unsealed=on" : "") + peers;
}

std::string net_spec_text(const NetSpec& spec) {
  std::string s = spec.kind == NetSpec::Kind::kTap ? "tap=" + spec.tap + (spec.vhost ? ",vhost=on" : "") : "vhost-user=" + spec.socket;
  if (spec.kind == NetSpec::Kind::kTap && !spec.vhost && spec.coalesce_us != net::kDefaultTapCoalesceUs) {
    s += ",coalesce=" + std::to_string(spec.coalesce_us);
  }
  return spec.mac.empty() ? s : s + ",mac=" + spec.mac;
}

std::string default_mac_seed(const NetSpec& spec) {
  return spec.kind == NetSpec::Kind::kTap ? "tap:" + spec.tap : "vhost-user:" + spec.socket;
}

Result<std::vector<uint8_t>> read_file(const std::string& path, const std::string& what, uint64_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error(what + " " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) return errno_error(what + " " + path);
  if (!S_ISREG(st.st_mode)) return Error{what + " " + path + " is not a regular file"};
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Error{what + " " + path + " is " + std::to_string(st.st_size >> 20) + " MiB, more than the " +
                 std::to_string(max_bytes >> 20) + " MiB allowed"};
  }
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("reading " + what + " " + path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  return data;
}

Result<BootFiles> validate(const VmConfig& cfg) {
  if (cfg.kernel.empty()) return Error{"no kernel given (--kernel PATH)"};
  auto plan = arch::plan_memory(cfg.memory);
  if (!plan) return Error{"--memory: " + plan.message()};
  if (cfg.cpus == 0) return Error{"--cpus: 0 vCPUs requested; at least 1 is needed"};
  if (!cfg.xsave && std::string(arch::name()) != "x86_64") return Error{std::string("--xsave off: an x86_64 option; this tandem is built for ") + arch::name()};
  if (cfg.cpus > arch::max_cpus()) {
    return Error{"--cpus: " + std::to_string(cfg.cpus) + " vCPUs requested; tandem for " + arch::name() + " supports at most " +
                 std::to_string(arch::max_cpus())};
  }
  BootFiles files;
  auto kernel = read_file(cfg.kernel, "kernel", 256ULL << 20);
  if (!kernel) return kernel.error();
  files.kernel = std::move(kernel).value();
  if (!cfg.initrd.empty()) {
    auto initrd = read_file(cfg.initrd, "initrd", cfg.memory);
    if (!initrd) return initrd.error();
    files.initrd = std::move(initrd).value();
  }
  if (auto s = arch::check_boot_files(*plan, cfg.cmdline, files.kernel, files.initrd.size()); !s) {
    const std::string& m = s.message();
    if (m.rfind("--", 0) == 0) return s.error();
    if (m.rfind("initrd: ", 0) == 0) return Error{"initrd " + cfg.initrd + ": " + m.substr(8)};
    if (m.rfind("kernel: ", 0) == 0) return Error{"kernel " + cfg.kernel + ": " + m.substr(8)};
    return Error{"kernel " + cfg.kernel + ": " + m};
  }
  if (!arch::has_pci_hotplug()) {
    for (const VhostPciSpec& v : cfg.vhost_pcis) {
      if (v.hotplug_on_connect) {
        return Error{"--vhost-pci " + vhost_pci_spec_text(v) + ": hotplug_on_connect needs PCI hotplug, which tandem for " +
                     arch::name() + " does not have yet"};
      }
    }
  }
  if (cfg.serial.kind == SerialSpec::Kind::kFile && cfg.serial.path.empty()) return Error{"--serial file: needs a path"};
  if (cfg.ready_fd >= 0 && ::fcntl(cfg.ready_fd, F_GETFD) < 0) {
    return Error{"--ready-fd " + std::to_string(cfg.ready_fd) + " is not an open file descriptor"};
  }
  return files;
}

}  // namespace tandem
