// The buddy allocator's allocation and free paths (mm/page_alloc.c).
#include "kernel_mm/page_alloc.h"

#include <algorithm>

namespace memsim::kernel {
namespace {

// mm/internal.h alloc flags: which watermark, and which reserves below it a request may use.
constexpr unsigned ALLOC_WMARK_MIN = 0x00;
constexpr unsigned ALLOC_WMARK_LOW = 0x01;
constexpr unsigned ALLOC_WMARK_MASK = 0x03;
constexpr unsigned ALLOC_NO_WATERMARKS = 0x04;
constexpr unsigned ALLOC_OOM = 0x08;
constexpr unsigned ALLOC_NON_BLOCK = 0x10;
constexpr unsigned ALLOC_MIN_RESERVE = 0x20;
constexpr unsigned ALLOC_NOFRAGMENT = 0x100;
constexpr unsigned ALLOC_RESERVES = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_OOM;

// include/linux/gfp.h gfp_migratetype: __GFP_MOVABLE and __GFP_RECLAIMABLE pick the list.
migratetype gfp_migratetype(gfp_t gfp) {
    if (gfp & __GFP_MOVABLE) return MIGRATE_MOVABLE;
    if (gfp & __GFP_RECLAIMABLE) return MIGRATE_RECLAIMABLE;
    return MIGRATE_UNMOVABLE;
}

// mm/page_alloc.c fallbacks[]: where each migratetype steals from, in order.
constexpr migratetype fallbacks[MIGRATE_PCPTYPES][2] = {
    {MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE},
    {MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE},
    {MIGRATE_UNMOVABLE, MIGRATE_MOVABLE},
};

std::uint64_t pages_of(unsigned order) { return std::uint64_t{1} << order; }

// can_steal_fallback: big blocks, and any request that is not movable, claim the pageblock.
bool can_steal_fallback(unsigned order, migratetype start_type, unsigned pageblock_order) {
    return order >= pageblock_order / 2 || start_type == MIGRATE_RECLAIMABLE ||
           start_type == MIGRATE_UNMOVABLE;
}

// page_bad_reason: a page given back must be unmapped, unowned, unreferenced and without the
// flags a page in use carries; as in Linux the last problem found names the report.
const char* page_bad_reason(const page& p) {
    const char* reason = nullptr;
    if (p.mapcount() != -1) reason = "nonzero mapcount";
    if (p.mapping != 0) reason = "non-NULL mapping";
    if (p.refcount != 0) reason = "nonzero _refcount";
    if (p.flags & PAGE_FLAGS_CHECK_AT_FREE) reason = "PAGE_FLAGS_CHECK_AT_FREE flag(s) set";
    return reason;
}

}  // namespace

// ---- free lists ------------------------------------------------------------------------------

void page_allocator::list_add(page_list& list, pfn_t pfn, bool tail) {
    page& p = m_map[static_cast<page_link>(pfn)];
    auto link = static_cast<page_link>(pfn);
    if (list.head == no_page) {
        p.next = p.prev = link;
        list.head = link;
    } else {
        page& head = m_map[list.head];
        page_link last = head.prev;
        p.next = list.head;
        p.prev = last;
        m_map[last].next = link;
        head.prev = link;
        if (!tail) list.head = link;
    }
    ++list.count;
}

void page_allocator::list_del(page_list& list, pfn_t pfn) {
    page& p = m_map[static_cast<page_link>(pfn)];
    auto link = static_cast<page_link>(pfn);
    if (p.next == link) {
        list.head = no_page;
    } else {
        m_map[p.prev].next = p.next;
        m_map[p.next].prev = p.prev;
        if (list.head == link) list.head = p.next;
    }
    --list.count;
}

// The list a free block is on is its head's page->index while free (Linux finds it through the
// list_head itself; here the count of each list must be kept too).
void page_allocator::add_to_free_list(zone& z, pfn_t pfn, unsigned order, migratetype type, bool tail) {
    page& p = *m_map.pfn_to_page(pfn);
    p.set(PG_buddy);
    p.private_ = order;
    p.index = type;
    list_add(z.area[order].free_list[type], pfn, tail);
    ++z.area[order].nr_free;
    z.counters.nr_free_pages += pages_of(order);
}

void page_allocator::del_from_free_list(zone& z, pfn_t pfn, unsigned order) {
    page& p = *m_map.pfn_to_page(pfn);
    list_del(z.area[order].free_list[p.index], pfn);
    p.clear(PG_buddy);
    p.private_ = 0;
    p.index = 0;
    --z.area[order].nr_free;
    z.counters.nr_free_pages -= pages_of(order);
}

// page_is_buddy: a free block of exactly this order, in this zone (buddies never merge across
// zones), and a frame that exists.
bool page_allocator::page_is_buddy(const zone& z, pfn_t buddy, unsigned order) const {
    if (!z.spans(buddy)) return false;
    const page& b = *m_map.pfn_to_page(buddy);
    return b.test(PG_buddy) && b.private_ == order;
}

// buddy_merge_likely: when the block this one would form next is half free already, queue it
// at the tail so that it stays free long enough to merge.
bool page_allocator::buddy_merge_likely(const zone& z, pfn_t pfn, pfn_t buddy, unsigned order) const {
    if (order >= MAX_PAGE_ORDER - 1) return false;
    pfn_t higher = buddy & pfn;
    pfn_t higher_buddy = higher ^ pages_of(order + 1);
    return page_is_buddy(z, higher_buddy, order + 1);
}

zone* page_allocator::zone_of(pfn_t pfn) {
    return const_cast<zone*>(static_cast<const page_allocator*>(this)->zone_of(pfn));
}

const zone* page_allocator::zone_of(pfn_t pfn) const {
    for (const zone* z : m_zones_by_pfn)
        if (pfn < z->zone_end_pfn()) return pfn >= z->zone_start_pfn ? z : nullptr;
    return nullptr;
}

migratetype page_allocator::pageblock_migratetype(const zone& z, pfn_t pfn) const {
    unsigned shift = m_config.pageblock_order;
    return z.pageblock_type[(pfn >> shift) - (z.zone_start_pfn >> shift)];
}

void page_allocator::set_pageblock_migratetype(zone& z, pfn_t pfn, migratetype type) {
    unsigned shift = m_config.pageblock_order;
    z.pageblock_type[(pfn >> shift) - (z.zone_start_pfn >> shift)] = type;
}

// ---- freeing ---------------------------------------------------------------------------------

// __free_one_page: merge with the buddy at pfn ^ (1 << order) while it is free at the same order.
void page_allocator::free_one_page(zone& z, pfn_t pfn, unsigned order, migratetype type, bool tail) {
    pfn_t buddy = 0;
    unsigned merges = 0;
    while (order < MAX_PAGE_ORDER) {
        buddy = pfn ^ pages_of(order);
        if (!page_is_buddy(z, buddy, order)) break;
        del_from_free_list(z, buddy, order);
        pfn &= buddy;
        ++order;
        ++merges;
    }
    m_cpu.cycles += m_config.costs.free_buddy * (merges + 1);
    bool to_tail = tail || buddy_merge_likely(z, pfn, pfn ^ pages_of(order), order);
    add_to_free_list(z, pfn, order, type, to_tail);
}

// free_pages_prepare: every page of the block is checked (free_page_is_bad on the head and each
// tail); a bad block is reported page by page and leaked, a good one loses its flags.
bool page_allocator::free_pages_prepare(page* p, unsigned order) {
    bool bad = false;
    if (p->test(PG_head)) {
        // The compound order lives in the first tail page (folio_order).
        page* first_tail = p + 1;
        if (first_tail->private_ != order) {
            bad_page(p, "VM_BUG_ON_PAGE(compound && compound_order(page) != order)");
            return false;
        }
        first_tail->private_ = 0;
        p->clear(PG_head);
    }
    // An anonymous page's mapping is cleared here, not by rmap (free_pages_prepare's
    // PageMappingFlags test).
    if (p->mapping & PAGE_MAPPING_ANON) p->mapping = 0;
    for (std::uint64_t i = 0; i < pages_of(order); ++i) {
        if (const char* reason = page_bad_reason(p[i])) {
            bad_page(p + i, reason);
            bad = true;
        }
    }
    if (bad) return false;
    for (std::uint64_t i = 0; i < pages_of(order); ++i) {
        p[i].flags = 0;
        p[i].private_ = 0;
    }
    m_events.pgfree += pages_of(order);
    return true;
}

void page_allocator::free_the_page(page* p, unsigned order) {
    if (!free_pages_prepare(p, order)) return;
    if (order == 0) {
        free_unref_page(p);
        return;
    }
    pfn_t pfn = page_to_pfn(p);
    zone& z = *zone_of(pfn);
    free_one_page(z, pfn, order, pageblock_migratetype(z, pfn), false);
}

// free_unref_page: order-0 pages go to this CPU's list for their pageblock's migratetype
// (HighAtomic and CMA ones to the movable list), which each remembers; a list set at `high`
// gives nr_pcp_free's count back, starting with the list just freed to.
void page_allocator::free_unref_page(page* p) {
    pfn_t pfn = page_to_pfn(p);
    zone& z = *zone_of(pfn);
    migratetype type = pageblock_migratetype(z, pfn);
    if (type == MIGRATE_ISOLATE) {
        free_one_page(z, pfn, 0, type, false);
        return;
    }
    if (type >= MIGRATE_PCPTYPES) type = MIGRATE_MOVABLE;
    per_cpu_pages& pcp = this_cpu_pcp(z);
    p->index = type;
    list_add(pcp.lists[type], pfn, false);
    ++pcp.count;
    m_cpu.cycles += m_config.costs.free_pcp;
    if (pcp.count >= pcp.high) free_pcppages_bulk(z, pcp, nr_pcp_free(pcp), type);
}

// nr_pcp_free (v6.1): batch << free_factor, at least batch and leaving at least batch.
std::uint64_t page_allocator::nr_pcp_free(per_cpu_pages& pcp) {
    if (pcp.high < pcp.batch) return 1;
    std::uint64_t min_free = pcp.batch, max_free = pcp.high - pcp.batch;
    std::uint64_t count = pcp.batch << pcp.free_factor;
    if (count < max_free) ++pcp.free_factor;
    return std::clamp(count, min_free, max_free);
}

// free_pcppages_bulk: the oldest pages (list tails) with the migratetype each was freed with,
// draining a list before the next, from the list given.
void page_allocator::free_pcppages_bulk(zone& z, per_cpu_pages& pcp, std::uint64_t count, unsigned first) {
    count = std::min(count, pcp.count);
    unsigned list = first;
    while (count > 0) {
        page_list& l = pcp.lists[list];
        list = (list + 1) % MIGRATE_PCPTYPES;
        while (count > 0 && l.head != no_page) {
            pfn_t pfn = m_map[l.head].prev;
            auto type = static_cast<migratetype>(m_map[static_cast<page_link>(pfn)].index);
            list_del(l, pfn);
            --pcp.count;
            --count;
            free_one_page(z, pfn, 0, type, false);
        }
    }
}

// __free_pages: drop the caller's reference; on the last one free the block. A non-compound
// block that is still referenced keeps its first page and frees the rest, as Linux does.
void page_allocator::__free_pages(page* p, unsigned order) {
    if (order > MAX_PAGE_ORDER) {
        kernel_bug(fmt::format("__free_pages: order {} above MAX_PAGE_ORDER", order));
        return;
    }
    if (p->refcount <= 0) {
        bad_page(p, "VM_BUG_ON_PAGE(page_ref_count(page) == 0)");
        return;
    }
    bool head = p->test(PG_head);
    if (--p->refcount == 0) {
        free_the_page(p, order);
        return;
    }
    if (head) return;
    while (order-- > 0) free_the_page(p + pages_of(order), order);
}

void page_allocator::free_pages(std::uint64_t addr, unsigned order) {
    if (addr == 0) return;
    std::uint64_t phys = addr - m_config.page_offset;
    if (addr < m_config.page_offset || !zone_of(phys >> page_shift)) {
        kernel_bug(fmt::format("free_pages: {:#x} is not a direct-map address", addr));
        return;
    }
    __free_pages(pfn_to_page(phys >> page_shift), order);
}

void page_allocator::get_page(page* p) {
    if (p->refcount <= 0) {
        bad_page(p, "VM_BUG_ON_PAGE(page_ref_zero_or_close_to_overflow(page))");
        return;
    }
    ++p->refcount;
}

// put_page: the last reference frees the page, the whole block for a compound page.
void page_allocator::put_page(page* p) {
    if (p->refcount <= 0) {
        bad_page(p, "VM_BUG_ON_PAGE(page_ref_count(page) == 0)");
        return;
    }
    if (--p->refcount != 0) return;
    unsigned order = p->test(PG_head) ? (p + 1)->private_ : 0;
    free_the_page(p, order);
}

// ---- allocation ------------------------------------------------------------------------------

// expand: give back the upper halves of a split block, one per order on the way down.
void page_allocator::expand(zone& z, pfn_t pfn, unsigned low, unsigned high, migratetype type) {
    while (high > low) {
        --high;
        add_to_free_list(z, pfn + pages_of(high), high, type, false);
    }
}

// __rmqueue_smallest: the smallest free block of at least this order on the type's lists.
pfn_t page_allocator::rmqueue_smallest(zone& z, unsigned order, migratetype type) {
    for (unsigned current = order; current < NR_PAGE_ORDERS; ++current) {
        page_list& list = z.area[current].free_list[type];
        if (list.head == no_page) continue;
        pfn_t pfn = list.head;
        del_from_free_list(z, pfn, current);
        expand(z, pfn, order, current, type);
        m_cpu.cycles += m_config.costs.alloc_buddy * (current - order + 1);
        return pfn;
    }
    return no_page;
}

// move_freepages_block: every free block inside the pageblock moves to the type's lists.
std::uint64_t page_allocator::move_freepages_block(zone& z, pfn_t pfn, migratetype type) {
    pfn_t start = pfn & ~(pages_of(m_config.pageblock_order) - 1);
    pfn_t end = start + pages_of(m_config.pageblock_order);
    if (!z.spans(start)) start = pfn;
    if (!z.spans(end - 1)) return 0;
    std::uint64_t moved = 0;
    for (pfn_t p = start; p < end;) {
        page& pg = *m_map.pfn_to_page(p);
        if (!pg.test(PG_buddy)) {
            ++p;
            continue;
        }
        unsigned order = pg.private_;
        del_from_free_list(z, p, order);
        add_to_free_list(z, p, order, type, true);  // move_to_free_list: list_move_tail
        moved += pages_of(order);
        p += pages_of(order);
    }
    return moved;
}

// steal_suitable_fallback: a block of a pageblock or more changes type whole; otherwise the
// pageblock is claimed when at least half of it is free or already alike (no page here is on
// an LRU, so every used page of a movable block counts as alike for an unmovable claim).
void page_allocator::steal_suitable_fallback(zone& z, pfn_t pfn, migratetype start_type, bool whole_block) {
    page& p = *m_map.pfn_to_page(pfn);
    unsigned order = p.private_;
    migratetype old_type = pageblock_migratetype(z, pfn);
    if (order >= m_config.pageblock_order) {
        for (pfn_t b = pfn; b < pfn + pages_of(order); b += pages_of(m_config.pageblock_order))
            set_pageblock_migratetype(z, b, start_type);
    } else if (whole_block) {
        std::uint64_t free_pages = move_freepages_block(z, pfn, start_type);
        std::uint64_t block_pages = pages_of(m_config.pageblock_order);
        std::uint64_t alike =
            start_type != MIGRATE_MOVABLE && old_type == MIGRATE_MOVABLE ? block_pages - free_pages : 0;
        if (free_pages && free_pages + alike >= block_pages / 2)
            set_pageblock_migratetype(z, pfn, start_type);
        if (free_pages) return;
    }
    del_from_free_list(z, pfn, order);
    add_to_free_list(z, pfn, order, start_type, true);
}

// __rmqueue_fallback: steal the largest block another type has (the smallest one when a
// movable request could not claim its pageblock), so that types stay apart.
// With ALLOC_NOFRAGMENT only whole pageblocks are taken (min_order = pageblock_order).
bool page_allocator::rmqueue_fallback(zone& z, unsigned order, migratetype start_type, bool no_fragment) {
    auto find = [&](unsigned current, bool& can_steal) -> int {
        if (z.area[current].nr_free == 0) return -1;
        for (migratetype type : fallbacks[start_type]) {
            if (z.area[current].free_list[type].head == no_page) continue;
            can_steal = can_steal_fallback(current, start_type, m_config.pageblock_order);
            return type;
        }
        return -1;
    };
    bool can_steal = false;
    int type = -1;
    unsigned min_order = no_fragment ? m_config.pageblock_order : order;
    unsigned current = MAX_PAGE_ORDER + 1;
    while (current-- > min_order) {
        type = find(current, can_steal);
        if (type < 0) continue;
        if (!can_steal && start_type == MIGRATE_MOVABLE && current > order) {
            for (current = order; current < NR_PAGE_ORDERS; ++current)
                if ((type = find(current, can_steal)) >= 0) break;
        }
        break;
    }
    if (type < 0) return false;
    pfn_t pfn = z.area[current].free_list[type].head;
    steal_suitable_fallback(z, pfn, start_type, can_steal);
    return true;
}

// __rmqueue: this type's lists first, then a fallback steal and again.
pfn_t page_allocator::rmqueue_buddy(zone& z, unsigned order, migratetype type, bool no_fragment) {
    for (;;) {
        pfn_t pfn = rmqueue_smallest(z, order, type);
        if (pfn != no_page || !rmqueue_fallback(z, order, type, no_fragment)) return pfn;
    }
}

// rmqueue_pcplist: refill an empty list with `batch` pages (rmqueue_bulk), take the first.
page* page_allocator::rmqueue_pcplist(zone& z, migratetype type, bool no_fragment) {
    per_cpu_pages& pcp = this_cpu_pcp(z);
    page_list& list = pcp.lists[type];
    if (list.head == no_page) {
        for (std::uint64_t i = 0; i < pcp.batch; ++i) {
            pfn_t pfn = rmqueue_buddy(z, 0, type, no_fragment);
            if (pfn == no_page) break;
            m_map.pfn_to_page(pfn)->index = type;
            list_add(list, pfn, true);
            ++pcp.count;
        }
        if (list.head == no_page) return nullptr;
    }
    pfn_t pfn = list.head;
    list_del(list, pfn);
    --pcp.count;
    pcp.free_factor >>= 1;
    m_cpu.cycles += m_config.costs.alloc_pcp;
    return m_map.pfn_to_page(pfn);
}

page* page_allocator::rmqueue(zone& z, unsigned order, migratetype type, bool no_fragment) {
    if (order == 0) return rmqueue_pcplist(z, type, no_fragment);
    pfn_t pfn = rmqueue_buddy(z, order, type, no_fragment);
    return pfn == no_page ? nullptr : m_map.pfn_to_page(pfn);
}

// __zone_watermark_ok: enough free pages above the mark plus the lowmem_reserve held against
// this request's highest zone, and for order > 0 a free block big enough. __GFP_HIGH halves
// min, a non-blocking one takes a further quarter off.
bool page_allocator::zone_watermark_ok(const zone& z, unsigned order, std::uint64_t mark, std::size_t highest,
                                       unsigned alloc_flags) const {
    auto free_pages =
        static_cast<std::int64_t>(z.counters.nr_free_pages) - static_cast<std::int64_t>(pages_of(order) - 1);
    auto min = static_cast<std::int64_t>(mark);
    if (alloc_flags & ALLOC_RESERVES) {
        if (alloc_flags & ALLOC_MIN_RESERVE) {
            min -= min / 2;
            if (alloc_flags & ALLOC_NON_BLOCK) min -= min / 4;
        }
        if (alloc_flags & ALLOC_OOM) min -= min / 2;
    }
    if (free_pages <= min + static_cast<std::int64_t>(z.lowmem_reserve[highest])) return false;
    if (order == 0) return true;
    for (unsigned o = order; o < NR_PAGE_ORDERS; ++o)
        for (unsigned type = 0; type < MIGRATE_PCPTYPES; ++type)
            if (z.area[o].free_list[type].head != no_page) return true;
    return false;
}

// get_page_from_freelist: the first zone of the list (up to the highest allowed) above its mark
// that has a block. ALLOC_NOFRAGMENT is dropped, and the walk starts again, before a zone of
// another node is used and when no zone could serve without fragmenting.
page* page_allocator::get_page_from_freelist(gfp_t gfp, unsigned order, unsigned alloc_flags,
                                             const std::vector<zone*>& zonelist, std::size_t highest) {
    bool no_fragment = alloc_flags & ALLOC_NOFRAGMENT;
    const zone* preferred = nullptr;
    for (;;) {
        bool restart = false;
        for (zone* z : zonelist) {
            if (zone_index(*z) > highest) continue;
            if (!preferred) preferred = z;
            if (no_fragment && z->node != preferred->node) {
                restart = true;
                break;
            }
            if (!(alloc_flags & ALLOC_NO_WATERMARKS)) {
                std::uint64_t mark =
                    (alloc_flags & ALLOC_WMARK_MASK) == ALLOC_WMARK_LOW ? z->wmark.low : z->wmark.min;
                if (!zone_watermark_ok(*z, order, mark, highest, alloc_flags)) continue;
            }
            if (page* p = rmqueue(*z, order, gfp_migratetype(gfp), no_fragment)) {
                prep_new_page(p, order, gfp);
                m_events.pgalloc_of(z->type) += pages_of(order);
                return p;
            }
        }
        if (!no_fragment && !restart) return nullptr;
        no_fragment = false;
    }
}

// alloc_flags_nofragment: a request whose preferred zone is Normal, with DMA32 populated below
// it, avoids splitting other migratetypes' pageblocks while DMA32 can serve whole.
unsigned page_allocator::alloc_flags_nofragment(const std::vector<zone*>& zonelist,
                                                std::size_t highest) const {
    for (const zone* z : zonelist) {
        if (zone_index(*z) > highest) continue;
        if (z->type != zone_type::normal) return 0;
        const std::vector<zone>& zones = m_nodes[static_cast<std::size_t>(z->node)].zones;
        auto dma32 = std::find_if(zones.begin(), zones.end(),
                                  [](const zone& c) { return c.type == zone_type::dma32; });
        if (dma32 == zones.end() || (m_nodes.size() > 1 && !dma32->populated())) return 0;
        return ALLOC_NOFRAGMENT;
    }
    return 0;
}

std::size_t page_allocator::zone_index(const zone& z) const {
    return static_cast<std::size_t>(&z - m_nodes[static_cast<std::size_t>(z.node)].zones.data());
}

// prep_new_page: one reference, no flags, zeroed when asked, a compound head when asked.
void page_allocator::prep_new_page(page* p, unsigned order, gfp_t gfp) {
    p->private_ = 0;
    p->refcount = 1;
    if (gfp & __GFP_ZERO) m_machine.fill_phys(page_to_phys(p), 0, pages_of(order) << page_shift);
    if (order > 0 && (gfp & __GFP_COMP)) {
        p->set(PG_head);
        (p + 1)->private_ = order;
    }
}

page* page_allocator::alloc_pages(gfp_t gfp, unsigned order) {
    return alloc_pages_node(NUMA_NO_NODE, gfp, order);
}

page* page_allocator::alloc_pages_node(int nid, gfp_t gfp, unsigned order) {
    // NUMA_NO_NODE: the running CPU's node (numa_mem_id); the one CPU sits on the first node.
    if (nid == NUMA_NO_NODE && !m_nodes.empty()) nid = m_nodes.front().node_id;
    if (order > MAX_PAGE_ORDER) {
        // WARN_ON_ONCE_GFP: once per boot, and not for __GFP_NOWARN.
        if (!(gfp & __GFP_NOWARN) && !m_warned_order) {
            m_warned_order = true;
            print(kern_level::warning,
                  fmt::format("WARNING: at mm/page_alloc.c __alloc_pages: order {} > MAX_PAGE_ORDER", order));
        }
        return nullptr;
    }
    // might_alloc: a request that may sleep is a bug in interrupt context.
    if (gfpflags_allow_blocking(gfp) && m_cpu.in_interrupt) might_sleep_report();
    int top = m_highest_zone[gfp & GFP_ZONEMASK];
    pglist_data* node = nid >= 0 && static_cast<std::size_t>(nid) < m_nodes.size() &&
                                m_nodes[static_cast<std::size_t>(nid)].node_id == nid
                            ? &m_nodes[static_cast<std::size_t>(nid)]
                            : nullptr;
    if (top < 0 || !node) {
        kernel_bug(top < 0 ? fmt::format("alloc_pages: bad zone modifiers in gfp {}", gfp_mode(gfp))
                           : fmt::format("alloc_pages_node: no node {}", nid));
        return nullptr;
    }
    auto highest = static_cast<std::size_t>(top);
    const std::vector<zone*>& zonelist = (gfp & __GFP_THISNODE) ? node->zonelist_nofallback : node->zonelist;
    bool thisnode = gfp & __GFP_THISNODE;
    unsigned fast =
        ALLOC_WMARK_LOW | m_nofragment[static_cast<std::size_t>(node - m_nodes.data())][thisnode][highest];
    if (page* p = get_page_from_freelist(gfp, order, fast, zonelist, highest)) return p;
    return alloc_pages_slowpath(gfp, order, zonelist, highest);
}

// __alloc_pages_slowpath (v6.1) without reclaim or compaction: nothing reclaims yet, so a
// later reclaim issue plugs in where "retry" is: the min watermark with the reserves the flags
// allow; for requests the OOM killer would serve, __alloc_pages_may_oom (whose victim would be
// the only thing able to free memory: __GFP_NOFAIL then gets every reserve); __GFP_NOFAIL's
// last resort; the failure warning. Where Linux would retry for ever, the request fails.
page* page_allocator::alloc_pages_slowpath(gfp_t gfp, unsigned order, const std::vector<zone*>& zonelist,
                                           std::size_t highest) {
    bool blocking = gfpflags_allow_blocking(gfp);
    unsigned alloc_flags = ALLOC_WMARK_MIN;
    if (gfp_high(gfp)) alloc_flags |= ALLOC_MIN_RESERVE;
    if (!blocking && !(gfp & __GFP_NOMEMALLOC)) alloc_flags |= ALLOC_NON_BLOCK;
    // __gfp_pfmemalloc_flags: __GFP_NOMEMALLOC overrides __GFP_MEMALLOC.
    if ((gfp & (__GFP_MEMALLOC | __GFP_NOMEMALLOC)) == __GFP_MEMALLOC) alloc_flags |= ALLOC_NO_WATERMARKS;
    if (page* p = get_page_from_freelist(gfp, order, alloc_flags, zonelist, highest)) return p;
    if (blocking && !(gfp & __GFP_NORETRY)) {
        if (page* p = may_oom(gfp, order, zonelist, highest)) return p;
    }
    if (gfp & __GFP_NOFAIL) {
        // Every user of __GFP_NOFAIL is expected to block: a non-blocking one fails, warned.
        if (!blocking) {
            print(kern_level::warning,
                  "WARNING: at mm/page_alloc.c __alloc_pages_slowpath: __GFP_NOFAIL without "
                  "__GFP_DIRECT_RECLAIM");
        } else if (page* p = get_page_from_freelist(gfp, order, ALLOC_WMARK_MIN | ALLOC_MIN_RESERVE, zonelist,
                                                    highest)) {
            return p;
        }
    }
    if (!(gfp & __GFP_NOWARN)) warn_alloc(gfp, order);
    return nullptr;
}

// __alloc_pages_may_oom: not for costly orders, for requests that may fail on their own, for
// one node or for low memory only; out_of_memory does nothing for a request without __GFP_FS.
page* page_allocator::may_oom(gfp_t gfp, unsigned order, const std::vector<zone*>& zonelist,
                              std::size_t highest) {
    if (order > PAGE_ALLOC_COSTLY_ORDER || (gfp & (__GFP_RETRY_MAYFAIL | __GFP_THISNODE)) ||
        m_nodes.front().zones[highest].type < zone_type::normal)
        return nullptr;
    if (gfp & __GFP_FS) out_of_memory(gfp, order);
    if (!(gfp & __GFP_NOFAIL)) return nullptr;
    return get_page_from_freelist(gfp, order, ALLOC_NO_WATERMARKS, zonelist, highest);
}

std::uint64_t page_allocator::__get_free_pages(gfp_t gfp, unsigned order) {
    page* p = alloc_pages(gfp & ~__GFP_HIGHMEM, order);
    return p ? page_address(p) : 0;
}

}  // namespace memsim::kernel
