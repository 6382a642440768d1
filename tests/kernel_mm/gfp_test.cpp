// GFP flags as Linux defines them (include/linux/gfp_types.h), the zone each combination starts
// from (include/linux/gfp.h gfp_zone), and the "mode:%#x(%pGg)" text of a failed allocation.
#include <optional>
#include <string>

#include <doctest/doctest.h>

#include "kernel_mm/gfp.h"

using namespace memsim;
using namespace memsim::kernel;

TEST_CASE("gfp: every flag and composite has Linux's value") {
    CHECK(__GFP_DMA == 0x01);
    CHECK(__GFP_HIGHMEM == 0x02);
    CHECK(__GFP_DMA32 == 0x04);
    CHECK(__GFP_MOVABLE == 0x08);
    CHECK(__GFP_RECLAIMABLE == 0x10);
    CHECK(__GFP_HIGH == 0x20);
    CHECK(__GFP_IO == 0x40);
    CHECK(__GFP_FS == 0x80);
    CHECK(__GFP_ZERO == 0x100);
    CHECK(__GFP_DIRECT_RECLAIM == 0x400);
    CHECK(__GFP_KSWAPD_RECLAIM == 0x800);
    CHECK(__GFP_WRITE == 0x1000);
    CHECK(__GFP_NOWARN == 0x2000);
    CHECK(__GFP_RETRY_MAYFAIL == 0x4000);
    CHECK(__GFP_NOFAIL == 0x8000);
    CHECK(__GFP_NORETRY == 0x10000);
    CHECK(__GFP_MEMALLOC == 0x20000);
    CHECK(__GFP_COMP == 0x40000);
    CHECK(__GFP_NOMEMALLOC == 0x80000);
    CHECK(__GFP_HARDWALL == 0x100000);
    CHECK(__GFP_THISNODE == 0x200000);
    CHECK(__GFP_ACCOUNT == 0x400000);
    CHECK(__GFP_ZEROTAGS == 0x800000);
    CHECK(__GFP_RECLAIM == 0xc00);
    CHECK(GFP_ZONEMASK == 0x0f);

    CHECK(GFP_ATOMIC == 0x820);
    CHECK(GFP_KERNEL == 0xcc0);
    CHECK(GFP_KERNEL_ACCOUNT == 0x400cc0);
    CHECK(GFP_NOWAIT == 0x2800);
    CHECK(GFP_NOIO == 0xc00);
    CHECK(GFP_NOFS == 0xc40);
    CHECK(GFP_USER == 0x100cc0);
    CHECK(GFP_DMA == 0x01);
    CHECK(GFP_DMA32 == 0x04);
    CHECK(GFP_HIGHUSER == 0x100cc2);
    CHECK(GFP_HIGHUSER_MOVABLE == 0x100cca);
    CHECK(GFP_TRANSHUGE_LIGHT == 0x1c20ca);
    CHECK(GFP_TRANSHUGE == 0x1c24ca);
}

TEST_CASE("gfp: the zone every combination of zone bits starts from, on x86_64 and i386") {
    using z = zone_type;
    constexpr std::optional<zone_type> bad = std::nullopt;
    struct row {
        gfp_t flags;
        std::optional<zone_type> x86_64;
        std::optional<zone_type> i386;
    };
    // include/linux/gfp.h GFP_ZONE_TABLE and GFP_ZONE_BAD; x86_64 has no HighMem (OPT_ZONE_HIGHMEM
    // is Normal), i386 no DMA32 (OPT_ZONE_DMA32 is Normal).
    const row table[] = {
        {0, z::normal, z::normal},
        {__GFP_DMA, z::dma, z::dma},
        {__GFP_HIGHMEM, z::normal, z::highmem},
        {__GFP_DMA | __GFP_HIGHMEM, bad, bad},
        {__GFP_DMA32, z::dma32, z::normal},
        {__GFP_DMA | __GFP_DMA32, bad, bad},
        {__GFP_DMA32 | __GFP_HIGHMEM, bad, bad},
        {__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM, bad, bad},
        {__GFP_MOVABLE, z::normal, z::normal},
        {__GFP_MOVABLE | __GFP_DMA, z::dma, z::dma},
        {__GFP_MOVABLE | __GFP_HIGHMEM, z::movable, z::movable},
        {__GFP_MOVABLE | __GFP_DMA | __GFP_HIGHMEM, bad, bad},
        {__GFP_MOVABLE | __GFP_DMA32, z::dma32, z::normal},
        {__GFP_MOVABLE | __GFP_DMA | __GFP_DMA32, bad, bad},
        {__GFP_MOVABLE | __GFP_DMA32 | __GFP_HIGHMEM, bad, bad},
        {__GFP_MOVABLE | __GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM, bad, bad},
    };
    static_assert(sizeof(table) / sizeof(table[0]) == 16);
    for (const row& r : table) {
        CAPTURE(r.flags);
        CHECK(gfp_zone(r.flags, zone_set::x86_64()) == r.x86_64);
        CHECK(gfp_zone(r.flags, zone_set::i386()) == r.i386);
        CHECK(gfp_zone(r.flags, configured_zones(kernel_arch::x86_64)) == r.x86_64);
        CHECK(gfp_zone(r.flags, configured_zones(kernel_arch::i386)) == r.i386);
        // Only the zone bits count.
        CHECK(gfp_zone(r.flags | GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN, zone_set::x86_64()) == r.x86_64);
    }
}

TEST_CASE("gfp: the composites pick the zones their names promise") {
    const zone_set x86_64 = zone_set::x86_64();
    const zone_set i386 = zone_set::i386();
    CHECK(gfp_zone(GFP_KERNEL, x86_64) == zone_type::normal);
    CHECK(gfp_zone(GFP_ATOMIC, i386) == zone_type::normal);
    CHECK(gfp_zone(GFP_DMA, x86_64) == zone_type::dma);
    CHECK(gfp_zone(GFP_DMA32 | __GFP_ZERO, x86_64) == zone_type::dma32);
    CHECK(gfp_zone(GFP_USER, i386) == zone_type::normal);
    CHECK(gfp_zone(GFP_HIGHUSER, i386) == zone_type::highmem);
    CHECK(gfp_zone(GFP_HIGHUSER, x86_64) == zone_type::normal);
    CHECK(gfp_zone(GFP_HIGHUSER_MOVABLE, i386) == zone_type::movable);
    CHECK(gfp_zone(GFP_HIGHUSER_MOVABLE, x86_64) == zone_type::movable);
    CHECK(gfp_zone(GFP_TRANSHUGE, x86_64) == zone_type::movable);
    CHECK(gfp_zone(GFP_DMA | GFP_DMA32, x86_64) == std::nullopt);
}

TEST_CASE("gfp: unconfigured zones fall back as the OPT_ZONE_* macros do") {
    // A machine with Normal only (no CONFIG_ZONE_DMA, CONFIG_ZONE_DMA32, CONFIG_HIGHMEM).
    const zone_set normal_only{zone_type::normal};
    CHECK_FALSE(normal_only.contains(zone_type::dma));
    CHECK(normal_only.contains(zone_type::normal));
    CHECK(gfp_zone(GFP_DMA, normal_only) == zone_type::normal);
    CHECK(gfp_zone(GFP_DMA32, normal_only) == zone_type::normal);
    CHECK(gfp_zone(__GFP_HIGHMEM, normal_only) == zone_type::normal);
    // Without Movable, HIGHMEM|MOVABLE lands where HIGHMEM alone would.
    CHECK(gfp_zone(GFP_HIGHUSER_MOVABLE, normal_only) == zone_type::normal);
    zone_set with_highmem = normal_only;
    with_highmem.add(zone_type::highmem);
    CHECK(gfp_zone(GFP_HIGHUSER_MOVABLE, with_highmem) == zone_type::highmem);
    CHECK(gfp_zone(__GFP_DMA | __GFP_HIGHMEM, normal_only) == std::nullopt);

    CHECK(zone_set::x86_64().contains(zone_type::dma32));
    CHECK_FALSE(zone_set::x86_64().contains(zone_type::highmem));
    CHECK(zone_set::i386().contains(zone_type::highmem));
    CHECK_FALSE(zone_set::i386().contains(zone_type::dma32));
    CHECK(configured_zones(kernel_arch::i386) == zone_set::i386());
    CHECK_FALSE(zone_set::i386() == zone_set::x86_64());
}

TEST_CASE("gfp: %pGg names composites first, then single bits, then leftover hex") {
    CHECK(format_gfp(GFP_KERNEL | __GFP_ZERO) == "GFP_KERNEL|__GFP_ZERO");
    CHECK(format_gfp(GFP_ATOMIC) == "GFP_ATOMIC");
    CHECK(format_gfp(GFP_NOWAIT | __GFP_ZERO) == "GFP_NOWAIT|__GFP_ZERO");
    CHECK(format_gfp(GFP_HIGHUSER_MOVABLE) == "GFP_HIGHUSER_MOVABLE");
    CHECK(format_gfp(GFP_HIGHUSER) == "GFP_HIGHUSER");
    CHECK(format_gfp(GFP_USER) == "GFP_USER");
    CHECK(format_gfp(GFP_KERNEL) == "GFP_KERNEL");
    CHECK(format_gfp(GFP_KERNEL_ACCOUNT) == "GFP_KERNEL_ACCOUNT");
    CHECK(format_gfp(GFP_NOFS) == "GFP_NOFS");
    CHECK(format_gfp(GFP_NOIO) == "GFP_NOIO");
    CHECK(format_gfp(GFP_NOWAIT) == "GFP_NOWAIT");
    CHECK(format_gfp(GFP_TRANSHUGE) == "GFP_TRANSHUGE");
    CHECK(format_gfp(GFP_TRANSHUGE_LIGHT) == "GFP_TRANSHUGE_LIGHT");
    CHECK(format_gfp(GFP_DMA) == "GFP_DMA");
    CHECK(format_gfp(GFP_DMA32 | __GFP_NOWARN) == "GFP_DMA32|__GFP_NOWARN");
    CHECK(format_gfp(__GFP_HIGH) == "__GFP_HIGH");
    CHECK(format_gfp(0) == "");

    // The first matching entry wins and takes its bits: GFP_ATOMIC comes before GFP_NOWAIT,
    // GFP_NOIO (== __GFP_RECLAIM) before the reclaim bits.
    CHECK(format_gfp(GFP_ATOMIC | __GFP_NOWARN) == "GFP_ATOMIC|__GFP_NOWARN");
    CHECK(format_gfp(__GFP_RECLAIM | __GFP_FS) == "GFP_NOIO|__GFP_FS");
    CHECK(format_gfp(GFP_KERNEL | __GFP_HARDWALL) == "GFP_USER");
    CHECK(format_gfp(GFP_KERNEL | __GFP_HIGHMEM) == "GFP_KERNEL|__GFP_HIGHMEM");
    CHECK(format_gfp(__GFP_KSWAPD_RECLAIM) == "__GFP_KSWAPD_RECLAIM");
    CHECK(format_gfp(__GFP_DIRECT_RECLAIM | __GFP_IO) == "__GFP_IO|__GFP_DIRECT_RECLAIM");
    CHECK(format_gfp(__GFP_HIGHMEM | __GFP_MOVABLE) == "__GFP_HIGHMEM|__GFP_MOVABLE");
    // Single bits in bit order (TRACE_GFP_FLAGS).
    CHECK(format_gfp(GFP_KERNEL | __GFP_COMP | __GFP_ZERO) == "GFP_KERNEL|__GFP_ZERO|__GFP_COMP");
    CHECK(format_gfp(__GFP_THISNODE | __GFP_NORETRY | __GFP_NOWARN | __GFP_RECLAIMABLE) ==
          "__GFP_RECLAIMABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_THISNODE");
    CHECK(format_gfp(__GFP_ACCOUNT | __GFP_ZEROTAGS | __GFP_MEMALLOC | __GFP_NOMEMALLOC | __GFP_WRITE |
                     __GFP_RETRY_MAYFAIL | __GFP_NOFAIL) ==
          "__GFP_WRITE|__GFP_RETRY_MAYFAIL|__GFP_NOFAIL|__GFP_MEMALLOC|__GFP_NOMEMALLOC|"
          "__GFP_ACCOUNT|__GFP_ZEROTAGS");

    // Bits no entry names: 0x200 (the old __GFP_ATOMIC) and those above __GFP_ZEROTAGS.
    CHECK(format_gfp(0x200) == "0x200");
    CHECK(format_gfp(GFP_KERNEL | 0x200) == "GFP_KERNEL|0x200");
    CHECK(format_gfp(GFP_ATOMIC | 0x4000000 | 0x200) == "GFP_ATOMIC|0x4000200");
    CHECK(format_gfp(0x80000000u) == "0x80000000");
}

TEST_CASE("gfp: the allocation-failure mode text") {
    CHECK(gfp_mode(GFP_KERNEL | __GFP_ZERO) == "0xdc0(GFP_KERNEL|__GFP_ZERO)");
    CHECK(gfp_mode(GFP_KERNEL) == "0xcc0(GFP_KERNEL)");
    CHECK(gfp_mode(GFP_ATOMIC | __GFP_NOWARN) == "0x2820(GFP_ATOMIC|__GFP_NOWARN)");
    CHECK(gfp_mode(GFP_HIGHUSER_MOVABLE | __GFP_COMP) == "0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP)");
    CHECK(gfp_mode(0) == "0x0()");
    CHECK(gfp_mode(0xffffffffu).starts_with("0xffffffff(GFP_TRANSHUGE|"));
    CHECK(gfp_mode(0xffffffffu).ends_with("|0xff000200)"));
}

TEST_CASE("gfp: blocking, io/fs and the watermark helpers") {
    CHECK(gfpflags_allow_blocking(GFP_KERNEL));
    CHECK(gfpflags_allow_blocking(GFP_NOIO));
    CHECK_FALSE(gfpflags_allow_blocking(GFP_ATOMIC));
    CHECK_FALSE(gfpflags_allow_blocking(GFP_NOWAIT));
    CHECK_FALSE(gfpflags_allow_blocking(GFP_TRANSHUGE_LIGHT));
    CHECK(gfpflags_allow_blocking(GFP_TRANSHUGE));

    CHECK(gfp_has_io_fs(GFP_KERNEL));
    CHECK(gfp_has_io_fs(GFP_HIGHUSER_MOVABLE));
    CHECK_FALSE(gfp_has_io_fs(GFP_NOFS));
    CHECK_FALSE(gfp_has_io_fs(GFP_NOIO));
    CHECK_FALSE(gfp_has_io_fs(__GFP_FS));

    CHECK(gfp_high(GFP_ATOMIC));
    CHECK(gfp_high(__GFP_HIGH | GFP_KERNEL));
    CHECK_FALSE(gfp_high(GFP_KERNEL));
    CHECK_FALSE(gfp_high(GFP_NOWAIT));

    // Atomic: __GFP_HIGH and cannot block (ALLOC_MIN_RESERVE with ALLOC_NON_BLOCK).
    CHECK(gfp_atomic(GFP_ATOMIC));
    CHECK(gfp_atomic(__GFP_HIGH));
    CHECK(gfp_atomic(GFP_ATOMIC | __GFP_NOWARN | __GFP_DMA));
    CHECK_FALSE(gfp_atomic(GFP_NOWAIT));
    CHECK_FALSE(gfp_atomic(__GFP_HIGH | GFP_KERNEL));
    CHECK_FALSE(gfp_atomic(GFP_ATOMIC | __GFP_NOMEMALLOC));
}
