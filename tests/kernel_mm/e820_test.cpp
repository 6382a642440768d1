// The kernel's reading of the firmware map (arch/x86/kernel/e820.c): sanitised entries and the
// boot log's words for each type.
#include <vector>

#include <doctest/doctest.h>

#include "kernel_mm/e820.h"

using namespace memsim;

TEST_CASE("e820: overlapping entries resolve to the higher type, touching ones merge") {
    kernel::e820_table map;
    map.add(0x1000, 0x4000, kernel::e820_type::ram);
    map.add(0x2000, 0x1000, kernel::e820_type::reserved);
    map.add(0x5000, 0x1000, kernel::e820_type::ram);
    map.add(0x10000, 0x1000, kernel::e820_type::acpi);
    map.sanitize();
    std::vector<kernel::e820_entry> expected{{0x1000, 0x1000, kernel::e820_type::ram},
                                             {0x2000, 0x1000, kernel::e820_type::reserved},
                                             {0x3000, 0x3000, kernel::e820_type::ram},
                                             {0x10000, 0x1000, kernel::e820_type::acpi}};
    CHECK(map.entries() == expected);
    CHECK(map.boot_lines().back() == "BIOS-e820: [mem 0x0000000000010000-0x0000000000010fff] ACPI data");
}

TEST_CASE("e820: every type prints as the kernel prints it") {
    using kernel::e820_type;
    CHECK(kernel::e820_type_name(e820_type::ram) == "usable");
    CHECK(kernel::e820_type_name(e820_type::nvs) == "ACPI NVS");
    CHECK(kernel::e820_type_name(e820_type::unusable) == "unusable");
    CHECK(kernel::e820_type_name(e820_type::pmem) == "persistent (type 7)");
    CHECK(kernel::e820_type_name(e820_type::soft_reserved) == "soft reserved");
}

TEST_CASE("e820: trim_bios_range's update of page 0, usable ==> reserved") {
    kernel::e820_table map;
    map.add(0, 0x9fc00, kernel::e820_type::ram);
    map.add(0x9fc00, 0x400, kernel::e820_type::reserved);
    map.update_range(0, 0x1000, kernel::e820_type::ram, kernel::e820_type::reserved);
    std::vector<kernel::e820_entry> expected{{0, 0x1000, kernel::e820_type::reserved},
                                             {0x1000, 0x9ec00, kernel::e820_type::ram},
                                             {0x9fc00, 0x400, kernel::e820_type::reserved}};
    CHECK(map.entries() == expected);
    // Only entries of the `from` type change: reserved stays reserved when asked to become usable.
    map.update_range(0x9fc00, 0x400, kernel::e820_type::ram, kernel::e820_type::acpi);
    CHECK(map.entries() == expected);
}

TEST_CASE("e820: trim_bios_range reserves page 0 and takes RAM out of the legacy hole") {
    // A firmware that reports its first 2 MiB as one usable range, legacy hole included.
    kernel::e820_table map;
    map.add(0, 0x200000, kernel::e820_type::ram);
    map.add(0xf0000, 0x10000, kernel::e820_type::reserved);
    kernel::trim_bios_range(map);
    std::vector<kernel::e820_entry> expected{{0, 0x1000, kernel::e820_type::reserved},
                                             {0x1000, 0x9f000, kernel::e820_type::ram},
                                             {0xf0000, 0x10000, kernel::e820_type::reserved},
                                             {0x100000, 0x100000, kernel::e820_type::ram}};
    CHECK(map.entries() == expected);
}

TEST_CASE("e820: remove_range takes out only entries of the given type") {
    kernel::e820_table map;
    map.add(0x1000, 0x3000, kernel::e820_type::ram);
    map.add(0x4000, 0x1000, kernel::e820_type::reserved);
    map.sanitize();
    map.remove_range(0x2000, 0x3000, kernel::e820_type::ram);
    std::vector<kernel::e820_entry> expected{{0x1000, 0x1000, kernel::e820_type::ram},
                                             {0x4000, 0x1000, kernel::e820_type::reserved}};
    CHECK(map.entries() == expected);
}
