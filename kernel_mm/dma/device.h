// A device as the DMA API sees it (include/linux/device.h, include/linux/dma-mapping.h): its
// name, its DMA masks and bus limit, and what the DMA API keeps per device (counters, the
// dma-debug table of live mappings and coherent allocations, its dma_pools), and the mask
// helpers both the coherent and the streaming side use (DMA_BIT_MASK, dma_capable).
//
// Invariants: coherent_buffers holds exactly the device's coherent buffers not yet freed, and
// dma_stats.coherent_live and coherent_live_bytes are their count and sizes; every entry of
// dma_debug.entries is a mapping or coherent buffer dma-debug believes live, keyed by its
// device address, and dma_debug.max_size is at least the size of every entry.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kernel_mm/dma/direction.h"
#include "kernel_mm/memblock.h"
#include "kernel_mm/page.h"

namespace memsim::kernel {

// No IOMMU and no bus offset: a device address (dma_addr_t, direction.h) is the physical
// address (phys_to_dma is the identity, include/linux/dma-direct.h without dma_range_map).
// Linux's dma_addr_t is 32 bits on i386 without PAE (CONFIG_ARCH_DMA_ADDR_T_64BIT needs 64BIT
// or PHYS_ADDR_T_64BIT); memsim keeps 64 bits and cuts masks to the machine's width as Linux's
// dma_set_mask does (dma_direct_limits::dma_addr_bits).

// include/linux/dma-mapping.h DMA_BIT_MASK(n): the n low bits set.
constexpr std::uint64_t DMA_BIT_MASK(unsigned n) {
    return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
}

// kernel/dma/debug.c: the kinds of entry dma-debug tracks. Linux 6.1 records dma_map_page and
// dma_map_single both as "single" (dma_debug_page went in 5.7).
enum class dma_debug_type : std::uint8_t { single, sg, coherent, resource };

// kernel/dma/debug.c enum map_err_types: whether the driver asked dma_mapping_error().
enum class map_err_type : std::uint8_t { check_not_applicable, not_checked, checked };

// struct dma_debug_entry without the list links and stack trace.
struct dma_debug_entry {
    dma_debug_type type = dma_debug_type::single;
    dma_addr_t dev_addr = 0;
    std::uint64_t size = 0;
    dma_data_direction direction = DMA_NONE;
    int sg_call_ents = 0;    // 'nents' given to dma_map_sg
    int sg_mapped_ents = 0;  // what dma_map_sg returned
    pfn_t pfn = 0;           // the page of the CPU address
    std::uint64_t offset = 0;
    map_err_type map_err = map_err_type::check_not_applicable;

    std::uint64_t phys() const { return (pfn << 12) + offset; }
};

// The reports dma-debug can make about one device, each counted (kernel/dma/debug.c).
enum class dma_debug_error : unsigned {
    free_invalid_address,   // "device driver tries to free an invalid DMA memory address"
    free_not_allocated,     // "... tries to free DMA memory it has not allocated ..."
    double_free,            // the same, for a coherent buffer this device freed already
    different_size,         // "... frees DMA memory with different size ..."
    wrong_function,         // "... frees DMA memory with wrong function ..."
    different_cpu_address,  // "... frees DMA memory with different CPU address ..."
    sg_entry_count,         // "... frees DMA sg list with different entry count ..."
    different_direction,    // "... frees DMA memory with different direction ..."
    map_error_not_checked,  // "... failed to check map error..."
    sync_not_allocated,     // "... tries to sync DMA memory it has not allocated ..."
    sync_outside_range,     // "... syncs DMA memory outside allocated range ..."
    sync_different_direction,
    sync_read_only_for_cpu,     // "... syncs device read-only DMA memory for cpu ..."
    sync_write_only_to_device,  // "... syncs device write-only DMA memory to device ..."
    overlapping_mapping,        // "cacheline tracking EEXIST, overlapping mappings aren't supported"
    map_invalid_area,           // "device driver maps memory from invalid area ..."
    // memsim's own, where Linux cannot look (no IOMMU): what the device itself touched.
    device_access_unmapped,   // "device reads/writes memory it has no mapping for ..."
    device_access_direction,  // "device writes DMA memory mapped DMA_TO_DEVICE ..." and the reverse
    count
};

// What the DMA API counts per device, for the stats.
struct dma_device_stats {
    std::uint64_t coherent_allocs = 0;      // dma_alloc_coherent calls that succeeded
    std::uint64_t coherent_frees = 0;       // dma_free_coherent calls that freed a buffer
    std::uint64_t coherent_failures = 0;    // dma_alloc_coherent calls that returned NULL
    std::uint64_t coherent_retries = 0;     // blocks given back because the device could not reach them
    std::uint64_t coherent_live = 0;        // allocations not yet freed
    std::uint64_t coherent_live_bytes = 0;  // their sizes as asked
    // The streaming side (dma_map_single, dma_map_page, each segment of dma_map_sg).
    std::uint64_t streaming_maps = 0;             // mappings made (those a failed dma_map_sg unwinds too)
    std::uint64_t streaming_unmaps = 0;           // unmaps asked for (reported ones included)
    std::uint64_t bounced_maps = 0;               // mappings made through the swiotlb
    std::uint64_t bounced_to_device_bytes = 0;    // bytes the swiotlb copied original -> bounce buffer
    std::uint64_t bounced_from_device_bytes = 0;  // bytes it copied bounce buffer -> original
    std::uint64_t mapping_errors = 0;             // DMA_MAPPING_ERROR returned (a failed sg segment: one)
    std::array<std::uint64_t, static_cast<unsigned>(dma_debug_error::count)> debug_errors{};
    // The errors dma-debug found for the device, each once (a double free is also counted as
    // such in debug_errors, beside "has not allocated").
    std::uint64_t debug_error_count = 0;

    std::uint64_t errors(dma_debug_error e) const { return debug_errors[static_cast<unsigned>(e)]; }
};

// What dma-debug keeps of one device: its live entries by device address (Linux hashes every
// device's entries into one table and matches on the device; one table per device is the same
// lookup), the largest entry ever (to bound the search for a containing entry), and the
// coherent buffers it freed, to tell a double free from a stray one.
struct dma_debug_table {
    std::multimap<dma_addr_t, dma_debug_entry> entries;
    std::uint64_t max_size = 0;
    std::set<dma_addr_t> freed_coherent;
};

// A coherent buffer as dma_alloc_coherent handed it out: memsim's own record (Linux keeps
// none but dma-debug's), which decides what dma_free_coherent may give back.
struct dma_coherent_buffer {
    std::uint64_t cpu_addr = 0;
    std::uint64_t size = 0;  // as asked
    unsigned order = 0;
};

class dma_pool;

struct device {
    std::string name;    // dev_name(): "0000:00:03.0"
    std::string driver;  // the bound driver's name, "e1000"; empty when none
    std::string bus;     // the bus's name, "pci", for dev_driver_string without a driver
    // dev->dma_mask points at the streaming mask; nullopt is Linux's NULL pointer (dma_set_mask
    // then fails). drivers/pci/probe.c pci_setup_device starts both masks at 32 bits.
    std::optional<std::uint64_t> dma_mask = DMA_BIT_MASK(32);
    std::uint64_t coherent_dma_mask = DMA_BIT_MASK(32);
    // The bus's own limit on top of the masks (a bridge that passes fewer bits); 0: none.
    std::uint64_t bus_dma_limit = 0;
    int numa_node = NUMA_NO_NODE;  // dev_to_node()
    // dma_get_min_align_mask (dev->dma_parms->min_align_mask): the low address bits a bounce
    // buffer must keep (NVMe: 4 KiB - 1); 0: none.
    unsigned min_align_mask = 0;
    // The streaming side's "... overflow" messages, printed once per device.
    bool dma_overflow_reported = false;
    bool swiotlb_overflow_reported = false;

    dma_device_stats dma_stats;
    std::map<dma_addr_t, dma_coherent_buffer> coherent_buffers;  // by device address
    dma_debug_table dma_debug;
    // dev->dma_pools: the pools made for this device, newest first (mm/dmapool.c list_add).
    std::vector<const dma_pool*> dma_pools;
};

// drivers/base/core.c dev_driver_string: the driver's name, else the bus's, else "".
inline const std::string& dev_driver_string(const device& dev) {
    return dev.driver.empty() ? dev.bus : dev.driver;
}

// include/linux/dma-mapping.h dma_get_mask: the streaming mask, 32 bits when there is none.
inline std::uint64_t dma_get_mask(const device& dev) {
    return dev.dma_mask && *dev.dma_mask ? *dev.dma_mask : DMA_BIT_MASK(32);
}

// include/linux/minmax.h min_not_zero, as the dma-direct limits use it.
constexpr std::uint64_t min_not_zero(std::uint64_t a, std::uint64_t b) {
    return a == 0 ? b : b == 0 ? a : (a < b ? a : b);
}

// include/linux/dma-direct.h dma_capable: the device reaches [addr, addr + size) through its
// streaming mask and the bus limit. (Its check of a 32-bit dma_addr_t against min_low_pfn is
// moot on x86, which leaves min_low_pfn at 0.)
inline bool dma_capable(const device& dev, dma_addr_t addr, std::uint64_t size) {
    if (addr == DMA_MAPPING_ERROR) return false;
    dma_addr_t end = addr + size - 1;
    return end >= addr && end <= min_not_zero(dev.dma_mask.value_or(0), dev.bus_dma_limit);
}

}  // namespace memsim::kernel
