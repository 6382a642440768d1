// The software IO TLB (kernel/dma/swiotlb.c, include/linux/swiotlb.h, Linux 6.1): bounce
// buffers in a pool of 2 KiB slots the platform reserves in low memory at boot, for devices that
// cannot reach a buffer, with the timed copies in and out that make bouncing cost what it costs.
//
// One pool with one area, as on a 1-CPU machine. Invariants (checked by check_invariants): a used
// slot has list 0; a free slot's list is the number of free slots from it up to the first used
// slot or the end of its IO_TLB_SEGSIZE segment, whichever comes first; used() is the number of
// used slots; a mapping is nr_slots(alloc_size + offset) consecutive used slots inside one
// segment, slot i of it remembering orig_addr + i * IO_TLB_SIZE and alloc_size - i * IO_TLB_SIZE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernel_mm/dma/direction.h"
#include "kernel_mm/machine_ops.h"
#include "kernel_mm/printk.h"

namespace memsim::kernel {

// include/linux/swiotlb.h: 2 KiB slots, at most IO_TLB_SEGSIZE of them per mapping (256 KiB).
inline constexpr unsigned IO_TLB_SHIFT = 11;
inline constexpr std::uint64_t IO_TLB_SIZE = 1ull << IO_TLB_SHIFT;
inline constexpr unsigned IO_TLB_SEGSIZE = 128;
// IO_TLB_DEFAULT_SIZE: the pool Linux reserves unless told otherwise (swiotlb=), 32768 slots.
inline constexpr std::uint64_t io_tlb_default_size = 64ull << 20;
inline constexpr std::uint64_t io_tlb_default_nslabs = io_tlb_default_size >> IO_TLB_SHIFT;

// kernel/dma/swiotlb.c: a slot that bounces nothing.
inline constexpr phys_addr_t INVALID_PHYS_ADDR = ~phys_addr_t{0};

// struct io_tlb_slot.
struct io_tlb_slot {
    phys_addr_t orig_addr = INVALID_PHYS_ADDR;  // the byte this slot's first byte bounces
    std::size_t alloc_size = 0;                 // bytes of the mapping from this slot on
    unsigned list = 0;                          // free slots from here to the segment end; 0: used
};

// What the swiotlb's own code costs in cycles beyond its timed copies.
struct swiotlb_costs {
    std::uint64_t map = 100;       // taking the lock and recording a mapping
    std::uint64_t slot_check = 2;  // each slot the search looks at
    std::uint64_t unmap = 80;      // giving a mapping's slots back
};

struct swiotlb_stats {
    std::uint64_t maps = 0;                 // mappings made
    std::uint64_t unmaps = 0;               // mappings released
    std::uint64_t failures = 0;             // DMA_MAPPING_ERROR returned
    std::uint64_t bad_calls = 0;            // unmaps and syncs of what is no mapping (reported)
    std::uint64_t used_high_water = 0;      // most slots in use at once
    std::uint64_t bounced_to_device = 0;    // bytes copied original -> bounce buffer
    std::uint64_t bounced_from_device = 0;  // bytes copied bounce buffer -> original
};

class io_tlb_mem {
public:
    // swiotlb_init_io_tlb_mem over [start, start + nslabs * IO_TLB_SIZE), which the caller has
    // reserved. nslabs is a positive multiple of IO_TLB_SEGSIZE, as Linux aligns it
    // (setup_io_tlb_npages, swiotlb_adjust_size), and start is page aligned, as memblock_alloc_low
    // gives it: std::invalid_argument otherwise. The pool is zeroed, as Linux clears it.
    io_tlb_mem(phys_addr_t start, std::uint64_t nslabs, machine_ops& machine, printk_buffer& log,
               swiotlb_costs costs = {});
    io_tlb_mem(const io_tlb_mem&) = delete;
    io_tlb_mem& operator=(const io_tlb_mem&) = delete;

    // The bounce buffer for [orig_addr, orig_addr + mapping_size), with alloc_size bytes of slots
    // behind it, or DMA_MAPPING_ERROR. The device's min_align_mask (dma_get_min_align_mask; NVMe:
    // 4 KiB - 1) is kept between orig_addr and the result; alloc_align_mask aligns the slot; a
    // mapping of PAGE_SIZE or more starts page aligned; nothing crosses a segment, so more than
    // 256 KiB fails as "buffer is full". The original is copied in whatever the direction (since
    // 5.18, so that the device never sees stale pool contents). dev_name prefixes warnings as
    // dev_warn does ("nvme 0000:01:00.0"); nullptr prints none.
    phys_addr_t swiotlb_tbl_map_single(phys_addr_t orig_addr, std::size_t mapping_size,
                                       std::size_t alloc_size, unsigned alloc_align_mask,
                                       dma_data_direction dir, unsigned long attrs = 0,
                                       unsigned min_align_mask = 0, const char* dev_name = nullptr);
    // Copies back for DMA_FROM_DEVICE and DMA_BIDIRECTIONAL (unless DMA_ATTR_SKIP_CPU_SYNC), then
    // releases the slots. tlb_addr must be what a map returned: anything else is reported in the
    // log and counted, and changes nothing.
    void swiotlb_tbl_unmap_single(phys_addr_t tlb_addr, std::size_t mapping_size, dma_data_direction dir,
                                  unsigned long attrs = 0, const char* dev_name = nullptr);
    // Original -> bounce buffer for DMA_TO_DEVICE and DMA_BIDIRECTIONAL; tlb_addr may be inside a
    // mapping. DMA_NONE (a BUG_ON in Linux) is reported and counted.
    void swiotlb_sync_single_for_device(phys_addr_t tlb_addr, std::size_t size, dma_data_direction dir,
                                        const char* dev_name = nullptr);
    // Bounce buffer -> original for DMA_FROM_DEVICE and DMA_BIDIRECTIONAL.
    void swiotlb_sync_single_for_cpu(phys_addr_t tlb_addr, std::size_t size, dma_data_direction dir,
                                     const char* dev_name = nullptr);

    bool is_swiotlb_buffer(phys_addr_t paddr) const { return paddr >= m_start && paddr < m_end; }
    // The largest mapping a device with this min_align_mask can be sure of: 256 KiB less the
    // alignment slots the search may skip.
    static std::size_t swiotlb_max_mapping_size(unsigned min_align_mask = 0);
    // "software IO TLB: mapped [mem %pa-%pa] (%luMB)", %pa with `digits` hex digits (16 where
    // phys_addr_t is 64-bit, 8 on i386 without PAE).
    void swiotlb_print_info(unsigned digits = 16);

    phys_addr_t start() const { return m_start; }
    phys_addr_t end() const { return m_end; }
    std::uint64_t nslabs() const { return m_slots.size(); }
    std::uint64_t used() const { return m_used; }  // mem_used()
    unsigned index() const { return m_index; }     // where the next search starts
    std::span<const io_tlb_slot> slots() const { return m_slots; }
    const swiotlb_stats& stats() const { return m_stats; }
    // "" when the invariants above hold, else the first violation.
    std::string check_invariants() const;

private:
    // __ratelimit with DEFAULT_RATELIMIT_INTERVAL (5 s) and DEFAULT_RATELIMIT_BURST (10).
    struct ratelimit_state {
        picoseconds begin = 0;
        bool started = false;
        unsigned printed = 0;
        unsigned missed = 0;
    };
    // What this model keeps beside struct io_tlb_slot: the mapping's offset within its first slot
    // (Linux recomputes it from the device's min_align_mask) and whether the slot starts a
    // mapping, so that a bad unmap is caught instead of corrupting the lists.
    struct slot_mapping {
        std::uint16_t offset = 0;
        bool head = false;
    };

    int swiotlb_find_slots(phys_addr_t orig_addr, std::size_t alloc_size, unsigned alloc_align_mask,
                           unsigned min_align_mask);
    void swiotlb_release_slots(unsigned index);
    void swiotlb_bounce(phys_addr_t tlb_addr, std::size_t size, dma_data_direction dir, const char* dev_name);
    unsigned wrap_area_index(std::uint64_t index) const;
    bool ratelimit(ratelimit_state& rs, const char* func);
    void dev_print(kern_level level, const char* dev_name, const std::string& text);
    void report(const char* dev_name, const std::string& text);

    machine_ops& m_machine;
    printk_buffer& m_log;
    swiotlb_costs m_costs;
    phys_addr_t m_start;
    phys_addr_t m_end;
    std::vector<io_tlb_slot> m_slots;
    std::vector<slot_mapping> m_mappings;
    unsigned m_index = 0;  // struct io_tlb_area
    std::uint64_t m_used = 0;
    swiotlb_stats m_stats;
    ratelimit_state m_full_rs;
    bool m_invalid_sizes_warned = false;  // dev_warn_once
    bool m_overflow_warned[3] = {};       // swiotlb_bounce's three dev_WARN_ONCEs
};

}  // namespace memsim::kernel
