// What the page allocator says when something is wrong (mm/page_alloc.c bad_page, warn_alloc;
// mm/debug.c dump_page; mm/oom_kill.c), and the invariant checker the stress tests run.
#include <fmt/format.h>

#include "kernel_mm/page_alloc.h"

namespace memsim::kernel {
namespace {

// mm/debug.c pageflag_names, for the flags this model uses.
constexpr const char* pageflag_names[] = {
    "locked",  "writeback", "referenced", "uptodate",     "dirty",       "lru",     "head",
    "waiters", "active",    "workingset", "owner_priv_1", "owner_2",     "arch_1",  "reserved",
    "private", "private_2", "reclaim",    "swapbacked",   "unevictable", "mlocked",
};
static_assert(std::size(pageflag_names) == nr_pageflags);

std::string flag_names(std::uint32_t flags) {
    std::string out;
    for (unsigned f = 0; f < nr_pageflags; ++f)
        if (flags & (1u << f)) out += fmt::format("{}|", pageflag_names[f]);
    return out;
}

constexpr picoseconds ratelimit_interval = 60 * 1000 * 1000 * ps_per_us;
constexpr std::uint64_t ratelimit_burst = 60;

}  // namespace

std::string_view migratetype_name(migratetype type) {
    // mm/vmstat.c migratetype_names with CONFIG_CMA and CONFIG_MEMORY_ISOLATION.
    switch (type) {
        case MIGRATE_UNMOVABLE:
            return "Unmovable";
        case MIGRATE_MOVABLE:
            return "Movable";
        case MIGRATE_RECLAIMABLE:
            return "Reclaimable";
        case MIGRATE_HIGHATOMIC:
            return "HighAtomic";
        case MIGRATE_CMA:
            return "CMA";
        case MIGRATE_ISOLATE:
            return "Isolate";
        case MIGRATE_TYPES:
            break;
    }
    return "?";
}

// add_taint(TAINT_BAD_PAGE, LOCKDEP_NOW_UNRELIABLE) says this once.
void page_allocator::taint() {
    if (m_tainted) return;
    m_tainted = true;
    print(kern_level::warning, "Disabling lock debugging due to kernel taint");
}

// The report at most once a second (time_before(jiffies, prev_jiffy + HZ)), as from a hardirq
// handler: in_atomic, interrupts off, preempt_count HARDIRQ_OFFSET. might_alloc's
// might_sleep_if sits in include/linux/sched/mm.h, the file Linux names (memsim gives no line).
void page_allocator::might_sleep_report() {
    picoseconds now = m_machine.now();
    if (m_might_sleep_reported && now < m_might_sleep_next) return;
    m_might_sleep_reported = true;
    m_might_sleep_next = now + 1000 * 1000 * ps_per_us;
    ++m_bugs;
    print(kern_level::err, "BUG: sleeping function called from invalid context at include/linux/sched/mm.h");
    print(kern_level::err,
          fmt::format("in_atomic(): 1, irqs_disabled(): 1, non_block: 0, pid: {}, name: {}", m_pid, m_comm));
    print(kern_level::err, "preempt_count: 10000, expected: 0");
    print(kern_level::err, "RCU nest depth: 0, expected: 0");
}

// bad_page with dump_page's lines; page:%p is printed as %px would, the struct page's address
// in the kernel's virtual memory map.
void page_allocator::bad_page(const page* p, const char* reason) {
    ++m_bugs;
    picoseconds now = m_machine.now();
    bool quiet = false;
    if (m_bad_page_shown == ratelimit_burst) {
        if (now < m_bad_page_resume) {
            ++m_bad_page_unshown;
            quiet = true;
        } else {
            if (m_bad_page_unshown)
                print(kern_level::alert,
                      fmt::format("BUG: Bad page state: {} messages suppressed", m_bad_page_unshown));
            m_bad_page_unshown = 0;
            m_bad_page_shown = 0;
        }
    }
    if (!quiet) {
        if (m_bad_page_shown++ == 0) m_bad_page_resume = now + ratelimit_interval;
        pfn_t pfn = page_to_pfn(p);
        unsigned width = m_config.arch == kernel_arch::x86_64 ? 16 : 8;
        const zone* z = zone_of(pfn);
        auto zone_index = z ? z - m_nodes[static_cast<std::size_t>(z->node)].zones.data() : 0;
        print(kern_level::alert, fmt::format("BUG: Bad page state in process {}  pfn:{:05x}", m_comm, pfn));
        print(kern_level::warning,
              fmt::format("page:{:0{}x} refcount:{} mapcount:{} mapping:{:0{}x} index:{:#x} pfn:{:#x}",
                          m_config.vmemmap_base + pfn * m_config.struct_page_bytes, width, p->refcount,
                          p->mapcount(), p->mapping, width, p->index, pfn));
        print(kern_level::warning,
              fmt::format("flags: {:#x}({}node={}|zone={})", p->flags & ((1u << nr_pageflags) - 1),
                          flag_names(p->flags), z ? z->node : 0, zone_index));
        if (p->test(PG_buddy) || p->test(PG_slab))
            print(kern_level::warning, fmt::format("page_type: {}", p->test(PG_buddy) ? "buddy" : "slab"));
        print(kern_level::warning, fmt::format("page dumped because: {}", reason));
    }
    taint();
    if (m_config.panic_on_bug) {
        print(kern_level::emerg, "Kernel panic - not syncing: bad page state (kernel.panic_on_bug)");
        throw kernel_panic(fmt::format("bad page state: {}", reason));
    }
}

void page_allocator::kernel_bug(const std::string& what) {
    ++m_bugs;
    print(kern_level::err, fmt::format("BUG: {}", what));
    taint();
    if (m_config.panic_on_bug) {
        print(kern_level::emerg, fmt::format("Kernel panic - not syncing: {}", what));
        throw kernel_panic(what);
    }
}

// warn_alloc: "<comm>: page allocation failure: order:N, mode:0x…(…), nodemask=(null)",
// rate-limited as nopage_rs is: ten in five seconds.
void page_allocator::warn_alloc(gfp_t gfp, unsigned order) {
    constexpr picoseconds interval = 5ull * 1000 * 1000 * ps_per_us;
    picoseconds now = m_machine.now();
    if (now >= m_warn_alloc_window + interval) {
        m_warn_alloc_window = now;
        m_warn_alloc_shown = 0;
    }
    if (m_warn_alloc_shown++ >= 10) return;
    print(kern_level::warning, fmt::format("{}: page allocation failure: order:{}, mode:{}, nodemask=(null)",
                                           m_comm, order, gfp_mode(gfp)));
}

// is_free_buddy_page: whether the frame lies inside a free block on the buddy lists.
bool page_allocator::is_free_buddy_page(pfn_t pfn) const {
    for (unsigned order = 0; order < NR_PAGE_ORDERS; ++order) {
        pfn_t head = pfn & ~((pfn_t{1} << order) - 1);
        const page& p = *m_map.pfn_to_page(head);
        if (p.test(PG_buddy) && p.private_ >= order) return true;
    }
    return false;
}

// out_of_memory's first line (dump_header). A process's allocation fails and its fault path
// kills it (the victim is the faulting task); with no process to kill the allocation just
// fails, where Linux would pick a victim or panic.
void page_allocator::out_of_memory(gfp_t gfp, unsigned order) {
    print(kern_level::warning, fmt::format("{} invoked oom-killer: gfp_mask={}, order={}, oom_score_adj=0",
                                           m_comm, gfp_mode(gfp), order));
    if (!m_killable) print(kern_level::err, "Out of memory: no killable process, the allocation fails");
}

std::uint64_t page_allocator::nr_free_pages() const {
    std::uint64_t pages = 0;
    for (const pglist_data& node : m_nodes)
        for (const zone& z : node.zones) pages += z.counters.nr_free_pages;
    return pages;
}

std::uint64_t page_allocator::totalram_pages() const {
    std::uint64_t pages = 0;
    for (const pglist_data& node : m_nodes)
        for (const zone& z : node.zones) pages += z.managed_pages;
    return pages;
}

std::string page_allocator::check_invariants() const {
    for (const pglist_data& node : m_nodes)
        for (const zone& z : node.zones)
            if (std::string problem = invariant_violation(z); !problem.empty())
                return fmt::format("node {} zone {}: {}", node.node_id, zone_name(z.type), problem);
    return {};
}

// Walks every list of the zone, then every frame: each free block head is on one list of its
// order, no frame inside a free block is itself a block head or in use, counts agree.
std::string page_allocator::invariant_violation(const zone& z) const {
    std::vector<std::uint8_t> seen(z.spanned_pages, 0);  // 1: in a free block, 2: on a pcp list
    std::uint64_t free_pages = 0;
    auto mark = [&](pfn_t pfn, std::uint64_t pages, std::uint8_t what) -> std::string {
        if (!z.spans(pfn) || !z.spans(pfn + pages - 1)) return fmt::format("pfn {:#x} outside the zone", pfn);
        for (pfn_t p = pfn; p < pfn + pages; ++p) {
            if (seen[p - z.zone_start_pfn]) return fmt::format("pfn {:#x} is free twice", p);
            seen[p - z.zone_start_pfn] = what;
        }
        return {};
    };
    auto walk = [&](const page_list& list, auto&& visit) -> std::string {
        std::uint64_t n = 0;
        for (page_link at = list.head; at != no_page;) {
            if (std::string problem = visit(static_cast<pfn_t>(at)); !problem.empty()) return problem;
            ++n;
            at = m_map[at].next == list.head ? no_page : m_map[at].next;
            if (n > list.count) break;
        }
        return n == list.count ? std::string{}
                               : fmt::format("a list holds {} pages but counts {}", n, list.count);
    };
    for (unsigned order = 0; order < NR_PAGE_ORDERS; ++order) {
        std::uint64_t blocks = 0;
        for (unsigned type = 0; type < MIGRATE_TYPES; ++type) {
            const page_list& list = z.area[order].free_list[type];
            blocks += list.count;
            std::string problem = walk(list, [&](pfn_t pfn) -> std::string {
                const page& p = m_map[static_cast<page_link>(pfn)];
                if (!p.test(PG_buddy) || p.private_ != order || p.index != type)
                    return fmt::format("pfn {:#x} on the order-{} {} list is not such a free block", pfn,
                                       order, migratetype_name(static_cast<migratetype>(type)));
                if (pfn & ((std::uint64_t{1} << order) - 1))
                    return fmt::format("pfn {:#x} is misaligned", pfn);
                if (p.refcount != 0 || p.mapcount() != -1)
                    return fmt::format("free pfn {:#x} is in use", pfn);
                free_pages += std::uint64_t{1} << order;
                return mark(pfn, std::uint64_t{1} << order, 1);
            });
            if (!problem.empty()) return problem;
        }
        if (blocks != z.area[order].nr_free)
            return fmt::format("order {} has {} blocks but nr_free {}", order, blocks, z.area[order].nr_free);
    }
    if (free_pages != z.counters.nr_free_pages)
        return fmt::format("{} pages on the lists but NR_FREE_PAGES {}", free_pages,
                           z.counters.nr_free_pages);
    for (const per_cpu_pages& pcp : z.pcp) {
        std::uint64_t pages = 0;
        for (const page_list& list : pcp.lists) {
            pages += list.count;
            std::string problem = walk(list, [&](pfn_t pfn) -> std::string {
                const page& p = m_map[static_cast<page_link>(pfn)];
                if (p.test(PG_buddy) || p.refcount != 0)
                    return fmt::format("per-CPU pfn {:#x} is not a free page", pfn);
                return mark(pfn, 1, 2);
            });
            if (!problem.empty()) return problem;
        }
        if (pages != pcp.count)
            return fmt::format("a per-CPU list set holds {} pages but counts {}", pages, pcp.count);
    }
    for (pfn_t pfn = z.zone_start_pfn; pfn < z.zone_end_pfn(); ++pfn) {
        const page& p = *m_map.pfn_to_page(pfn);
        bool in_block = seen[pfn - z.zone_start_pfn] == 1;
        bool block_head = in_block && p.test(PG_buddy);
        if (p.test(PG_buddy) && !block_head)
            return fmt::format("pfn {:#x} says PG_buddy but is on no list", pfn);
        if (in_block && !block_head && (p.refcount != 0 || p.flags != 0))
            return fmt::format("pfn {:#x} inside a free block is in use", pfn);
    }
    return {};
}

}  // namespace memsim::kernel
