// The DMA API's masks and coherent buffers (kernel/dma/mapping.c dma_set_mask,
// dma_alloc_attrs, dma_free_attrs; kernel/dma/direct.c dma_direct_alloc, dma_direct_free) on a
// machine without an IOMMU, where every device goes through dma-direct.
#include "kernel_mm/dma/mapping.h"

#include <cerrno>

namespace memsim::kernel {

dma_api::dma_api(kernel_state& kernel, machine_ops& machine, const dma_debug_config& debug)
    : m_kernel(kernel),
      m_machine(machine),
      m_limits(dma_direct_limits_of(kernel)),
      m_debug(kernel.log(), machine, debug),
      m_max_low_pfn(pfn_limits_of(kernel.config().arch, kernel.blocks()).max_low_pfn) {}

// dma_supported: no dma_map_ops on a machine without an IOMMU, so dma_direct_supported.
bool dma_api::dma_supported(const device& dev, std::uint64_t mask) const {
    return dma_direct_supported(dev, mask, m_limits);
}

// dma_set_mask: "Truncate the mask to the actually supported dma_addr_t width to avoid
// generating unsupportable addresses", then -EIO without a dma_mask or support.
int dma_api::dma_set_mask(device& dev, std::uint64_t mask) {
    mask &= DMA_BIT_MASK(m_limits.dma_addr_bits);
    if (!dev.dma_mask || !dma_supported(dev, mask)) return -EIO;
    *dev.dma_mask = mask;
    return 0;
}

int dma_api::dma_set_coherent_mask(device& dev, std::uint64_t mask) {
    mask &= DMA_BIT_MASK(m_limits.dma_addr_bits);
    if (!dma_supported(dev, mask)) return -EIO;
    dev.coherent_dma_mask = mask;
    return 0;
}

// include/linux/dma-mapping.h: the coherent mask follows only when the streaming one was set,
// and the result is the streaming one's.
int dma_api::dma_set_mask_and_coherent(device& dev, std::uint64_t mask) {
    int rc = dma_set_mask(dev, mask);
    if (rc == 0) dma_set_coherent_mask(dev, mask);
    return rc;
}

std::uint64_t dma_api::dma_get_required_mask(const device&) const {
    return dma_direct_get_required_mask(m_limits);
}

bool dma_api::virt_addr_valid(std::uint64_t addr) const {
    std::uint64_t base = m_kernel.page_offset();
    return addr >= base && ((addr - base) >> page_shift) < m_max_low_pfn;
}

// dma_alloc_attrs: "let the implementation decide on the zone to allocate from", so the
// caller's zone modifiers go; dma_direct_alloc allocates PAGE_ALIGN(size) without __GFP_ZERO
// ("we always manually zero the memory once we are done") and memsets the direct-map address;
// debug_dma_alloc_coherent records the size as asked.
std::uint64_t dma_api::dma_alloc_coherent(device& dev, std::uint64_t size, dma_addr_t* dma_handle,
                                          gfp_t gfp) {
    if (!dev.coherent_dma_mask && !m_warned_no_coherent_mask) {  // WARN_ON_ONCE(!dev->coherent_dma_mask)
        m_warned_no_coherent_mask = true;
        dma_warn(m_kernel.log(), m_machine, "", "kernel/dma/mapping.c dma_alloc_attrs");
    }
    gfp &= ~(__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM);
    constexpr std::uint64_t page_mask = (std::uint64_t{1} << page_shift) - 1;
    std::uint64_t aligned = size > ~page_mask ? ~std::uint64_t{0} : (size + page_mask) & ~page_mask;
    page* p = size ? __dma_direct_alloc_pages(dev, aligned, gfp & ~__GFP_ZERO) : nullptr;
    page_allocator& pages = m_kernel.pages();
    // Without __GFP_HIGHMEM no HighMem page comes back; were one to (CMA), Linux would vmap it.
    if (p && pages.page_zone(p).type == zone_type::highmem) {
        pages.__free_pages(p, get_order(size));
        p = nullptr;
    }
    if (!p) {
        ++dev.dma_stats.coherent_failures;
        return 0;
    }
    unsigned order = get_order(size);
    phys_addr_t phys = pages.page_to_phys(p);
    std::uint64_t cpu_addr = pages.page_address(p);
    m_machine.fill_phys(phys, 0, aligned);  // memset(ret, 0, size) of the page-aligned size
    *dma_handle = phys;
    dev.coherent_buffers[phys] = {cpu_addr, size, order};
    ++dev.dma_stats.coherent_allocs;
    ++dev.dma_stats.coherent_live;
    dev.dma_stats.coherent_live_bytes += size;
    m_debug.debug_dma_alloc_coherent(dev, size, phys, pages.page_to_pfn(p), 0);
    return cpu_addr;
}

// dma_free_attrs: nothing for NULL; debug_dma_free_coherent with the CPU address's page (not
// looked at outside the direct map, as Linux's virt_addr_valid test skips it), then
// dma_direct_free gives back the pages at the device address.
void dma_api::dma_free_coherent(device& dev, std::uint64_t size, std::uint64_t cpu_addr,
                                dma_addr_t dma_handle) {
    if (!cpu_addr) return;
    bool valid = virt_addr_valid(cpu_addr);
    std::uint64_t offset = cpu_addr - m_kernel.page_offset();
    m_debug.debug_dma_free_coherent(dev, size, valid ? offset >> page_shift : 0,
                                    cpu_addr & ((1u << page_shift) - 1), dma_handle, valid);
    auto it = dev.coherent_buffers.find(dma_handle);
    if (it == dev.coherent_buffers.end()) return;
    page_allocator& pages = m_kernel.pages();
    pages.__free_pages(pages.pfn_to_page(dma_handle >> page_shift), it->second.order);
    ++dev.dma_stats.coherent_frees;
    --dev.dma_stats.coherent_live;
    dev.dma_stats.coherent_live_bytes -= it->second.size;
    dev.coherent_buffers.erase(it);
}

bool dma_api::dma_mapping_error(device& dev, dma_addr_t dma_addr) {
    m_debug.debug_dma_mapping_error(dev, dma_addr);
    return dma_addr == DMA_MAPPING_ERROR;
}

}  // namespace memsim::kernel
