// The streaming DMA API (kernel/dma/mapping.c dma_map_page_attrs, dma_unmap_page_attrs,
// dma_map_sg_attrs, dma_sync_*; kernel/dma/direct.h and direct.c dma_direct_map_page,
// dma_direct_map_sg; kernel/dma/swiotlb.c swiotlb_map) of Linux 6.1 on x86 without an IOMMU:
// memory the device reaches is mapped in place, the rest bounces through the swiotlb, and
// dma-debug sees every call. x86 is cache coherent, so the arch_sync_dma_* hooks do nothing and
// only bounce buffers ever copy.
#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <optional>
#include <vector>

#include "kernel_mm/dma/mapping.h"
#include "kernel_mm/vmalloc.h"

namespace memsim::kernel {

// Into one buffer the calls reuse: the name is needed only if the swiotlb has something to say,
// and a bounced map, unmap or sync should not pay a host allocation for it.
const char* dma_api::swiotlb_dev_name(const device& dev) {
    m_dev_name.clear();
    fmt::format_to(std::back_inserter(m_dev_name), "{} {}", dev_driver_string(dev), dev.name);
    return m_dev_name.c_str();
}

// BUG_ON(!valid_dma_direction(dir)): Linux stops the machine; memsim says so and refuses the
// call.
bool dma_api::check_direction(dma_data_direction dir, const char* where) {
    if (valid_dma_direction(dir)) return true;
    m_kernel.log().print(m_machine.now(), kern_level::crit, fmt::format("kernel BUG at {}!", where));
    return false;
}

bool dma_api::check_dma_mask(const device& dev, const char* where) {
    if (dev.dma_mask) return true;
    if (!m_warned_no_dma_mask) {
        m_warned_no_dma_mask = true;
        dma_warn(m_kernel.log(), m_machine, "", where);
    }
    return false;
}

void dma_api::charge_bounces(device& dev, std::uint64_t to_device_before, std::uint64_t from_device_before) {
    if (!m_swiotlb) return;
    dev.dma_stats.bounced_to_device_bytes += m_swiotlb->stats().bounced_to_device - to_device_before;
    dev.dma_stats.bounced_from_device_bytes += m_swiotlb->stats().bounced_from_device - from_device_before;
}

// swiotlb_map: a bounce buffer of exactly `size` bytes (no alloc_align_mask) keeping the
// device's min_align_mask bits; a buffer the device cannot reach either is given back without
// a copy (DMA_ATTR_SKIP_CPU_SYNC) and the mapping fails.
dma_addr_t dma_api::swiotlb_map(device& dev, phys_addr_t phys, std::uint64_t size, dma_data_direction dir,
                                unsigned long attrs) {
    const char* name = swiotlb_dev_name(dev);
    phys_addr_t tlb_addr =
        m_swiotlb->swiotlb_tbl_map_single(phys, size, size, 0, dir, attrs, dev.min_align_mask, name);
    if (tlb_addr == DMA_MAPPING_ERROR) return DMA_MAPPING_ERROR;
    dma_addr_t dma_addr = tlb_addr;  // phys_to_dma_unencrypted: the identity
    if (!dma_capable(dev, dma_addr, size)) {
        m_swiotlb->swiotlb_tbl_unmap_single(tlb_addr, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC, name);
        if (!dev.swiotlb_overflow_reported) {
            dev.swiotlb_overflow_reported = true;
            m_kernel.log().print(
                m_machine.now(), kern_level::err,
                fmt::format("{}swiotlb addr 0x{:0{}x}+{} overflow (mask {:x}, bus limit {:x}).",
                            dev_printk_prefix(dev), dma_addr, dma_addr_digits(), size,
                            dev.dma_mask.value_or(0), dev.bus_dma_limit));
        }
        return DMA_MAPPING_ERROR;
    }
    ++dev.dma_stats.bounced_maps;
    return dma_addr;
}

// dma_direct_map_page: phys_to_dma is the identity; swiotlb=force bounces everything; memory
// out of the device's reach bounces when there is a swiotlb, else the mapping fails.
dma_addr_t dma_api::dma_direct_map_page(device& dev, phys_addr_t phys, std::uint64_t size,
                                        dma_data_direction dir, unsigned long attrs) {
    dma_addr_t dma_addr = phys;
    dma_addr_t result = dma_addr;
    if (m_swiotlb && swiotlb_force_bounce) {
        result = swiotlb_map(dev, phys, size, dir, attrs);
    } else if (!dma_capable(dev, dma_addr, size)) {
        if (m_swiotlb) {
            result = swiotlb_map(dev, phys, size, dir, attrs);
        } else {
            if (!dev.dma_overflow_reported) {
                dev.dma_overflow_reported = true;
                m_kernel.log().print(
                    m_machine.now(), kern_level::err,
                    fmt::format("{}DMA addr 0x{:0{}x}+{} overflow (mask {:x}, bus limit {:x}).",
                                dev_printk_prefix(dev), dma_addr, dma_addr_digits(), size,
                                dev.dma_mask.value_or(0), dev.bus_dma_limit));
            }
            result = DMA_MAPPING_ERROR;
        }
    }
    if (result == DMA_MAPPING_ERROR)
        ++dev.dma_stats.mapping_errors;
    else
        ++dev.dma_stats.streaming_maps;
    return result;
}

// dma_direct_unmap_page: the sync for the CPU (a bounce buffer's copy back) unless skipped,
// then the bounce buffer's slots, without a second copy.
void dma_api::dma_direct_unmap_page(device& dev, dma_addr_t addr, std::uint64_t size, dma_data_direction dir,
                                    unsigned long attrs) {
    phys_addr_t phys = addr;  // dma_to_phys
    if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC)) dma_direct_sync_single_for_cpu(dev, addr, size, dir);
    if (is_swiotlb_buffer(phys)) {
        const char* name = swiotlb_dev_name(dev);
        m_swiotlb->swiotlb_tbl_unmap_single(phys, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC, name);
    }
}

void dma_api::dma_direct_sync_single_for_cpu(device& dev, dma_addr_t addr, std::uint64_t size,
                                             dma_data_direction dir) {
    phys_addr_t phys = addr;
    if (!is_swiotlb_buffer(phys)) return;  // arch_sync_dma_for_cpu: nothing on x86
    const char* name = swiotlb_dev_name(dev);
    m_swiotlb->swiotlb_sync_single_for_cpu(phys, size, dir, name);
}

void dma_api::dma_direct_sync_single_for_device(device& dev, dma_addr_t addr, std::uint64_t size,
                                                dma_data_direction dir) {
    phys_addr_t phys = addr;
    if (!is_swiotlb_buffer(phys)) return;  // arch_sync_dma_for_device: nothing on x86
    const char* name = swiotlb_dev_name(dev);
    m_swiotlb->swiotlb_sync_single_for_device(phys, size, dir, name);
}

// dma_direct_unmap_sg: every entry given, at its sg_dma_address and sg_dma_len.
void dma_api::dma_direct_unmap_sg(device& dev, std::span<scatterlist> sgl, int nents, dma_data_direction dir,
                                  unsigned long attrs) {
    const std::size_t n = std::min(sgl.size(), static_cast<std::size_t>(std::max(nents, 0)));
    for (std::size_t i = 0; i < n; ++i)
        dma_direct_unmap_page(dev, sgl[i].dma_address, sgl[i].dma_length, dir, attrs);
}

dma_addr_t dma_api::dma_map_page(device& dev, page* p, std::uint64_t offset, std::uint64_t size,
                                 dma_data_direction dir, unsigned long attrs) {
    if (!check_direction(dir, "kernel/dma/mapping.c dma_map_page_attrs")) return DMA_MAPPING_ERROR;
    if (!check_dma_mask(dev, "kernel/dma/mapping.c dma_map_page_attrs")) {
        ++dev.dma_stats.mapping_errors;
        return DMA_MAPPING_ERROR;
    }
    m_machine.context().cycles += costs.map;
    page_allocator& pages = m_kernel.pages();
    const std::uint64_t to_before = m_swiotlb ? m_swiotlb->stats().bounced_to_device : 0;
    const std::uint64_t from_before = m_swiotlb ? m_swiotlb->stats().bounced_from_device : 0;
    dma_addr_t addr = dma_direct_map_page(dev, pages.page_to_phys(p) + offset, size, dir, attrs);
    charge_bounces(dev, to_before, from_before);
    m_debug.debug_dma_map_page(dev, pages.page_to_pfn(p), offset, size, dir, addr, attrs);
    return addr;
}

// dma_map_single_attrs refuses vmalloc memory with a dev_WARN_ONCE. Any other address outside
// the direct map dma-debug reports (debug_dma_map_single), and Linux would go on to map whatever
// page virt_to_page made of it; memsim refuses that too.
void dma_api::reject_unmappable(device& dev, std::uint64_t cpu_addr, std::uint64_t size) {
    vmalloc_range vmalloc = vmalloc_range_of(m_kernel);
    if (cpu_addr < vmalloc.start || cpu_addr >= vmalloc.end) {
        m_debug.debug_dma_map_invalid_area(dev, cpu_addr, size, pointer_digits());
        return;
    }
    if (m_warned_vmalloc_map) return;
    m_warned_vmalloc_map = true;
    dma_warn(m_kernel.log(), m_machine, dev_printk_prefix(dev) + "rejecting DMA map of vmalloc memory",
             "include/linux/dma-mapping.h dma_map_single_attrs");
}

// dma_map_single_attrs: "DMA must never operate on areas that might be remapped."
dma_addr_t dma_api::dma_map_single(device& dev, std::uint64_t cpu_addr, std::uint64_t size,
                                   dma_data_direction dir, unsigned long attrs) {
    if (!virt_addr_valid(cpu_addr)) {
        reject_unmappable(dev, cpu_addr, size);
        ++dev.dma_stats.mapping_errors;
        return DMA_MAPPING_ERROR;
    }
    const std::uint64_t offset = cpu_addr - m_kernel.page_offset();
    page* p = m_kernel.pages().pfn_to_page(offset >> page_shift);
    return dma_map_page(dev, p, offset & ((std::uint64_t{1} << page_shift) - 1), size, dir, attrs);
}

// dma_unmap_page_attrs: Linux unmaps, then lets dma-debug check; memsim asks dma-debug first
// and unmaps only what it found live, so that a repeated or stray unmap cannot release slots
// that now bounce another mapping. (The reports are the same; only their order against the
// swiotlb's own warnings differs.)
void dma_api::dma_unmap_page(device& dev, dma_addr_t addr, std::uint64_t size, dma_data_direction dir,
                             unsigned long attrs) {
    if (!check_direction(dir, "kernel/dma/mapping.c dma_unmap_page_attrs")) return;
    m_machine.context().cycles += costs.unmap;
    ++dev.dma_stats.streaming_unmaps;
    std::optional<dma_debug_entry> entry = m_debug.debug_dma_unmap_page(dev, addr, size, dir);
    if (!entry) return;
    const std::uint64_t to_before = m_swiotlb ? m_swiotlb->stats().bounced_to_device : 0;
    const std::uint64_t from_before = m_swiotlb ? m_swiotlb->stats().bounced_from_device : 0;
    dma_direct_unmap_page(dev, addr, size, dir, attrs);
    charge_bounces(dev, to_before, from_before);
}

// dma_map_sg_attrs over dma_direct_map_sg; dma_map_sg turns the negative error into 0.
int dma_api::dma_map_sg(device& dev, std::span<scatterlist> sgl, int nents, dma_data_direction dir,
                        unsigned long attrs) {
    if (!check_direction(dir, "kernel/dma/mapping.c __dma_map_sg_attrs")) return 0;
    if (!check_dma_mask(dev, "kernel/dma/mapping.c __dma_map_sg_attrs")) {
        ++dev.dma_stats.mapping_errors;
        return 0;
    }
    const int n = static_cast<int>(std::min(sgl.size(), static_cast<std::size_t>(std::max(nents, 0))));
    if (n == 0) return 0;
    page_allocator& pages = m_kernel.pages();
    const std::uint64_t to_before = m_swiotlb ? m_swiotlb->stats().bounced_to_device : 0;
    const std::uint64_t from_before = m_swiotlb ? m_swiotlb->stats().bounced_from_device : 0;
    for (int i = 0; i < n; ++i) {
        scatterlist& sg = sgl[static_cast<std::size_t>(i)];
        sg.dma_address =
            dma_direct_map_page(dev, pages.page_to_phys(sg.page_link) + sg.offset, sg.length, dir, attrs);
        if (sg.dma_address == DMA_MAPPING_ERROR) {
            // out_unmap: the entries before this one, without copying back.
            dma_direct_unmap_sg(dev, sgl, i, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
            charge_bounces(dev, to_before, from_before);
            return 0;
        }
        sg.dma_length = sg.length;
    }
    charge_bounces(dev, to_before, from_before);
    std::vector<dma_debug_sg> debug_sg;
    debug_sg.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        const scatterlist& sg = sgl[static_cast<std::size_t>(i)];
        debug_sg.push_back({pages.page_to_pfn(sg.page_link), sg.offset, sg.dma_address, sg.dma_length});
    }
    m_debug.debug_dma_map_sg(dev, debug_sg, nents, n, dir, attrs);
    return n;
}

// dma_unmap_sg_attrs: dma-debug checks the list first (as in Linux), then dma-direct unmaps
// each entry; an entry dma-debug did not hold live for the device is left alone.
void dma_api::dma_unmap_sg(device& dev, std::span<scatterlist> sgl, int nents, dma_data_direction dir,
                           unsigned long attrs) {
    if (!check_direction(dir, "kernel/dma/mapping.c dma_unmap_sg_attrs")) return;
    const std::size_t n = std::min(sgl.size(), static_cast<std::size_t>(std::max(nents, 0)));
    page_allocator& pages = m_kernel.pages();
    std::vector<dma_debug_sg> debug_sg;
    std::vector<bool> live;
    debug_sg.reserve(n);
    live.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const scatterlist& sg = sgl[i];
        debug_sg.push_back(
            {sg.page_link ? pages.page_to_pfn(sg.page_link) : 0, sg.offset, sg.dma_address, sg.dma_length});
        live.push_back(dev.dma_debug.entries.contains(sg.dma_address));
    }
    m_debug.debug_dma_unmap_sg(dev, debug_sg, dir);
    const std::uint64_t to_before = m_swiotlb ? m_swiotlb->stats().bounced_to_device : 0;
    const std::uint64_t from_before = m_swiotlb ? m_swiotlb->stats().bounced_from_device : 0;
    for (std::size_t i = 0; i < n; ++i) {
        ++dev.dma_stats.streaming_unmaps;
        if (live[i]) dma_direct_unmap_page(dev, sgl[i].dma_address, sgl[i].dma_length, dir, attrs);
    }
    charge_bounces(dev, to_before, from_before);
}

void dma_api::dma_sync_single_for_cpu(device& dev, dma_addr_t addr, std::uint64_t size,
                                      dma_data_direction dir) {
    if (!check_direction(dir, "kernel/dma/mapping.c dma_sync_single_for_cpu")) return;
    m_machine.context().cycles += costs.sync;
    const std::uint64_t to_before = m_swiotlb ? m_swiotlb->stats().bounced_to_device : 0;
    const std::uint64_t from_before = m_swiotlb ? m_swiotlb->stats().bounced_from_device : 0;
    dma_direct_sync_single_for_cpu(dev, addr, size, dir);
    charge_bounces(dev, to_before, from_before);
    m_debug.debug_dma_sync_single(dev, addr, size, dir, true);
}

void dma_api::dma_sync_single_for_device(device& dev, dma_addr_t addr, std::uint64_t size,
                                         dma_data_direction dir) {
    if (!check_direction(dir, "kernel/dma/mapping.c dma_sync_single_for_device")) return;
    m_machine.context().cycles += costs.sync;
    const std::uint64_t to_before = m_swiotlb ? m_swiotlb->stats().bounced_to_device : 0;
    const std::uint64_t from_before = m_swiotlb ? m_swiotlb->stats().bounced_from_device : 0;
    dma_direct_sync_single_for_device(dev, addr, size, dir);
    charge_bounces(dev, to_before, from_before);
    m_debug.debug_dma_sync_single(dev, addr, size, dir, false);
}

// dma_direct_sync_sg_for_cpu / _for_device: each entry's sg->length bytes at its device
// address. dma-debug's debug_dma_sync_sg_* check each entry as check_sync does; memsim's hook
// for that is the single one (the entry type only breaks ties between equal candidates).
void dma_api::dma_sync_sg_for_cpu(device& dev, std::span<scatterlist> sgl, int nelems,
                                  dma_data_direction dir) {
    if (!check_direction(dir, "kernel/dma/mapping.c dma_sync_sg_for_cpu")) return;
    const std::size_t n = std::min(sgl.size(), static_cast<std::size_t>(std::max(nelems, 0)));
    const std::uint64_t to_before = m_swiotlb ? m_swiotlb->stats().bounced_to_device : 0;
    const std::uint64_t from_before = m_swiotlb ? m_swiotlb->stats().bounced_from_device : 0;
    for (std::size_t i = 0; i < n; ++i)
        dma_direct_sync_single_for_cpu(dev, sgl[i].dma_address, sgl[i].length, dir);
    charge_bounces(dev, to_before, from_before);
    for (std::size_t i = 0; i < n; ++i)
        m_debug.debug_dma_sync_single(dev, sgl[i].dma_address, sgl[i].dma_length, dir, true);
}

void dma_api::dma_sync_sg_for_device(device& dev, std::span<scatterlist> sgl, int nelems,
                                     dma_data_direction dir) {
    if (!check_direction(dir, "kernel/dma/mapping.c dma_sync_sg_for_device")) return;
    const std::size_t n = std::min(sgl.size(), static_cast<std::size_t>(std::max(nelems, 0)));
    const std::uint64_t to_before = m_swiotlb ? m_swiotlb->stats().bounced_to_device : 0;
    const std::uint64_t from_before = m_swiotlb ? m_swiotlb->stats().bounced_from_device : 0;
    for (std::size_t i = 0; i < n; ++i)
        dma_direct_sync_single_for_device(dev, sgl[i].dma_address, sgl[i].length, dir);
    charge_bounces(dev, to_before, from_before);
    for (std::size_t i = 0; i < n; ++i)
        m_debug.debug_dma_sync_single(dev, sgl[i].dma_address, sgl[i].dma_length, dir, false);
}

}  // namespace memsim::kernel
