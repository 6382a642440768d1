// /proc/meminfo as fs/proc/meminfo.c prints it in Debian's 6.1 kernel, and the two estimates it
// rests on: totalreserve_pages (mm/page_alloc.c) and MemAvailable (si_mem_available).
//
// Modelled values: MemTotal (totalram_pages: managed pages of every zone), MemFree (NR_FREE_PAGES:
// the buddy free lists; pages on per-CPU lists are not free to Linux either, so they are left out
// as Linux leaves them out), MemAvailable, HighTotal/HighFree/LowTotal/LowFree on i386,
// CommitLimit (overcommit_ratio 50, no swap), Hugepagesize, and what meminfo_extras carries.
// The page cache, LRU lists, slab, swap and huge page pools are not modelled yet and print 0.
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string_view>

#include <fmt/format.h>

#include "kernel_mm/procfs.h"

namespace memsim::kernel {
namespace {

constexpr std::uint64_t page_kb = (1ull << page_shift) >> 10;

// show_val_kb: the label (padded to 16 by hand in Linux's strings), the value in kB right-aligned
// to 8 columns (wider numbers push the unit out), then " kB".
void show_kb(std::string& out, std::string_view label, std::uint64_t kb) {
    fmt::format_to(std::back_inserter(out), "{:<16}{:>8} kB\n", label, kb);
}
void show_pages(std::string& out, std::string_view label, std::uint64_t pages) {
    show_kb(out, label, pages * page_kb);
}

}  // namespace

std::uint64_t totalreserve_pages(const page_allocator& alloc) {
    std::uint64_t reserve = 0;
    for (const pglist_data& node : alloc.nodes())
        for (std::size_t i = 0; i < node.zones.size(); ++i) {
            const zone& z = node.zones[i];
            std::uint64_t max = 0;
            for (std::size_t j = i; j < node.zones.size(); ++j) max = std::max(max, z.lowmem_reserve[j]);
            // The high watermark counts as reserved too; a zone cannot reserve more than it has.
            reserve += std::min(max + z.wmark.high, z.managed_pages);
        }
    return reserve;
}

std::uint64_t si_mem_available(const page_allocator& alloc) {
    std::uint64_t wmark_low = 0;  // every zone's, empty ones too (for_each_zone)
    for (const pglist_data& node : alloc.nodes())
        for (const zone& z : node.zones) wmark_low += z.wmark.low;
    auto available = static_cast<std::int64_t>(alloc.nr_free_pages()) -
                     static_cast<std::int64_t>(totalreserve_pages(alloc));
    // At least half the page cache, or the low watermarks' worth, has to stay; likewise for the
    // reclaimable slab. Neither exists in the model yet.
    const std::uint64_t pagecache = 0, reclaimable = 0;
    available += static_cast<std::int64_t>(pagecache - std::min(pagecache / 2, wmark_low));
    available += static_cast<std::int64_t>(reclaimable - std::min(reclaimable / 2, wmark_low));
    return available < 0 ? 0 : static_cast<std::uint64_t>(available);
}

std::string proc_meminfo(const page_allocator& alloc, const meminfo_extras& extras) {
    const proc_kconfig k = debian_kconfig(alloc.config());
    const std::uint64_t totalram = alloc.totalram_pages();
    const std::uint64_t freeram = alloc.nr_free_pages();
    // totalhigh_pages counts the pages freed into HighMem (its managed pages); nr_free_highpages
    // the free ones.
    std::uint64_t totalhigh = 0, freehigh = 0;
    for (const pglist_data& node : alloc.nodes())
        for (const zone& z : node.zones)
            if (z.type == zone_type::highmem) {
                totalhigh += z.managed_pages;
                freehigh += z.counters.nr_free_pages;
            }

    std::string out;
    show_pages(out, "MemTotal:", totalram);
    show_pages(out, "MemFree:", freeram);
    show_pages(out, "MemAvailable:", si_mem_available(alloc));
    const node_page_state& state = alloc.node_state();
    show_pages(out, "Buffers:", 0);
    // Cached: the page cache, where shmem pages live; no LRU lists are modelled.
    show_pages(out, "Cached:", state.nr_shmem);
    for (std::string_view label : {"SwapCached:", "Active:", "Inactive:", "Active(anon):", "Inactive(anon):",
                                   "Active(file):", "Inactive(file):", "Unevictable:", "Mlocked:"})
        show_pages(out, label, 0);
    if (k.highmem) {
        show_pages(out, "HighTotal:", totalhigh);
        show_pages(out, "HighFree:", freehigh);
        show_pages(out, "LowTotal:", totalram - totalhigh);
        show_pages(out, "LowFree:", freeram - freehigh);
    }
    // Swap, zswap (CONFIG_ZSWAP), the page cache's states, anonymous memory, shmem, slab.
    for (std::string_view label : {"SwapTotal:", "SwapFree:", "Zswap:", "Zswapped:", "Dirty:", "Writeback:"})
        show_pages(out, label, 0);
    show_pages(out, "AnonPages:", state.nr_anon_mapped);
    show_pages(out, "Mapped:", 0);
    show_pages(out, "Shmem:", state.nr_shmem);
    for (std::string_view label : {"KReclaimable:", "Slab:", "SReclaimable:", "SUnreclaim:"})
        show_pages(out, label, 0);
    show_kb(out, "KernelStack:", state.nr_kernel_stack_kb);
    show_pages(out, "PageTables:", state.nr_pagetable);
    for (std::string_view label : {"SecPageTables:", "NFS_Unstable:", "Bounce:", "WritebackTmp:"})
        show_pages(out, label, 0);
    // vm_commit_limit: overcommit_ratio (50) percent of RAM outside hugetlb, plus swap (none).
    show_pages(out, "CommitLimit:", totalram * 50 / 100);
    show_pages(out, "Committed_AS:", extras.committed_as_pages);
    show_kb(out, "VmallocTotal:", extras.vmalloc_total_kb);
    show_pages(out, "VmallocUsed:", extras.vmalloc_used_pages);
    show_pages(out, "VmallocChunk:", 0);
    show_pages(out, "Percpu:", extras.percpu_pages);
    // CONFIG_MEMORY_FAILURE, with its own narrower field.
    fmt::format_to(std::back_inserter(out), "HardwareCorrupted: {:>5} kB\n", 0);
    // CONFIG_TRANSPARENT_HUGEPAGE. (No CmaTotal/CmaFree: Debian has no CONFIG_CMA.)
    for (std::string_view label :
         {"AnonHugePages:", "ShmemHugePages:", "ShmemPmdMapped:", "FileHugePages:", "FilePmdMapped:"})
        show_pages(out, label, 0);
    // hugetlb_report_meminfo: the default hstate is the PMD size, 4 MiB on 2-level i386.
    const std::uint64_t hugepage_kb = k.two_level_paging ? 4096 : 2048;
    fmt::format_to(std::back_inserter(out),
                   "HugePages_Total:   {:>5}\nHugePages_Free:    {:>5}\nHugePages_Rsvd:    {:>5}\n"
                   "HugePages_Surp:    {:>5}\nHugepagesize:   {:>8} kB\nHugetlb:        {:>8} kB\n",
                   0, 0, 0, 0, hugepage_kb, 0);
    // arch_report_meminfo (arch/x86/mm/pat/set_memory.c).
    show_kb(out, "DirectMap4k:", extras.direct_map_4k * 4);
    if (k.two_level_paging)
        show_kb(out, "DirectMap4M:", extras.direct_map_large * 4096);
    else
        show_kb(out, "DirectMap2M:", extras.direct_map_large * 2048);
    if (extras.direct_gbpages) show_kb(out, "DirectMap1G:", extras.direct_map_1g << 20);
    return out;
}

}  // namespace memsim::kernel
