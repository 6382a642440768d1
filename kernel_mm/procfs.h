// The memory files of /proc in Linux's exact text: buddyinfo, pagetypeinfo, zoneinfo and vmstat
// (mm/vmstat.c) and meminfo (fs/proc/meminfo.c), read from the page allocator's zones and
// counters, so a researcher can diff them against a real machine's files byte for byte.
//
// Which Linux: Debian's 6.1 kernel (linux-source-6.1 6.1.192, the reference kernel of
// LINUX-FACTS.md), with Debian's configurations: amd64 (CONFIG_NUMA, NUMA_BALANCING, ZONE_DEVICE,
// SPARSEMEM_VMEMMAP) for x86_64 and 686 / 686-pae (HIGHMEM, FLATMEM, no NUMA) for i386; both have
// SMP, SWAP, ZSWAP, ZSMALLOC, COMPACTION, MIGRATION, THP, HUGETLB_PAGE, KSM, MEMORY_BALLOON,
// MEMORY_FAILURE and neither has CONFIG_CMA or CONFIG_PAGE_OWNER.
//
// Every line Linux prints is printed, in Linux's order, so that a diff shows only differences of
// value; a counter this model does not keep prints 0. Each .cpp says which values are modelled.
#pragma once

#include <cstdint>
#include <string>

#include "kernel_mm/memblock.h"
#include "kernel_mm/page_alloc.h"
#include "kernel_mm/slab.h"

namespace memsim::kernel {

class vmalloc_space;

// The configuration options that change which lines the files print, as Debian builds 6.1.
// CONFIG_CMA is off in both builds: no CMA migratetype row or column, no CmaTotal/CmaFree, no
// cma_alloc_* events (zoneinfo's "cma" line and nr_free_cma are printed whatever the config).
struct proc_kconfig {
    bool numa = false;              // CONFIG_NUMA and CONFIG_NUMA_BALANCING: amd64
    bool highmem = false;           // CONFIG_HIGHMEM: i386
    bool sparsemem = false;         // SPARSEMEM_VMEMMAP (amd64) rather than FLATMEM (i386)
    bool thp_pud = false;           // HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD: x86_64
    bool two_level_paging = false;  // i386 without PAE: 4 MiB huge pages, DirectMap4M
};
proc_kconfig debian_kconfig(const page_alloc_config& config);

// /proc/buddyinfo (frag_show): free blocks per order of each populated zone.
std::string proc_buddyinfo(const page_allocator& alloc);

// /proc/pagetypeinfo (pagetypeinfo_show): free blocks per migratetype and order, then pageblocks
// per migratetype. `blocks` is the boot memory map: Linux counts only pageblocks whose memory map
// is online (pfn_to_online_page), which on x86_64 leaves out the holes below 4 GiB.
std::string proc_pagetypeinfo(const page_allocator& alloc, const memblock& blocks);

// /proc/zoneinfo (zoneinfo_show): every zone of every node, empty ones included.
std::string proc_zoneinfo(const page_allocator& alloc);

// /proc/vmstat (vmstat_show): zone, NUMA and node counters, the dirty thresholds, the events.
std::string proc_vmstat(const page_allocator& alloc);

// What /proc/meminfo shows that the page allocator does not know; whoever owns it fills it in
// (the platform after boot), and 0 is printed otherwise.
struct meminfo_extras {
    std::uint64_t vmalloc_total_kb = 0;  // VMALLOC_TOTAL >> 10
    std::uint64_t vmalloc_used_pages = 0;
    std::uint64_t percpu_pages = 0;
    std::uint64_t committed_as_pages = 0;
    // arch/x86/mm/pat/set_memory.c direct_pages_count: the direct map's pages of each size
    // (the large ones are 2 MiB, or 4 MiB on 2-level i386).
    std::uint64_t direct_map_4k = 0;
    std::uint64_t direct_map_large = 0;
    std::uint64_t direct_map_1g = 0;
    bool direct_gbpages = false;  // the CPU maps with 1 GiB pages: DirectMap1G is printed
};

// x86_64 with 4-level paging: VMALLOC_SIZE_TB 32, VMALLOC_END inclusive (pgtable_64_types.h).
inline constexpr std::uint64_t x86_64_vmalloc_total_kb = (32ull << 30) - 1;

// /proc/meminfo (meminfo_proc_show).
std::string proc_meminfo(const page_allocator& alloc, const meminfo_extras& extras = {});

// /proc/vmallocinfo (mm/vmalloc.c s_show): one line per busy area in address order, addresses
// printed in full as %px would (kptr_restrict 0), the caller as the name the allocation gave.
std::string proc_vmallocinfo(const vmalloc_space& vm);

// /proc/slabinfo (mm/slab_common.c slab_show): version 2.1, SLUB's tunables 0 0 0, the caches
// newest first as the slab_caches list holds them.
std::string proc_slabinfo(const slab_allocator& slabs);

// mm/page_alloc.c calculate_totalreserve_pages: per zone, its largest lowmem_reserve plus its
// high watermark, at most its managed pages; summed over every zone.
std::uint64_t totalreserve_pages(const page_allocator& alloc);

// mm/page_alloc.c si_mem_available: MemAvailable in pages.
std::uint64_t si_mem_available(const page_allocator& alloc);

// mm/page-writeback.c global_dirty_limits with the default ratios (vm.dirty_ratio 20,
// vm.dirty_background_ratio 10), in pages.
struct dirty_limits {
    std::uint64_t background = 0;
    std::uint64_t dirty = 0;
};
dirty_limits global_dirty_limits(const page_allocator& alloc);

}  // namespace memsim::kernel
