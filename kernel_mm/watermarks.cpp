#include "kernel_mm/watermarks.h"

#include <algorithm>

namespace memsim::kernel {
namespace {

constexpr std::uint64_t page_kbytes = 4;  // PAGE_SIZE >> 10
constexpr std::uint64_t swap_cluster_max = 32;

bool in_lowmem(zone_type t) { return t != zone_type::highmem && t != zone_type::movable; }

std::uint64_t lowmem_pages(const std::vector<zone_pages>& zones) {
    std::uint64_t pages = 0;
    for (const zone_pages& z : zones)
        if (in_lowmem(z.type)) pages += z.managed;
    return pages;
}

// lib/math/int_sqrt.c: the largest r with r * r <= x.
std::uint64_t int_sqrt(std::uint64_t x) {
    std::uint64_t r = 0;
    for (std::uint64_t bit = std::uint64_t{1} << 62; bit; bit >>= 2) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
    }
    return r;
}

// mult_frac(x, n, d) without overflowing x * n.
std::uint64_t mult_frac(std::uint64_t x, std::uint64_t n, std::uint64_t d) {
    return (x / d) * n + (x % d) * n / d;
}

// sysctl_lowmem_reserve_ratio, by zone type.
std::uint64_t reserve_ratio(zone_type t) {
    switch (t) {
        case zone_type::dma:
        case zone_type::dma32:
            return 256;
        case zone_type::normal:
            return 32;
        default:
            return 0;
    }
}

}  // namespace

std::uint64_t calculate_min_free_kbytes(const std::vector<zone_pages>& zones) {
    std::uint64_t kbytes = int_sqrt(lowmem_pages(zones) * page_kbytes * 16);
    return std::clamp<std::uint64_t>(kbytes, 128, 262144);
}

std::vector<watermark> setup_per_zone_wmarks(const std::vector<zone_pages>& zones,
                                             std::uint64_t min_free_kbytes,
                                             std::uint64_t watermark_scale_factor) {
    std::uint64_t pages_min = min_free_kbytes / page_kbytes;
    std::uint64_t lowmem = lowmem_pages(zones);
    std::vector<watermark> marks;
    for (const zone_pages& z : zones) {
        // Each zone's share of pages_min, in proportion to its size among the lowmem zones.
        std::uint64_t share = lowmem ? pages_min * z.managed / lowmem : 0;
        // HighMem and Movable need little: allocations there can always fall back lower.
        std::uint64_t min =
            in_lowmem(z.type) ? share : std::clamp<std::uint64_t>(z.managed / 1024, swap_cluster_max, 128);
        // The gap grows from the share, not from min (the HighMem rule leaves them apart).
        std::uint64_t gap = std::max(share >> 2, mult_frac(z.managed, watermark_scale_factor, 10000));
        marks.push_back({min, min + gap, min + 2 * gap});
    }
    return marks;
}

std::vector<std::vector<std::uint64_t>> setup_per_zone_lowmem_reserve(const std::vector<zone_pages>& zones) {
    std::vector<std::vector<std::uint64_t>> reserve(zones.size(),
                                                    std::vector<std::uint64_t>(zones.size(), 0));
    for (std::size_t i = 0; i < zones.size(); ++i) {
        std::uint64_t ratio = reserve_ratio(zones[i].type);
        // A zone without pages, or with no ratio, reserves nothing.
        if (!ratio || !zones[i].managed) continue;
        std::uint64_t above = 0;
        for (std::size_t j = i + 1; j < zones.size(); ++j) {
            above += zones[j].managed;
            reserve[i][j] = above / ratio;
        }
    }
    return reserve;
}

}  // namespace memsim::kernel
