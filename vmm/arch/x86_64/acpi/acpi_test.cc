// Unit tests for vmm/arch/x86_64/acpi: AML encodings at their boundaries, every table's layout and
// checksum, the placement in guest memory, and an independent check by ACPICA's disassembler
// (iasl -d), including a recompile of the disassembled DSDT that must give back our AML byte for
// byte.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "base/le.h"
#include "memory/guest_memory.h"
#include "vmm/arch/x86_64/acpi/aml.h"
#include "vmm/arch/x86_64/acpi/tables.h"
#include "vmm/arch/x86_64/layout.h"

using namespace tandem;
using namespace tandem::acpi;
using namespace tandem::x86;  // the address map: layout::, plan_ram
using aml::Bytes;

namespace {

Config pci_config(uint32_t cpus = 4) {
  return Config{
      .num_cpus = cpus,
      .ecam_base = layout::kEcamStart,
      .ecam_size = layout::kEcamSize,
      .mmio32_base = layout::kMmio32Start,
      .mmio32_size = layout::kMmio32Size,
      .mmio64_base = 64 * layout::GiB,
      .mmio64_size = 64 * layout::GiB,
      .pio_base = layout::kPioWindowStart,
      .pio_size = layout::kPioWindowSize,
      .power_button_gsi = 5,
      .hotplug_port = layout::kHotplugPort,
  };
}

uint8_t sum(const Bytes& b, size_t from = 0, size_t to = SIZE_MAX) {
  uint8_t s = 0;
  for (size_t i = from; i < b.size() && i < to; ++i) s = static_cast<uint8_t>(s + b[i]);
  return s;
}

const Table* find(const std::vector<Table>& tables, const std::string& name) {
  for (const auto& t : tables) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

uint64_t u64(const Bytes& b, size_t off) { return load_le<uint64_t>(b, off).value(); }
uint32_t u32(const Bytes& b, size_t off) { return load_le<uint32_t>(b, off).value(); }
uint16_t u16(const Bytes& b, size_t off) { return load_le<uint16_t>(b, off).value(); }
std::string chars(const Bytes& b, size_t off, size_t n) { return std::string(b.begin() + off, b.begin() + off + n); }

// Decodes a PkgLength (independently of the encoder): {value, bytes used}.
std::pair<uint32_t, size_t> decode_pkg_length(const Bytes& b) {
  size_t follow = b[0] >> 6;
  if (follow == 0) return {b[0] & 0x3fu, 1};
  uint32_t v = b[0] & 0xfu;
  for (size_t i = 0; i < follow; ++i) v |= static_cast<uint32_t>(b[1 + i]) << (4 + 8 * i);
  return {v, follow + 1};
}

// MADT subtable types, in order.
std::vector<uint8_t> madt_types(const Bytes& madt) {
  std::vector<uint8_t> types;
  for (size_t off = 44; off + 2 <= madt.size(); off += madt[off + 1]) {
    REQUIRE(madt[off + 1] >= 2);
    types.push_back(madt[off]);
  }
  return types;
}

// --- iasl plumbing ---

struct Run {
  int status;
  std::string output;
};

Run run(const std::string& cmd) {
  Run r{-1, ""};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string iasl() { return ::access("/usr/bin/iasl", X_OK) == 0 ? "/usr/bin/iasl" : "iasl"; }

std::string temp_dir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/acpi_test.XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  REQUIRE(::mkdtemp(buf.data()) != nullptr);
  return buf.data();
}

void write_file(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  REQUIRE(f.good());
}

Bytes read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Whitespace runs collapsed to one space, so checks do not depend on iasl's indentation.
std::string squash(const std::string& s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

bool has(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

// Disassembles one table with iasl -d; checks iasl is happy and returns the squashed .dsl.
std::string disassemble(const std::string& dir, const Table& t) {
  const std::string dat = dir + "/" + t.name + ".dat";
  const std::string prefix = dir + "/" + t.name;
  write_file(dat, t.bytes);
  Run r = run(iasl() + " -p '" + prefix + "' -d '" + dat + "'");
  INFO("iasl output for ", t.name, ":\n", r.output);
  REQUIRE(r.status == 0);
  CHECK_FALSE(has(r.output, "Error"));
  CHECK_FALSE(has(r.output, "Warning"));
  CHECK_FALSE(has(r.output, "Incorrect checksum"));
  std::ifstream f(prefix + ".dsl");
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string dsl = ss.str();
  CHECK_FALSE(has(dsl, "Incorrect checksum"));
  CHECK_FALSE(has(dsl, "**** "));
  return squash(dsl);
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// AML encodings

TEST_CASE("AML PkgLength: exact bytes at every size boundary") {
  CHECK(aml::encode_pkg_length(0).value() == Bytes{0x00});
  CHECK(aml::encode_pkg_length(63).value() == Bytes{0x3f});
  CHECK(aml::encode_pkg_length(64).value() == Bytes{0x40, 0x04});
  CHECK(aml::encode_pkg_length(4095).value() == Bytes{0x4f, 0xff});
  CHECK(aml::encode_pkg_length(4096).value() == Bytes{0x80, 0x00, 0x01});
  CHECK(aml::encode_pkg_length(0xfffff).value() == Bytes{0x8f, 0xff, 0xff});
  CHECK(aml::encode_pkg_length(0x100000).value() == Bytes{0xc0, 0x00, 0x00, 0x01});
  CHECK(aml::encode_pkg_length(0xfffffff).value() == Bytes{0xcf, 0xff, 0xff, 0xff});
  CHECK_FALSE(aml::encode_pkg_length(0x10000000).ok());

  // The length counts its own bytes: 62 bytes of content fit a 1-byte PkgLength, 63 do not.
  CHECK(aml::pkg_length_for(62).value() == Bytes{0x3f});
  CHECK(aml::pkg_length_for(63).value() == Bytes{0x41, 0x04});  // 65
  CHECK(aml::pkg_length_for(4093).value() == Bytes{0x4f, 0xff});  // 4095
  CHECK(aml::pkg_length_for(4094).value() == Bytes{0x81, 0x00, 0x01});  // 4097
  CHECK(aml::pkg_length_for(0xfffff - 3).value().size() == 3);
  CHECK(aml::pkg_length_for(0xfffff - 2).value().size() == 4);
  CHECK(aml::pkg_length_for(0xfffffff - 4).value().size() == 4);
  CHECK_FALSE(aml::pkg_length_for(0xfffffff - 3).ok());

  // Around each boundary the decoded value is content + own size, with the fewest bytes possible.
  for (size_t edge : {size_t{63}, size_t{4095}, size_t{0xfffff}, size_t{0xfffffff}}) {
    for (size_t content = edge - 6; content <= edge; ++content) {
      auto enc = aml::pkg_length_for(content);
      if (!enc) {
        CHECK(edge == 0xfffffff);
        continue;
      }
      auto [value, used] = decode_pkg_length(*enc);
      CAPTURE(content);
      CHECK(used == enc->size());
      CHECK(value == content + used);
      // Minimal: one byte fewer could not hold content + its own size.
      const size_t max_for[] = {0, 0x3f, 0xfff, 0xfffff};
      if (used > 1) CHECK(content + used - 1 > max_for[used - 1]);
    }
  }
}

TEST_CASE("AML PkgLength inside large Buffers") {
  for (auto [size, want_used] : {std::pair<size_t, size_t>{3000, 2}, {5000, 3}}) {
    CAPTURE(size);
    Bytes data(size, 0xab);
    auto b = aml::buffer(data).value();
    REQUIRE(b[0] == 0x11);
    auto [value, used] = decode_pkg_length(Bytes(b.begin() + 1, b.begin() + 5));
    CHECK(used == want_used);
    CHECK(value == b.size() - 1);  // everything after the opcode
    CHECK(b[1 + used] == 0x0b);    // BufferSize as a WordConst
    CHECK(u16(b, 2 + used) == size);
    CHECK(b.size() == 1 + used + 3 + size);
  }
}

TEST_CASE("EISAID encoding") {
  CHECK(aml::eisa_id_value("PNP0501").value() == 0x0105d041);
  CHECK(aml::eisa_id_value("PNP0A08").value() == 0x080ad041);
  CHECK(aml::eisa_id_value("PNP0A03").value() == 0x030ad041);
  CHECK(aml::eisa_id_value("PNP0C02").value() == 0x020cd041);
  CHECK(aml::eisa_id("PNP0501").value() == Bytes{0x0c, 0x41, 0xd0, 0x05, 0x01});
  CHECK_FALSE(aml::eisa_id_value("pnp0501").ok());
  CHECK_FALSE(aml::eisa_id_value("PNP050").ok());
  CHECK_FALSE(aml::eisa_id_value("PNP05G1").ok());
  CHECK_FALSE(aml::eisa_id_value("PNP05011").ok());
}

TEST_CASE("AML integers use the shortest encoding") {
  CHECK(aml::integer(0).value() == Bytes{0x00});
  CHECK(aml::integer(1).value() == Bytes{0x01});
  CHECK(aml::integer(UINT64_MAX).value() == Bytes{0xff});
  CHECK(aml::integer(2).value() == Bytes{0x0a, 0x02});
  CHECK(aml::integer(0xff).value() == Bytes{0x0a, 0xff});
  CHECK(aml::integer(0x100).value() == Bytes{0x0b, 0x00, 0x01});
  CHECK(aml::integer(0xffff).value() == Bytes{0x0b, 0xff, 0xff});
  CHECK(aml::integer(0x10000).value() == Bytes{0x0c, 0x00, 0x00, 0x01, 0x00});
  CHECK(aml::integer(0xffffffff).value() == Bytes{0x0c, 0xff, 0xff, 0xff, 0xff});
  CHECK(aml::integer(0x100000000).value() == Bytes{0x0e, 0, 0, 0, 0, 1, 0, 0, 0});
  CHECK(aml::byte_const(1).value() == Bytes{0x0a, 0x01});
  CHECK(aml::string("Hi").value() == Bytes{0x0d, 'H', 'i', 0x00});
  CHECK_FALSE(aml::string(std::string("a\0b", 3)).ok());
}

TEST_CASE("AML names: segments padded with '_', root, parent, dual and multi paths") {
  CHECK(aml::name_seg("_S5").value() == Bytes{'_', 'S', '5', '_'});
  CHECK(aml::name_seg("A").value() == Bytes{'A', '_', '_', '_'});
  CHECK(aml::name_string("\\_SB_").value() == Bytes{0x5c, '_', 'S', 'B', '_'});
  CHECK(aml::name_string("\\_SB").value() == Bytes{0x5c, '_', 'S', 'B', '_'});
  CHECK(aml::name_string("\\_SB.PCI0").value() == Bytes{0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'});
  CHECK(aml::name_string("\\_SB.PCI0.S8").value() ==
        Bytes{0x5c, 0x2f, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'S', '8', '_', '_'});
  CHECK(aml::name_string("^^COM1").value() == Bytes{0x5e, 0x5e, 'C', 'O', 'M', '1'});
  CHECK(aml::name_string("\\").value() == Bytes{0x5c, 0x00});
  for (const char* bad : {"", "TOOLONG", "1ABC", "com1", "\\_SB..X", "A.", "A-B"}) {
    CAPTURE(bad);
    CHECK_FALSE(aml::name_string(bad).ok());
  }
}

TEST_CASE("AML named objects, packages, methods: exact bytes") {
  using namespace aml;
  CHECK(name("_S5", package({integer(5), integer(0), integer(0), integer(0)})).value() ==
        Bytes{0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0a, 0x05, 0x00, 0x00, 0x00});
  CHECK(device("COM1", {}).value() == Bytes{0x5b, 0x82, 0x05, 'C', 'O', 'M', '1'});
  CHECK(scope("\\_SB", {}).value() == Bytes{0x10, 0x06, 0x5c, '_', 'S', 'B', '_'});
  CHECK(method("_STA", 0, false, {return_value(integer(0x0f))}).value() ==
        Bytes{0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f});
  CHECK(method("MTH", 2, true, {}, 3).value() == Bytes{0x14, 0x06, 'M', 'T', 'H', '_', 0x3a});
  CHECK(store(integer(1), local(0)).value() == Bytes{0x70, 0x01, 0x60});
  CHECK(store(arg(6), local(7)).value() == Bytes{0x70, 0x6e, 0x67});
  CHECK(notify(reference("PCI0"), integer(0)).value() == Bytes{0x86, 'P', 'C', 'I', '0', 0x00});
  CHECK(and_(local(0), integer(2)).value() == Bytes{0x7b, 0x60, 0x0a, 0x02, 0x00});
  CHECK(shift_left(integer(1), arg(0)).value() == Bytes{0x79, 0x01, 0x68, 0x00});
  CHECK(if_(and_(local(0), integer(1)), {notify(reference("S01"), integer(1))}).value() ==
        Bytes{0xa0, 0x0b, 0x7b, 0x60, 0x01, 0x00, 0x86, 'S', '0', '1', '_', 0x01});
  CHECK(io_region("PHPR", 0x600, 16).value() == Bytes{0x5b, 0x80, 'P', 'H', 'P', 'R', 0x01, 0x0b, 0x00, 0x06, 0x0a, 0x10});
  CHECK(dword_fields("PHPR", {"PCIU", "B0EJ"}).value() ==
        Bytes{0x5b, 0x81, 0x10, 'P', 'H', 'P', 'R', 0x43, 'P', 'C', 'I', 'U', 0x20, 'B', '0', 'E', 'J', 0x20});
  CHECK_FALSE(io_region("PHPR", 0xfff8, 16).ok());
  CHECK_FALSE(io_region("PHPR", 0x600, 0).ok());
  CHECK_FALSE(dword_fields("PHPR", {"TOOLONG"}).ok());
  CHECK_FALSE(local(8).ok());
  CHECK_FALSE(arg(7).ok());
  CHECK_FALSE(method("M", 8, false, {}).ok());
  CHECK_FALSE(package(std::vector<Aml>(256, integer(0))).ok());

  // A package longer than 63 bytes needs a 2-byte PkgLength.
  auto big = package(std::vector<Aml>(40, integer(0x1234))).value();  // 1 + 40*3 = 121 bytes of content
  CHECK(big[0] == 0x12);
  CHECK(decode_pkg_length(Bytes(big.begin() + 1, big.begin() + 3)).first == big.size() - 1);

  // Errors deep in a tree reach the top, with what went wrong.
  auto bad = scope("\\_SB", {device("DEV0", {name("_HID", eisa_id("nope"))})});
  REQUIRE_FALSE(bad.ok());
  CHECK(has(bad.message(), "EISA id"));
}

TEST_CASE("resource descriptors and the EndTag checksum") {
  using namespace aml;
  CHECK(io(0x3f8, 0x3f8, 1, 8).value() == Bytes{0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08});
  CHECK(irq_no_flags({4}).value() == Bytes{0x22, 0x10, 0x00});
  CHECK(irq_no_flags({3, 4}).value() == Bytes{0x22, 0x18, 0x00});
  CHECK_FALSE(irq_no_flags({16}).ok());
  CHECK_FALSE(irq_no_flags({}).ok());
  CHECK(memory32_fixed(0xe0000000, 0x10000000).value() ==
        Bytes{0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe0, 0x00, 0x00, 0x00, 0x10});
  CHECK_FALSE(memory32_fixed(0xf0000000, 0x20000000).ok());

  auto bus = word_bus_number({.min = 0, .max = 0xff}).value();
  CHECK(bus == Bytes{0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0, 0, 0xff, 0, 0, 0, 0x00, 0x01});
  auto wio = word_io({.min = 0x1000, .max = 0xffff}).value();
  CHECK(wio.size() == 16);
  CHECK(wio[3] == 1);     // I/O
  CHECK(wio[5] == 3);     // EntireRange
  CHECK(u16(wio, 14) == 0xf000);
  auto dmem = dword_memory({.min = 0xc0000000, .max = 0xdfffffff}).value();
  CHECK(dmem.size() == 26);
  CHECK(u16(dmem, 1) == 23);
  CHECK(u32(dmem, 10) == 0xc0000000);
  CHECK(u32(dmem, 14) == 0xdfffffff);
  CHECK(u32(dmem, 22) == 0x20000000);
  auto qmem = qword_memory({.min = 1ULL << 36, .max = (1ULL << 37) - 1}, Cacheable::kPrefetchable).value();
  CHECK(qmem.size() == 46);
  CHECK(u16(qmem, 1) == 43);
  CHECK(qmem[5] == 0x07);  // ReadWrite | Prefetchable << 1
  CHECK(u64(qmem, 38) == 1ULL << 36);
  auto consumer = qword_memory({.min = 0, .max = 0xfff, .producer = false}).value();
  CHECK(consumer[4] == 0x0d);  // consumer, MinFixed, MaxFixed
  CHECK_FALSE(word_io({.min = 0x1000, .max = 0x10000}).ok());
  CHECK_FALSE(dword_memory({.min = 0x2000, .max = 0x1000}).ok());
  CHECK_FALSE(qword_memory({.min = 0, .max = UINT64_MAX}).ok());

  auto rt = resource_template({irq_no_flags({4})}).value();
  CHECK(rt == Bytes{0x11, 0x08, 0x0a, 0x05, 0x22, 0x10, 0x00, 0x79, static_cast<uint8_t>(-(0x22 + 0x10 + 0x79))});
  CHECK(sum(rt, 4) == 0);  // the template bytes (after Buffer op, PkgLength, size) sum to zero
}

// ------------------------------------------------------------------------------------------------
// Tables

TEST_CASE("every table has its signature, length and a zero byte sum") {
  for (const Config& cfg : {Config{.num_cpus = 1}, pci_config(4)}) {
    auto tables = build_tables(cfg);
    REQUIRE(tables.ok());
    for (const auto& t : *tables) {
      CAPTURE(t.name);
      CHECK(t.gpa % 16 == 0);
      if (t.name == "RSDP") continue;
      CHECK(chars(t.bytes, 0, 4) == t.name);
      CHECK(u32(t.bytes, 4) == t.bytes.size());
      CHECK(sum(t.bytes) == 0);
      CHECK(chars(t.bytes, 10, 6) == "TANDEM");
      CHECK(chars(t.bytes, 16, 8) == "TANDEMVM");
    }
    CHECK((find(*tables, "MCFG") != nullptr) == (cfg.ecam_size != 0));
  }
}

TEST_CASE("RSDP: first, revision 2, both checksums, points at the XSDT; XSDT lists FADT, MADT, MCFG") {
  auto tables = build_tables(pci_config());
  REQUIRE(tables.ok());
  const Table& rsdp = tables->front();
  CHECK(rsdp.name == "RSDP");
  CHECK(rsdp.gpa == layout::kBiosAreaStart);
  REQUIRE(rsdp.bytes.size() == 36);
  CHECK(chars(rsdp.bytes, 0, 8) == "RSD PTR ");
  CHECK(rsdp.bytes[15] == 2);
  CHECK(chars(rsdp.bytes, 9, 6) == "TANDEM");
  CHECK(sum(rsdp.bytes, 0, 20) == 0);
  CHECK(sum(rsdp.bytes) == 0);
  CHECK(u32(rsdp.bytes, 20) == 36);
  const Table* xsdt = find(*tables, "XSDT");
  REQUIRE(xsdt);
  CHECK(u64(rsdp.bytes, 24) == xsdt->gpa);

  REQUIRE(xsdt->bytes.size() == 36 + 3 * 8);
  CHECK(u64(xsdt->bytes, 36) == find(*tables, "FACP")->gpa);
  CHECK(u64(xsdt->bytes, 44) == find(*tables, "APIC")->gpa);
  CHECK(u64(xsdt->bytes, 52) == find(*tables, "MCFG")->gpa);

  auto plain = build_tables(Config{.num_cpus = 1});
  REQUIRE(plain.ok());
  CHECK(find(*plain, "XSDT")->bytes.size() == 36 + 2 * 8);

  // Tables do not overlap and stay below 1 MiB.
  for (size_t i = 1; i < tables->size(); ++i) {
    CHECK((*tables)[i].gpa >= (*tables)[i - 1].gpa + (*tables)[i - 1].bytes.size());
  }
  CHECK(tables->back().gpa + tables->back().bytes.size() <= layout::kBiosAreaEnd);
}

TEST_CASE("FADT: hardware-reduced, flags, boot architecture, registers at their ACPI 6 offsets") {
  auto tables = build_tables(Config{.num_cpus = 2});
  REQUIRE(tables.ok());
  const Bytes& f = find(*tables, "FACP")->bytes;
  const uint64_t dsdt = find(*tables, "DSDT")->gpa;
  REQUIRE(f.size() == 276);
  CHECK(f[8] == 6);
  CHECK(u32(f, 40) == dsdt);   // DSDT
  CHECK(u64(f, 140) == dsdt);  // X_DSDT
  CHECK(u32(f, 36) == 0);      // no FACS
  CHECK(u64(f, 132) == 0);
  CHECK(u16(f, 46) == 0);      // no SCI
  CHECK(u32(f, 112) == ((1u << 4) | (1u << 5) | (1u << 10) | (1u << 20)));
  const uint16_t boot_arch = u16(f, 109);
  CHECK((boot_arch & (1u << 1)) == 0);  // no 8042
  CHECK((boot_arch & (1u << 2)) != 0);  // VGA not present
  CHECK((boot_arch & (1u << 4)) != 0);  // PCIe ASPM controls
  CHECK((boot_arch & (1u << 5)) != 0);  // CMOS RTC not present
  // RESET_REG: System I/O, 8 bits, byte access, port; RESET_VALUE.
  CHECK(Bytes(f.begin() + 116, f.begin() + 120) == Bytes{1, 8, 0, 1});
  CHECK(u64(f, 120) == layout::kAcpiResetPort);
  CHECK(f[128] == layout::kAcpiResetValue);
  // SLEEP_CONTROL_REG and SLEEP_STATUS_REG.
  for (size_t off : {size_t{244}, size_t{256}}) {
    CHECK(Bytes(f.begin() + off, f.begin() + off + 4) == Bytes{1, 8, 0, 1});
    CHECK(u64(f, off + 4) == layout::kAcpiSleepPort);
  }
  CHECK(chars(f, 268, 8) == std::string("TANDEM\0\0", 8));
}

TEST_CASE("MADT: one local APIC per CPU, the IOAPIC, IRQ0 override, LINT1 NMI") {
  for (uint32_t cpus : {1u, 4u}) {
    CAPTURE(cpus);
    auto tables = build_tables(Config{.num_cpus = cpus});
    REQUIRE(tables.ok());
    const Bytes& m = find(*tables, "APIC")->bytes;
    CHECK(m[8] == 5);
    CHECK(u32(m, 36) == layout::kLapicAddr);
    CHECK(u32(m, 40) == 1);  // PCAT_COMPAT
    std::vector<uint8_t> want(cpus, 0);
    want.insert(want.end(), {1, 2, 4});
    CHECK(madt_types(m) == want);
    for (uint32_t i = 0; i < cpus; ++i) {
      const size_t off = 44 + 8 * i;
      CHECK(m[off + 1] == 8);
      CHECK(m[off + 2] == i);  // ACPI processor UID
      CHECK(m[off + 3] == i);  // APIC ID
      CHECK(u32(m, off + 4) == 1);
    }
    const size_t io = 44 + 8 * cpus;
    CHECK(m[io + 2] == cpus);  // IOAPIC id
    CHECK(u32(m, io + 4) == layout::kIoapicAddr);
    CHECK(u32(m, io + 8) == 0);
    const size_t iso = io + 12;
    CHECK(Bytes(m.begin() + iso, m.begin() + iso + 4) == Bytes{2, 10, 0, 0});
    CHECK(u32(m, iso + 4) == 2);
    CHECK(u16(m, iso + 8) == 0);
    const size_t nmi = iso + 10;
    CHECK(Bytes(m.begin() + nmi, m.end()) == Bytes{4, 6, 0xff, 0, 0, 1});
  }
}

TEST_CASE("MCFG: one allocation with the ECAM buses") {
  auto tables = build_tables(pci_config());
  REQUIRE(tables.ok());
  const Bytes& m = find(*tables, "MCFG")->bytes;
  REQUIRE(m.size() == 60);
  CHECK(u64(m, 44) == layout::kEcamStart);
  CHECK(u16(m, 52) == 0);
  CHECK(m[54] == 0);
  CHECK(m[55] == 0xff);

  Config small = pci_config();
  small.ecam_size = 16 * layout::MiB;
  auto t2 = build_tables(small);
  REQUIRE(t2.ok());
  CHECK(find(*t2, "MCFG")->bytes[55] == 15);
}

TEST_CASE("write_tables: the tables land in guest memory and a legacy scan finds the RSDP") {
  auto ram = plan_ram(64 * layout::MiB);
  REQUIRE(ram.ok());
  auto mem = GuestMemory::create(*ram);
  REQUIRE(mem.ok());
  Config cfg = pci_config(2);
  auto rsdp = write_tables(*mem, cfg);
  REQUIRE(rsdp.ok());
  CHECK(*rsdp == layout::kBiosAreaStart);

  auto tables = build_tables(cfg);
  REQUIRE(tables.ok());
  for (const auto& t : *tables) {
    Bytes got(t.bytes.size());
    REQUIRE(mem->read(t.gpa, got).ok());
    CAPTURE(t.name);
    CHECK(got == t.bytes);
  }

  std::vector<uint64_t> found;
  for (uint64_t gpa = layout::kBiosAreaStart; gpa < layout::kBiosAreaEnd; gpa += 16) {
    Bytes b(20);
    REQUIRE(mem->read(gpa, b).ok());
    if (chars(b, 0, 8) == "RSD PTR " && sum(b) == 0) found.push_back(gpa);
  }
  CHECK(found == std::vector<uint64_t>{*rsdp});
  // The RSDP's XSDT pointer leads to the XSDT in memory.
  const uint64_t xsdt = mem->read_le<uint64_t>(*rsdp + 24).value();
  CHECK(mem->read_le<uint32_t>(xsdt).value() == 0x54445358);  // "XSDT"
}

TEST_CASE("write_tables and build_tables refuse what cannot work") {
  // Guest RAM that stops before the BIOS area.
  auto small = GuestMemory::create({{0, layout::kBiosAreaStart}});
  REQUIRE(small.ok());
  auto r = write_tables(*small, Config{.num_cpus = 1});
  REQUIRE_FALSE(r.ok());
  CHECK(has(r.message(), "writing ACPI tables"));
  // Two pages of RAM at the BIOS area are enough (the tables take under 8 KiB even with 254 CPUs
  // and the 31 hotplug slots).
  auto two_pages = GuestMemory::create({{0, layout::kBiosAreaStart + 8192}});
  REQUIRE(two_pages.ok());
  CHECK(write_tables(*two_pages, pci_config(254)).ok());

  // Tables that would not fit the window (e.g. below 1 MiB).
  auto tight = build_tables(Config{.num_cpus = 1}, layout::kBiosAreaStart, layout::kBiosAreaStart + 0x100);
  REQUIRE_FALSE(tight.ok());
  CHECK(has(tight.message(), "must end by"));
  CHECK_FALSE(build_tables(Config{.num_cpus = 1}, layout::kBiosAreaEnd - 0x200).ok());
  CHECK(build_tables(Config{.num_cpus = 254}).ok());

  // Bad configurations.
  CHECK_FALSE(build_tables(Config{.num_cpus = 0}).ok());
  CHECK_FALSE(build_tables(Config{.num_cpus = 255}).ok());
  Config odd = pci_config();
  odd.ecam_size = layout::MiB + 1;
  CHECK_FALSE(build_tables(odd).ok());
  Config too_many = pci_config();
  too_many.ecam_size = 512 * layout::MiB;
  CHECK_FALSE(build_tables(too_many).ok());
  Config no_ecam{.num_cpus = 1, .mmio32_base = layout::kMmio32Start, .mmio32_size = layout::kMmio32Size};
  CHECK_FALSE(build_tables(no_ecam).ok());
  Config pio_wraps = pci_config();
  pio_wraps.pio_size = 0xf001;
  CHECK_FALSE(build_tables(pio_wraps).ok());
  Config mmio32_high = pci_config();
  mmio32_high.mmio32_base = 0xf0000000;
  CHECK_FALSE(build_tables(mmio32_high).ok());
  Config hotplug_without_ged = pci_config();
  hotplug_without_ged.power_button_gsi = 0;
  auto no_ged = build_tables(hotplug_without_ged);
  REQUIRE_FALSE(no_ged.ok());
  CHECK(has(no_ged.message(), "PCI hotplug needs the Generic Event Device"));
  Config hotplug_ports_wrap = pci_config();
  hotplug_ports_wrap.hotplug_port = 0xfff8;
  CHECK_FALSE(build_tables(hotplug_ports_wrap).ok());
}

TEST_CASE("without hotplug the GED presses the button directly and PCI0 has no slots") {
  Config cfg = pci_config();
  cfg.hotplug_port = 0;
  auto dsdt = build_dsdt(cfg);
  REQUIRE(dsdt.ok());
  const std::string text(dsdt->begin(), dsdt->end());
  CHECK_FALSE(has(text, "PCNT"));
  CHECK_FALSE(has(text, "S01_"));
  CHECK_FALSE(has(text, "GSEL"));
  CHECK(has(text, "PWRB"));
}

// ------------------------------------------------------------------------------------------------
// ACPICA's view of the tables

TEST_CASE("iasl disassembles every table without complaint and sees what we meant") {
  const std::string dir = temp_dir();
  for (bool pci : {false, true}) {
    CAPTURE(pci);
    Config cfg = pci ? pci_config(4) : Config{.num_cpus = 1};
    auto tables = build_tables(cfg);
    REQUIRE(tables.ok());
    const std::string sub = dir + (pci ? "/pci" : "/plain");
    REQUIRE(::mkdir(sub.c_str(), 0700) == 0);
    for (const auto& t : *tables) {
      if (t.name == "RSDP") continue;  // iasl -d does not take a bare RSDP; checked field by field above
      CAPTURE(t.name);
      const std::string dsl = disassemble(sub, t);
      if (t.name == "DSDT") {
        CHECK(has(dsl, "DefinitionBlock (\"\", \"DSDT\", 2, \"TANDEM\", \"TANDEMVM\", 0x00000001)"));
        CHECK(has(dsl, "_S5_"));
        CHECK(has(dsl, "Name (\\_S5, Package (0x04) // _S5_: S5 System State { 0x05, Zero, Zero, Zero })"));
        CHECK(has(dsl, "Scope (\\_SB) { Device (COM1) { Name (_HID, EisaId (\"PNP0501\")"));
        CHECK(has(dsl, "IO (Decode16, 0x03F8, // Range Minimum 0x03F8, // Range Maximum 0x01, // Alignment 0x08, // Length )"));
        CHECK(has(dsl, "IRQNoFlags () {4}"));
        CHECK(has(dsl, "PNP0A08") == pci);
        if (pci) {
          CHECK(has(dsl, "Device (PCI0) { Name (_HID, EisaId (\"PNP0A08\")"));
          CHECK(has(dsl, "Name (_CID, EisaId (\"PNP0A03\")"));
          CHECK(has(dsl, "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0x0000, // Granularity "
                         "0x0000, // Range Minimum 0x00FF, // Range Maximum 0x0000, // Translation Offset 0x0100, // Length"));
          CHECK(has(dsl, "WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0x0000, // Granularity "
                         "0x1000, // Range Minimum 0xFFFF, // Range Maximum 0x0000, // Translation Offset 0xF000, // Length"));
          CHECK(has(dsl, "DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, "
                         "0x00000000, // Granularity 0x80000000, // Range Minimum 0xDFFFFFFF, // Range Maximum "
                         "0x00000000, // Translation Offset 0x60000000, // Length"));
          CHECK(has(dsl, "QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, "
                         "0x0000000000000000, // Granularity 0x0000001000000000, // Range Minimum "
                         "0x0000001FFFFFFFFF, // Range Maximum 0x0000000000000000, // Translation Offset "
                         "0x0000001000000000, // Length"));
          CHECK(has(dsl, "EisaId (\"PNP0C02\")"));
          CHECK(has(dsl, "Memory32Fixed (ReadWrite, 0xE0000000, // Address Base 0x10000000, // Address Length )"));
          CHECK(has(dsl, "Device (PWRB) { Name (_HID, EisaId (\"PNP0C0C\") /* Power Button Device */)"));
          CHECK(has(dsl, "Device (GED0) { Name (_HID, \"ACPI0013\" /* Generic Event Device */)"));
          CHECK(has(dsl, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 0x00000005, }"));
          CHECK(has(dsl, "Method (_EVT, 1, Serialized) // _EVT: Event { Local0 = \\_SB.PCI0.GSEL If ((Local0 & One)) "
                         "{ Notify (\\_SB.PWRB, 0x80) // Status Change } If ((Local0 & 0x02)) { \\_SB.PCI0.PCNT () } }"));
          // Hotplug: the registers, 31 ejectable slots, PCNT, and the ports reserved.
          CHECK(has(dsl, "OperationRegion (PHPR, SystemIO, 0x0600, 0x10)"));
          CHECK(has(dsl, "Field (PHPR, DWordAcc, NoLock, WriteAsZeros) { PCIU, 32, PCID, 32, B0EJ, 32, GSEL, 32 }"));
          CHECK(has(dsl, "Device (S01) { Name (_ADR, 0x00010000) // _ADR: Address Name (_SUN, One) // _SUN: Slot User Number "
                         "Method (_EJ0, 1, NotSerialized) // _EJx: Eject Device, x=0-9 { \\_SB.PCI0.B0EJ = 0x02 } }"));
          CHECK(has(dsl, "Device (S1F) { Name (_ADR, 0x001F0000) // _ADR: Address Name (_SUN, 0x1F) // _SUN: Slot User Number "
                         "Method (_EJ0, 1, NotSerialized) // _EJx: Eject Device, x=0-9 { \\_SB.PCI0.B0EJ = 0x80000000 } }"));
          CHECK_FALSE(has(dsl, "Device (S00)"));
          CHECK(has(dsl, "Method (PCNT, 0, Serialized) { Local0 = PCIU /* \\_SB_.PCI0.PCIU */ Local1 = PCID /* \\_SB_.PCI0.PCID */ If ((Local0 & 0x02)) { Notify (S01, One) // Device Check }"));
          CHECK(has(dsl, "If ((Local1 & 0x80000000)) { Notify (S1F, 0x03) // Eject Request }"));
          CHECK(has(dsl, "IO (Decode16, 0x0600, // Range Minimum 0x0600, // Range Maximum 0x01, // Alignment 0x10, // Length )"));
        } else {
          CHECK_FALSE(has(dsl, "GED0"));
        }
      } else if (t.name == "FACP") {
        CHECK(has(dsl, "Revision : 06"));
        CHECK(has(dsl, "Table Length : 00000114"));
        CHECK(has(dsl, "Hardware Reduced (V5) : 1"));
        CHECK(has(dsl, "Control Method Power Button (V1) : 1"));
        CHECK(has(dsl, "Control Method Sleep Button (V1) : 1"));
        CHECK(has(dsl, "Reset Register Supported (V2) : 1"));
        CHECK(has(dsl, "8042 Present on ports 60/64 (V2) : 0"));
        CHECK(has(dsl, "VGA Not Present (V4) : 1"));
        CHECK(has(dsl, "PCIe ASPM Not Supported (V4) : 1"));
        CHECK(has(dsl, "CMOS RTC Not Present (V5) : 1"));
        CHECK(has(dsl, "Reset Register : [Generic Address Structure] [074h 0116 1] Space ID : 01 [SystemIO] "
                       "[075h 0117 1] Bit Width : 08"));
        CHECK(has(dsl, "Address : 00000000000003C1"));
        CHECK(has(dsl, "Value to cause reset : 01"));
        CHECK(has(dsl, "Sleep Control Register : [Generic Address Structure] [0F4h 0244 1] Space ID : 01 [SystemIO]"));
        CHECK(has(dsl, "Sleep Status Register : [Generic Address Structure] [100h 0256 1] Space ID : 01 [SystemIO]"));
        CHECK(has(dsl, "[0F8h 0248 8] Address : 00000000000003C0"));
        CHECK(has(dsl, "[104h 0260 8] Address : 00000000000003C0"));
        CHECK(has(dsl, "Hypervisor ID : 00004D45444E4154"));  // "TANDEM\0\0"
      } else if (t.name == "APIC") {
        size_t n = 0;
        for (size_t at = dsl.find("[Processor Local APIC]"); at != std::string::npos;
             at = dsl.find("[Processor Local APIC]", at + 1)) {
          ++n;
        }
        CHECK(n == cfg.num_cpus);
        CHECK(has(dsl, "Local Apic Address : FEE00000"));
        CHECK(has(dsl, "I/O Apic ID : " + std::string(pci ? "04" : "01")));
        CHECK(has(dsl, "Address : FEC00000"));
        CHECK(has(dsl, "[Interrupt Source Override]"));
        CHECK(has(dsl, "[Local APIC NMI]"));
        CHECK(has(dsl, "Interrupt Input LINT : 01"));
      } else if (t.name == "MCFG") {
        CHECK(has(dsl, "Base Address : 00000000E0000000"));
        CHECK(has(dsl, "Start Bus Number : 00"));
        CHECK(has(dsl, "End Bus Number : FF"));
      } else if (t.name == "XSDT") {
        CHECK(has(dsl, "ACPI Table Address 1 :"));
        CHECK(has(dsl, "ACPI Table Address 2 :") == pci);
      }
    }
  }
}

TEST_CASE("iasl recompiles the disassembled DSDT to the same AML") {
  // The disassembler is lenient (it accepts a PkgLength running past the table, for one); compiling
  // its output without optimizations and comparing bytes catches what it let through. iasl writes
  // its own creator fields and zero EndTag checksums; everything else must match.
  const std::string dir = temp_dir();
  auto tables = build_tables(pci_config(4));
  REQUIRE(tables.ok());
  const Table* dsdt = find(*tables, "DSDT");
  REQUIRE(dsdt);
  (void)disassemble(dir, *dsdt);
  Run r = run(iasl() + " -oa -p '" + dir + "/recompiled' '" + dir + "/DSDT.dsl'");
  INFO("iasl output:\n", r.output);
  REQUIRE(r.status == 0);
  CHECK(has(r.output, "0 Errors, 0 Warnings"));
  const Bytes again = read_file(dir + "/recompiled.aml");
  const Bytes& ours = dsdt->bytes;
  REQUIRE(again.size() == ours.size());
  CHECK(Bytes(again.begin(), again.begin() + 9) == Bytes(ours.begin(), ours.begin() + 9));
  CHECK(Bytes(again.begin() + 10, again.begin() + 28) == Bytes(ours.begin() + 10, ours.begin() + 28));
  size_t end_tags = 0;
  for (size_t i = 36; i < ours.size(); ++i) {
    if (again[i] == ours[i]) continue;
    CAPTURE(i);
    CHECK(ours[i - 1] == 0x79);  // only an EndTag checksum may differ (iasl leaves it 0)
    CHECK(again[i] == 0);
    ++end_tags;
  }
  CHECK(end_tags == 4);  // COM1, PCI0, MRES, GED0
}
