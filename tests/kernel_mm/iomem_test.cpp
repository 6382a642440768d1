// /proc/iomem: the resource tree of kernel/resource.c (nesting, adoption, refusal of partial
// overlaps) seeded from the firmware map as arch/x86/kernel/e820.c does, checked byte for byte.
#include "kernel_mm/iomem.h"

#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace memsim;
using kernel::e820_type;
using kernel::resource;
using kernel::resource_tree;

namespace {

// The BIOS-e820 map of QEMU's `pc` machine with SeaBIOS, 4 GiB, x86_64 (LINUX-FACTS.md).
kernel::e820_table pc_4gib() {
    kernel::e820_table map;
    map.add(0, 0x9fc00, e820_type::ram);
    map.add(0x9fc00, 0x400, e820_type::reserved);
    map.add(0xf0000, 0x10000, e820_type::reserved);
    map.add(0x100000, 0xbffe0000 - 0x100000, e820_type::ram);
    map.add(0xbffe0000, 0x20000, e820_type::reserved);
    map.add(0xfffc0000, 0x40000, e820_type::reserved);
    map.add(0x100000000, 0x40000000, e820_type::ram);
    map.add(0xfd00000000, 0x300000000, e820_type::reserved);
    map.sanitize();
    return map;
}

// A kernel image as the x86_64 boot puts it at 16 MiB: code, rodata, data, then bss.
void insert_kernel_image(resource_tree& iomem) {
    CHECK(iomem.insert({0x1000000, 0x1c01f1c, "Kernel code"}));
    CHECK(iomem.insert({0x1e00000, 0x2163fff, "Kernel rodata"}));
    CHECK(iomem.insert({0x2200000, 0x243f37f, "Kernel data"}));
    CHECK(iomem.insert({0x29bb000, 0x2bfffff, "Kernel bss"}));
}

const std::string pc_4gib_text =
    "00000000-00000fff : Reserved\n"
    "00001000-0009fbff : System RAM\n"
    "0009fc00-0009ffff : Reserved\n"
    "000f0000-000fffff : Reserved\n"
    "00100000-bffdffff : System RAM\n"
    "  01000000-01c01f1c : Kernel code\n"
    "  01e00000-02163fff : Kernel rodata\n"
    "  02200000-0243f37f : Kernel data\n"
    "  029bb000-02bfffff : Kernel bss\n"
    "bffe0000-bfffffff : Reserved\n"
    "fe000000-fe000fff : isa_dma\n"
    "fffc0000-ffffffff : Reserved\n"
    "100000000-13fffffff : System RAM\n"
    "fd00000000-ffffffffff : Reserved\n";

}  // namespace

TEST_CASE("iomem: a 4 GiB x86_64 pc machine with a device window and the kernel image") {
    resource_tree iomem = kernel::iomem_from_e820(pc_4gib());
    CHECK(iomem.insert({0xfe000000, 0xfe000fff, "isa_dma"}));
    insert_kernel_image(iomem);
    CHECK(iomem.text() == pc_4gib_text);
}

TEST_CASE("iomem: the two steps of the boot with devices in between give the same text") {
    kernel::e820_table map = pc_4gib();
    kernel::trim_bios_range(map);
    resource_tree iomem;
    kernel::e820_reserve_resources(iomem, map);
    // Only what Linux claims at once is there before the devices: nothing reserved above 1 MiB.
    CHECK(iomem.text() ==
          "00000000-00000fff : Reserved\n"
          "00001000-0009fbff : System RAM\n"
          "0009fc00-0009ffff : Reserved\n"
          "000f0000-000fffff : Reserved\n"
          "00100000-bffdffff : System RAM\n"
          "100000000-13fffffff : System RAM\n");
    CHECK(iomem.insert({0xfe000000, 0xfe000fff, "isa_dma"}));
    insert_kernel_image(iomem);
    kernel::e820_reserve_resources_late(iomem, map);
    CHECK(iomem.text() == pc_4gib_text);
}

TEST_CASE("iomem: the space after RAM up to its alignment is RAM buffer where nothing else is") {
    // 1000 MiB pc: RAM ends at 0x3e7e0000 below the firmware's 128 KiB; rounded up to 64 MiB
    // that is 0x40000000, so 0x3e800000-0x3fffffff is RAM buffer. The 640 KiB RAM ends at
    // 0x9fc00, whose 64 KiB rounding (0x9ffff) the EBDA's reserved range covers whole.
    kernel::e820_table map;
    map.add(0, 0x9fc00, e820_type::ram);
    map.add(0x9fc00, 0x400, e820_type::reserved);
    map.add(0xf0000, 0x10000, e820_type::reserved);
    map.add(0x100000, 0x3e7e0000 - 0x100000, e820_type::ram);
    map.add(0x3e7e0000, 0x20000, e820_type::reserved);
    map.add(0xfffc0000, 0x40000, e820_type::reserved);
    map.sanitize();
    CHECK(iomem_from_e820(map).text() ==
          "00000000-00000fff : Reserved\n"
          "00001000-0009fbff : System RAM\n"
          "0009fc00-0009ffff : Reserved\n"
          "000f0000-000fffff : Reserved\n"
          "00100000-3e7dffff : System RAM\n"
          "3e7e0000-3e7fffff : Reserved\n"
          "3e800000-3fffffff : RAM buffer\n"
          "fffc0000-ffffffff : Reserved\n");
}

TEST_CASE("iomem: every e820 type has the name e820_type_to_string gives it") {
    CHECK(kernel::e820_resource_name(e820_type::ram) == "System RAM");
    CHECK(kernel::e820_resource_name(e820_type::reserved) == "Reserved");
    CHECK(kernel::e820_resource_name(e820_type::acpi) == "ACPI Tables");
    CHECK(kernel::e820_resource_name(e820_type::nvs) == "ACPI Non-volatile Storage");
    CHECK(kernel::e820_resource_name(e820_type::unusable) == "Unusable memory");
    CHECK(kernel::e820_resource_name(e820_type::pmem) == "Persistent Memory");
    CHECK(kernel::e820_resource_name(e820_type::pram) == "Persistent Memory (legacy)");
    CHECK(kernel::e820_resource_name(e820_type::soft_reserved) == "Soft Reserved");
    CHECK(kernel::e820_resource_name(static_cast<e820_type>(99)) == "Unknown E820 type");
}

TEST_CASE("iomem: ACPI and persistent ranges, claimed early or late") {
    kernel::e820_table map;
    map.add(0, 0x9fc00, e820_type::ram);
    map.add(0x100000, 0x7fee0000, e820_type::ram);
    map.add(0x7ffe0000, 0x10000, e820_type::acpi);
    map.add(0x7fff0000, 0x10000, e820_type::nvs);
    map.add(0x100000000, 0x40000000, e820_type::pmem);
    map.add(0x140000000, 0x40000000, e820_type::pram);
    map.add(0x180000000, 0x1000, e820_type::unusable);
    map.add(0x180001000, 0xfff000, e820_type::soft_reserved);
    map.sanitize();
    CHECK(kernel::iomem_from_e820(map).text() ==
          "00000000-00000fff : Reserved\n"
          "00001000-0009fbff : System RAM\n"
          "0009fc00-0009ffff : RAM buffer\n"  // no EBDA here: the 640 KiB RAM rounds up to 0xa0000
          "00100000-7ffdffff : System RAM\n"
          "7ffe0000-7ffeffff : ACPI Tables\n"
          "7fff0000-7fffffff : ACPI Non-volatile Storage\n"
          "100000000-13fffffff : Persistent Memory\n"
          "140000000-17fffffff : Persistent Memory (legacy)\n"
          "180000000-180000fff : Unusable memory\n"
          "180001000-180ffffff : Soft Reserved\n");
}

TEST_CASE("iomem: a reserved range claimed late wraps the device it overlaps") {
    kernel::e820_table map;
    map.add(0xfed1c000, 0x4000, e820_type::reserved);
    resource_tree iomem;
    // A device window straddling the end of the reserved range: Linux expands the range to fit.
    CHECK(iomem.insert({0xfed1f000, 0xfed20fff, "lpc"}));
    kernel::e820_reserve_resources_late(iomem, map);
    CHECK(iomem.text() ==
          "fed1c000-fed20fff : Reserved\n"
          "  fed1f000-fed20fff : lpc\n");
}

TEST_CASE("iomem: insert_resource nests, adopts, and refuses partial overlaps") {
    resource_tree iomem;
    REQUIRE(iomem.insert({0x1000, 0x1fff, "x"}));
    REQUIRE(iomem.insert({0x3000, 0x3fff, "y"}));

    SUBCASE("a resource containing others adopts them") {
        CHECK(iomem.insert({0x0, 0xffff, "outer"}));
        CHECK(iomem.text() ==
              "00000000-0000ffff : outer\n"
              "  00001000-00001fff : x\n"
              "  00003000-00003fff : y\n");
        // Inside `outer` and `x`: it goes two levels down.
        CHECK(iomem.insert({0x1800, 0x18ff, "deep"}));
        // Exactly x's range: the newcomer goes outside, x becomes its child.
        CHECK(iomem.insert({0x1000, 0x1fff, "same"}));
        CHECK(iomem.text() ==
              "00000000-0000ffff : outer\n"
              "  00001000-00001fff : same\n"
              "    00001000-00001fff : x\n"
              "      00001800-000018ff : deep\n"
              "  00003000-00003fff : y\n");
        std::vector<resource_tree::entry> expected{{{0x0, 0xffff, "outer"}, 0},
                                                   {{0x1000, 0x1fff, "same"}, 1},
                                                   {{0x1000, 0x1fff, "x"}, 2},
                                                   {{0x1800, 0x18ff, "deep"}, 3},
                                                   {{0x3000, 0x3fff, "y"}, 1}};
        CHECK(iomem.walk() == expected);
    }
    SUBCASE("a partial overlap is refused and names the resource in the way") {
        kernel::insert_result r = iomem.insert({0x1800, 0x27ff, "across"});
        CHECK_FALSE(r);
        CHECK(r.conflict == resource{0x1000, 0x1fff, "x"});
        // Containing x but cutting into y: refused because of y.
        r = iomem.insert({0x0, 0x37ff, "wide"});
        CHECK_FALSE(r.inserted);
        CHECK(r.conflict == resource{0x3000, 0x3fff, "y"});
        // Inside x, then partly over a child of x.
        REQUIRE(iomem.insert({0x1000, 0x10ff, "x0"}));
        CHECK(iomem.insert({0x1080, 0x11ff, "bad"}).conflict == resource{0x1000, 0x10ff, "x0"});
        CHECK(iomem.text() ==
              "00001000-00001fff : x\n"
              "  00001000-000010ff : x0\n"
              "00003000-00003fff : y\n");
    }
    SUBCASE("an empty range or one outside the root is refused with the root") {
        CHECK(iomem.insert({0x5000, 0x4fff, "backwards"}).conflict == iomem.root());
        resource_tree ioports("PCI IO", 0xffff);
        CHECK(ioports.insert({0xfff0, 0x1000f, "beyond"}).conflict == resource{0, 0xffff, "PCI IO"});
        CHECK_FALSE(ioports.insert_expand_to_fit({0xfff0, 0x1000f, "beyond"}));
        // A root below 0x10000 prints 4 digits, as /proc/ioports does.
        CHECK(ioports.insert({0x60, 0x60, "keyboard"}));
        CHECK(ioports.text() == "0060-0060 : keyboard\n");
    }
}

TEST_CASE("iomem: indentation stops at MAX_IORES_LEVEL") {
    resource_tree iomem;
    for (std::uint64_t level = 0; level < 7; ++level)
        REQUIRE(iomem.insert({level * 0x10, 0xfff - level * 0x10, fmt::format("l{}", level)}));
    CHECK(iomem.text() ==
          "00000000-00000fff : l0\n"
          "  00000010-00000fef : l1\n"
          "    00000020-00000fdf : l2\n"
          "      00000030-00000fcf : l3\n"
          "        00000040-00000fbf : l4\n"
          "          00000050-00000faf : l5\n"
          "          00000060-00000f9f : l6\n");
}
