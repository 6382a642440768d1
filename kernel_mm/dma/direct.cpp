// dma-direct's helpers (kernel/dma/direct.c, Linux 6.1): which zone a device's coherent mask
// asks for, whether a block is within reach, which masks the machine supports, and the page
// allocation with its retry in lower zones.
#include "kernel_mm/dma/mapping.h"

#include <algorithm>
#include <bit>

namespace memsim::kernel {

dma_direct_limits dma_direct_limits_of(const kernel_state& kernel) {
    const kernel_config& config = kernel.config();
    zone_set zones = configured_zones(config.arch);
    dma_direct_limits limits;
    limits.max_pfn = pfn_limits_of(config.arch, kernel.blocks()).max_pfn;
    limits.zone_dma = zones.contains(zone_type::dma);
    limits.zone_dma32 = zones.contains(zone_type::dma32);
    // mm/Kconfig ARCH_DMA_ADDR_T_64BIT: 64BIT || PHYS_ADDR_T_64BIT (x86: X86_64 || X86_PAE).
    limits.dma_addr_bits = config.arch == kernel_arch::x86_64 || config.pae ? 64 : 32;
    return limits;
}

// "Optimistically try the zone that the physical address mask falls into first" (6.1's
// comment): GFP_DMA and GFP_DMA32 are no-ops without their zones, so on i386 GFP_DMA32 gives
// Normal, and no zone modifier ever gives HighMem.
gfp_t dma_direct_optimal_gfp_mask(const device& dev, std::uint64_t dma_mask, const dma_direct_limits& limits,
                                  std::uint64_t* phys_limit) {
    // dma_to_phys is the identity without a bus offset.
    *phys_limit = min_not_zero(dma_mask, dev.bus_dma_limit);
    if (*phys_limit <= limits.zone_dma_limit) return GFP_DMA;
    if (*phys_limit <= DMA_BIT_MASK(32)) return GFP_DMA32;
    return 0;
}

bool dma_coherent_ok(const device& dev, phys_addr_t phys, std::uint64_t size) {
    dma_addr_t dma_addr = phys;  // phys_to_dma_direct: the identity
    if (dma_addr == DMA_MAPPING_ERROR) return false;
    return dma_addr + size - 1 <= min_not_zero(dev.coherent_dma_mask, dev.bus_dma_limit);
}

// "Because 32-bit DMA masks are so common we expect every architecture to be able to satisfy
// them"; below that the mask must reach the DMA zone's top (DMA_BIT_MASK(zone_dma_bits)), or
// (max_pfn - 1) << PAGE_SHIFT on a machine whose RAM ends below it.
bool dma_direct_supported(const device&, std::uint64_t mask, const dma_direct_limits& limits) {
    std::uint64_t min_mask = limits.max_pfn ? (limits.max_pfn - 1) << page_shift : 0;
    if (mask >= DMA_BIT_MASK(32)) return true;
    if (limits.zone_dma) min_mask = std::min(min_mask, limits.zone_dma_limit);
    return mask >= min_mask;  // phys_to_dma_unencrypted: the identity
}

std::uint64_t dma_direct_get_required_mask(const dma_direct_limits& limits) {
    std::uint64_t max_dma = limits.max_pfn ? (limits.max_pfn - 1) << page_shift : 0;
    if (max_dma == 0) return 0;
    unsigned fls = 64 - static_cast<unsigned>(std::countl_zero(max_dma));
    return (std::uint64_t{1} << (fls - 1)) * 2 - 1;
}

// include/asm-generic/getorder.h get_order for a non-zero size.
unsigned dma_api::get_order(std::uint64_t size) {
    std::uint64_t pages = ((size - 1) >> page_shift) + 1;
    return pages <= 1 ? 0 : 64 - static_cast<unsigned>(std::countl_zero(pages - 1));
}

// 6.1: the optimal zone's block (no CMA in Debian's x86 kernels, so no dma_alloc_contiguous);
// while the block is out of the device's reach it goes back and the next try is DMA32 (when
// the kernel has that zone, the limit is below 64 bits and no zone was asked yet), else DMA
// (when not asked yet), else nothing. A failed allocation is never retried.
page* dma_api::__dma_direct_alloc_pages(device& dev, std::uint64_t size, gfp_t gfp) {
    page_allocator& pages = m_kernel.pages();
    std::uint64_t phys_limit = 0;
    gfp |= dma_direct_optimal_gfp_mask(dev, dev.coherent_dma_mask, m_limits, &phys_limit);
    unsigned order = get_order(size);
    page* p = nullptr;
    while ((p = pages.alloc_pages_node(dev.numa_node, gfp, order)) &&
           !dma_coherent_ok(dev, pages.page_to_phys(p), size)) {
        pages.__free_pages(p, order);
        ++dev.dma_stats.coherent_retries;
        if (m_limits.zone_dma32 && phys_limit < DMA_BIT_MASK(64) && !(gfp & (GFP_DMA32 | GFP_DMA)))
            gfp |= GFP_DMA32;
        else if (m_limits.zone_dma && !(gfp & GFP_DMA))
            gfp = (gfp & ~GFP_DMA32) | GFP_DMA;
        else
            return nullptr;
    }
    return p;
}

}  // namespace memsim::kernel
