// Nodes and zones (include/linux/mmzone.h): a zone's span and page counts, its free_area per
// order with one free list per migratetype, its per-CPU order-0 lists, watermarks and
// lowmem_reserve; a node's zones in Linux's order and its zonelist for allocation fallback.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "kernel_mm/page.h"
#include "kernel_mm/watermarks.h"
#include "kernel_mm/zone_type.h"

namespace memsim::kernel {

// include/linux/mmzone.h: orders 0..MAX_PAGE_ORDER; costly above PAGE_ALLOC_COSTLY_ORDER.
inline constexpr unsigned MAX_PAGE_ORDER = 10;
inline constexpr unsigned NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1;
inline constexpr unsigned PAGE_ALLOC_COSTLY_ORDER = 3;

// enum migratetype; the first three have per-CPU lists. MIGRATE_CMA is kept as a type though
// Debian's kernels are built without CONFIG_CMA (no CMA memory exists; /proc leaves it out).
enum migratetype : std::uint8_t {
    MIGRATE_UNMOVABLE,
    MIGRATE_MOVABLE,
    MIGRATE_RECLAIMABLE,
    MIGRATE_PCPTYPES,
    MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES,
    MIGRATE_CMA,
    MIGRATE_ISOLATE,
    MIGRATE_TYPES
};

// mm/vmstat.c migratetype_names.
std::string_view migratetype_name(migratetype type);

// A doubly linked list of pages through page::next/prev (the kernel's list_head on page->lru).
struct page_list {
    page_link head = no_page;
    std::uint64_t count = 0;
};

struct free_area {
    std::array<page_list, MIGRATE_TYPES> free_list;
    std::uint64_t nr_free = 0;  // blocks of this order on all lists
};

// struct per_cpu_pages, order 0 only: pages here are not in free_area's nr_free.
struct per_cpu_pages {
    std::array<page_list, MIGRATE_PCPTYPES> lists;
    std::uint64_t count = 0;
    std::uint64_t high = 0;
    std::uint64_t batch = 1;
    // Doubles the pages freed at each drain while frees follow frees; halved by an allocation.
    unsigned free_factor = 0;
};

inline constexpr unsigned MAX_NR_ZONES = 6;

// Counters the zone keeps (enum zone_stat_item, the ones this model changes).
struct zone_counters {
    std::uint64_t nr_free_pages = 0;  // NR_FREE_PAGES: pages on the free lists, not per-CPU ones
};

struct zone {
    zone_type type = zone_type::normal;
    int node = 0;
    pfn_t zone_start_pfn = 0;
    std::uint64_t spanned_pages = 0;
    std::uint64_t present_pages = 0;
    std::uint64_t managed_pages = 0;
    watermark wmark;
    // lowmem_reserve[j]: what allocations allowed up to zone index j must leave in this zone.
    std::array<std::uint64_t, MAX_NR_ZONES> lowmem_reserve{};
    std::array<free_area, NR_PAGE_ORDERS> area;
    std::vector<per_cpu_pages> pcp;  // one per CPU
    // The migratetype of each pageblock in the zone's span (pageblock-flags.h).
    std::vector<migratetype> pageblock_type;
    zone_counters counters;

    pfn_t zone_end_pfn() const { return zone_start_pfn + spanned_pages; }
    bool populated() const { return present_pages != 0; }
    bool spans(pfn_t pfn) const { return pfn >= zone_start_pfn && pfn < zone_end_pfn(); }
};

// struct pglist_data: a node's zones, one per configured zone type in Linux's order, empty ones
// included; the zonelist is every zone allocations may fall back to, best first.
struct pglist_data {
    int node_id = 0;
    pfn_t node_start_pfn = 0;
    std::uint64_t node_spanned_pages = 0;
    std::uint64_t node_present_pages = 0;
    std::vector<zone> zones;
    std::vector<zone*> zonelist;  // ZONELIST_FALLBACK: by node distance, then zone from high to low
    std::vector<zone*> zonelist_nofallback;  // ZONELIST_NOFALLBACK: this node only (__GFP_THISNODE)
};

}  // namespace memsim::kernel
