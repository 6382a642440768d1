// How much of each zone the page allocator keeps free (mm/page_alloc.c): min_free_kbytes from
// the size of low memory, each zone's min/low/high watermarks, and the lowmem_reserve that
// protects lower zones from allocations that could have used higher ones (LINUX-FACTS.md).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kernel_mm/zone_type.h"

namespace memsim::kernel {

struct zone_pages {
    zone_type type;
    std::uint64_t managed = 0;
};

// calculate_min_free_kbytes: int_sqrt(lowmem_kbytes * 16), clamped to [128, 262144]; lowmem is
// the managed pages of the zones below HighMem (and not Movable).
std::uint64_t calculate_min_free_kbytes(const std::vector<zone_pages>& zones);

struct watermark {
    std::uint64_t min = 0, low = 0, high = 0;
    bool operator==(const watermark&) const = default;
};

// __setup_per_zone_wmarks, one entry per zone in the order given. watermark_scale_factor is in
// ten-thousandths of a zone (default 10).
std::vector<watermark> setup_per_zone_wmarks(const std::vector<zone_pages>& zones,
                                             std::uint64_t min_free_kbytes,
                                             std::uint64_t watermark_scale_factor = 10);

// setup_per_zone_lowmem_reserve: reserve[i][j] for zone i against allocations allowed up to
// zone j, with the ratios {DMA 256, DMA32 256, Normal 32, HighMem 0, Movable 0, Device 0}.
std::vector<std::vector<std::uint64_t>> setup_per_zone_lowmem_reserve(const std::vector<zone_pages>& zones);

}  // namespace memsim::kernel
