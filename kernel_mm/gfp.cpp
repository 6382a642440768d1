// GFP flags: gfp_zone (include/linux/gfp.h) and the %pGg printing (lib/vsprintf.c format_flags,
// include/trace/events/mmflags.h __def_gfpflag_names).
#include "kernel_mm/gfp.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>

namespace memsim::kernel {

namespace {

struct gfp_name {
    gfp_t mask;
    std::string_view name;
};

// include/trace/events/mmflags.h __def_gfpflag_names, mainline v6.18: the composites from most
// bits to fewest (so GFP_USER wins over GFP_KERNEL), then __GFP_RECLAIM, then every single bit
// in bit order (TRACE_GFP_FLAGS_GENERAL). Older kernels differ: v6.1 lists __GFP_HIGHMEM among
// the composites, has __GFP_ATOMIC, and orders the single bits by hand (__GFP_HIGH, __GFP_IO,
// __GFP_FS, __GFP_NOWARN, ..., __GFP_COMP, __GFP_ZERO, ...), so "GFP_KERNEL|__GFP_COMP|__GFP_ZERO"
// there is "GFP_KERNEL|__GFP_ZERO|__GFP_COMP" here. The KASAN (__GFP_SKIP_ZERO,
// __GFP_SKIP_KASAN) and lockdep (__GFP_NOLOCKDEP) entries exist only with those options and are
// left out, as in an x86 kernel built without them.
constexpr gfp_name gfp_names[] = {
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
void append_hex(std::string& out, gfp_t value) {
    std::array<char, 8> digits{};
    const std::to_chars_result result =
        std::to_chars(digits.data(), digits.data() + digits.size(), value, 16);
    out += "0x";
    out.append(digits.data(), result.ptr);
}

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

std::string format_gfp(gfp_t flags) {
    std::string out;
    for (const gfp_name& entry : gfp_names) {
        if (flags == 0) break;
        if ((flags & entry.mask) != entry.mask) continue;
        out += entry.name;
        flags &= ~entry.mask;
        if (flags != 0) out += '|';
    }
    if (flags != 0) append_hex(out, flags);
    return out;
}

std::optional<gfp_t> parse_gfp(std::string_view text) {
    gfp_t flags = 0;
    while (true) {
        std::size_t bar = text.find('|');
        std::string_view word = text.substr(0, bar);
        auto named = std::find_if(std::begin(gfp_names), std::end(gfp_names),
                                  [&](const gfp_name& n) { return n.name == word; });
        if (named != std::end(gfp_names)) {
            flags |= named->mask;
        } else {
            int base = word.starts_with("0x") ? 16 : 10;
            if (base == 16) word.remove_prefix(2);
            gfp_t value = 0;
            auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value, base);
            if (word.empty() || ec != std::errc{} || end != word.data() + word.size()) return std::nullopt;
            flags |= value;
        }
        if (bar == std::string_view::npos) return flags;
        text.remove_prefix(bar + 1);
    }
}

std::string gfp_mode(gfp_t flags) {
    std::string out;
    append_hex(out, flags);
    out += '(';
    out += format_gfp(flags);
    out += ')';
    return out;
}

}  // namespace memsim::kernel
