// The boot log's zone lines for machines as configured: firmware map -> page 0 trimmed (as
// trim_bios_range does) -> memblock -> zone limits (arch/x86/mm/init.c, mm/mm_init.c).
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "kernel_mm/zone_ranges.h"
#include "platform/config.h"
#include "platform/firmware_map.h"

using namespace memsim;
using namespace memsim::kernel;

namespace {

memblock memory_of(const std::string& yaml) {
    e820_table map = platform::pc_firmware_map(platform::load_config_text(yaml, "test.yaml"));
    map.update_range(0, 0x1000, e820_type::ram, e820_type::reserved);
    memblock blocks;
    add_to_memblock(map, blocks);
    return blocks;
}

}  // namespace

TEST_CASE("zone ranges: x86_64 with 4 GiB, as a Debian kernel under QEMU prints them") {
    std::vector<std::string> expected{
        "Zone ranges:",
        "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]",
        "  DMA32    [mem 0x0000000001000000-0x00000000ffffffff]",
        "  Normal   [mem 0x0000000100000000-0x000000013fffffff]",
        "  Device   empty",
        "Movable zone start for each node",
        "Early memory node ranges",
        "  node   0: [mem 0x0000000000001000-0x000000000009efff]",
        "  node   0: [mem 0x0000000000100000-0x00000000bffdffff]",
        "  node   0: [mem 0x0000000100000000-0x000000013fffffff]",
        "Initmem setup node 0 [mem 0x0000000000001000-0x000000013fffffff]",
    };
    CHECK(zone_range_lines(kernel_arch::x86_64, memory_of("ram: {size: 4 GiB}\n")) == expected);
}

TEST_CASE("zone ranges: x86_64 with 2 GiB has an empty Normal zone") {
    std::vector<std::string> lines = zone_range_lines(kernel_arch::x86_64, memory_of("ram: {size: 2 GiB}\n"));
    CHECK(lines.at(2) == "  DMA32    [mem 0x0000000001000000-0x000000007ffdffff]");
    CHECK(lines.at(3) == "  Normal   empty");
}

TEST_CASE("zone ranges: i386 with 1 GiB puts what is above 0x36ffe000 in HighMem") {
    memblock blocks = memory_of("profile: i386\nram: {size: 1 GiB}\n");
    pfn_limits limits = pfn_limits_of(kernel_arch::i386, blocks);
    CHECK(limits.min_pfn == 1);
    CHECK(limits.max_low_pfn == 0x36ffe);
    CHECK(limits.max_pfn == 0x3ffe0);
    std::vector<std::string> lines = zone_range_lines(kernel_arch::i386, blocks);
    std::vector<std::string> zones(lines.begin(), lines.begin() + 4);
    CHECK(zones ==
          std::vector<std::string>{"Zone ranges:", "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]",
                                   "  Normal   [mem 0x0000000001000000-0x0000000036ffdfff]",
                                   "  HighMem  [mem 0x0000000036ffe000-0x000000003ffdffff]"});
}

TEST_CASE("zone ranges: an i386 machine of 512 MiB has no high memory") {
    std::vector<std::string> lines =
        zone_range_lines(kernel_arch::i386, memory_of("profile: i386\nram: {size: 512 MiB}\n"));
    CHECK(lines.at(2) == "  Normal   [mem 0x0000000001000000-0x000000001ffdffff]");
    CHECK(lines.at(3) == "  HighMem  empty");
}

TEST_CASE("zone ranges: spans in pages, as zone_sizes_init limits them") {
    pfn_limits limits{1, 0x140000, 0x140000};
    std::vector<zone_span> spans = zone_spans(kernel_arch::x86_64, limits);
    REQUIRE(spans.size() == 4);
    // DMA spans 4095 pages (LINUX-FACTS.md: "DMA 4095/3998"), DMA32 1044480.
    CHECK(spans[0].end_pfn - spans[0].start_pfn == 4095);
    CHECK(spans[1].end_pfn - spans[1].start_pfn == 1044480);
    CHECK(spans[2].end_pfn - spans[2].start_pfn == 262144);
    CHECK(spans[3].end_pfn == spans[3].start_pfn);
}
