// The files mm/vmstat.c makes in /proc: buddyinfo, pagetypeinfo, zoneinfo and vmstat, as Debian's
// 6.1 kernel prints them (the item lists follow its vmstat_text with Debian's configuration).
//
// Modelled values: free blocks per order and migratetype, pageblock migratetypes, NR_FREE_PAGES,
// watermarks, spanned/present/managed, lowmem_reserve, the per-CPU lists, the stat thresholds,
// the dirty thresholds and the events pgalloc_<zone>, pgfree, pgfault and pgmajfault. Everything
// else (LRU lists, slab, NUMA hit counts, reclaim, compaction, THP...) prints 0 until modelled.
#include <algorithm>
#include <bit>
#include <iterator>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "kernel_mm/procfs.h"

namespace memsim::kernel {
namespace {

// enum zone_stat_item (include/linux/mmzone.h). nr_zspages is there because Debian builds
// zsmalloc as a module (IS_ENABLED(CONFIG_ZSMALLOC)).
constexpr std::string_view zone_stat_names[] = {
    "nr_free_pages",
    "nr_zone_inactive_anon",
    "nr_zone_active_anon",
    "nr_zone_inactive_file",
    "nr_zone_active_file",
    "nr_zone_unevictable",
    "nr_zone_write_pending",
    "nr_mlock",
    "nr_bounce",
    "nr_zspages",
    "nr_free_cma",
};

// enum numa_stat_item, CONFIG_NUMA only.
constexpr std::string_view numa_stat_names[] = {
    "numa_hit", "numa_miss", "numa_foreign", "numa_interleave", "numa_local", "numa_other",
};

// enum node_stat_item; the last two exist only with CONFIG_NUMA_BALANCING.
constexpr std::string_view node_stat_names[] = {
    "nr_inactive_anon",
    "nr_active_anon",
    "nr_inactive_file",
    "nr_active_file",
    "nr_unevictable",
    "nr_slab_reclaimable",
    "nr_slab_unreclaimable",
    "nr_isolated_anon",
    "nr_isolated_file",
    "workingset_nodes",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "nr_anon_pages",
    "nr_mapped",
    "nr_file_pages",
    "nr_dirty",
    "nr_writeback",
    "nr_writeback_temp",
    "nr_shmem",
    "nr_shmem_hugepages",
    "nr_shmem_pmdmapped",
    "nr_file_hugepages",
    "nr_file_pmdmapped",
    "nr_anon_transparent_hugepages",
    "nr_vmscan_write",
    "nr_vmscan_immediate_reclaim",
    "nr_dirtied",
    "nr_written",
    "nr_throttled_written",
    "nr_kernel_misc_reclaimable",
    "nr_foll_pin_acquired",
    "nr_foll_pin_released",
    "nr_kernel_stack",
    "nr_page_table_pages",
    "nr_sec_page_table_pages",
    "nr_swapcached",
    "pgpromote_success",
    "pgpromote_candidate",
};
constexpr std::size_t numa_balancing_node_stats = 2;

// enum vm_event_item in Debian 6.1's order. `per_zone` entries expand to one line per configured
// zone (TEXTS_FOR_ZONES: "_dma", "_dma32", "_normal", "_high", "_movable", "_device").
enum class needs : std::uint8_t { always, numa, thp_pud, per_zone };
struct event_name {
    std::string_view name;
    needs when = needs::always;
};
constexpr event_name vm_event_names[] = {
    {"pgpgin"},
    {"pgpgout"},
    {"pswpin"},
    {"pswpout"},
    {"pgalloc", needs::per_zone},
    {"allocstall", needs::per_zone},
    {"pgskip", needs::per_zone},
    {"pgfree"},
    {"pgactivate"},
    {"pgdeactivate"},
    {"pglazyfree"},
    {"pgfault"},
    {"pgmajfault"},
    {"pglazyfreed"},
    {"pgrefill"},
    {"pgreuse"},
    {"pgsteal_kswapd"},
    {"pgsteal_direct"},
    {"pgdemote_kswapd"},
    {"pgdemote_direct"},
    {"pgscan_kswapd"},
    {"pgscan_direct"},
    {"pgscan_direct_throttle"},
    {"pgscan_anon"},
    {"pgscan_file"},
    {"pgsteal_anon"},
    {"pgsteal_file"},
    {"zone_reclaim_failed", needs::numa},
    {"pginodesteal"},
    {"slabs_scanned"},
    {"kswapd_inodesteal"},
    {"kswapd_low_wmark_hit_quickly"},
    {"kswapd_high_wmark_hit_quickly"},
    {"pageoutrun"},
    {"pgrotated"},
    {"drop_pagecache"},
    {"drop_slab"},
    {"oom_kill"},
    // CONFIG_NUMA_BALANCING
    {"numa_pte_updates", needs::numa},
    {"numa_huge_pte_updates", needs::numa},
    {"numa_hint_faults", needs::numa},
    {"numa_hint_faults_local", needs::numa},
    {"numa_pages_migrated", needs::numa},
    // CONFIG_MIGRATION
    {"pgmigrate_success"},
    {"pgmigrate_fail"},
    {"thp_migration_success"},
    {"thp_migration_fail"},
    {"thp_migration_split"},
    // CONFIG_COMPACTION
    {"compact_migrate_scanned"},
    {"compact_free_scanned"},
    {"compact_isolated"},
    {"compact_stall"},
    {"compact_fail"},
    {"compact_success"},
    {"compact_daemon_wake"},
    {"compact_daemon_migrate_scanned"},
    {"compact_daemon_free_scanned"},
    // CONFIG_HUGETLB_PAGE (no cma_alloc_* after these: Debian has no CONFIG_CMA)
    {"htlb_buddy_alloc_success"},
    {"htlb_buddy_alloc_fail"},
    {"unevictable_pgs_culled"},
    {"unevictable_pgs_scanned"},
    {"unevictable_pgs_rescued"},
    {"unevictable_pgs_mlocked"},
    {"unevictable_pgs_munlocked"},
    {"unevictable_pgs_cleared"},
    {"unevictable_pgs_stranded"},
    // CONFIG_TRANSPARENT_HUGEPAGE
    {"thp_fault_alloc"},
    {"thp_fault_fallback"},
    {"thp_fault_fallback_charge"},
    {"thp_collapse_alloc"},
    {"thp_collapse_alloc_failed"},
    {"thp_file_alloc"},
    {"thp_file_fallback"},
    {"thp_file_fallback_charge"},
    {"thp_file_mapped"},
    {"thp_split_page"},
    {"thp_split_page_failed"},
    {"thp_deferred_split_page"},
    {"thp_split_pmd"},
    {"thp_scan_exceed_none_pte"},
    {"thp_scan_exceed_swap_pte"},
    {"thp_scan_exceed_share_pte"},
    {"thp_split_pud", needs::thp_pud},
    {"thp_zero_page_alloc"},
    {"thp_zero_page_alloc_failed"},
    {"thp_swpout"},
    {"thp_swpout_fallback"},
    // CONFIG_MEMORY_BALLOON, CONFIG_BALLOON_COMPACTION
    {"balloon_inflate"},
    {"balloon_deflate"},
    {"balloon_migrate"},
    // CONFIG_SWAP, CONFIG_KSM, CONFIG_ZSWAP, CONFIG_X86
    {"swap_ra"},
    {"swap_ra_hit"},
    {"ksm_swpin_copy"},
    {"cow_ksm"},
    {"zswpin"},
    {"zswpout"},
    {"direct_map_level2_splits"},
    {"direct_map_level3_splits"},
};

// The suffix TEXTS_FOR_ZONES gives each zone.
std::string_view zone_suffix(zone_type type) {
    switch (type) {
        case zone_type::dma:
            return "dma";
        case zone_type::dma32:
            return "dma32";
        case zone_type::normal:
            return "normal";
        case zone_type::highmem:
            return "high";
        case zone_type::movable:
            return "movable";
        case zone_type::device:
            return "device";
    }
    return "?";
}

bool wanted(needs when, const proc_kconfig& k) {
    switch (when) {
        case needs::numa:
            return k.numa;
        case needs::thp_pud:
            return k.thp_pud;
        case needs::always:
        case needs::per_zone:
            break;
    }
    return true;
}

std::vector<std::string_view> node_stats(const proc_kconfig& k) {
    std::vector<std::string_view> names(std::begin(node_stat_names), std::end(node_stat_names));
    if (!k.numa) names.resize(names.size() - numa_balancing_node_stats);
    return names;
}

// The node states processes change; shmem pages are file pages too (shmem_add_to_page_cache).
std::uint64_t node_stat(const node_page_state& s, std::string_view name) {
    if (name == "nr_anon_pages") return s.nr_anon_mapped;
    if (name == "nr_shmem" || name == "nr_file_pages") return s.nr_shmem;
    if (name == "nr_kernel_stack") return s.nr_kernel_stack_kb;
    if (name == "nr_page_table_pages") return s.nr_pagetable;
    return 0;
}

// The model keeps one zone counter, NR_FREE_PAGES (item 0).
std::uint64_t zone_stat(const zone& z, std::size_t item) { return item == 0 ? z.counters.nr_free_pages : 0; }

// The configured zones in enum zone_type order (every node has the same list).
std::vector<zone_type> configured_zones(const page_allocator& alloc) {
    std::vector<zone_type> types;
    if (!alloc.nodes().empty())
        for (const zone& z : alloc.nodes().front().zones) types.push_back(z.type);
    return types;
}

// mm/vmstat.c calculate_normal_threshold: per-CPU counter drift allowed before folding, growing
// with the CPU count and the zone's size in 128 MiB units (fls of each), at most 125.
int calculate_normal_threshold(const zone& z, unsigned cpus) {
    std::uint64_t mem = z.managed_pages >> (27 - page_shift);
    auto threshold = 2 * std::bit_width(cpus) * (1 + std::bit_width(mem));
    return static_cast<int>(std::min<std::uint64_t>(threshold, 125));
}

// is_zone_first_populated: the node's per-node stats go with its first populated zone.
const zone* first_populated(const pglist_data& node) {
    for (const zone& z : node.zones)
        if (z.populated()) return &z;
    return nullptr;
}

// pfn_to_online_page for a pfn of a zone at boot: with SPARSEMEM (x86_64) the memory map exists
// for each 2 MiB subsection that memblock memory touches (subsection_map_init over
// for_each_mem_pfn_range); with FLATMEM (i386) it covers every pfn below max_pfn.
bool memmap_online(const memblock& blocks, pfn_t pfn, const proc_kconfig& k) {
    if (!k.sparsemem) return true;
    constexpr pfn_t pages_per_subsection = pfn_t{1} << (21 - page_shift);
    pfn_t start = pfn & ~(pages_per_subsection - 1), end = start + pages_per_subsection;
    for (const memblock_region& r : blocks.memory().regions()) {
        pfn_t lo = (r.base + (1ull << page_shift) - 1) >> page_shift, hi = r.end() >> page_shift;
        if (lo < end && hi > start && lo < hi) return true;
    }
    return false;
}

template <typename... Args>
void print(std::string& out, fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
}

}  // namespace

proc_kconfig debian_kconfig(const page_alloc_config& config) {
    proc_kconfig k;
    bool x86_64 = config.arch == kernel_arch::x86_64;
    k.numa = x86_64;
    k.highmem = !x86_64;
    k.sparsemem = x86_64;
    k.thp_pud = x86_64;
    // 686 (2-level paging) has 4 MiB pageblocks and huge pages; 686-pae has 2 MiB ones.
    k.two_level_paging = !x86_64 && config.pageblock_order == 10;
    return k;
}

std::string proc_buddyinfo(const page_allocator& alloc) {
    std::string out;
    for (const pglist_data& node : alloc.nodes())
        for (const zone& z : node.zones) {
            if (!z.populated()) continue;
            print(out, "Node {}, zone {:>8} ", node.node_id, zone_name(z.type));
            for (const free_area& area : z.area) print(out, "{:6} ", area.nr_free);
            out += '\n';
        }
    return out;
}

std::string proc_pagetypeinfo(const page_allocator& alloc, const memblock& blocks) {
    const proc_kconfig k = debian_kconfig(alloc.config());
    const unsigned order = alloc.config().pageblock_order;
    // migratetype_names without "CMA": Debian builds 6.1 without CONFIG_CMA, so MIGRATE_TYPES
    // has five entries there (the model's enum keeps a CMA type that nothing uses).
    std::vector<migratetype> types;
    for (unsigned t = 0; t < MIGRATE_TYPES; ++t)
        if (migratetype_name(static_cast<migratetype>(t)) != "CMA")
            types.push_back(static_cast<migratetype>(t));

    std::string out;
    for (const pglist_data& node : alloc.nodes()) {
        if (node.node_present_pages == 0) continue;  // a memoryless node prints nothing
        print(out, "Page block order: {}\nPages per block:  {}\n\n", order, pfn_t{1} << order);

        print(out, "{:<43} ", "Free pages count per migrate type at order");
        for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) print(out, "{:6} ", o);
        out += '\n';
        for (const zone& z : node.zones) {
            if (!z.populated()) continue;
            for (migratetype t : types) {
                print(out, "Node {:4}, zone {:>8}, type {:>12} ", node.node_id, zone_name(z.type),
                      migratetype_name(t));
                // Linux stops counting a list at 100000 entries and marks the count with '>'.
                for (const free_area& area : z.area) {
                    std::uint64_t count = area.free_list[t].count;
                    print(out, "{}{:6} ", count >= 100000 ? ">" : "", std::min<std::uint64_t>(count, 100000));
                }
                out += '\n';
            }
        }

        print(out, "\n{:<23}", "Number of blocks type ");
        for (migratetype t : types) print(out, "{:>12} ", migratetype_name(t));
        out += '\n';
        for (const zone& z : node.zones) {
            if (!z.populated()) continue;
            // Linux steps from zone_start_pfn by a pageblock, unaligned, skipping pfns without an
            // online memory map, and counts the migratetype of the block each step lands in.
            std::vector<std::uint64_t> count(MIGRATE_TYPES, 0);
            for (pfn_t pfn = z.zone_start_pfn; pfn < z.zone_end_pfn(); pfn += pfn_t{1} << order) {
                if (!memmap_online(blocks, pfn, k)) continue;
                std::size_t block = (pfn >> order) - (z.zone_start_pfn >> order);
                if (block < z.pageblock_type.size()) ++count[z.pageblock_type[block]];
            }
            print(out, "Node {}, zone {:>8} ", node.node_id, zone_name(z.type));
            for (migratetype t : types) print(out, "{:12} ", count[t]);
            out += '\n';
        }
        // "Number of mixed blocks" needs CONFIG_PAGE_OWNER, which Debian leaves off.
    }
    return out;
}

std::string proc_zoneinfo(const page_allocator& alloc) {
    const proc_kconfig k = debian_kconfig(alloc.config());
    const std::vector<std::string_view> node_items = node_stats(k);
    std::string out;
    for (const pglist_data& node : alloc.nodes()) {
        const zone* first = first_populated(node);
        for (const zone& z : node.zones) {
            print(out, "Node {}, zone {:>8}", node.node_id, zone_name(z.type));
            if (&z == first) {
                out += "\n  per-node stats";
                for (std::string_view name : node_items) print(out, "\n      {:<12} {}", name, 0);
            }
            // No watermark boosting is modelled (boost 0); no CMA pages (cma 0).
            print(out,
                  "\n  pages free     {}\n        boost    {}\n        min      {}\n        low      {}"
                  "\n        high     {}\n        spanned  {}\n        present  {}\n        managed  {}"
                  "\n        cma      {}",
                  z.counters.nr_free_pages, 0, z.wmark.min, z.wmark.low, z.wmark.high, z.spanned_pages,
                  z.present_pages, z.managed_pages, 0);
            // One entry per configured zone (ARRAY_SIZE(lowmem_reserve) is MAX_NR_ZONES).
            print(out, "\n        protection: ({}", z.lowmem_reserve[0]);
            for (std::size_t j = 1; j < node.zones.size(); ++j) print(out, ", {}", z.lowmem_reserve[j]);
            out += ')';
            if (!z.populated()) {
                out += '\n';
                continue;
            }
            for (std::size_t i = 0; i < std::size(zone_stat_names); ++i)
                print(out, "\n      {:<12} {}", zone_stat_names[i], zone_stat(z, i));
            if (k.numa)
                for (std::string_view name : numa_stat_names) print(out, "\n      {:<12} {}", name, 0);
            out += "\n  pagesets";
            const int threshold = calculate_normal_threshold(z, static_cast<unsigned>(z.pcp.size()));
            for (std::size_t cpu = 0; cpu < z.pcp.size(); ++cpu) {
                const per_cpu_pages& pcp = z.pcp[cpu];
                print(out,
                      "\n    cpu: {}\n              count: {}\n              high:  {}"
                      "\n              batch: {}\n  vm stats threshold: {}",
                      cpu, pcp.count, pcp.high, pcp.batch, threshold);
            }
            // node_unreclaimable: kswapd has not failed MAX_RECLAIM_RETRIES times (no kswapd yet).
            print(out, "\n  node_unreclaimable:  {}\n  start_pfn:           {}\n", 0, z.zone_start_pfn);
        }
    }
    return out;
}

dirty_limits global_dirty_limits(const page_allocator& alloc) {
    const proc_kconfig k = debian_kconfig(alloc.config());
    // global_dirtyable_memory: free pages less the kernel's reserves, plus the file LRU (none
    // here), less what HighMem could hold (vm_highmem_is_dirtyable is 0 by default).
    std::uint64_t free = alloc.nr_free_pages();
    std::uint64_t x = free - std::min(free, totalreserve_pages(alloc));
    if (k.highmem) {
        std::uint64_t high = 0;
        for (const pglist_data& node : alloc.nodes())
            for (const zone& z : node.zones) {
                if (z.type != zone_type::highmem || !z.populated()) continue;
                std::uint64_t pages = z.counters.nr_free_pages;
                high += pages - std::min(pages, z.wmark.high);
            }
        x -= std::min(high, x);
    }
    const std::uint64_t available = x + 1;
    // domain_dirty_limits: the ratios are turned into parts of PAGE_SIZE first (20% -> 819/4096,
    // 10% -> 409/4096), and the background limit stays below the dirty one.
    constexpr std::uint64_t page_size = 1ull << page_shift;
    dirty_limits limits;
    limits.dirty = std::min<std::uint64_t>((20 * page_size / 100) * available / page_size, 0xffffffffu);
    limits.background = (10 * page_size / 100) * available / page_size;
    if (limits.background >= limits.dirty) limits.background = limits.dirty / 2;
    return limits;
}

std::string proc_vmstat(const page_allocator& alloc) {
    const proc_kconfig k = debian_kconfig(alloc.config());
    std::string out;
    auto line = [&out](std::string_view name, std::uint64_t value) { print(out, "{} {}\n", name, value); };

    for (std::size_t i = 0; i < std::size(zone_stat_names); ++i) {
        std::uint64_t sum = 0;
        for (const pglist_data& node : alloc.nodes())
            for (const zone& z : node.zones) sum += zone_stat(z, i);
        line(zone_stat_names[i], sum);
    }
    // The model does not count zone_statistics' NUMA events yet.
    if (k.numa)
        for (std::string_view name : numa_stat_names) line(name, 0);
    for (std::string_view name : node_stats(k)) line(name, node_stat(alloc.node_state(), name));
    // enum writeback_stat_item: NR_DIRTY_THRESHOLD, then NR_DIRTY_BG_THRESHOLD.
    dirty_limits limits = global_dirty_limits(alloc);
    line("nr_dirty_threshold", limits.dirty);
    line("nr_dirty_background_threshold", limits.background);

    const vm_events& ev = alloc.events();
    const std::vector<zone_type> zones = configured_zones(alloc);
    for (const event_name& e : vm_event_names) {
        if (!wanted(e.when, k)) continue;
        if (e.when == needs::per_zone) {
            for (zone_type type : zones)
                line(fmt::format("{}_{}", e.name, zone_suffix(type)),
                     e.name == "pgalloc" ? ev.pgalloc_of(type) : 0);
            continue;
        }
        std::uint64_t value = 0;
        if (e.name == "pgfree") value = ev.pgfree;
        if (e.name == "pgfault") value = ev.pgfault;
        if (e.name == "pgmajfault") value = ev.pgmajfault;
        line(e.name, value);
    }
    // vmstat_show adds the retired NFS counter after the last item, for old readers.
    out += "nr_unstable 0\n";
    return out;
}

}  // namespace memsim::kernel
