// Watermarks and lowmem_reserve as mm/page_alloc.c computes them, with the arithmetic shown
// (LINUX-FACTS.md, "Watermarks").
#include <vector>

#include <doctest/doctest.h>

#include "kernel_mm/watermarks.h"

using namespace memsim::kernel;

namespace {

// An x86_64 pc machine of 4 GiB: DMA 3840 managed pages (LINUX-FACTS.md), DMA32 and Normal
// sized so that low memory is the 1002349 pages of the worked example.
const std::vector<zone_pages> x86_64_4g{{zone_type::dma, 3840},
                                        {zone_type::dma32, 736365},
                                        {zone_type::normal, 262144},
                                        {zone_type::movable, 0},
                                        {zone_type::device, 0}};

}  // namespace

TEST_CASE("min_free_kbytes: int_sqrt(lowmem_kbytes * 16), clamped to [128, 262144]") {
    // 1002349 pages = 4009396 KiB; * 16 = 64150336; 8009^2 = 64144081 <= it < 8010^2.
    CHECK(calculate_min_free_kbytes(x86_64_4g) == 8009);
    // HighMem does not count: 220000 lowmem pages -> int_sqrt(14080000) = 3752.
    CHECK(calculate_min_free_kbytes({{zone_type::normal, 220000}, {zone_type::highmem, 300000}}) == 3752);
    CHECK(calculate_min_free_kbytes({{zone_type::normal, 100}}) == 128);  // int_sqrt(6400) = 80
    // 1 TiB of low memory: int_sqrt(2^30 KiB * 16) = 2^17; 16 TiB would be 2^19, clamped.
    CHECK(calculate_min_free_kbytes({{zone_type::normal, 1ull << 28}}) == 131072);
    CHECK(calculate_min_free_kbytes({{zone_type::normal, 1ull << 32}}) == 262144);
}

TEST_CASE("watermarks: the worked example, min_free_kbytes 67584 on a 4 GiB x86_64 machine") {
    std::vector<watermark> marks = setup_per_zone_wmarks(x86_64_4g, 67584);
    // pages_min = 67584 / 4 = 16896.
    // DMA: share = 16896 * 3840 / 1002349 = 64; gap = max(64 >> 2, 3840 * 10 / 10000) = 16.
    CHECK(marks[0] == watermark{64, 80, 96});
    // DMA32: share = 16896 * 736365 / 1002349 = 12412; gap = max(3103, 736) = 3103.
    CHECK(marks[1] == watermark{12412, 15515, 18618});
    // Normal: share = 16896 * 262144 / 1002349 = 4418; gap = max(1104, 262) = 1104.
    CHECK(marks[2] == watermark{4418, 5522, 6626});
    // Empty Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0.
    CHECK(marks[3] == watermark{32, 32, 32});
}

TEST_CASE("watermarks: HighMem's min is clamp(managed / 1024, 32, 128), its gap from the share") {
    std::vector<watermark> marks =
        setup_per_zone_wmarks({{zone_type::normal, 220000}, {zone_type::highmem, 300000}}, 3752);
    // pages_min = 938. Normal: share = 938, gap = max(234, 220) = 234.
    CHECK(marks[0] == watermark{938, 1172, 1406});
    // HighMem: min = clamp(292, 32, 128) = 128; share = 938 * 300000 / 220000 = 1279;
    // gap = max(1279 >> 2, 300000 * 10 / 10000) = max(319, 300) = 319.
    CHECK(marks[1] == watermark{128, 447, 766});
}

TEST_CASE("watermarks: watermark_scale_factor widens the gap when the share is small") {
    // 1000 = 10%: DMA gap = max(16, 3840 * 1000 / 10000) = 384.
    CHECK(setup_per_zone_wmarks(x86_64_4g, 67584, 1000)[0] == watermark{64, 448, 832});
}

TEST_CASE("lowmem_reserve: the pages above a zone over its ratio {256, 256, 32, 0}") {
    auto reserve = setup_per_zone_lowmem_reserve(x86_64_4g);
    // zoneinfo prints these as DMA's "protection: (0, 2876, 3900, 3900, 3900)".
    CHECK(reserve[0] == std::vector<std::uint64_t>{0, 736365 / 256, 998509 / 256, 3900, 3900});
    CHECK(reserve[1] == std::vector<std::uint64_t>{0, 0, 262144 / 256, 1024, 1024});
    CHECK(reserve[2] == std::vector<std::uint64_t>{0, 0, 0, 0, 0});  // 0 pages above / 32
    CHECK(reserve[3] == std::vector<std::uint64_t>{0, 0, 0, 0, 0});  // Movable's ratio is 0
    // A zone without managed pages protects nothing.
    auto empty = setup_per_zone_lowmem_reserve({{zone_type::dma, 0}, {zone_type::normal, 1000}});
    CHECK(empty[0] == std::vector<std::uint64_t>{0, 0});
}
