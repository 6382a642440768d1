// Building the page allocator at boot (mm/mm_init.c free_area_init, memmap_init; mm/memblock.c
// memblock_free_all; mm/page_alloc.c init_per_zone_wmark_min, setup_zone_pageset): nodes and
// zones from memblock, reserved frames marked, free ranges released into the buddy lists.
#include <algorithm>
#include <bit>
#include <map>

#include "kernel_mm/page_alloc.h"

namespace memsim::kernel {
namespace {

pfn_t pfn_up(phys_addr_t addr) { return (addr + (1ull << page_shift) - 1) >> page_shift; }
pfn_t pfn_down(phys_addr_t addr) { return addr >> page_shift; }

// Debian's configurations: zoneinfo lists these per node, in enum zone_type order.
std::vector<zone_type> configured_zone_list(kernel_arch arch) {
    if (arch == kernel_arch::x86_64)
        return {zone_type::dma, zone_type::dma32, zone_type::normal, zone_type::movable, zone_type::device};
    return {zone_type::dma, zone_type::normal, zone_type::highmem, zone_type::movable};
}

// memblock regions with no node yet (MAX_NUMNODES) belong to node 0, as on a machine without NUMA.
int node_of(const memblock_region& r) { return r.nid == MAX_NUMNODES || r.nid < 0 ? 0 : r.nid; }

std::uint64_t pages_in(const memblock& blocks, int nid, pfn_t start, pfn_t end) {
    std::uint64_t pages = 0;
    for (const memblock_region& r : blocks.memory().regions()) {
        if (node_of(r) != nid) continue;
        pfn_t lo = std::max(start, pfn_up(r.base)), hi = std::min(end, pfn_down(r.end()));
        if (hi > lo) pages += hi - lo;
    }
    return pages;
}

// mm/page_alloc.c zone_batchsize: about a thousandth of the zone, at most 1 MiB, divided by
// four and rounded to 2^n - 1 to avoid cache aliasing between tasks sharing a zone.
std::uint64_t zone_batchsize(const zone& z) {
    std::uint64_t batch = std::min<std::uint64_t>(z.managed_pages >> 10, (1 << 20) >> page_shift) / 4;
    batch = std::max<std::uint64_t>(batch, 1);
    batch = std::bit_floor(batch + batch / 2) - 1;
    return std::max<std::uint64_t>(batch, 1);
}

// zone_highsize (v6.1, percpu_pagelist_high_fraction 0): the low watermark split across the
// node's CPUs, at least four batches.
std::uint64_t zone_highsize(const zone& z, std::uint64_t batch, unsigned cpus) {
    return std::max(z.wmark.low / std::max(cpus, 1u), batch << 2);
}

}  // namespace

page_allocator::page_allocator(const page_alloc_config& config, const memblock& blocks, machine_ops& machine,
                               printk_buffer& log)
    : m_config(config),
      m_machine(machine),
      m_cpu(machine.context()),
      m_log(log),
      m_map(pfn_down(blocks.end_of_dram())) {
    build_nodes(blocks);
    build_zonelists();
    const std::vector<zone>& zones = m_nodes.front().zones;
    for (gfp_t mask = 0; mask <= GFP_ZONEMASK; ++mask) {
        std::optional<zone_type> top = gfp_zone(mask, configured_zones(m_config.arch));
        auto at =
            std::find_if(zones.begin(), zones.end(), [&](const zone& z) { return top && z.type == *top; });
        m_highest_zone[mask] = at == zones.end() ? -1 : static_cast<int>(at - zones.begin());
    }
}

void page_allocator::build_nodes(const memblock& blocks) {
    std::map<int, std::pair<pfn_t, pfn_t>> extent;  // node -> [lowest, highest) pfn of its memory
    for (const memblock_region& r : blocks.memory().regions()) {
        auto [it, fresh] = extent.try_emplace(node_of(r), pfn_up(r.base), pfn_down(r.end()));
        it->second.first = std::min(it->second.first, pfn_up(r.base));
        it->second.second = std::max(it->second.second, pfn_down(r.end()));
        (void)fresh;
    }
    pfn_t max_low_pfn = pfn_limits_of(m_config.arch, blocks).max_low_pfn;
    for (auto [nid, range] : extent) {
        pglist_data node;
        node.node_id = nid;
        node.node_start_pfn = range.first;
        node.node_spanned_pages = range.second - range.first;
        pfn_limits limits{range.first, std::min(max_low_pfn, range.second), range.second};
        std::vector<zone_span> spans = zone_spans(m_config.arch, limits);
        for (zone_type type : configured_zone_list(m_config.arch)) {
            zone z;
            z.type = type;
            z.node = nid;
            auto span =
                std::find_if(spans.begin(), spans.end(), [&](const zone_span& s) { return s.zone == type; });
            if (span != spans.end() && span->end_pfn > span->start_pfn) {
                z.zone_start_pfn = span->start_pfn;
                z.spanned_pages = span->end_pfn - span->start_pfn;
                z.present_pages = pages_in(blocks, nid, span->start_pfn, span->end_pfn);
            }
            // memmap_init_range marks MIGRATE_MOVABLE each pageblock whose first pfn is memory it
            // initialises; the others keep 0, MIGRATE_UNMOVABLE (DMA's first, as pfn 0 is not RAM).
            unsigned order = m_config.pageblock_order;
            pfn_t first = z.zone_start_pfn >> order;
            std::uint64_t blocks_in_zone =
                z.spanned_pages ? ((z.zone_end_pfn() - 1) >> order) - first + 1 : 0;
            z.pageblock_type.assign(blocks_in_zone, MIGRATE_UNMOVABLE);
            for (std::uint64_t b = 0; b < blocks_in_zone; ++b)
                if (blocks.is_memory((first + b) << order << page_shift))
                    z.pageblock_type[b] = MIGRATE_MOVABLE;
            z.pcp.resize(m_config.cpus);
            node.node_present_pages += z.present_pages;
            node.zones.push_back(std::move(z));
        }
        m_nodes.push_back(std::move(node));
    }
}

// build_zonelists: for each node its zones from the highest down (ZONELIST_NOFALLBACK), and
// for the fallback list the same for every node in find_next_best_node's order.
void page_allocator::build_zonelists() {
    m_zones_by_pfn.clear();
    for (pglist_data& node : m_nodes)
        for (zone& z : node.zones)
            if (z.populated()) m_zones_by_pfn.push_back(&z);
    std::sort(m_zones_by_pfn.begin(), m_zones_by_pfn.end(),
              [](const zone* a, const zone* b) { return a->zone_start_pfn < b->zone_start_pfn; });
    std::vector<unsigned> node_load(m_nodes.size(), 0);  // __build_all_zonelists clears it once
    m_nofragment.assign(m_nodes.size(), {});
    for (std::size_t n = 0; n < m_nodes.size(); ++n) {
        pglist_data& node = m_nodes[n];
        node.zonelist.clear();
        node.zonelist_nofallback.clear();
        for (std::size_t k : node_order(n, node_load)) {
            for (auto z = m_nodes[k].zones.rbegin(); z != m_nodes[k].zones.rend(); ++z) {
                if (!z->populated()) continue;
                node.zonelist.push_back(&*z);
                if (k == n) node.zonelist_nofallback.push_back(&*z);
            }
        }
        for (std::size_t highest = 0; highest < MAX_NR_ZONES; ++highest) {
            m_nofragment[n][0][highest] = alloc_flags_nofragment(node.zonelist, highest);
            m_nofragment[n][1][highest] = alloc_flags_nofragment(node.zonelist_nofallback, highest);
        }
    }
}

unsigned page_allocator::node_distance(std::size_t a, std::size_t b) const {
    const auto& table = m_config.node_distance;
    if (a < table.size() && b < table[a].size()) return table[a][b];
    return a == b ? 10 : 20;
}

// mm/page_alloc.c find_next_best_node, repeated: the local node, then the nearest, preferring a
// node above this one, one without CPUs (the one CPU is node 0's), and the least loaded; the
// first node of each new distance gets load, so that equal nodes take turns across zonelists.
std::vector<std::size_t> page_allocator::node_order(std::size_t local,
                                                    std::vector<unsigned>& node_load) const {
    std::vector<std::size_t> order{local};
    std::vector<bool> used(m_nodes.size(), false);
    used[local] = true;
    std::size_t prev = local;
    while (order.size() < m_nodes.size()) {
        std::size_t best = 0;
        std::uint64_t best_val = ~std::uint64_t{0};
        for (std::size_t n = 0; n < m_nodes.size(); ++n) {
            if (used[n]) continue;
            std::uint64_t val = node_distance(local, n) + (n < local ? 1 : 0) + (n == 0 ? 1 : 0);
            val = val * MAX_NUMNODES + node_load[n];
            if (val < best_val) {
                best_val = val;
                best = n;
            }
        }
        used[best] = true;
        if (node_distance(local, best) != node_distance(local, prev)) ++node_load[best];
        order.push_back(best);
        prev = best;
    }
    return order;
}

// reserve_bootmem_region: frames memblock holds reserved are PageReserved with one reference,
// never handed to the buddy allocator.
void page_allocator::reserve_bootmem_region(pfn_t start, pfn_t end) {
    for (pfn_t pfn = start; pfn < end; ++pfn) {
        page* p = m_map.pfn_to_page(pfn);
        p->set(PG_reserved);
        p->refcount = 1;
    }
}

// __free_pages_memory: naturally aligned blocks of up to MAX_PAGE_ORDER, each counted as
// managed (__free_pages_core) and freed to the tail of its list (FPI_TO_TAIL).
void page_allocator::free_range(pfn_t start, pfn_t end) {
    while (start < end) {
        unsigned order = std::min<unsigned>(MAX_PAGE_ORDER, start ? std::countr_zero(start) : MAX_PAGE_ORDER);
        while (start + (pfn_t{1} << order) > end) --order;
        zone& z = *zone_of(start);
        z.managed_pages += pfn_t{1} << order;
        m_events.pgfree += pfn_t{1} << order;  // __free_pages_ok counts boot's frees too
        free_one_page(z, start, order, pageblock_migratetype(z, start), true);
        start += pfn_t{1} << order;
    }
}

void page_allocator::memblock_free_all(const memblock& blocks) {
    for (const memblock_region& r : blocks.reserved().regions()) {
        pfn_t start = pfn_down(r.base), end = std::min(pfn_up(r.end()), m_map.end_pfn());
        for (const memblock_region& m : blocks.memory().regions()) {
            pfn_t lo = std::max(start, pfn_down(m.base)), hi = std::min(end, pfn_up(m.end()));
            if (hi > lo) reserve_bootmem_region(lo, hi);
        }
    }
    // A block never straddles a zone: split the free ranges at every zone boundary (i386 frees
    // low memory here and high memory page by page in set_highmem_pages_init; the result is
    // the same set of blocks).
    for (const memblock_region& r : blocks.free_ranges()) {
        pfn_t start = pfn_up(r.base), end = pfn_down(r.end());
        while (start < end) {
            const zone* z = zone_of(start);
            pfn_t stop = std::min(end, z->zone_end_pfn());
            free_range(start, stop);
            start = stop;
        }
    }
    setup_watermarks();
    setup_zone_pagesets();
}

std::uint64_t page_allocator::free_reserved_area(pfn_t start, pfn_t end) {
    std::uint64_t freed = 0;
    for (pfn_t pfn = start; pfn < end; ++pfn) {
        page* p = m_map.pfn_to_page(pfn);
        zone* z = zone_of(pfn);
        if (!z || !p->test(PG_reserved)) continue;
        // free_reserved_page: the page loses PG_reserved, keeps its one reference, and is freed;
        // adjust_managed_page_count counts it in.
        p->clear(PG_reserved);
        p->refcount = 1;
        ++z->managed_pages;
        __free_pages(p, 0);
        ++freed;
    }
    return freed;
}

// init_per_zone_wmark_min, setup_per_zone_wmarks, setup_per_zone_lowmem_reserve over each node.
void page_allocator::setup_watermarks() {
    std::vector<zone_pages> all;
    for (const pglist_data& node : m_nodes)
        for (const zone& z : node.zones) all.push_back({z.type, z.managed_pages});
    m_min_free_kbytes = m_config.min_free_kbytes ? m_config.min_free_kbytes : calculate_min_free_kbytes(all);
    std::vector<watermark> marks =
        setup_per_zone_wmarks(all, m_min_free_kbytes, m_config.watermark_scale_factor);
    std::size_t k = 0;
    for (pglist_data& node : m_nodes) {
        std::vector<zone_pages> mine;
        for (zone& z : node.zones) {
            z.wmark = marks[k++];
            mine.push_back({z.type, z.managed_pages});
        }
        auto reserve = setup_per_zone_lowmem_reserve(mine);
        for (std::size_t i = 0; i < node.zones.size(); ++i)
            std::copy(reserve[i].begin(), reserve[i].end(), node.zones[i].lowmem_reserve.begin());
    }
}

void page_allocator::setup_zone_pagesets() {
    for (pglist_data& node : m_nodes)
        for (zone& z : node.zones)
            for (per_cpu_pages& pcp : z.pcp) {
                pcp.batch = zone_batchsize(z);
                pcp.high = zone_highsize(z, pcp.batch, m_config.cpus);
            }
}

}  // namespace memsim::kernel
