// The firmware map a machine's kernel boots with: the boot log's BIOS-e820 lines of a Debian
// kernel under QEMU's `pc` and `q35` machines with SeaBIOS (LINUX-FACTS.md), for several RAM
// sizes, and a map the config lists itself.
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "base/units.h"
#include "platform/config.h"
#include "platform/firmware_map.h"

using namespace memsim;
using namespace memsim::platform;

namespace {

std::vector<std::string> lines_for(const std::string& yaml) {
    return firmware_map(load_config_text(yaml, "test.yaml")).boot_lines();
}

}  // namespace

TEST_CASE("firmware map: a 4 GiB x86_64 pc machine, as QEMU and SeaBIOS report it") {
    std::vector<std::string> expected{
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
        "BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved",
        "BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable",
        "BIOS-e820: [mem 0x00000000bffe0000-0x00000000bfffffff] reserved",
        "BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved",
        "BIOS-e820: [mem 0x0000000100000000-0x000000013fffffff] usable",
        "BIOS-e820: [mem 0x000000fd00000000-0x000000ffffffffff] reserved",
    };
    CHECK(lines_for("ram: {size: 4 GiB}\n") == expected);
}

TEST_CASE("firmware map: below 3.5 GiB all RAM sits below 4 GiB, its top 128 KiB reserved") {
    std::vector<std::string> expected{
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
        "BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved",
        "BIOS-e820: [mem 0x0000000000100000-0x000000007ffdffff] usable",
        "BIOS-e820: [mem 0x000000007ffe0000-0x000000007fffffff] reserved",
        "BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved",
    };
    // An i386 machine has no HyperTransport hole in its map.
    CHECK(lines_for("profile: i386\nram: {size: 2 GiB}\n") == expected);
}

TEST_CASE("firmware map: 16 GiB x86_64 keeps 3 GiB below the hole and 13 GiB above 4 GiB") {
    kernel::e820_table map = firmware_map(load_config_text("ram: {size: 16 GiB}\n", "test.yaml"));
    // Below the EBDA, then 1 MiB up to 3 GiB less the firmware's 128 KiB, then all 13 GiB above 4 GiB.
    CHECK(map.total(kernel::e820_type::ram) == 0x9fc00 + (3 * GiB - 1 * MiB - 128 * KiB) + 13 * GiB);
    CHECK(map.boot_lines().at(6) == "BIOS-e820: [mem 0x0000000100000000-0x000000043fffffff] usable");
}

// QEMU's q35 machine with SeaBIOS: pc's ranges, plus the PCIe ECAM window SeaBIOS programs at
// 0xb0000000 and the ICH9 root complex register block at 0xfed1c000 (platform/firmware_map.cpp).
TEST_CASE("firmware map: q35 with 2 GiB keeps all RAM below 4 GiB") {
    std::vector<std::string> expected{
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
        "BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved",
        "BIOS-e820: [mem 0x0000000000100000-0x000000007ffdffff] usable",
        "BIOS-e820: [mem 0x000000007ffe0000-0x000000007fffffff] reserved",
        "BIOS-e820: [mem 0x00000000b0000000-0x00000000bfffffff] reserved",
        "BIOS-e820: [mem 0x00000000fed1c000-0x00000000fed1ffff] reserved",
        "BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved",
        "BIOS-e820: [mem 0x000000fd00000000-0x000000ffffffffff] reserved",
    };
    CHECK(lines_for("ram: {size: 2 GiB, layout: q35}\n") == expected);
}

TEST_CASE("firmware map: q35 with 3 GiB puts 2 GiB below 4 GiB and 1 GiB above") {
    std::vector<std::string> expected{
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
        "BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved",
        "BIOS-e820: [mem 0x0000000000100000-0x000000007ffdffff] usable",
        "BIOS-e820: [mem 0x000000007ffe0000-0x000000007fffffff] reserved",
        "BIOS-e820: [mem 0x00000000b0000000-0x00000000bfffffff] reserved",
        "BIOS-e820: [mem 0x00000000fed1c000-0x00000000fed1ffff] reserved",
        "BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved",
        "BIOS-e820: [mem 0x0000000100000000-0x000000013fffffff] usable",
        "BIOS-e820: [mem 0x000000fd00000000-0x000000ffffffffff] reserved",
    };
    CHECK(lines_for("ram: {size: 3 GiB, layout: q35}\n") == expected);
}

TEST_CASE("firmware map: q35 with 8 GiB puts 6 GiB above 4 GiB") {
    std::vector<std::string> expected{
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
        "BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved",
        "BIOS-e820: [mem 0x0000000000100000-0x000000007ffdffff] usable",
        "BIOS-e820: [mem 0x000000007ffe0000-0x000000007fffffff] reserved",
        "BIOS-e820: [mem 0x00000000b0000000-0x00000000bfffffff] reserved",
        "BIOS-e820: [mem 0x00000000fed1c000-0x00000000fed1ffff] reserved",
        "BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved",
        "BIOS-e820: [mem 0x0000000100000000-0x000000027fffffff] usable",
        "BIOS-e820: [mem 0x000000fd00000000-0x000000ffffffffff] reserved",
    };
    CHECK(lines_for("ram: {size: 8 GiB, layout: q35}\n") == expected);
}

TEST_CASE("firmware map: q35 on i386 has no HyperTransport hole; flat keeps pc's ranges") {
    std::vector<std::string> q35 = lines_for("profile: i386\nram: {size: 2560 MiB, layout: q35}\n");
    CHECK(q35.at(3) == "BIOS-e820: [mem 0x0000000000100000-0x000000009ffdffff] usable");
    CHECK(q35.back() == "BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved");
    CHECK(q35.size() == 8);
    CHECK(lines_for("ram: {size: 2 GiB, layout: flat}\n") == lines_for("ram: {size: 2 GiB}\n"));
}

TEST_CASE("firmware map: ram.e820 replaces the derived map, sanitised") {
    // A 1 GiB guest whose firmware puts its ACPI tables in the top 64 KiB of RAM, as older SeaBIOS
    // did; listed out of order, the tables overlapping the usable range they sit in.
    kernel::e820_table map =
        firmware_map(load_config_text("ram:\n"
                                      "  size: 1 GiB\n"
                                      "  layout: q35\n"
                                      "  e820:\n"
                                      "    - [0x100000, 0x3fffffff, usable]\n"
                                      "    - [0, 0x9fbff, usable]\n"
                                      "    - [0x9fc00, 0x9ffff, reserved]\n"
                                      "    - [0xf0000, 0xfffff, reserved]\n"
                                      "    - [0x3fff0000, 0x3fffffff, ACPI data]\n"
                                      "    - [0xfffc0000, 0xffffffff, reserved]\n",
                                      "test.yaml"));
    std::vector<std::string> expected{
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
        "BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved",
        "BIOS-e820: [mem 0x0000000000100000-0x000000003ffeffff] usable",
        "BIOS-e820: [mem 0x000000003fff0000-0x000000003fffffff] ACPI data",
        "BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved",
    };
    CHECK(map.boot_lines() == expected);
    // The old name still gives the same map.
    CHECK(pc_firmware_map(load_config_text("ram: {size: 8 GiB, layout: q35}\n", "test.yaml")).boot_lines() ==
          lines_for("ram: {size: 8 GiB, layout: q35}\n"));
}
