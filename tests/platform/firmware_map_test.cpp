// The firmware map a machine's kernel boots with: the boot log's BIOS-e820 lines of a Debian
// kernel under QEMU's `pc` machine with SeaBIOS (LINUX-FACTS.md), for several RAM sizes.
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
    return pc_firmware_map(load_config_text(yaml, "test.yaml")).boot_lines();
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
    kernel::e820_table map = pc_firmware_map(load_config_text("ram: {size: 16 GiB}\n", "test.yaml"));
    // Below the EBDA, then 1 MiB up to 3 GiB less the firmware's 128 KiB, then all 13 GiB above 4 GiB.
    CHECK(map.total(kernel::e820_type::ram) == 0x9fc00 + (3 * GiB - 1 * MiB - 128 * KiB) + 13 * GiB);
    CHECK(map.boot_lines().at(6) == "BIOS-e820: [mem 0x0000000100000000-0x000000043fffffff] usable");
}
