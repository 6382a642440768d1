// GFP flags: gfp_zone (include/linux/gfp.h) and the %pGg printing (lib/vsprintf.c format_flags,
// include/trace/events/mmflags.h __def_gfpflag_names).
#include "kernel_mm/gfp.h"

#include <fmt/format.h>

#include "kernel_mm/flag_names.h"

namespace memsim::kernel {

namespace {

// include/trace/events/mmflags.h __def_gfpflag_names, mainline v6.18: the composites from most
// bits to fewest (so GFP_USER wins over GFP_KERNEL), then __GFP_RECLAIM, then every single bit
// in bit order (TRACE_GFP_FLAGS_GENERAL). Older kernels differ: v6.1 lists __GFP_HIGHMEM among
// the composites, has __GFP_ATOMIC, and orders the single bits by hand (__GFP_HIGH, __GFP_IO,
// __GFP_FS, __GFP_NOWARN, ..., __GFP_COMP, __GFP_ZERO, ...), so "GFP_KERNEL|__GFP_COMP|__GFP_ZERO"
// there is "GFP_KERNEL|__GFP_ZERO|__GFP_COMP" here. The KASAN (__GFP_SKIP_ZERO,
// __GFP_SKIP_KASAN) and lockdep (__GFP_NOLOCKDEP) entries exist only with those options and are
// left out, as in an x86 kernel built without them.
constexpr flag_name gfp_names[] = {
    {GFP_TRANSHUGE, "GFP_TRANSHUGE"},
    {GFP_TRANSHUGE_LIGHT, "GFP_TRANSHUGE_LIGHT"},
    {GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"},
    {GFP_HIGHUSER, "GFP_HIGHUSER"},
    {GFP_USER, "GFP_USER"},
    {GFP_KERNEL_ACCOUNT, "GFP_KERNEL_ACCOUNT"},
    {GFP_KERNEL, "GFP_KERNEL"},
    {GFP_NOFS, "GFP_NOFS"},
    {GFP_ATOMIC, "GFP_ATOMIC"},
    {GFP_NOIO, "GFP_NOIO"},
    {GFP_NOWAIT, "GFP_NOWAIT"},
    {GFP_DMA, "GFP_DMA"},
    {GFP_DMA32, "GFP_DMA32"},
    {__GFP_RECLAIM, "__GFP_RECLAIM"},
    {__GFP_DMA, "__GFP_DMA"},
    {__GFP_HIGHMEM, "__GFP_HIGHMEM"},
    {__GFP_DMA32, "__GFP_DMA32"},
    {__GFP_MOVABLE, "__GFP_MOVABLE"},
    {__GFP_RECLAIMABLE, "__GFP_RECLAIMABLE"},
    {__GFP_HIGH, "__GFP_HIGH"},
    {__GFP_IO, "__GFP_IO"},
    {__GFP_FS, "__GFP_FS"},
    {__GFP_ZERO, "__GFP_ZERO"},
    {__GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"},
    {__GFP_KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"},
    {__GFP_WRITE, "__GFP_WRITE"},
    {__GFP_NOWARN, "__GFP_NOWARN"},
    {__GFP_RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"},
    {__GFP_NOFAIL, "__GFP_NOFAIL"},
    {__GFP_NORETRY, "__GFP_NORETRY"},
    {__GFP_MEMALLOC, "__GFP_MEMALLOC"},
    {__GFP_COMP, "__GFP_COMP"},
    {__GFP_NOMEMALLOC, "__GFP_NOMEMALLOC"},
    {__GFP_HARDWALL, "__GFP_HARDWALL"},
    {__GFP_THISNODE, "__GFP_THISNODE"},
    {__GFP_ACCOUNT, "__GFP_ACCOUNT"},
    {__GFP_ZEROTAGS, "__GFP_ZEROTAGS"},
};

// The kernel's "%#x" and format_flags' leftover number: lower-case hex after "0x", 0 as "0x0"
// (lib/vsprintf.c number() with SPECIAL prints the prefix for 0 too, unlike C's printf).

}  // namespace

std::optional<zone_type> gfp_zone(gfp_t flags, const zone_set& configured) {
    // OPT_ZONE_DMA, OPT_ZONE_DMA32, OPT_ZONE_HIGHMEM: the zone if configured, else ZONE_NORMAL.
    const auto or_normal = [&](zone_type zone) {
        return configured.contains(zone) ? zone : zone_type::normal;
    };
    switch (flags & GFP_ZONEMASK) {
        case 0:
        case __GFP_MOVABLE:
            return zone_type::normal;
        case __GFP_DMA:
        case __GFP_DMA | __GFP_MOVABLE:
            return or_normal(zone_type::dma);
        case __GFP_DMA32:
        case __GFP_DMA32 | __GFP_MOVABLE:
            return or_normal(zone_type::dma32);
        case __GFP_HIGHMEM:
            return or_normal(zone_type::highmem);
        case __GFP_HIGHMEM | __GFP_MOVABLE:
            return configured.contains(zone_type::movable) ? zone_type::movable
                                                           : or_normal(zone_type::highmem);
        default:  // GFP_ZONE_BAD
            return std::nullopt;
    }
}

std::string format_gfp(gfp_t flags) { return format_flags(flags, gfp_names); }

std::optional<gfp_t> parse_gfp(std::string_view text) {
    std::optional<std::uint64_t> flags = parse_flags(text, gfp_names);
    if (!flags || *flags > ~gfp_t{0}) return std::nullopt;
    return static_cast<gfp_t>(*flags);
}

std::string gfp_mode(gfp_t flags) { return fmt::format("{:#x}({})", flags, format_gfp(flags)); }

}  // namespace memsim::kernel
