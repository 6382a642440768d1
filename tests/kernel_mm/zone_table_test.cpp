// Zone spans, watermarks and lowmem_reserve of QEMU pc machines from 2 MiB to 64 GiB under the
// three profiles (x86_64, i386, i386-pae), against numbers worked out from Linux's rules rather
// than from the code under test: LINUX-FACTS.md ("Firmware map", "Zones", "Watermarks"),
// arch/x86/mm/init.c zone_sizes_init, mm/mm_init.c free_area_init and calculate_node_totalpages,
// mm/page_alloc.c calculate_min_free_kbytes, __setup_per_zone_wmarks and
// setup_per_zone_lowmem_reserve. The arithmetic is written above each machine.
//
// What every machine below shares:
// - pc_memblock: RAM pfns [0x1, 0x9f) (page 0 is not RAM, 0x9fc00 up is the EBDA), then from
//   0x100 (1 MiB) to the end of low RAM less the firmware's 128 KiB (32 pages), then from 0x100000
//   (4 GiB) whatever RAM QEMU put there (all RAM above 3 GiB once RAM reaches 3.5 GiB).
// - The first 1 MiB is reserved: DMA's 158 pages below 640 KiB are present but not managed.
// - x86_64: max_low_pfn = max_pfn (init_mem_mapping). i386: max_low_pfn = min(max_pfn, 0x36ffe)
//   (MAXMEM of the 3G/1G split); HighMem is max_low_pfn..max_pfn.
// - An empty zone has zone_start_pfn 0 and nothing spanned (calculate_node_totalpages).
// - __setup_per_zone_wmarks walks every zone, empty ones too: an empty HighMem or Movable gets
//   min = clamp(0 / 1024, SWAP_CLUSTER_MAX = 32, 128) = 32 and a gap of 0, so 32/32/32; an empty
//   lowmem zone gets share 0, so 0/0/0.
// - lowmem_reserve[i][j] = (managed pages of zones i+1..j) / ratio[i], ratios DMA 256, DMA32 256,
//   Normal 32, HighMem/Movable/Device 0; an empty zone i reserves nothing; [i][j <= i] is 0.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/units.h"
#include "kernel_mm/page_alloc.h"
#include "tests/kernel_mm/machine_under_test.h"

namespace memsim::kernel {
namespace {

enum class profile { x86_64, i386, i386_pae };

std::string profile_name(profile p) {
    switch (p) {
        case profile::x86_64:
            return "x86_64";
        case profile::i386:
            return "i386";
        case profile::i386_pae:
            return "i386-pae";
    }
    return "?";
}

// i386 has no DMA32 and its direct map at 0xc0000000; PAE changes only the pageblock order in
// this allocator (2 MiB huge pages instead of 4 MiB), so its zones match plain i386's.
page_alloc_config config_for(profile p) {
    page_alloc_config config;
    if (p != profile::x86_64) {
        config.arch = kernel_arch::i386;
        config.pageblock_order = p == profile::i386 ? 10 : 9;
        config.page_offset = 0xc0000000;
    }
    return config;
}

struct zone_expect {
    zone_type type;
    pfn_t start;
    std::uint64_t spanned, present, managed;
    watermark wmark;
    // lowmem_reserve[j] for each zone j of the node, as zoneinfo prints it ("protection: (...)").
    std::vector<std::uint64_t> protection;
};

struct machine_expect {
    std::string name;
    std::uint64_t ram;
    std::vector<profile> profiles;
    std::uint64_t min_free_kbytes;
    std::vector<zone_expect> zones;  // every configured zone, in the node's order
};

void check_machine(const machine_expect& want, profile p) {
    std::string machine = want.name + " as " + profile_name(p);
    CAPTURE(machine);
    memblock blocks = pc_memblock(want.ram);
    // Without PAE a physical address has 32 bits: e820__memblock_setup never adds the RAM above
    // 4 GiB (start_kernel does the same; tests/kernel_mm/start_kernel_test.cpp boots one).
    if (p == profile::i386) blocks.remove(4 * GiB, PHYS_ADDR_MAX - 4 * GiB);
    machine_under_test m(std::move(blocks), config_for(p));
    REQUIRE(m.alloc.nodes().size() == 1);
    CHECK(m.alloc.min_free_kbytes() == want.min_free_kbytes);
    const std::vector<zone>& zones = m.alloc.nodes()[0].zones;
    REQUIRE(zones.size() == want.zones.size());
    for (std::size_t i = 0; i < zones.size(); ++i) {
        const zone& z = zones[i];
        const zone_expect& x = want.zones[i];
        std::string zone_is = std::string(zone_name(x.type));
        CAPTURE(zone_is);
        CHECK(z.type == x.type);
        CHECK(z.zone_start_pfn == x.start);
        CHECK(z.spanned_pages == x.spanned);
        CHECK(z.present_pages == x.present);
        CHECK(z.managed_pages == x.managed);
        CHECK(z.wmark.min == x.wmark.min);
        CHECK(z.wmark.low == x.wmark.low);
        CHECK(z.wmark.high == x.wmark.high);
        // Entries past the node's zones exist in the array but must stay 0.
        for (std::size_t j = 0; j < z.lowmem_reserve.size(); ++j) {
            CAPTURE(j);
            CHECK(z.lowmem_reserve[j] == (j < x.protection.size() ? x.protection[j] : 0));
        }
    }
}

std::vector<machine_expect> x86_64_machines() {
    using enum zone_type;
    return {
        // 2 MiB (no real kernel boots here: it shows the 128 KiB floor): RAM pfns [0x1, 0x9f),
        //   [0x100, 0x1e0); max_pfn 0x1e0, max_low_pfn 0x1e0.
        //   DMA [0x1, 0x1e0): spanned 0x1e0 - 0x1 = 479, present 158 + 224 = 382, managed 382 - 158
        //     (below 1 MiB) = 224
        //   DMA32, Normal, Movable, Device: empty (start 0, spanned 0).
        //   lowmem 224; min_free_kbytes = int_sqrt(224 * 4 * 16) = 119, clamped up to 128; pages_min
        //     32.
        //   DMA: share = 32 * 224 / 224 = 32;
        //     gap = max(32 >> 2, 224 * 10 / 10000) = max(8, 0) = 8 -> 32/40/48.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   DMA32, Normal, Device: no pages, share 0 -> 0/0/0.
        {"x86_64 2 MiB",
         2 * MiB,
         {profile::x86_64},
         128,
         {{dma, 0x1, 479, 382, 224, {32, 40, 48}, {0, 0, 0, 0, 0}},
          {dma32, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}},
          {normal, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0, 0}},
          {device, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}}}},
        // 128 MiB: RAM pfns [0x1, 0x9f), [0x100, 0x7fe0); max_pfn 0x7fe0, max_low_pfn 0x7fe0.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   DMA32 [0x1000, 0x7fe0): spanned 0x7fe0 - 0x1000 = 28640, present the same, all managed
        //   Normal, Movable, Device: empty (start 0, spanned 0).
        //   lowmem 3840 + 28640 = 32480; min_free_kbytes = int_sqrt(32480 * 4 * 16) = 1441; pages_min
        //     360.
        //   DMA: share = 360 * 3840 / 32480 = 42;
        //     gap = max(42 >> 2, 3840 * 10 / 10000) = max(10, 3) = 10 -> 42/52/62.
        //   DMA32: share = 360 * 28640 / 32480 = 317;
        //     gap = max(317 >> 2, 28640 * 10 / 10000) = max(79, 28) = 79 -> 317/396/475.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   Normal, Device: no pages, share 0 -> 0/0/0.
        //   lowmem_reserve of DMA against DMA32..Device 28640 / 256 = 111.
        {"x86_64 128 MiB",
         128 * MiB,
         {profile::x86_64},
         1441,
         {{dma, 0x1, 4095, 3998, 3840, {42, 52, 62}, {0, 111, 111, 111, 111}},
          {dma32, 0x1000, 28640, 28640, 28640, {317, 396, 475}, {0, 0, 0, 0, 0}},
          {normal, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0, 0}},
          {device, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}}}},
        // 512 MiB: RAM pfns [0x1, 0x9f), [0x100, 0x1ffe0); max_pfn 0x1ffe0, max_low_pfn 0x1ffe0.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   DMA32 [0x1000, 0x1ffe0): spanned 0x1ffe0 - 0x1000 = 126944, present the same, all managed
        //   Normal, Movable, Device: empty (start 0, spanned 0).
        //   lowmem 3840 + 126944 = 130784; min_free_kbytes = int_sqrt(130784 * 4 * 16) = 2893;
        //     pages_min 723.
        //   DMA: share = 723 * 3840 / 130784 = 21;
        //     gap = max(21 >> 2, 3840 * 10 / 10000) = max(5, 3) = 5 -> 21/26/31.
        //   DMA32: share = 723 * 126944 / 130784 = 701;
        //     gap = max(701 >> 2, 126944 * 10 / 10000) = max(175, 126) = 175 -> 701/876/1051.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   Normal, Device: no pages, share 0 -> 0/0/0.
        //   lowmem_reserve of DMA against DMA32..Device 126944 / 256 = 495.
        {"x86_64 512 MiB",
         512 * MiB,
         {profile::x86_64},
         2893,
         {{dma, 0x1, 4095, 3998, 3840, {21, 26, 31}, {0, 495, 495, 495, 495}},
          {dma32, 0x1000, 126944, 126944, 126944, {701, 876, 1051}, {0, 0, 0, 0, 0}},
          {normal, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0, 0}},
          {device, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}}}},
        // 1 GiB: RAM pfns [0x1, 0x9f), [0x100, 0x3ffe0); max_pfn 0x3ffe0, max_low_pfn 0x3ffe0.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   DMA32 [0x1000, 0x3ffe0): spanned 0x3ffe0 - 0x1000 = 258016, present the same, all managed
        //   Normal, Movable, Device: empty (start 0, spanned 0).
        //   lowmem 3840 + 258016 = 261856; min_free_kbytes = int_sqrt(261856 * 4 * 16) = 4093;
        //     pages_min 1023.
        //   DMA: share = 1023 * 3840 / 261856 = 15;
        //     gap = max(15 >> 2, 3840 * 10 / 10000) = max(3, 3) = 3 -> 15/18/21.
        //   DMA32: share = 1023 * 258016 / 261856 = 1007;
        //     gap = max(1007 >> 2, 258016 * 10 / 10000) = max(251, 258) = 258 -> 1007/1265/1523.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   Normal, Device: no pages, share 0 -> 0/0/0.
        //   lowmem_reserve of DMA against DMA32..Device 258016 / 256 = 1007.
        {"x86_64 1 GiB",
         1 * GiB,
         {profile::x86_64},
         4093,
         {{dma, 0x1, 4095, 3998, 3840, {15, 18, 21}, {0, 1007, 1007, 1007, 1007}},
          {dma32, 0x1000, 258016, 258016, 258016, {1007, 1265, 1523}, {0, 0, 0, 0, 0}},
          {normal, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0, 0}},
          {device, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}}}},
        // 3 GiB: RAM pfns [0x1, 0x9f), [0x100, 0xbffe0); max_pfn 0xbffe0, max_low_pfn 0xbffe0.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   DMA32 [0x1000, 0xbffe0): spanned 0xbffe0 - 0x1000 = 782304, present the same, all managed
        //   Normal, Movable, Device: empty (start 0, spanned 0).
        //   lowmem 3840 + 782304 = 786144; min_free_kbytes = int_sqrt(786144 * 4 * 16) = 7093;
        //     pages_min 1773.
        //   DMA: share = 1773 * 3840 / 786144 = 8;
        //     gap = max(8 >> 2, 3840 * 10 / 10000) = max(2, 3) = 3 -> 8/11/14.
        //   DMA32: share = 1773 * 782304 / 786144 = 1764;
        //     gap = max(1764 >> 2, 782304 * 10 / 10000) = max(441, 782) = 782 -> 1764/2546/3328.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   Normal, Device: no pages, share 0 -> 0/0/0.
        //   lowmem_reserve of DMA against DMA32..Device 782304 / 256 = 3055.
        {"x86_64 3 GiB",
         3 * GiB,
         {profile::x86_64},
         7093,
         {{dma, 0x1, 4095, 3998, 3840, {8, 11, 14}, {0, 3055, 3055, 3055, 3055}},
          {dma32, 0x1000, 782304, 782304, 782304, {1764, 2546, 3328}, {0, 0, 0, 0, 0}},
          {normal, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0, 0}},
          {device, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}}}},
        // 3584 MiB (from here QEMU keeps 3 GiB below 4 GiB): RAM pfns [0x1, 0x9f), [0x100, 0xbffe0),
        //   [0x100000, 0x120000); max_pfn 0x120000, max_low_pfn 0x120000.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   DMA32 [0x1000, 0x100000): spanned 0x100000 - 0x1000 = 1044480, present
        //     0xbffe0 - 0x1000 = 782304 (then the hole below 4 GiB), all managed
        //   Normal [0x100000, 0x120000): spanned 0x120000 - 0x100000 = 131072, present the same, all
        //     managed
        //   Movable, Device: empty (start 0, spanned 0).
        //   lowmem 3840 + 782304 + 131072 = 917216;
        //     min_free_kbytes = int_sqrt(917216 * 4 * 16) = 7661; pages_min 1915.
        //   DMA: share = 1915 * 3840 / 917216 = 8;
        //     gap = max(8 >> 2, 3840 * 10 / 10000) = max(2, 3) = 3 -> 8/11/14.
        //   DMA32: share = 1915 * 782304 / 917216 = 1633;
        //     gap = max(1633 >> 2, 782304 * 10 / 10000) = max(408, 782) = 782 -> 1633/2415/3197.
        //   Normal: share = 1915 * 131072 / 917216 = 273;
        //     gap = max(273 >> 2, 131072 * 10 / 10000) = max(68, 131) = 131 -> 273/404/535.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   Device: no pages, share 0 -> 0/0/0.
        //   lowmem_reserve of DMA against DMA32 782304 / 256 = 3055; Normal..Device
        //     (782304 + 131072) / 256 = 3567.
        //   lowmem_reserve of DMA32 against Normal..Device 131072 / 256 = 512.
        {"x86_64 3584 MiB",
         3584 * MiB,
         {profile::x86_64},
         7661,
         {{dma, 0x1, 4095, 3998, 3840, {8, 11, 14}, {0, 3055, 3567, 3567, 3567}},
          {dma32, 0x1000, 1044480, 782304, 782304, {1633, 2415, 3197}, {0, 0, 512, 512, 512}},
          {normal, 0x100000, 131072, 131072, 131072, {273, 404, 535}, {0, 0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0, 0}},
          {device, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}}}},
        // 4 GiB: RAM pfns [0x1, 0x9f), [0x100, 0xbffe0), [0x100000, 0x140000); max_pfn 0x140000,
        //   max_low_pfn 0x140000.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   DMA32 [0x1000, 0x100000): spanned 0x100000 - 0x1000 = 1044480, present
        //     0xbffe0 - 0x1000 = 782304 (then the hole below 4 GiB), all managed
        //   Normal [0x100000, 0x140000): spanned 0x140000 - 0x100000 = 262144, present the same, all
        //     managed
        //   Movable, Device: empty (start 0, spanned 0).
        //   lowmem 3840 + 782304 + 262144 = 1048288;
        //     min_free_kbytes = int_sqrt(1048288 * 4 * 16) = 8190; pages_min 2047.
        //   DMA: share = 2047 * 3840 / 1048288 = 7;
        //     gap = max(7 >> 2, 3840 * 10 / 10000) = max(1, 3) = 3 -> 7/10/13.
        //   DMA32: share = 2047 * 782304 / 1048288 = 1527;
        //     gap = max(1527 >> 2, 782304 * 10 / 10000) = max(381, 782) = 782 -> 1527/2309/3091.
        //   Normal: share = 2047 * 262144 / 1048288 = 511;
        //     gap = max(511 >> 2, 262144 * 10 / 10000) = max(127, 262) = 262 -> 511/773/1035.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   Device: no pages, share 0 -> 0/0/0.
        //   lowmem_reserve of DMA against DMA32 782304 / 256 = 3055; Normal..Device
        //     (782304 + 262144) / 256 = 4079.
        //   lowmem_reserve of DMA32 against Normal..Device 262144 / 256 = 1024.
        {"x86_64 4 GiB",
         4 * GiB,
         {profile::x86_64},
         8190,
         {{dma, 0x1, 4095, 3998, 3840, {7, 10, 13}, {0, 3055, 4079, 4079, 4079}},
          {dma32, 0x1000, 1044480, 782304, 782304, {1527, 2309, 3091}, {0, 0, 1024, 1024, 1024}},
          {normal, 0x100000, 262144, 262144, 262144, {511, 773, 1035}, {0, 0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0, 0}},
          {device, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}}}},
        // 16 GiB: RAM pfns [0x1, 0x9f), [0x100, 0xbffe0), [0x100000, 0x440000); max_pfn 0x440000,
        //   max_low_pfn 0x440000.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   DMA32 [0x1000, 0x100000): spanned 0x100000 - 0x1000 = 1044480, present
        //     0xbffe0 - 0x1000 = 782304 (then the hole below 4 GiB), all managed
        //   Normal [0x100000, 0x440000): spanned 0x440000 - 0x100000 = 3407872, present the same, all
        //     managed
        //   Movable, Device: empty (start 0, spanned 0).
        //   lowmem 3840 + 782304 + 3407872 = 4194016;
        //     min_free_kbytes = int_sqrt(4194016 * 4 * 16) = 16383; pages_min 4095.
        //   DMA: share = 4095 * 3840 / 4194016 = 3;
        //     gap = max(3 >> 2, 3840 * 10 / 10000) = max(0, 3) = 3 -> 3/6/9.
        //   DMA32: share = 4095 * 782304 / 4194016 = 763;
        //     gap = max(763 >> 2, 782304 * 10 / 10000) = max(190, 782) = 782 -> 763/1545/2327.
        //   Normal: share = 4095 * 3407872 / 4194016 = 3327;
        //     gap = max(3327 >> 2, 3407872 * 10 / 10000) = max(831, 3407) = 3407 -> 3327/6734/10141.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   Device: no pages, share 0 -> 0/0/0.
        //   lowmem_reserve of DMA against DMA32 782304 / 256 = 3055; Normal..Device
        //     (782304 + 3407872) / 256 = 16367.
        //   lowmem_reserve of DMA32 against Normal..Device 3407872 / 256 = 13312.
        {"x86_64 16 GiB",
         16 * GiB,
         {profile::x86_64},
         16383,
         {{dma, 0x1, 4095, 3998, 3840, {3, 6, 9}, {0, 3055, 16367, 16367, 16367}},
          {dma32, 0x1000, 1044480, 782304, 782304, {763, 1545, 2327}, {0, 0, 13312, 13312, 13312}},
          {normal, 0x100000, 3407872, 3407872, 3407872, {3327, 6734, 10141}, {0, 0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0, 0}},
          {device, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}}}},
        // 64 GiB: RAM pfns [0x1, 0x9f), [0x100, 0xbffe0), [0x100000, 0x1040000); max_pfn 0x1040000,
        //   max_low_pfn 0x1040000.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   DMA32 [0x1000, 0x100000): spanned 0x100000 - 0x1000 = 1044480, present
        //     0xbffe0 - 0x1000 = 782304 (then the hole below 4 GiB), all managed
        //   Normal [0x100000, 0x1040000): spanned 0x1040000 - 0x100000 = 15990784, present the same,
        //     all managed
        //   Movable, Device: empty (start 0, spanned 0).
        //   lowmem 3840 + 782304 + 15990784 = 16776928;
        //     min_free_kbytes = int_sqrt(16776928 * 4 * 16) = 32767; pages_min 8191.
        //   DMA: share = 8191 * 3840 / 16776928 = 1;
        //     gap = max(1 >> 2, 3840 * 10 / 10000) = max(0, 3) = 3 -> 1/4/7.
        //   DMA32: share = 8191 * 782304 / 16776928 = 381;
        //     gap = max(381 >> 2, 782304 * 10 / 10000) = max(95, 782) = 782 -> 381/1163/1945.
        //   Normal: share = 8191 * 15990784 / 16776928 = 7807; gap = max(7807 >> 2, 15990784 * 10 / 1
        //     0000) = max(1951, 15990) = 15990 -> 7807/23797/39787.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   Device: no pages, share 0 -> 0/0/0.
        //   lowmem_reserve of DMA against DMA32 782304 / 256 = 3055; Normal..Device
        //     (782304 + 15990784) / 256 = 65519.
        //   lowmem_reserve of DMA32 against Normal..Device 15990784 / 256 = 62464.
        {"x86_64 64 GiB",
         64 * GiB,
         {profile::x86_64},
         32767,
         {{dma, 0x1, 4095, 3998, 3840, {1, 4, 7}, {0, 3055, 65519, 65519, 65519}},
          {dma32, 0x1000, 1044480, 782304, 782304, {381, 1163, 1945}, {0, 0, 62464, 62464, 62464}},
          {normal, 0x100000, 15990784, 15990784, 15990784, {7807, 23797, 39787}, {0, 0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0, 0}},
          {device, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0, 0}}}},
    };
}

std::vector<machine_expect> i386_machines() {
    using enum zone_type;
    return {
        // 64 MiB: RAM pfns [0x1, 0x9f), [0x100, 0x3fe0); max_pfn 0x3fe0, max_low_pfn 0x3fe0.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   Normal [0x1000, 0x3fe0): spanned 0x3fe0 - 0x1000 = 12256, present the same, all managed
        //   HighMem, Movable: empty (start 0, spanned 0).
        //   lowmem 3840 + 12256 = 16096; min_free_kbytes = int_sqrt(16096 * 4 * 16) = 1014; pages_min
        //     253.
        //   DMA: share = 253 * 3840 / 16096 = 60;
        //     gap = max(60 >> 2, 3840 * 10 / 10000) = max(15, 3) = 15 -> 60/75/90.
        //   Normal: share = 253 * 12256 / 16096 = 192;
        //     gap = max(192 >> 2, 12256 * 10 / 10000) = max(48, 12) = 48 -> 192/240/288.
        //   HighMem: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   lowmem_reserve of DMA against Normal..Movable 12256 / 256 = 47.
        {"i386 64 MiB",
         64 * MiB,
         {profile::i386, profile::i386_pae},
         1014,
         {{dma, 0x1, 4095, 3998, 3840, {60, 75, 90}, {0, 47, 47, 47}},
          {normal, 0x1000, 12256, 12256, 12256, {192, 240, 288}, {0, 0, 0, 0}},
          {highmem, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}}}},
        // 256 MiB: RAM pfns [0x1, 0x9f), [0x100, 0xffe0); max_pfn 0xffe0, max_low_pfn 0xffe0.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   Normal [0x1000, 0xffe0): spanned 0xffe0 - 0x1000 = 61408, present the same, all managed
        //   HighMem, Movable: empty (start 0, spanned 0).
        //   lowmem 3840 + 61408 = 65248; min_free_kbytes = int_sqrt(65248 * 4 * 16) = 2043; pages_min
        //     510.
        //   DMA: share = 510 * 3840 / 65248 = 30;
        //     gap = max(30 >> 2, 3840 * 10 / 10000) = max(7, 3) = 7 -> 30/37/44.
        //   Normal: share = 510 * 61408 / 65248 = 479;
        //     gap = max(479 >> 2, 61408 * 10 / 10000) = max(119, 61) = 119 -> 479/598/717.
        //   HighMem: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   lowmem_reserve of DMA against Normal..Movable 61408 / 256 = 239.
        {"i386 256 MiB",
         256 * MiB,
         {profile::i386, profile::i386_pae},
         2043,
         {{dma, 0x1, 4095, 3998, 3840, {30, 37, 44}, {0, 239, 239, 239}},
          {normal, 0x1000, 61408, 61408, 61408, {479, 598, 717}, {0, 0, 0, 0}},
          {highmem, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}}}},
        // 880 MiB (max_pfn 0x36fe0 stays below 0x36ffe: no HighMem): RAM pfns [0x1, 0x9f),
        //   [0x100, 0x36fe0); max_pfn 0x36fe0, max_low_pfn 0x36fe0.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   Normal [0x1000, 0x36fe0): spanned 0x36fe0 - 0x1000 = 221152, present the same, all managed
        //   HighMem, Movable: empty (start 0, spanned 0).
        //   lowmem 3840 + 221152 = 224992; min_free_kbytes = int_sqrt(224992 * 4 * 16) = 3794;
        //     pages_min 948.
        //   DMA: share = 948 * 3840 / 224992 = 16;
        //     gap = max(16 >> 2, 3840 * 10 / 10000) = max(4, 3) = 4 -> 16/20/24.
        //   Normal: share = 948 * 221152 / 224992 = 931;
        //     gap = max(931 >> 2, 221152 * 10 / 10000) = max(232, 221) = 232 -> 931/1163/1395.
        //   HighMem: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   lowmem_reserve of DMA against Normal..Movable 221152 / 256 = 863.
        {"i386 880 MiB",
         880 * MiB,
         {profile::i386, profile::i386_pae},
         3794,
         {{dma, 0x1, 4095, 3998, 3840, {16, 20, 24}, {0, 863, 863, 863}},
          {normal, 0x1000, 221152, 221152, 221152, {931, 1163, 1395}, {0, 0, 0, 0}},
          {highmem, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}}}},
        // 896 MiB: RAM pfns [0x1, 0x9f), [0x100, 0x37fe0); max_pfn 0x37fe0, max_low_pfn 0x36ffe.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   Normal [0x1000, 0x36ffe): spanned 0x36ffe - 0x1000 = 221182, present the same, all managed
        //   HighMem [0x36ffe, 0x37fe0): spanned 0x37fe0 - 0x36ffe = 4066, present the same, all managed
        //   Movable: empty (start 0, spanned 0).
        //   lowmem 3840 + 221182 = 225022; min_free_kbytes = int_sqrt(225022 * 4 * 16) = 3794;
        //     pages_min 948.
        //   DMA: share = 948 * 3840 / 225022 = 16;
        //     gap = max(16 >> 2, 3840 * 10 / 10000) = max(4, 3) = 4 -> 16/20/24.
        //   Normal: share = 948 * 221182 / 225022 = 931;
        //     gap = max(931 >> 2, 221182 * 10 / 10000) = max(232, 221) = 232 -> 931/1163/1395.
        //   HighMem: min = clamp(4066 / 1024, 32, 128) = 32; share = 948 * 4066 / 225022 = 17;
        //     gap = max(17 >> 2, 4066 * 10 / 10000) = max(4, 4) = 4 -> 32/36/40.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   lowmem_reserve of DMA against Normal 221182 / 256 = 863; HighMem..Movable
        //     (221182 + 4066) / 256 = 879.
        //   lowmem_reserve of Normal against HighMem..Movable 4066 / 32 = 127.
        {"i386 896 MiB",
         896 * MiB,
         {profile::i386, profile::i386_pae},
         3794,
         {{dma, 0x1, 4095, 3998, 3840, {16, 20, 24}, {0, 863, 879, 879}},
          {normal, 0x1000, 221182, 221182, 221182, {931, 1163, 1395}, {0, 0, 127, 127}},
          {highmem, 0x36ffe, 4066, 4066, 4066, {32, 36, 40}, {0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}}}},
        // 1 GiB: RAM pfns [0x1, 0x9f), [0x100, 0x3ffe0); max_pfn 0x3ffe0, max_low_pfn 0x36ffe.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   Normal [0x1000, 0x36ffe): spanned 0x36ffe - 0x1000 = 221182, present the same, all managed
        //   HighMem [0x36ffe, 0x3ffe0): spanned 0x3ffe0 - 0x36ffe = 36834, present the same, all
        //     managed
        //   Movable: empty (start 0, spanned 0).
        //   lowmem 3840 + 221182 = 225022; min_free_kbytes = int_sqrt(225022 * 4 * 16) = 3794;
        //     pages_min 948.
        //   DMA: share = 948 * 3840 / 225022 = 16;
        //     gap = max(16 >> 2, 3840 * 10 / 10000) = max(4, 3) = 4 -> 16/20/24.
        //   Normal: share = 948 * 221182 / 225022 = 931;
        //     gap = max(931 >> 2, 221182 * 10 / 10000) = max(232, 221) = 232 -> 931/1163/1395.
        //   HighMem: min = clamp(36834 / 1024, 32, 128) = 35; share = 948 * 36834 / 225022 = 155;
        //     gap = max(155 >> 2, 36834 * 10 / 10000) = max(38, 36) = 38 -> 35/73/111.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   lowmem_reserve of DMA against Normal 221182 / 256 = 863; HighMem..Movable
        //     (221182 + 36834) / 256 = 1007.
        //   lowmem_reserve of Normal against HighMem..Movable 36834 / 32 = 1151.
        {"i386 1 GiB",
         1 * GiB,
         {profile::i386, profile::i386_pae},
         3794,
         {{dma, 0x1, 4095, 3998, 3840, {16, 20, 24}, {0, 863, 1007, 1007}},
          {normal, 0x1000, 221182, 221182, 221182, {931, 1163, 1395}, {0, 0, 1151, 1151}},
          {highmem, 0x36ffe, 36834, 36834, 36834, {35, 73, 111}, {0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}}}},
        // 2 GiB: RAM pfns [0x1, 0x9f), [0x100, 0x7ffe0); max_pfn 0x7ffe0, max_low_pfn 0x36ffe.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   Normal [0x1000, 0x36ffe): spanned 0x36ffe - 0x1000 = 221182, present the same, all managed
        //   HighMem [0x36ffe, 0x7ffe0): spanned 0x7ffe0 - 0x36ffe = 298978, present the same, all
        //     managed
        //   Movable: empty (start 0, spanned 0).
        //   lowmem 3840 + 221182 = 225022; min_free_kbytes = int_sqrt(225022 * 4 * 16) = 3794;
        //     pages_min 948.
        //   DMA: share = 948 * 3840 / 225022 = 16;
        //     gap = max(16 >> 2, 3840 * 10 / 10000) = max(4, 3) = 4 -> 16/20/24.
        //   Normal: share = 948 * 221182 / 225022 = 931;
        //     gap = max(931 >> 2, 221182 * 10 / 10000) = max(232, 221) = 232 -> 931/1163/1395.
        //   HighMem: min = clamp(298978 / 1024, 32, 128) = 128; share = 948 * 298978 / 225022 = 1259;
        //     gap = max(1259 >> 2, 298978 * 10 / 10000) = max(314, 298) = 314 -> 128/442/756.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   lowmem_reserve of DMA against Normal 221182 / 256 = 863; HighMem..Movable
        //     (221182 + 298978) / 256 = 2031.
        //   lowmem_reserve of Normal against HighMem..Movable 298978 / 32 = 9343.
        {"i386 2 GiB",
         2 * GiB,
         {profile::i386, profile::i386_pae},
         3794,
         {{dma, 0x1, 4095, 3998, 3840, {16, 20, 24}, {0, 863, 2031, 2031}},
          {normal, 0x1000, 221182, 221182, 221182, {931, 1163, 1395}, {0, 0, 9343, 9343}},
          {highmem, 0x36ffe, 298978, 298978, 298978, {128, 442, 756}, {0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}}}},
        // 3 GiB: RAM pfns [0x1, 0x9f), [0x100, 0xbffe0); max_pfn 0xbffe0, max_low_pfn 0x36ffe.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   Normal [0x1000, 0x36ffe): spanned 0x36ffe - 0x1000 = 221182, present the same, all managed
        //   HighMem [0x36ffe, 0xbffe0): spanned 0xbffe0 - 0x36ffe = 561122, present the same, all
        //     managed
        //   Movable: empty (start 0, spanned 0).
        //   lowmem 3840 + 221182 = 225022; min_free_kbytes = int_sqrt(225022 * 4 * 16) = 3794;
        //     pages_min 948.
        //   DMA: share = 948 * 3840 / 225022 = 16;
        //     gap = max(16 >> 2, 3840 * 10 / 10000) = max(4, 3) = 4 -> 16/20/24.
        //   Normal: share = 948 * 221182 / 225022 = 931;
        //     gap = max(931 >> 2, 221182 * 10 / 10000) = max(232, 221) = 232 -> 931/1163/1395.
        //   HighMem: min = clamp(561122 / 1024, 32, 128) = 128; share = 948 * 561122 / 225022 = 2363;
        //     gap = max(2363 >> 2, 561122 * 10 / 10000) = max(590, 561) = 590 -> 128/718/1308.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   lowmem_reserve of DMA against Normal 221182 / 256 = 863; HighMem..Movable
        //     (221182 + 561122) / 256 = 3055.
        //   lowmem_reserve of Normal against HighMem..Movable 561122 / 32 = 17535.
        {"i386 3 GiB",
         3 * GiB,
         {profile::i386, profile::i386_pae},
         3794,
         {{dma, 0x1, 4095, 3998, 3840, {16, 20, 24}, {0, 863, 3055, 3055}},
          {normal, 0x1000, 221182, 221182, 221182, {931, 1163, 1395}, {0, 0, 17535, 17535}},
          {highmem, 0x36ffe, 561122, 561122, 561122, {128, 718, 1308}, {0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}}}},
        // i386-pae from 3.5 GiB: HIGHMEM64G reaches RAM above 4 GiB (Linux 6.1, Debian's 686-pae;
        //   since 6.15 x86-32 discards memory above 4 GiB even with PAE, and these rows would
        //   become the 3 GiB machine's).
        // 3584 MiB: RAM pfns [0x1, 0x9f), [0x100, 0xbffe0), [0x100000, 0x120000); max_pfn 0x120000,
        //   max_low_pfn 0x36ffe.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   Normal [0x1000, 0x36ffe): spanned 0x36ffe - 0x1000 = 221182, present the same, all managed
        //   HighMem [0x36ffe, 0x120000): spanned 0x120000 - 0x36ffe = 954370, present
        //     561122 + 131072 = 692194, all managed
        //   Movable: empty (start 0, spanned 0).
        //   lowmem 3840 + 221182 = 225022; min_free_kbytes = int_sqrt(225022 * 4 * 16) = 3794;
        //     pages_min 948.
        //   DMA: share = 948 * 3840 / 225022 = 16;
        //     gap = max(16 >> 2, 3840 * 10 / 10000) = max(4, 3) = 4 -> 16/20/24.
        //   Normal: share = 948 * 221182 / 225022 = 931;
        //     gap = max(931 >> 2, 221182 * 10 / 10000) = max(232, 221) = 232 -> 931/1163/1395.
        //   HighMem: min = clamp(692194 / 1024, 32, 128) = 128; share = 948 * 692194 / 225022 = 2916;
        //     gap = max(2916 >> 2, 692194 * 10 / 10000) = max(729, 692) = 729 -> 128/857/1586.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   lowmem_reserve of DMA against Normal 221182 / 256 = 863; HighMem..Movable
        //     (221182 + 692194) / 256 = 3567.
        //   lowmem_reserve of Normal against HighMem..Movable 692194 / 32 = 21631.
        {"i386-pae 3584 MiB",
         3584 * MiB,
         {profile::i386_pae},
         3794,
         {{dma, 0x1, 4095, 3998, 3840, {16, 20, 24}, {0, 863, 3567, 3567}},
          {normal, 0x1000, 221182, 221182, 221182, {931, 1163, 1395}, {0, 0, 21631, 21631}},
          {highmem, 0x36ffe, 954370, 692194, 692194, {128, 857, 1586}, {0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}}}},
        // 4 GiB: RAM pfns [0x1, 0x9f), [0x100, 0xbffe0), [0x100000, 0x140000); max_pfn 0x140000,
        //   max_low_pfn 0x36ffe.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   Normal [0x1000, 0x36ffe): spanned 0x36ffe - 0x1000 = 221182, present the same, all managed
        //   HighMem [0x36ffe, 0x140000): spanned 0x140000 - 0x36ffe = 1085442, present
        //     561122 + 262144 = 823266, all managed
        //   Movable: empty (start 0, spanned 0).
        //   lowmem 3840 + 221182 = 225022; min_free_kbytes = int_sqrt(225022 * 4 * 16) = 3794;
        //     pages_min 948.
        //   DMA: share = 948 * 3840 / 225022 = 16;
        //     gap = max(16 >> 2, 3840 * 10 / 10000) = max(4, 3) = 4 -> 16/20/24.
        //   Normal: share = 948 * 221182 / 225022 = 931;
        //     gap = max(931 >> 2, 221182 * 10 / 10000) = max(232, 221) = 232 -> 931/1163/1395.
        //   HighMem: min = clamp(823266 / 1024, 32, 128) = 128; share = 948 * 823266 / 225022 = 3468;
        //     gap = max(3468 >> 2, 823266 * 10 / 10000) = max(867, 823) = 867 -> 128/995/1862.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   lowmem_reserve of DMA against Normal 221182 / 256 = 863; HighMem..Movable
        //     (221182 + 823266) / 256 = 4079.
        //   lowmem_reserve of Normal against HighMem..Movable 823266 / 32 = 25727.
        {"i386-pae 4 GiB",
         4 * GiB,
         {profile::i386_pae},
         3794,
         {{dma, 0x1, 4095, 3998, 3840, {16, 20, 24}, {0, 863, 4079, 4079}},
          {normal, 0x1000, 221182, 221182, 221182, {931, 1163, 1395}, {0, 0, 25727, 25727}},
          {highmem, 0x36ffe, 1085442, 823266, 823266, {128, 995, 1862}, {0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}}}},
        // 8 GiB: RAM pfns [0x1, 0x9f), [0x100, 0xbffe0), [0x100000, 0x240000); max_pfn 0x240000,
        //   max_low_pfn 0x36ffe.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   Normal [0x1000, 0x36ffe): spanned 0x36ffe - 0x1000 = 221182, present the same, all managed
        //   HighMem [0x36ffe, 0x240000): spanned 0x240000 - 0x36ffe = 2134018, present
        //     561122 + 1310720 = 1871842, all managed
        //   Movable: empty (start 0, spanned 0).
        //   lowmem 3840 + 221182 = 225022; min_free_kbytes = int_sqrt(225022 * 4 * 16) = 3794;
        //     pages_min 948.
        //   DMA: share = 948 * 3840 / 225022 = 16;
        //     gap = max(16 >> 2, 3840 * 10 / 10000) = max(4, 3) = 4 -> 16/20/24.
        //   Normal: share = 948 * 221182 / 225022 = 931;
        //     gap = max(931 >> 2, 221182 * 10 / 10000) = max(232, 221) = 232 -> 931/1163/1395.
        //   HighMem: min = clamp(1871842 / 1024, 32, 128) = 128;
        //     share = 948 * 1871842 / 225022 = 7885;
        //     gap = max(7885 >> 2, 1871842 * 10 / 10000) = max(1971, 1871) = 1971 -> 128/2099/4070.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   lowmem_reserve of DMA against Normal 221182 / 256 = 863; HighMem..Movable
        //     (221182 + 1871842) / 256 = 8175.
        //   lowmem_reserve of Normal against HighMem..Movable 1871842 / 32 = 58495.
        {"i386-pae 8 GiB",
         8 * GiB,
         {profile::i386_pae},
         3794,
         {{dma, 0x1, 4095, 3998, 3840, {16, 20, 24}, {0, 863, 8175, 8175}},
          {normal, 0x1000, 221182, 221182, 221182, {931, 1163, 1395}, {0, 0, 58495, 58495}},
          {highmem, 0x36ffe, 2134018, 1871842, 1871842, {128, 2099, 4070}, {0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}}}},
        // 16 GiB: RAM pfns [0x1, 0x9f), [0x100, 0xbffe0), [0x100000, 0x440000); max_pfn 0x440000,
        //   max_low_pfn 0x36ffe.
        //   DMA [0x1, 0x1000): spanned 0x1000 - 0x1 = 4095, present 158 + 3840 = 3998, managed
        //     3998 - 158 (below 1 MiB) = 3840
        //   Normal [0x1000, 0x36ffe): spanned 0x36ffe - 0x1000 = 221182, present the same, all managed
        //   HighMem [0x36ffe, 0x440000): spanned 0x440000 - 0x36ffe = 4231170, present
        //     561122 + 3407872 = 3968994, all managed
        //   Movable: empty (start 0, spanned 0).
        //   lowmem 3840 + 221182 = 225022; min_free_kbytes = int_sqrt(225022 * 4 * 16) = 3794;
        //     pages_min 948.
        //   DMA: share = 948 * 3840 / 225022 = 16;
        //     gap = max(16 >> 2, 3840 * 10 / 10000) = max(4, 3) = 4 -> 16/20/24.
        //   Normal: share = 948 * 221182 / 225022 = 931;
        //     gap = max(931 >> 2, 221182 * 10 / 10000) = max(232, 221) = 232 -> 931/1163/1395.
        //   HighMem: min = clamp(3968994 / 1024, 32, 128) = 128;
        //     share = 948 * 3968994 / 225022 = 16721;
        //     gap = max(16721 >> 2, 3968994 * 10 / 10000) = max(4180, 3968) = 4180 -> 128/4308/8488.
        //   Movable: min = clamp(0 / 1024, 32, 128) = 32, gap 0 -> 32/32/32.
        //   lowmem_reserve of DMA against Normal 221182 / 256 = 863; HighMem..Movable
        //     (221182 + 3968994) / 256 = 16367.
        //   lowmem_reserve of Normal against HighMem..Movable 3968994 / 32 = 124031.
        {"i386-pae 16 GiB",
         16 * GiB,
         {profile::i386_pae},
         3794,
         {{dma, 0x1, 4095, 3998, 3840, {16, 20, 24}, {0, 863, 16367, 16367}},
          {normal, 0x1000, 221182, 221182, 221182, {931, 1163, 1395}, {0, 0, 124031, 124031}},
          {highmem, 0x36ffe, 4231170, 3968994, 3968994, {128, 4308, 8488}, {0, 0, 0, 0}},
          {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}}}},
    };
}

// The RAM above 4 GiB is out of reach without PAE.
machine_expect i386_3584_mib_machine() {
    using enum zone_type;
    // 3584 MiB without PAE: QEMU puts 512 MiB at [0x100000, 0x120000), which a 2-level i386
    //   kernel never sees. e820__memblock_setup skips an e820 entry whose end does not fit
    //   resource_size_t (32 bits without PAE), and highmem_pfn_init caps max_pfn at
    //   MAX_NONPAE_PFN = 1 << 20 (arch/x86/kernel/e820.c, arch/x86/mm/init_32.c). So Linux's
    //   zones are those of the i386 3 GiB machine: HighMem [0x36ffe, 0xbffe0) = 561122 pages.
    return {"i386 3584 MiB",
            3584 * MiB,
            {profile::i386},
            3794,
            {{dma, 0x1, 4095, 3998, 3840, {16, 20, 24}, {0, 863, 3055, 3055}},
             {normal, 0x1000, 221182, 221182, 221182, {931, 1163, 1395}, {0, 0, 17535, 17535}},
             {highmem, 0x36ffe, 561122, 561122, 561122, {128, 718, 1308}, {0, 0, 0, 0}},
             {movable, 0, 0, 0, 0, {32, 32, 32}, {0, 0, 0, 0}}}};
}

}  // namespace

TEST_CASE("zone table: x86_64 pc machines from 2 MiB to 64 GiB") {
    for (const machine_expect& want : x86_64_machines()) check_machine(want, profile::x86_64);
}

TEST_CASE("zone table: i386 and i386-pae pc machines from 64 MiB to 16 GiB") {
    for (const machine_expect& want : i386_machines())
        for (profile p : want.profiles) check_machine(want, p);
}

TEST_CASE("zone table: a 3.5 GiB i386 machine without PAE leaves the RAM above 4 GiB out") {
    check_machine(i386_3584_mib_machine(), profile::i386);
}

}  // namespace memsim::kernel
