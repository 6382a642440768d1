// GFP ("get free pages") flags: how an allocation may behave (include/linux/gfp_types.h), which
// zone it starts from (gfp_zone, include/linux/gfp.h), and how the kernel prints them in the
// page-allocation-failure line (%pGg: lib/vsprintf.c with include/trace/events/mmflags.h).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "kernel_mm/zone_ranges.h"
#include "kernel_mm/zone_type.h"

namespace memsim::kernel {

// Linux version followed: mainline include/linux/gfp_types.h as of v6.18, the tree LINUX-FACTS.md
// describes (GFP_ATOMIC without the __GFP_ATOMIC bit, removed in v6.3; GFP_NOWAIT with
// __GFP_NOWARN). The flag names are Linux's own, double underscores included, so that code and
// logs read as the kernel's do.
using gfp_t = std::uint32_t;

// Zone modifiers (the low four bits; GFP_ZONEMASK).
inline constexpr gfp_t __GFP_DMA = 0x01;
inline constexpr gfp_t __GFP_HIGHMEM = 0x02;
inline constexpr gfp_t __GFP_DMA32 = 0x04;
inline constexpr gfp_t __GFP_MOVABLE = 0x08;  // ZONE_MOVABLE allowed
// Mobility and placement hints.
inline constexpr gfp_t __GFP_RECLAIMABLE = 0x10;
// Watermark modifier: the caller is high priority (min watermark halved, mm/page_alloc.c).
inline constexpr gfp_t __GFP_HIGH = 0x20;
// Reclaim modifiers.
inline constexpr gfp_t __GFP_IO = 0x40;
inline constexpr gfp_t __GFP_FS = 0x80;
// Action modifier: the page comes back zeroed.
inline constexpr gfp_t __GFP_ZERO = 0x100;
// 0x200 is unused (it was __GFP_ATOMIC until v6.3).
inline constexpr gfp_t __GFP_DIRECT_RECLAIM = 0x400;  // the caller may sleep in direct reclaim
inline constexpr gfp_t __GFP_KSWAPD_RECLAIM = 0x800;  // wake kswapd at the low watermark
inline constexpr gfp_t __GFP_WRITE = 0x1000;
inline constexpr gfp_t __GFP_NOWARN = 0x2000;
inline constexpr gfp_t __GFP_RETRY_MAYFAIL = 0x4000;
inline constexpr gfp_t __GFP_NOFAIL = 0x8000;
inline constexpr gfp_t __GFP_NORETRY = 0x10000;
inline constexpr gfp_t __GFP_MEMALLOC = 0x20000;
inline constexpr gfp_t __GFP_COMP = 0x40000;
inline constexpr gfp_t __GFP_NOMEMALLOC = 0x80000;
inline constexpr gfp_t __GFP_HARDWALL = 0x100000;
inline constexpr gfp_t __GFP_THISNODE = 0x200000;
inline constexpr gfp_t __GFP_ACCOUNT = 0x400000;
inline constexpr gfp_t __GFP_ZEROTAGS = 0x800000;
// Not defined here: __GFP_SKIP_ZERO and __GFP_SKIP_KASAN (0x1000000, 0x2000000 only with
// CONFIG_KASAN_HW_TAGS, an arm64 feature) and __GFP_NOLOCKDEP (0x4000000 only with
// CONFIG_LOCKDEP). In an x86 kernel without those options they are 0, so their bits print as
// unknown hex, as here.

inline constexpr gfp_t __GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM;
inline constexpr gfp_t GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE;

// The useful combinations (include/linux/gfp_types.h).
inline constexpr gfp_t GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM;
inline constexpr gfp_t GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS;
inline constexpr gfp_t GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT;
inline constexpr gfp_t GFP_NOWAIT = __GFP_KSWAPD_RECLAIM | __GFP_NOWARN;
inline constexpr gfp_t GFP_NOIO = __GFP_RECLAIM;
inline constexpr gfp_t GFP_NOFS = __GFP_RECLAIM | __GFP_IO;
inline constexpr gfp_t GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL;
inline constexpr gfp_t GFP_DMA = __GFP_DMA;
inline constexpr gfp_t GFP_DMA32 = __GFP_DMA32;
inline constexpr gfp_t GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM;
inline constexpr gfp_t GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE;  // | __GFP_SKIP_KASAN (0)
inline constexpr gfp_t GFP_TRANSHUGE_LIGHT =
    (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN) & ~__GFP_RECLAIM;
inline constexpr gfp_t GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM;

// Which zones a machine's kernel configures (CONFIG_ZONE_DMA, CONFIG_ZONE_DMA32, CONFIG_HIGHMEM,
// CONFIG_ZONE_DEVICE; Normal and Movable always exist in Linux).
class zone_set {
public:
    constexpr zone_set() = default;
    constexpr zone_set(std::initializer_list<zone_type> zones) {
        for (zone_type zone : zones) add(zone);
    }

    constexpr zone_set& add(zone_type zone) {
        m_bits |= bit(zone);
        return *this;
    }
    constexpr bool contains(zone_type zone) const { return (m_bits & bit(zone)) != 0; }
    constexpr bool operator==(const zone_set&) const = default;

    // Debian's x86_64 kernel: DMA, DMA32, Normal, Movable, Device.
    static constexpr zone_set x86_64() {
        return {zone_type::dma, zone_type::dma32, zone_type::normal, zone_type::movable, zone_type::device};
    }
    // Debian's 686(-pae) kernel: DMA, Normal, HighMem, Movable (no DMA32, no Device).
    static constexpr zone_set i386() {
        return {zone_type::dma, zone_type::normal, zone_type::highmem, zone_type::movable};
    }

private:
    static constexpr std::uint8_t bit(zone_type zone) {
        return static_cast<std::uint8_t>(1u << static_cast<unsigned>(zone));
    }
    std::uint8_t m_bits = 0;
};

constexpr zone_set configured_zones(kernel_arch arch) {
    return arch == kernel_arch::x86_64 ? zone_set::x86_64() : zone_set::i386();
}

// The highest zone an allocation may use, where the zonelist walk starts (include/linux/gfp.h
// gfp_zone with GFP_ZONE_TABLE). Only the GFP_ZONEMASK bits matter:
//   none, MOVABLE       -> Normal
//   DMA (|MOVABLE)      -> DMA, or Normal without CONFIG_ZONE_DMA
//   DMA32 (|MOVABLE)    -> DMA32, or Normal without CONFIG_ZONE_DMA32 (i386)
//   HIGHMEM             -> HighMem, or Normal without CONFIG_HIGHMEM (x86_64)
//   HIGHMEM|MOVABLE     -> Movable
// Any two of DMA, DMA32, HIGHMEM together (with or without MOVABLE) is GFP_ZONE_BAD, a
// VM_BUG_ON in Linux: std::nullopt, and the caller reports the kernel bug.
// Linux always has ZONE_MOVABLE; for a zone_set without it, HIGHMEM|MOVABLE gives what HIGHMEM
// alone gives, the zone the walk from an empty Movable would reach first.
std::optional<zone_type> gfp_zone(gfp_t flags, const zone_set& configured);

// %pGg (lib/vsprintf.c format_flags over mm/debug.c gfpflag_names): names from mmflags.h's
// __def_gfpflag_names, each printed when all its bits are still set and then cleared, joined by
// '|'; bits no name covers follow as one "0x..." number. 0 prints as "".
std::string format_gfp(gfp_t flags);
// The inverse for workload files and configs: names as format_gfp prints them (composites and
// single bits) and numbers (decimal or 0x hex), joined by '|'; nullopt for anything else.
std::optional<gfp_t> parse_gfp(std::string_view text);
// "mode:%#x(%pGg)" of mm/page_alloc.c warn_alloc without "mode:": "0xdc0(GFP_KERNEL|__GFP_ZERO)";
// 0 gives "0x0()" (the kernel's %#x prints 0 as 0x0).
std::string gfp_mode(gfp_t flags);

// include/linux/gfp.h gfpflags_allow_blocking: the caller may sleep (direct reclaim).
constexpr bool gfpflags_allow_blocking(gfp_t flags) { return (flags & __GFP_DIRECT_RECLAIM) != 0; }
// include/linux/gfp.h gfp_has_io_fs: both __GFP_IO and __GFP_FS.
constexpr bool gfp_has_io_fs(gfp_t flags) { return (flags & (__GFP_IO | __GFP_FS)) == (__GFP_IO | __GFP_FS); }
// mm/page_alloc.c gfp_to_alloc_flags: __GFP_HIGH gives ALLOC_MIN_RESERVE (min watermark halved).
constexpr bool gfp_high(gfp_t flags) { return (flags & __GFP_HIGH) != 0; }
// ALLOC_MIN_RESERVE together with ALLOC_NON_BLOCK, which a request that cannot direct-reclaim
// gets unless it says __GFP_NOMEMALLOC: __zone_watermark_ok then takes a further quarter off min.
constexpr bool gfp_atomic(gfp_t flags) {
    return gfp_high(flags) && !gfpflags_allow_blocking(flags) && (flags & __GFP_NOMEMALLOC) == 0;
}

}  // namespace memsim::kernel
