// The config loader as a datasheet: what the shipped config means, how RAM is laid out, the
// exact message of every user error, --set, and the emitter's round trip.
#include "platform/config.h"

#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace memsim;
using namespace memsim::platform;

namespace {

machine_config load(const std::string& yaml, const std::vector<std::string>& sets = {}) {
    return load_config_text(yaml, "test.yaml", sets);
}

machine_config load_default(const std::vector<std::string>& sets = {}) {
    return load_config_text(default_config_text(), default_config_name, sets);
}

// The full message ("test.yaml:2:3: ...") of the user_error loading `yaml` throws.
std::string error_of(const std::string& yaml, const std::vector<std::string>& sets = {},
                     const std::string& name = "test.yaml") {
    try {
        load_config_text(yaml, name, sets);
    } catch (const user_error& e) {
        return e.message();
    }
    FAIL("no user_error for:\n" << yaml);
    return {};
}

std::string default_error_of(const std::vector<std::string>& sets) {
    return error_of(std::string(default_config_text()), sets, default_config_name);
}

// RAM's place in the address space, "0x0: 3 GiB, 0x100000000: 1 GiB", readable when a check fails.
std::string ram_map(const machine_config& c) {
    std::string out;
    for (const ram_region& r : c.ram.regions)
        out += fmt::format("{}{:#x}: {}", out.empty() ? "" : ", ", r.base, format_size(r.size));
    return out;
}

std::string file_error_of(const std::string& path) {
    try {
        load_config_file(path);
    } catch (const user_error& e) {
        return e.message();
    }
    FAIL("no user_error for " << path);
    return {};
}

}  // namespace

TEST_CASE("the shipped default config") {
    machine_config c = load_default();
    CHECK(c.profile == machine_profile::x86_64);
    CHECK(c.cpu.frequency_hz == 2'000'000'000);
    CHECK(c.cpu.reach_bits == 64);
    CHECK(c.ram.size == 4 * GiB);
    CHECK(c.ram.layout == ram_layout::pc);
    CHECK(ram_map(c) == "0x0: 3 GiB, 0x100000000: 1 GiB");
    CHECK(c.ram.frequency_hz == 1'600'000'000);
    CHECK(c.ram.latency_cycles == 80);
    CHECK(c.ram.bytes_per_cycle == 16);
    CHECK(c.ram.channels == 1);
    CHECK(c.ram.interleave == 4 * KiB);
    CHECK(c.bus.frequency_hz == 1'000'000'000);
    CHECK(c.bus.width_bytes == 32);
    CHECK(c.bus.latency_cycles == 2);
    CHECK(c.bus.on_overreach == overreach_policy::error);
    REQUIRE(c.dma_engines.size() == 2);
    const dma_engine_config& isa = c.dma_engines[0];
    CHECK(isa.name == "isa_dma");
    CHECK(isa.base == 0xfe00'0000);
    CHECK(isa.size == 4 * KiB);
    CHECK(isa.reach_bits == 24);
    CHECK(isa.burst_bytes == 2);
    CHECK(isa.frequency_hz == 8'000'000);
    CHECK(isa.max_transfer == 64 * KiB);
    CHECK(isa.irq == 6);
    const dma_engine_config& pci = c.dma_engines[1];
    CHECK(pci.name == "pci_dma");
    CHECK(pci.base == 0xfe00'1000);
    CHECK(pci.reach_bits == 32);
    CHECK(pci.burst_bytes == 64);
    CHECK(pci.frequency_hz == 133'000'000);
    CHECK(pci.max_transfer == 16 * MiB);
    CHECK(pci.irq == 11);
    CHECK(c.sim.quantum == 1 * ps_per_us);
    CHECK(c.sim.seed == 1);
    CHECK(c.sim.level == log_level::warning);
    CHECK(c.sim.host_huge_pages);
}

TEST_CASE("an empty document is every default, with no devices") {
    machine_config c = load("");
    CHECK(c.profile == machine_profile::x86_64);
    CHECK(c.ram.size == 4 * GiB);
    CHECK(ram_map(c) == "0x0: 3 GiB, 0x100000000: 1 GiB");
    CHECK(c.dma_engines.empty());
    CHECK(c.sim.quantum == 1 * ps_per_us);
    CHECK(c.sim.host_huge_pages);
}

TEST_CASE("sim.host_huge_pages: a host setting, true or false") {
    CHECK(load("sim:\n  host_huge_pages: true\n").sim.host_huge_pages);
    CHECK_FALSE(load("sim:\n  host_huge_pages: false\n").sim.host_huge_pages);
    CHECK(error_of("sim:\n  host_huge_pages: always\n") ==
          "test.yaml:2:20: sim.host_huge_pages: 'always' is not true or false");
}

TEST_CASE("a config file on disk") {
    std::filesystem::path path = std::filesystem::temp_directory_path() / "memsim_config_test.yaml";
    std::ofstream(path) << "ram:\n  size: 1 GiB\n";
    CHECK(load_config_file(path.string()).ram.size == 1 * GiB);
    std::filesystem::remove(path);
    CHECK(file_error_of(path.string()) == path.string() + ": cannot open: No such file or directory");
    CHECK(file_error_of("/nonexistent/memsim.yaml") ==
          "/nonexistent/memsim.yaml: cannot open: No such file or directory");
    CHECK(file_error_of("/dev/zero") == "/dev/zero: not a regular file");
    CHECK(file_error_of("/tmp") == "/tmp: not a regular file");
}

TEST_CASE("RAM layout") {
    SUBCASE("pc under 3.5 GiB is all below 4 GiB") {
        CHECK(ram_map(load("ram: {size: 2 GiB}")) == "0x0: 2 GiB");
        CHECK(ram_map(load("ram: {size: 3580 MiB}")) == "0x0: 3580 MiB");
    }
    SUBCASE("pc from 3.5 GiB puts exactly 3 GiB below 4 GiB") {
        CHECK(ram_map(load("ram: {size: 3584 MiB}")) == "0x0: 3 GiB, 0x100000000: 512 MiB");
        CHECK(ram_map(load("ram: {size: 16 GiB}")) == "0x0: 3 GiB, 0x100000000: 13 GiB");
    }
    SUBCASE("q35 under 2.75 GiB is all below 4 GiB, from it exactly 2 GiB there") {
        CHECK(ram_map(load("ram: {size: 2 GiB, layout: q35}")) == "0x0: 2 GiB");
        CHECK(ram_map(load("ram: {size: 2815 MiB, layout: q35}")) == "0x0: 2815 MiB");
        machine_config c = load("ram: {size: 2816 MiB, layout: q35}");
        CHECK(c.ram.layout == ram_layout::q35);
        CHECK(ram_map(c) == "0x0: 2 GiB, 0x100000000: 768 MiB");
        CHECK(ram_map(load("ram: {size: 8 GiB, layout: q35}")) == "0x0: 2 GiB, 0x100000000: 6 GiB");
        CHECK(ram_map(load("profile: i386\nram: {size: 2 GiB, layout: q35}")) == "0x0: 2 GiB");
    }
    SUBCASE("flat is one region from 0") {
        machine_config c = load("ram: {size: 8 GiB, layout: flat}");
        CHECK(c.ram.layout == ram_layout::flat);
        CHECK(ram_map(c) == "0x0: 8 GiB");
    }
    SUBCASE("explicit regions are sorted and sum to the size") {
        machine_config c = load(
            "ram:\n"
            "  regions:\n"
            "    - {base: 0x100000000, size: 1 GiB}\n"
            "    - {base: 0, size: 2 GiB}\n");
        CHECK(ram_map(c) == "0x0: 2 GiB, 0x100000000: 1 GiB");
        CHECK(c.ram.size == 3 * GiB);
    }
    SUBCASE("i386-pae reaches 64 GiB") {
        machine_config c = load("profile: i386-pae\nram: {size: 8 GiB}");
        CHECK(c.profile == machine_profile::i386_pae);
        CHECK(ram_map(c) == "0x0: 3 GiB, 0x100000000: 5 GiB");
    }
}

TEST_CASE("errors in the file name file:line:col and the dotted path") {
    CHECK(error_of("ram:\n  sise: 4 GiB\n") ==
          "test.yaml:2:3: unknown key 'sise' in 'ram' (did you mean 'size'?)");
    CHECK(error_of("cpu: {}\nrma: {}\n") ==
          "test.yaml:2:1: unknown key 'rma' in the top level (did you mean 'ram'?)");
    CHECK(error_of("wibble: 1\n") == "test.yaml:1:1: unknown key 'wibble' in the top level");
    CHECK(error_of("ram:\n  size: 1 GiB\n  size: 2 GiB\n") == "test.yaml:3:3: duplicate key 'size' in 'ram'");
    CHECK(error_of("- 1\n") == "test.yaml:1:1: expected a mapping at the top level");
    CHECK(error_of("ram: 5\n") == "test.yaml:1:6: ram: expected a mapping");
    CHECK(error_of("devices: {}\n") == "test.yaml:1:10: devices: expected a list");
    CHECK(error_of("ram:\n  latency_cycles: abc\n") ==
          "test.yaml:2:19: ram.latency_cycles: expected an integer, got 'abc'");
    CHECK(error_of("ram:\n  size: [1]\n") == "test.yaml:2:9: ram.size: expected a size, got a list");
    CHECK(error_of("ram:\n  size:\n") == "test.yaml:2:3: ram.size: expected a size, got nothing");
    CHECK(error_of("ram:\n  size: 4 XB\n") ==
          "test.yaml:2:9: ram.size: '4 XB' has an unknown unit 'XB' for a size");
    CHECK(error_of("ram:\n  size: 0\n") == "test.yaml:2:9: ram.size: must be positive (got 0)");
    CHECK(error_of("ram:\n  size: -4 GiB\n") ==
          "test.yaml:2:9: ram.size: must not be negative (got '-4 GiB')");
    CHECK(error_of("ram:\n  size: 4097\n") ==
          "test.yaml:2:9: ram.size: must be a multiple of 4 KiB (got 4097)");
    CHECK(error_of("ram:\n  layout: pcc\n") ==
          "test.yaml:2:11: ram.layout: 'pcc' is not one of pc, q35, flat (did you mean 'pc'?)");
    CHECK(error_of("ram:\n  channels: 3\n") ==
          "test.yaml:2:13: ram.channels: must be a power of two (got 3)");
    CHECK(error_of("ram:\n  interleave: 32\n") ==
          "test.yaml:2:15: ram.interleave: must be a power of two of at least 64 (got 32)");
    CHECK(error_of("cpu:\n  frequency: 0 Hz\n") ==
          "test.yaml:2:14: cpu.frequency: must be from 1 MHz to 100 GHz (got 0 Hz)");
    CHECK(error_of("bus:\n  frequency: 3000 GHz\n") ==
          "test.yaml:2:14: bus.frequency: must be from 1 MHz to 100 GHz (got 3000 GHz)");
    CHECK(error_of("ram:\n  latency_cycles: 1000001\n") ==
          "test.yaml:2:19: ram.latency_cycles: must be 0..1000000 (got 1000001)");
    CHECK(error_of("ram:\n  channels: 128\n") == "test.yaml:2:13: ram.channels: must be 1..64 (got 128)");
    CHECK(error_of("sim:\n  log_level: WARNING\n") ==
          "test.yaml:2:14: sim.log_level: 'WARNING' is not one of error, warning, info, debug (did you "
          "mean 'warning'?)");
    CHECK(error_of("sim:\n  seed: 18446744073709551616\n") ==
          "test.yaml:2:9: sim.seed: '18446744073709551616' is too large");
}

TEST_CASE("YAML syntax errors keep yaml-cpp's mark and message") {
    CHECK(error_of("ram: size: 1\n") == "test.yaml:1:10: illegal map value");
    CHECK(error_of("ram:\n  size: 1\n bus: 2\n") == "test.yaml:3:2: end of map not found");
}

TEST_CASE("RAM regions and the profile's physical address space") {
    CHECK(error_of("ram:\n"
                   "  regions:\n"
                   "    - {base: 0, size: 3 GiB}\n"
                   "    - {base: 0x80000000, size: 1 GiB}\n") ==
          "test.yaml:4:7: ram.regions[1]: 0x80000000-0xbfffffff overlaps ram.regions[0] 0x0-0xbfffffff");
    CHECK(error_of("ram:\n  layout: pc\n  regions:\n    - {base: 0, size: 1 GiB}\n") ==
          "test.yaml:2:11: ram.layout: cannot be given together with ram.regions");
    CHECK(error_of("ram:\n  size: 2 GiB\n  regions:\n    - {base: 0, size: 1 GiB}\n") ==
          "test.yaml:2:9: ram.size: 2 GiB is not the sum of ram.regions (1 GiB)");
    CHECK(error_of("ram:\n  regions:\n    - {base: 0x1800, size: 4 KiB}\n") ==
          "test.yaml:3:14: ram.regions[0].base: must be a multiple of 4 KiB (got 0x1800)");
    CHECK(error_of("ram:\n  regions:\n    - {size: 4 KiB}\n") ==
          "test.yaml:3:7: ram.regions[0]: missing required key 'base'");
    CHECK(error_of("ram:\n  regions: []\n") == "test.yaml:2:12: ram.regions: must not be empty");
    CHECK(error_of("profile: i386\nram:\n  size: 4 GiB\n") ==
          "test.yaml:3:9: ram.size: RAM ends at 0x140000000 beyond the 32-bit physical address space of "
          "i386");
    // With no ram.size the default 4 GiB does not fit either; the profile is what changed.
    CHECK(error_of("profile: i386\n") ==
          "test.yaml:1:10: profile: RAM ends at 0x140000000 beyond the 32-bit physical address space of "
          "i386");
    CHECK(error_of("profile: i386\nram:\n  regions:\n    - {base: 0xfff00000, size: 2 MiB}\n") ==
          "test.yaml:4:7: ram.regions[0]: RAM ends at 0x100100000 beyond the 32-bit physical address space "
          "of i386");
    CHECK(ram_map(load("profile: i386\nram: {size: 3 GiB}")) == "0x0: 3 GiB");
}

TEST_CASE("ram.e820: an explicit firmware map") {
    machine_config c = load(
        "ram:\n"
        "  size: 1 GiB\n"
        "  e820:\n"
        "    - [0, 0x9fbff, usable]\n"
        "    - [0x100000, 1073741823, usable]\n"
        "    - [0o1000000000, 0b111111111111111111111111111111, ACPI NVS]\n");
    std::vector<kernel::e820_entry> expected{{0, 0x9fc00, kernel::e820_type::ram},
                                             {0x100000, 0x3ff00000, kernel::e820_type::ram},
                                             {0x8000000, 0x38000000, kernel::e820_type::nvs}};
    // As given: in its order and overlapping; the firmware map sanitises it.
    CHECK(c.ram.e820 == expected);
    CHECK(ram_map(c) == "0x0: 1 GiB");
    // Every word of e820_print_type is a type; reserved-like types need no RAM behind them.
    machine_config all = load(
        "ram:\n"
        "  size: 1 GiB\n"
        "  e820:\n"
        "    - [0x0, 0xfff, usable]\n"
        "    - [0x1000, 0x1fff, reserved]\n"
        "    - [0x2000, 0x2fff, ACPI data]\n"
        "    - [0x3000, 0x3fff, ACPI NVS]\n"
        "    - [0x100000000, 0x100000fff, unusable]\n"
        "    - [0x200000000, 0x200000fff, persistent (type 7)]\n"
        "    - [0x300000000, 0x300000fff, persistent (type 12)]\n"
        "    - [0x400000000, 0x400000fff, soft reserved]\n");
    REQUIRE(all.ram.e820.size() == 8);
    for (const kernel::e820_entry& e : all.ram.e820)
        CHECK(to_yaml(all).find(kernel::e820_type_name(e.type) + "]") != std::string::npos);
    CHECK(all.ram.e820[7].type == kernel::e820_type::soft_reserved);
}

TEST_CASE("ram.e820 through --set") {
    const std::string map = "ram.e820=[[0, 0x9fbff, usable], [0x100000, 0xbfffffff, usable]]";
    machine_config c = load_default({map});
    REQUIRE(c.ram.e820.size() == 2);
    CHECK(c.ram.e820[1] == kernel::e820_entry{0x100000, 0xbff00000, kernel::e820_type::ram});
    machine_config edited = load_default({map, "ram.e820.1=[0x100000, 0x1fffffff, usable]"});
    CHECK(edited.ram.e820[1] == kernel::e820_entry{0x100000, 0x1ff00000, kernel::e820_type::ram});
    CHECK(default_error_of({"ram.e820=[[0, 0xffffffff, usable]]"}) ==
          "--set ram.e820=[[0, 0xffffffff, usable]]: ram.e820[0]: e820 entry 0x0-0xffffffff usable is not "
          "backed by RAM");
}

TEST_CASE("ram.e820 errors") {
    auto entry = [](const std::string& e) { return "ram:\n  size: 1 GiB\n  e820:\n    - " + e + "\n"; };
    CHECK(error_of(entry("[0, 0x9fbff]")) ==
          "test.yaml:4:7: ram.e820[0]: expected [start, end, type], as a BIOS-e820 line gives them");
    CHECK(error_of(entry("{start: 0, end: 0x9fbff, type: usable}")) ==
          "test.yaml:4:7: ram.e820[0]: expected [start, end, type], as a BIOS-e820 line gives them");
    CHECK(error_of(entry("[0, 0x9fbff, usable, 1]")) ==
          "test.yaml:4:7: ram.e820[0]: expected [start, end, type], as a BIOS-e820 line gives them");
    CHECK(error_of(entry("[0x2000, 0x1fff, reserved]")) ==
          "test.yaml:4:7: ram.e820[0]: e820 entry 0x2000-0x1fff reserved ends before it starts");
    CHECK(error_of(entry("[0, 0x9fbff, ram]")) ==
          "test.yaml:4:20: ram.e820[0][2]: 'ram' is not one of usable, reserved, ACPI data, ACPI NVS, "
          "unusable, persistent (type 7), persistent (type 12), soft reserved");
    CHECK(error_of(entry("[0, 0x9fbff, ACPI Data]")) ==
          "test.yaml:4:20: ram.e820[0][2]: 'ACPI Data' is not one of usable, reserved, ACPI data, ACPI NVS, "
          "unusable, persistent (type 7), persistent (type 12), soft reserved (did you mean 'ACPI data'?)");
    CHECK(error_of(entry("[0, [1], usable]")) ==
          "test.yaml:4:11: ram.e820[0][1]: expected an address, got a list");
    CHECK(error_of(entry("[zero, 0x9fbff, usable]")) ==
          "test.yaml:4:8: ram.e820[0][0]: expected an address, got 'zero'");
    CHECK(error_of(entry("[0x1g, 0x9fbff, usable]")) ==
          "test.yaml:4:8: ram.e820[0][0]: expected an address, got '0x1g'");
    CHECK(error_of(entry("[-1, 0x9fbff, usable]")) ==
          "test.yaml:4:8: ram.e820[0][0]: must not be negative (got '-1')");
    CHECK(error_of(entry("[0, 0x10000000000000000, reserved]")) ==
          "test.yaml:4:11: ram.e820[0][1]: '0x10000000000000000' is too large");
    CHECK(error_of(entry("[0, 0x3fffffff, usable]\n    - [0x40000000, 0x40000fff, ACPI data]")) ==
          "test.yaml:5:7: ram.e820[1]: e820 entry 0x40000000-0x40000fff ACPI data is not backed by RAM");
    CHECK(error_of("ram:\n  size: 4 GiB\n  e820:\n    - [0, 0x9fbff, usable]\n"
                   "    - [0xbffff000, 0x100000fff, ACPI NVS]\n") ==
          "test.yaml:5:7: ram.e820[1]: e820 entry 0xbffff000-0x100000fff ACPI NVS is not backed by RAM");
    CHECK(error_of(entry("[0, 0x9fbff, usable]\n    - [0xfd00000000, 0x10000000000000, reserved]")) ==
          "test.yaml:5:7: ram.e820[1]: e820 entry 0xfd00000000-0x10000000000000 reserved ends beyond the "
          "52-bit physical address space of x86_64");
    CHECK(error_of("profile: i386\nram:\n  size: 1 GiB\n  e820:\n    - [0, 0x9fbff, usable]\n"
                   "    - [0xfd00000000, 0xffffffffff, reserved]\n") ==
          "test.yaml:6:7: ram.e820[1]: e820 entry 0xfd00000000-0xffffffffff reserved ends beyond the 32-bit "
          "physical address space of i386");
    CHECK(error_of("ram:\n  e820: []\n") == "test.yaml:2:9: ram.e820: must not be empty");
    CHECK(error_of("ram:\n  e820: {}\n") == "test.yaml:2:9: ram.e820: expected a list");
    CHECK(error_of(entry("[0xf0000, 0xfffff, reserved]")) == "test.yaml:4:5: ram.e820: has no usable entry");
}

TEST_CASE("device errors") {
    const std::string two =
        "devices:\n"
        "  - name: isa_dma\n"
        "    base: 0xfe000000\n"
        "    irq: 6\n"
        "  - name: pci_dma\n"
        "    base: 0xfe001000\n";
    CHECK(load(two + "    irq: 11\n").dma_engines.size() == 2);
    CHECK(error_of(two + "    irq: 6\n") ==
          "test.yaml:7:10: devices[1].irq: irq 6 is already used by device 'isa_dma'");
    CHECK(error_of(two + "    irq: 24\n") == "test.yaml:7:10: devices[1].irq: must be 0..23 (got 24)");
    CHECK(error_of(two + "    irq: 11\n    reach_bits: 65\n") ==
          "test.yaml:8:17: devices[1].reach_bits: must be 1..64 (got 65)");
    CHECK(error_of(two + "    irq: 11\n    reach_bits: 0\n") ==
          "test.yaml:8:17: devices[1].reach_bits: must be 1..64 (got 0)");
    CHECK(error_of(two + "    irq: 11\n    burst_bytes: 8192\n") ==
          "test.yaml:8:18: devices[1].burst_bytes: must be 1..4096 (got 8192)");
    CHECK(error_of(two + "    irq: 11\n    bus_dma_bits: 65\n") ==
          "test.yaml:8:19: devices[1].bus_dma_bits: must be 0..64 (got 65)");
    CHECK(error_of(two + "    irq: 11\n    reach_bit: 32\n") ==
          "test.yaml:8:5: unknown key 'reach_bit' in 'devices[1]' (did you mean 'reach_bits'?)");
    CHECK(error_of("devices:\n  - {name: a, base: 0xfe000000}\n  - {name: a, base: 0xfe001000, irq: 1}\n") ==
          "test.yaml:3:12: devices[1].name: device name 'a' is already used by devices[0]");
    CHECK(error_of("devices:\n  - {name: Isa, base: 0xfe000000}\n") ==
          "test.yaml:2:12: devices[0].name: 'Isa' is not a valid name (a lowercase letter, then a-z, 0-9 "
          "or _)");
    CHECK(error_of("devices:\n  - {base: 0xfe000000}\n") ==
          "test.yaml:2:5: devices[0]: missing required key 'name'");
    CHECK(error_of("devices:\n  - {name: a, type: dma, base: 0xfe000000}\n") ==
          "test.yaml:2:21: devices[0].type: 'dma' is not one of dma_engine");
    CHECK(error_of("devices:\n  - {name: a, base: 0x1000}\n") ==
          "test.yaml:2:21: devices[0].base: device 'a' at 0x1000-0x1fff overlaps RAM 0x0-0xbfffffff");
    CHECK(error_of("devices:\n  - {name: a, base: 0xfe000000, size: 8 KiB}\n"
                   "  - {name: b, base: 0xfe001000, irq: 1}\n") ==
          "test.yaml:3:21: devices[1].base: device 'b' at 0xfe001000-0xfe001fff overlaps device 'a' at "
          "0xfe000000-0xfe001fff");
    CHECK(error_of("cpu: {reach_bits: 32}\ndevices:\n  - {name: a, base: 0x100000000}\n"
                   "ram: {size: 1 GiB}\n") ==
          "test.yaml:3:21: devices[0].base: device 'a' ends at 0x100001000 beyond the CPU's 32-bit reach");
    CHECK(error_of("devices:\n  - {name: cpu, base: 0xfe000000}\n") ==
          "test.yaml:2:12: devices[0].name: 'cpu' is the CPU's name; a device needs another");
}

TEST_CASE("the CPU reaches all of RAM") {
    CHECK(error_of("cpu: {reach_bits: 32}\n") ==
          "test.yaml:1:19: cpu.reach_bits: RAM ends at 0x140000000 beyond the CPU's 32-bit reach");
    CHECK(error_of("cpu: {reach_bits: 32}\nram:\n  size: 6 GiB\n") ==
          "test.yaml:3:9: ram.size: RAM ends at 0x1c0000000 beyond the CPU's 32-bit reach");
    CHECK(load("cpu: {reach_bits: 32}\nram:\n  size: 3 GiB\n").ram.size == 3 * GiB);
}

TEST_CASE("--set applies before validation") {
    machine_config c = load_default(
        {"ram.size=2GiB", "devices.isa_dma.reach_bits=32", "devices.0.burst_bytes=4", "sim.seed=7"});
    CHECK(c.ram.size == 2 * GiB);
    CHECK(ram_map(c) == "0x0: 2 GiB");
    CHECK(c.dma_engines[0].reach_bits == 32);
    CHECK(c.dma_engines[0].burst_bytes == 4);
    CHECK(c.dma_engines[1].reach_bits == 32);
    CHECK(c.sim.seed == 7);
    // Later sets win; missing sections are created; a flow value replaces a whole node.
    CHECK(load("", {"sim.seed=7", "sim.seed=8"}).sim.seed == 8);
    CHECK(load("", {"devices=[{name: a, base: 0xfe000000}]"}).dma_engines.at(0).name == "a");
}

TEST_CASE("--set errors name the --set") {
    CHECK(default_error_of({"ram.size"}) == "--set ram.size: expected key.path=value");
    CHECK(default_error_of({"ram..size=1"}) == "--set ram..size=1: expected key.path=value");
    CHECK(default_error_of({"=1"}) == "--set =1: expected key.path=value");
    CHECK(default_error_of({"ram.sise=4G"}) ==
          "--set ram.sise=4G: unknown key 'sise' in 'ram' (did you mean 'size'?)");
    CHECK(default_error_of({"ram.latency_cycles=abc"}) ==
          "--set ram.latency_cycles=abc: ram.latency_cycles: expected an integer, got 'abc'");
    CHECK(default_error_of({"devices.isa_dma.reach_bits=0"}) ==
          "--set devices.isa_dma.reach_bits=0: devices[0].reach_bits: must be 1..64 (got 0)");
    CHECK(default_error_of({"devices.isa_dma.base=0x1000"}) ==
          "--set devices.isa_dma.base=0x1000: devices[0].base: device 'isa_dma' at 0x1000-0x1fff "
          "overlaps RAM 0x0-0xbfffffff");
    CHECK(default_error_of({"devices.nope.irq=3"}) ==
          "--set devices.nope.irq=3: devices: no entry named 'nope'");
    CHECK(default_error_of({"devices.5.irq=3"}) == "--set devices.5.irq=3: devices: no entry 5 (it has 2)");
    CHECK(default_error_of({"ram.size.x=1"}) ==
          "--set ram.size.x=1: ram.size: is a value, not a mapping or list");
    CHECK(default_error_of({"ram.size=[1"}) == "--set ram.size=[1: end of sequence flow not found");
    // A node from the file keeps its own location even when a --set made it wrong.
    CHECK(default_error_of({"devices.isa_dma.irq=11"}) ==
          "configs/default.yaml:43:10: devices[1].irq: irq 11 is already used by device 'isa_dma'");
}

TEST_CASE("to_yaml writes every key in the shipped file's order and style") {
    CHECK(to_yaml(load_default()) == R"(profile: x86_64

cpu:
  frequency: 2 GHz
  reach_bits: 64

ram:
  size: 4 GiB
  regions:
    - {base: 0x0, size: 3 GiB}
    - {base: 0x100000000, size: 1 GiB}
  frequency: 1600 MHz
  latency_cycles: 80
  bytes_per_cycle: 16
  channels: 1
  interleave: 4 KiB

bus:
  frequency: 1 GHz
  width_bytes: 32
  latency_cycles: 2
  on_overreach: error

devices:
  - name: isa_dma
    type: dma_engine
    base: 0xfe000000
    size: 4 KiB
    reach_bits: 24
    burst_bytes: 2
    frequency: 8 MHz
    max_transfer: 64 KiB
    irq: 6
    bus_dma_bits: 0
  - name: pci_dma
    type: dma_engine
    base: 0xfe001000
    size: 4 KiB
    reach_bits: 32
    burst_bytes: 64
    frequency: 133 MHz
    max_transfer: 16 MiB
    irq: 11
    bus_dma_bits: 0

mmu:
  tlbs:
    - {name: l1d_4k, level: 1, port: data, page_sizes: [4K], entries: 64, ways: 4, replacement: lru, hit_latency: 1}
    - {name: l1d_2m, level: 1, port: data, page_sizes: [2M, 4M], entries: 32, ways: 4, replacement: lru, hit_latency: 1}
    - {name: l1d_1g, level: 1, port: data, page_sizes: [1G], entries: 4, ways: 4, replacement: lru, hit_latency: 1}
    - {name: l1i_4k, level: 1, port: instruction, page_sizes: [4K], entries: 128, ways: 8, replacement: lru, hit_latency: 1}
    - {name: l2_stlb, level: 2, port: unified, page_sizes: [4K, 2M], entries: 1536, ways: 12, replacement: lru, hit_latency: 7}
  paging_structure_caches: {pml5e: 2, pml4e: 4, pdpte: 4, pde: 32}

numa:
  nodes: []
  distances: []

kernel:
  min_free_kbytes: auto
  watermark_scale_factor: 10
  panic_on_bug: false
  pcid: true
  swiotlb: auto
  swiotlb_size: 64 MiB
  costs: {mode_switch: 200, memmap_init_per_page: 20, alloc_pcp: 60, alloc_buddy: 200, free_pcp: 50, free_buddy: 150, page_fault: 250, handle_mm_fault: 400, syscall: 150, context_switch: 1000}

sim:
  quantum: 1 us
  seed: 1
  log_level: warning
  host_huge_pages: true
)");
}

TEST_CASE("numa: RAM split into nodes with a distance table") {
    machine_config c =
        load("ram:\n  size: 8 GiB\nnuma:\n  nodes: [4 GiB, 4 GiB]\n  distances: [[10, 21], [21, 10]]\n");
    CHECK(c.numa.node_sizes == std::vector<std::uint64_t>{4 * GiB, 4 * GiB});
    CHECK(c.numa.distances == std::vector<std::vector<unsigned>>{{10, 21}, {21, 10}});
    machine_config shown = load_config_text(to_yaml(c), "shown");
    CHECK(shown.numa.distances == c.numa.distances);
    CHECK(load("numa:\n  nodes: []\n").numa.node_sizes.empty());
    CHECK(error_of("numa:\n  nodes: [1 GiB]\n") ==
          "test.yaml:2:10: numa.nodes: the nodes hold 1 GiB but ram.size is 4 GiB");
    CHECK(error_of("profile: i386\nram:\n  size: 1 GiB\nnuma:\n  nodes: [1 GiB]\n") ==
          "test.yaml:5:10: numa.nodes: NUMA needs the x86_64 profile");
    CHECK(error_of("numa:\n  nodes: [2 GiB, 2 GiB]\n  distances: [[10, 20]]\n") ==
          "test.yaml:3:14: numa.distances: expected 2 rows, one per node");
    CHECK(error_of("numa:\n  nodes: [2 GiB, 2 GiB]\n  distances: [[10, 20], [5, 10]]\n") ==
          "test.yaml:3:26: numa.distances[1][0]: must be 11..254 (got 5)");
    CHECK(error_of("numa:\n  nodes: [2 GiB, 2 GiB]\n  distances: [[12, 20], [20, 10]]\n") ==
          "test.yaml:3:16: numa.distances[0][0]: must be 10..10 (got 12)");
    CHECK(error_of("numa:\n  distances: [[10]]\n") ==
          "test.yaml:2:14: numa.distances: distances without nodes");
}

TEST_CASE("kernel: the sysctls of the memory manager") {
    machine_config c =
        load("kernel:\n  min_free_kbytes: 67584\n  watermark_scale_factor: 150\n  panic_on_bug: true\n");
    CHECK(c.kernel.min_free_kbytes == 67584);
    CHECK(c.kernel.watermark_scale_factor == 150);
    CHECK(c.kernel.panic_on_bug);
    CHECK(load("kernel:\n  min_free_kbytes: auto\n").kernel.min_free_kbytes == 0);
    CHECK(load("kernel:\n  costs: {alloc_pcp: 7}\n").kernel.alloc_costs.alloc_pcp == 7);
    CHECK(load("kernel:\n  costs: {page_fault: 9}\n").kernel.mm_costs.exception == 9);
    CHECK(load("kernel:\n  costs: {context_switch: 3}\n").kernel.mm_costs.context_switch == 3);
    CHECK_FALSE(load("kernel:\n  pcid: false\n").kernel.pcid);
    CHECK(error_of("kernel:\n  pcid: 2\n") == "test.yaml:2:9: kernel.pcid: '2' is not true or false");
    CHECK(error_of("kernel:\n  costs: {alloc: 7}\n") ==
          "test.yaml:2:11: unknown key 'alloc' in 'kernel.costs'");
    CHECK(load_config_text(to_yaml(c), "shown").kernel.watermark_scale_factor == 150);
    CHECK(error_of("kernel:\n  panic_on_bug: yes\n") ==
          "test.yaml:2:17: kernel.panic_on_bug: 'yes' is not true or false");
    CHECK(error_of("kernel:\n  watermark_scale_factor: 0\n") ==
          "test.yaml:2:27: kernel.watermark_scale_factor: must be 1..3000 (got 0)");
    CHECK(error_of("kernel:\n  min_free_kbytes: lots\n") ==
          "test.yaml:2:20: kernel.min_free_kbytes: expected an integer, got 'lots'");
    CHECK(error_of("kernel:\n  min_free: 1\n") == "test.yaml:2:3: unknown key 'min_free' in 'kernel'");
}

TEST_CASE("kernel.swiotlb and kernel.swiotlb_size: the bounce-buffer pool reserved at boot") {
    machine_config d = load("");
    CHECK(d.kernel.swiotlb == kernel::swiotlb_mode::automatic);
    CHECK(d.kernel.swiotlb_size == 64 * MiB);
    machine_config c = load("kernel:\n  swiotlb: force\n  swiotlb_size: 96 MiB\n");
    CHECK(c.kernel.swiotlb == kernel::swiotlb_mode::force);
    CHECK(c.kernel.swiotlb_size == 96 * MiB);
    CHECK(load("kernel:\n  swiotlb: off\n").kernel.swiotlb == kernel::swiotlb_mode::off);
    CHECK(load("kernel:\n  swiotlb_size: 256 KiB\n").kernel.swiotlb_size == 256 * KiB);
    CHECK(load("kernel:\n  swiotlb_size: 1 GiB\n").kernel.swiotlb_size == 1 * GiB);
    CHECK(load("", {"kernel.swiotlb=off"}).kernel.swiotlb == kernel::swiotlb_mode::off);
    machine_config shown = load_config_text(to_yaml(c), "shown");
    CHECK(shown.kernel.swiotlb == kernel::swiotlb_mode::force);
    CHECK(shown.kernel.swiotlb_size == 96 * MiB);
    CHECK(to_yaml(c).find("  swiotlb: force\n  swiotlb_size: 96 MiB\n") != std::string::npos);
    CHECK(error_of("kernel:\n  swiotlb: on\n") ==
          "test.yaml:2:12: kernel.swiotlb: 'on' is not one of auto, force, off (did you mean 'off'?)");
    CHECK(error_of("kernel:\n  swiotlb: forced\n") ==
          "test.yaml:2:12: kernel.swiotlb: 'forced' is not one of auto, force, off (did you mean 'force'?)");
    CHECK(error_of("kernel:\n  swiotlb: [auto]\n") ==
          "test.yaml:2:12: kernel.swiotlb: expected one of auto, force, off, got a list");
    CHECK(
        error_of("kernel:\n  swiotlb_size: 100 KiB\n") ==
        "test.yaml:2:17: kernel.swiotlb_size: must be a positive multiple of 256 KiB, a segment of 128 slots "
        "(got 100 KiB)");
    CHECK(
        error_of("kernel:\n  swiotlb_size: 0\n") ==
        "test.yaml:2:17: kernel.swiotlb_size: must be a positive multiple of 256 KiB, a segment of 128 slots "
        "(got 0)");
    CHECK(error_of("kernel:\n  swiotlb_size: 2 GiB\n") ==
          "test.yaml:2:17: kernel.swiotlb_size: must be at most 1 GiB (got 2 GiB)");
    CHECK(error_of("kernel:\n  swiotlb_size: big\n") ==
          "test.yaml:2:17: kernel.swiotlb_size: expected a size, got 'big'");
    CHECK(error_of("", {"kernel.swiotlb_size=-1"}) ==
          "--set kernel.swiotlb_size=-1: kernel.swiotlb_size: must not be negative (got '-1')");
    CHECK(error_of("kernel:\n  swiotlb_sise: 64 MiB\n") ==
          "test.yaml:2:3: unknown key 'swiotlb_sise' in 'kernel' (did you mean 'swiotlb_size'?)");
}

TEST_CASE("to_yaml round trips") {
    // to_yaml prints every field but `where` and `layout` (regions are explicit), so equal text is
    // equal configs.
    auto round_trip = [](const machine_config& c) {
        std::string text = to_yaml(c);
        machine_config back = load(text);
        CHECK(to_yaml(back) == text);
        CHECK(ram_map(back) == ram_map(c));
        CHECK(back.dma_engines.size() == c.dma_engines.size());
    };
    round_trip(load_default());
    round_trip(load(""));
    round_trip(load("ram: {size: 8 GiB, layout: q35}"));
    round_trip(load("profile: i386\nram: {size: 2 GiB, layout: q35}"));
    machine_config modified = load_default(
        {"profile=i386-pae", "ram.layout=flat", "ram.size=2 GiB", "bus.on_overreach=truncate",
         "sim.quantum=250 ns", "sim.log_level=debug", "sim.seed=18446744073709551615",
         "sim.host_huge_pages=false", "cpu.frequency=3500 MHz", "devices.pci_dma.max_transfer=1536 KiB"});
    CHECK(ram_map(modified) == "0x0: 2 GiB");
    round_trip(modified);
    std::string text = to_yaml(modified);
    CHECK(text.find("profile: i386-pae\n") == 0);
    CHECK(text.find("  quantum: 250 ns\n") != std::string::npos);
    CHECK(text.find("  max_transfer: 1536 KiB\n") != std::string::npos);
    CHECK(text.find("  seed: 18446744073709551615\n") != std::string::npos);
    CHECK(text.find("  host_huge_pages: false\n") != std::string::npos);
}

TEST_CASE("to_yaml writes q35 as its layout and an explicit e820 as BIOS-e820 lines") {
    machine_config c = load(
        "ram:\n"
        "  size: 3 GiB\n"
        "  layout: q35\n"
        "  e820:\n"
        "    - [0, 0x9fbff, usable]\n"
        "    - [0x100000, 0x7ffeffff, usable]\n"
        "    - [0x7fff0000, 0x7fffffff, ACPI data]\n"
        "    - [0x100000000, 0x13fffffff, usable]\n"
        "    - [0xb0000000, 0xbfffffff, reserved]\n");
    std::string text = to_yaml(c);
    CHECK(text.find("ram:\n"
                    "  size: 3 GiB\n"
                    "  layout: q35\n"
                    "  e820:\n"
                    "    - [0x0, 0x9fbff, usable]\n"
                    "    - [0x100000, 0x7ffeffff, usable]\n"
                    "    - [0x7fff0000, 0x7fffffff, ACPI data]\n"
                    "    - [0x100000000, 0x13fffffff, usable]\n"
                    "    - [0xb0000000, 0xbfffffff, reserved]\n"
                    "  frequency: 1600 MHz\n") != std::string::npos);
    machine_config back = load(text);
    CHECK(back.ram.layout == ram_layout::q35);
    CHECK(back.ram.e820 == c.ram.e820);
    CHECK(ram_map(back) == "0x0: 2 GiB, 0x100000000: 1 GiB");
    CHECK(to_yaml(back) == text);
    // Explicit regions are written as regions, the map after them.
    machine_config listed =
        load_default({"ram.e820=[[0, 0x9fbff, usable], [0x100000000, 0x13fffffff, usable]]"});
    std::string listed_text = to_yaml(listed);
    CHECK(listed_text.find("    - {base: 0x100000000, size: 1 GiB}\n"
                           "  e820:\n"
                           "    - [0x0, 0x9fbff, usable]\n") != std::string::npos);
    CHECK(to_yaml(load(listed_text)) == listed_text);
}

TEST_CASE("to_string spellings") {
    CHECK(to_string(machine_profile::i386_pae) == "i386-pae");
    CHECK(to_string(machine_profile::x86_64) == "x86_64");
    CHECK(to_string(overreach_policy::truncate) == "truncate");
    CHECK(to_string(ram_layout::flat) == "flat");
    CHECK(to_string(ram_layout::q35) == "q35");
    CHECK(to_string(log_level::debug) == "debug");
}

TEST_CASE("mmu: the default is a Skylake-class TLB hierarchy, seeded from sim.seed") {
    machine_config c = load_default();
    REQUIRE(c.mmu.tlbs.levels.size() == 2);
    CHECK(c.mmu.tlbs.levels[0].arrays.size() == 4);
    const auto& stlb = c.mmu.tlbs.levels[1].arrays.at(0);
    CHECK(stlb.name == "l2_stlb");
    CHECK(stlb.entries == 1536);
    CHECK(stlb.ways == 12);
    CHECK(stlb.hit_latency == 7);
    CHECK((stlb.instruction && stlb.data));
    CHECK(c.mmu.paging_caches.pde == 32);
    CHECK(load_config_text(default_config_text(), default_config_name, {"sim.seed=9"}).mmu.tlbs.seed == 9);
    machine_config bigger =
        load_config_text(default_config_text(), default_config_name, {"mmu.tlbs.l1d_4k.entries=128"});
    CHECK(bigger.mmu.tlbs.levels[0].arrays[0].entries == 128);
}

TEST_CASE("mmu: TLB geometry errors") {
    auto tlb = [](const std::string& fields) { return "mmu:\n  tlbs:\n    - {" + fields + "}\n"; };
    CHECK(error_of(tlb("name: a, level: 2, page_sizes: [4K]")) ==
          "test.yaml:3:5: mmu.tlbs: no TLB at level 1 above level 2");
    CHECK(error_of(tlb("name: a, level: 1, page_sizes: [4K], entries: 64, ways: 3")) ==
          "test.yaml:3:64: mmu.tlbs[0].ways: entries / ways must be a power of two of sets (got 64 / 3)");
    CHECK(error_of(tlb("name: a, level: 1, page_sizes: [4K], entries: 48, ways: 12, replacement: plru")) ==
          "test.yaml:3:64: mmu.tlbs[0].ways: plru needs a power-of-two number of ways (got 12)");
    CHECK(
        error_of(tlb("name: a, level: 1, page_sizes: [8K]")) ==
        "test.yaml:3:40: mmu.tlbs[0].page_sizes[0]: '8K' is not one of 4K, 2M, 4M, 1G (did you mean '4K'?)");
    CHECK(error_of(tlb("name: a, level: 1, page_sizes: []")) ==
          "test.yaml:3:39: mmu.tlbs[0].page_sizes: must name at least one page size");
    CHECK(error_of(tlb("name: a, level: 1, port: both, page_sizes: [4K]")) ==
          "test.yaml:3:33: mmu.tlbs[0].port: 'both' is not one of data, instruction, unified");
    CHECK(error_of("mmu:\n  tlbs:\n    - {name: a, level: 1, page_sizes: [4K]}\n"
                   "    - {name: a, level: 1, page_sizes: [2M]}\n") ==
          "test.yaml:4:14: mmu.tlbs[1].name: TLB name 'a' is already used");
    CHECK(error_of("mmu:\n  paging_structure_caches: {pde: 5000}\n") ==
          "test.yaml:2:34: mmu.paging_structure_caches.pde: must be 0..4096 (got 5000)");
}

TEST_CASE("mmu: TLBs the model cannot build, and names its statistics need") {
    CHECK(error_of("mmu:\n  tlbs:\n    - {name: a, level: 1, page_sizes: [4K]}\n"
                   "    - {name: b, level: 1, page_sizes: [4K, 2M]}\n") ==
          "test.yaml:3:5: mmu.tlbs: tlb arrays 'a' and 'b' of level 1 both hold 4k pages for data accesses");
    CHECK(error_of("mmu:\n  tlbs:\n    - {name: misses_4k, level: 1, page_sizes: [4K]}\n") ==
          "test.yaml:3:14: mmu.tlbs[0].name: 'misses_4k' names one of the TLB hierarchy's own statistics");
}
