// The DMA API (kernel/dma/mapping.c over kernel/dma/direct.c, no IOMMU): dma_set_mask and
// friends with dma_direct_supported; dma_alloc_coherent / dma_free_coherent choosing the zone
// from the device's reach and retrying lower zones when a block lands out of reach, each buffer
// zeroed and recorded for dma-debug; and the streaming side (dma_map_single, dma_map_page,
// dma_map_sg, their unmaps and syncs) mapping memory in place when the device reaches it and
// bouncing it through the swiotlb when it does not (or when swiotlb=force).
//
// Invariants: a coherent buffer is 2^get_order(size) pages of lowmem, wholly below
// min_not_zero(coherent_dma_mask, bus_dma_limit) when it was allocated, and listed in its
// device's coherent_buffers from dma_alloc_coherent to the dma_free_coherent that frees it;
// only a buffer listed there is ever given back to the page allocator. A streaming mapping's
// device address is either its physical address (the device reaches it) or a bounce buffer of
// the swiotlb that the device reaches; a streaming unmap releases swiotlb slots only for a
// mapping dma-debug holds live for that device, so a stray or repeated unmap never frees slots.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "kernel_mm/dma/debug.h"
#include "kernel_mm/dma/device.h"
#include "kernel_mm/dma/scatterlist.h"
#include "kernel_mm/dma/swiotlb.h"
#include "kernel_mm/gfp.h"
#include "kernel_mm/start_kernel.h"

namespace memsim::kernel {

// What dma-direct knows of the machine (kernel/dma/direct.c, arch/x86): the highest address of
// ZONE_DMA (zone_dma_bits = 24 on x86), max_pfn, which zones the kernel is built with, and how
// wide dma_addr_t is (32 bits on i386 without PAE).
struct dma_direct_limits {
    std::uint64_t zone_dma_limit = DMA_BIT_MASK(24);
    std::uint64_t max_pfn = 0;
    bool zone_dma = true;     // CONFIG_ZONE_DMA
    bool zone_dma32 = false;  // CONFIG_ZONE_DMA32: x86_64 only
    unsigned dma_addr_bits = 64;
};

dma_direct_limits dma_direct_limits_of(const kernel_state& kernel);

// kernel/dma/direct.c dma_direct_optimal_gfp_mask: the zone a buffer for `dma_mask` is tried
// in first, from min_not_zero(dma_mask, bus_dma_limit): up to the DMA zone's end GFP_DMA, up
// to 4 GiB GFP_DMA32 (which on i386, without ZONE_DMA32, is Normal), else none. *phys_limit
// gets that limit.
gfp_t dma_direct_optimal_gfp_mask(const device& dev, std::uint64_t dma_mask, const dma_direct_limits& limits,
                                  std::uint64_t* phys_limit);
// kernel/dma/direct.c dma_coherent_ok: [phys, phys + size) ends within the coherent mask and
// the bus limit.
bool dma_coherent_ok(const device& dev, phys_addr_t phys, std::uint64_t size);
// kernel/dma/direct.c dma_direct_supported: masks of 32 bits and more always; smaller ones
// must cover the DMA zone (or, on a machine smaller than it, the start of the last page).
bool dma_direct_supported(const device& dev, std::uint64_t mask, const dma_direct_limits& limits);
// kernel/dma/direct.c dma_direct_get_required_mask: the smallest all-ones mask covering the
// start of the last page of RAM.
std::uint64_t dma_direct_get_required_mask(const dma_direct_limits& limits);

// What the DMA API's own code costs in cycles per call, beyond the swiotlb's work and copies:
// the indirect call into dma-direct, dma_capable, and dma-debug's bookkeeping (a map or unmap
// through dma-direct is some tens of nanoseconds on a current core).
struct dma_costs {
    std::uint64_t map = 60;
    std::uint64_t unmap = 40;
    std::uint64_t sync = 20;
};

class dma_api {
public:
    dma_api(kernel_state& kernel, machine_ops& machine, const dma_debug_config& debug = {});
    dma_api(const dma_api&) = delete;
    dma_api& operator=(const dma_api&) = delete;

    // kernel/dma/mapping.c: 0, or -EIO when the device has no dma_mask or dma_supported says no.
    // The mask is first cut to dma_addr_t's width.
    int dma_set_mask(device& dev, std::uint64_t mask);
    int dma_set_coherent_mask(device& dev, std::uint64_t mask);
    // include/linux/dma-mapping.h: the streaming mask, then (if that worked) the coherent one.
    int dma_set_mask_and_coherent(device& dev, std::uint64_t mask);
    bool dma_supported(const device& dev, std::uint64_t mask) const;
    std::uint64_t dma_get_required_mask(const device& dev) const;

    // dma_alloc_attrs over dma_direct_alloc: the CPU (direct-map) address of a zeroed buffer
    // of PAGE_ALIGN(size) the device reaches with its coherent mask, its device address in
    // *dma_handle; 0 (NULL) for size 0 or when no zone has a block the device reaches. The
    // caller's zone modifiers (__GFP_DMA, __GFP_DMA32, __GFP_HIGHMEM) are ignored.
    std::uint64_t dma_alloc_coherent(device& dev, std::uint64_t size, dma_addr_t* dma_handle, gfp_t gfp);
    // dma_free_attrs over dma_direct_free: dma-debug checks the call against the allocation;
    // the buffer at dma_handle goes back to the page allocator. Where Linux would go on to free
    // pages the call names but the device never got (a stray or double free), memsim reports
    // as Linux does and frees nothing, so that one driver bug does not corrupt the allocator.
    void dma_free_coherent(device& dev, std::uint64_t size, std::uint64_t cpu_addr, dma_addr_t dma_handle);

    // include/linux/dma-mapping.h dma_mapping_error, telling dma-debug the driver checked.
    bool dma_mapping_error(device& dev, dma_addr_t dma_addr);

    // The swiotlb every device bounces through (dev->dma_io_tlb_mem = &io_tlb_default_mem);
    // null: none, as when Linux did not set it up (is_swiotlb_active false). Not owned.
    void set_swiotlb(io_tlb_mem* pool) { m_swiotlb = pool; }
    io_tlb_mem* swiotlb() const { return m_swiotlb; }
    // swiotlb=force (is_swiotlb_force_bounce): every streaming mapping bounces, when there is a
    // pool.
    bool swiotlb_force_bounce = false;
    dma_costs costs;

    // dma_map_page_attrs over dma_direct_map_page: the device address of
    // [page_to_phys(p) + offset, + size) (a HighMem page too), the memory itself when the
    // device reaches it (dma_capable), else a swiotlb bounce buffer holding a copy of it, else
    // DMA_MAPPING_ERROR with "DMA addr ... overflow" (or "swiotlb addr ... overflow" when the
    // pool itself is out of reach), printed once per device. dma-debug records the mapping.
    dma_addr_t dma_map_page(device& dev, page* p, std::uint64_t offset, std::uint64_t size,
                            dma_data_direction dir, unsigned long attrs = 0);
    // dma_map_single_attrs: dma_map_page of a direct-map kernel address (virt_to_page,
    // offset_in_page). Any other address is rejected with a WARN, as Linux rejects vmalloc
    // addresses.
    dma_addr_t dma_map_single(device& dev, std::uint64_t cpu_addr, std::uint64_t size, dma_data_direction dir,
                              unsigned long attrs = 0);
    // dma_unmap_page_attrs over dma_direct_unmap_page: dma-debug checks the call against the
    // mapping (wrong size, direction, function, an address not mapped); a bounce buffer is synced
    // back for the CPU (DMA_FROM_DEVICE and DMA_BIDIRECTIONAL, unless DMA_ATTR_SKIP_CPU_SYNC) and
    // its slots released, provided dma-debug found the mapping live for this device.
    void dma_unmap_page(device& dev, dma_addr_t addr, std::uint64_t size, dma_data_direction dir,
                        unsigned long attrs = 0);
    void dma_unmap_single(device& dev, dma_addr_t addr, std::uint64_t size, dma_data_direction dir,
                          unsigned long attrs = 0) {
        dma_unmap_page(dev, addr, size, dir, attrs);
    }
    // dma_map_sg_attrs over dma_direct_map_sg: each of the first nents entries mapped as
    // dma_map_page would (sg_dma_address, sg_dma_len set); the number mapped (nents), or 0 when
    // one fails, after unmapping those before it without a CPU sync.
    int dma_map_sg(device& dev, std::span<scatterlist> sgl, int nents, dma_data_direction dir,
                   unsigned long attrs = 0);
    // dma_unmap_sg_attrs: nents is what was passed to dma_map_sg, not what it returned.
    void dma_unmap_sg(device& dev, std::span<scatterlist> sgl, int nents, dma_data_direction dir,
                      unsigned long attrs = 0);
    // dma_sync_single_for_cpu / _for_device over dma-direct: only a bounce buffer has anything to
    // copy (x86 is cache coherent: arch_sync_dma_for_* do nothing); dma-debug checks the range
    // and direction against the mapping.
    void dma_sync_single_for_cpu(device& dev, dma_addr_t addr, std::uint64_t size, dma_data_direction dir);
    void dma_sync_single_for_device(device& dev, dma_addr_t addr, std::uint64_t size, dma_data_direction dir);
    // dma_sync_sg_for_cpu / _for_device: each of the first nelems entries, sg->length bytes.
    void dma_sync_sg_for_cpu(device& dev, std::span<scatterlist> sgl, int nelems, dma_data_direction dir);
    void dma_sync_sg_for_device(device& dev, std::span<scatterlist> sgl, int nelems, dma_data_direction dir);

    const dma_direct_limits& limits() const { return m_limits; }
    dma_debug& debug() { return m_debug; }
    const dma_debug& debug() const { return m_debug; }
    kernel_state& kernel() { return m_kernel; }
    machine_ops& machine() { return m_machine; }
    // The printed width of a kernel pointer (%p) and of a dma_addr_t (%pad) on this machine.
    unsigned pointer_digits() const { return m_kernel.config().arch == kernel_arch::x86_64 ? 16 : 8; }
    unsigned dma_addr_digits() const { return m_limits.dma_addr_bits / 4; }

private:
    // kernel/dma/direct.c __dma_direct_alloc_pages: the optimal zone first, then DMA32, then DMA
    // while the block comes back out of reach.
    page* __dma_direct_alloc_pages(device& dev, std::uint64_t size, gfp_t gfp);
    static unsigned get_order(std::uint64_t size);
    // dma_map_single of an address outside the direct map: reported, never mapped.
    void reject_unmappable(device& dev, std::uint64_t cpu_addr, std::uint64_t size);
    // x86 __virt_addr_valid: a direct-map address of low memory.
    bool virt_addr_valid(std::uint64_t addr) const;

    // The streaming side's dma-direct layer (kernel/dma/direct.h, swiotlb.c swiotlb_map).
    dma_addr_t dma_direct_map_page(device& dev, phys_addr_t phys, std::uint64_t size, dma_data_direction dir,
                                   unsigned long attrs);
    void dma_direct_unmap_page(device& dev, dma_addr_t addr, std::uint64_t size, dma_data_direction dir,
                               unsigned long attrs);
    void dma_direct_unmap_sg(device& dev, std::span<scatterlist> sgl, int nents, dma_data_direction dir,
                             unsigned long attrs);
    void dma_direct_sync_single_for_cpu(device& dev, dma_addr_t addr, std::uint64_t size,
                                        dma_data_direction dir);
    void dma_direct_sync_single_for_device(device& dev, dma_addr_t addr, std::uint64_t size,
                                           dma_data_direction dir);
    dma_addr_t swiotlb_map(device& dev, phys_addr_t phys, std::uint64_t size, dma_data_direction dir,
                           unsigned long attrs);
    bool is_swiotlb_buffer(phys_addr_t phys) const { return m_swiotlb && m_swiotlb->is_swiotlb_buffer(phys); }
    // BUG_ON(!valid_dma_direction(dir)), reported instead of halting: false for a bad direction.
    bool check_direction(dma_data_direction dir, const char* where);
    // WARN_ON_ONCE(!dev->dma_mask): false when the device has none.
    bool check_dma_mask(const device& dev, const char* where);
    // The pool's bounce byte counters, to charge a call's copies to its device.
    void charge_bounces(device& dev, std::uint64_t to_device_before, std::uint64_t from_device_before);
    const char* swiotlb_dev_name(const device& dev);

    kernel_state& m_kernel;
    machine_ops& m_machine;
    dma_direct_limits m_limits;
    dma_debug m_debug;
    std::uint64_t m_max_low_pfn = 0;
    bool m_warned_no_coherent_mask = false;
    io_tlb_mem* m_swiotlb = nullptr;
    bool m_warned_no_dma_mask = false;
    bool m_warned_vmalloc_map = false;
    std::string m_dev_name;  // swiotlb_dev_name's buffer
};

}  // namespace memsim::kernel
