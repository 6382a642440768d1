// The buddy allocator (mm/page_alloc.c): nodes and zones built from memblock, memblock's free
// ranges released into per-order free lists, alloc_pages with the zonelist walk, watermark and
// lowmem_reserve checks and migratetype fallback, per-CPU order-0 lists, and the frees that
// merge buddies back. Kernel bugs a caller can cause are reported as Linux reports them.
//
// Invariants (checked by check_invariants): a free block's head has PG_buddy and its order in
// private and sits on exactly one free list of its zone; nr_free of each order is the length of
// its lists; NR_FREE_PAGES is the pages on the free lists; a page on a per-CPU list is neither
// PG_buddy nor counted there; no frame is both free and allocated.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernel_mm/gfp.h"
#include "kernel_mm/machine_ops.h"
#include "kernel_mm/mem_map.h"
#include "kernel_mm/memblock.h"
#include "kernel_mm/mmzone.h"
#include "kernel_mm/printk.h"
#include "kernel_mm/vm_event.h"
#include "kernel_mm/zone_ranges.h"

namespace memsim::kernel {

// What the kernel's page-allocator code costs in cycles beyond its memory accesses.
struct page_alloc_costs {
    std::uint64_t alloc_pcp = 60;     // an order-0 page from a per-CPU list
    std::uint64_t alloc_buddy = 200;  // a block from the free lists, per order split
    std::uint64_t free_pcp = 50;
    std::uint64_t free_buddy = 150;  // per merge step
};

struct page_alloc_config {
    kernel_arch arch = kernel_arch::x86_64;
    // include/linux/pageblock-flags.h: the huge page order, 9 (2 MiB) with PAE or on x86_64,
    // 10 (4 MiB) on 2-level i386.
    unsigned pageblock_order = 9;
    unsigned cpus = 1;
    // 0: calculate_min_free_kbytes from low memory, as Linux does at boot.
    std::uint64_t min_free_kbytes = 0;
    std::uint64_t watermark_scale_factor = 10;
    // Where the direct map starts (PAGE_OFFSET) and where struct pages appear to live, for
    // page_address() and the page:%p of a bad page report.
    std::uint64_t page_offset = 0xffff888000000000;
    std::uint64_t vmemmap_base = 0xffffea0000000000;
    std::uint64_t struct_page_bytes = 64;
    bool panic_on_bug = false;
    page_alloc_costs costs;
    // node_distance[a][b] (the SLIT); empty: 10 to itself, 20 to any other node. Nodes are
    // numbered 0..n-1 in address order.
    std::vector<std::vector<unsigned>> node_distance;
};

// kernel.panic_on_bug: a kernel bug stops the machine ("Kernel panic - not syncing").
struct kernel_panic : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class page_allocator {
public:
    // Builds nodes and zones over memblock's memory (free_area_init) with every frame untouched.
    page_allocator(const page_alloc_config& config, const memblock& blocks, machine_ops& machine,
                   printk_buffer& log);
    page_allocator(const page_allocator&) = delete;
    page_allocator& operator=(const page_allocator&) = delete;

    // memblock_free_all: reserved frames become PageReserved, free ranges go to the buddy lists as
    // naturally aligned blocks; then watermarks, lowmem_reserve and the per-CPU lists are set.
    void memblock_free_all(const memblock& blocks);
    // free_reserved_area: boot-time reserved frames (the kernel's init sections) join the
    // allocator as managed pages; returns how many were freed.
    std::uint64_t free_reserved_area(pfn_t start, pfn_t end);

    page* alloc_pages(gfp_t gfp, unsigned order);
    page* alloc_pages_node(int nid, gfp_t gfp, unsigned order);
    void __free_pages(page* p, unsigned order);
    // Direct-map addresses; HighMem is never returned (__GFP_HIGHMEM is dropped), 0 on failure.
    std::uint64_t __get_free_pages(gfp_t gfp, unsigned order);
    std::uint64_t get_zeroed_page(gfp_t gfp) { return __get_free_pages(gfp | __GFP_ZERO, 0); }
    void free_pages(std::uint64_t addr, unsigned order);
    void get_page(page* p);
    void put_page(page* p);

    pfn_t page_to_pfn(const page* p) const { return m_map.page_to_pfn(p); }
    page* pfn_to_page(pfn_t pfn) const { return m_map.pfn_to_page(pfn); }
    phys_addr_t page_to_phys(const page* p) const { return page_to_pfn(p) << page_shift; }
    std::uint64_t page_address(const page* p) const { return m_config.page_offset + page_to_phys(p); }
    zone& page_zone(const page* p) { return *zone_of(page_to_pfn(p)); }

    const std::vector<pglist_data>& nodes() const { return m_nodes; }
    std::vector<pglist_data>& nodes() { return m_nodes; }
    const vm_events& events() const { return m_events; }
    vm_events& events() { return m_events; }
    const node_page_state& node_state() const { return m_node_state; }
    node_page_state& node_state() { return m_node_state; }
    std::uint64_t min_free_kbytes() const { return m_min_free_kbytes; }
    std::uint64_t nr_free_pages() const;   // the free lists of every zone
    std::uint64_t totalram_pages() const;  // managed pages of every zone
    // Kernel bugs reported so far (bad page states, impossible requests).
    std::uint64_t bugs() const { return m_bugs; }
    const page_alloc_config& config() const { return m_config; }

    // The name and pid printed as the current task in reports ("swapper/0", 0 while booting),
    // and whether it is a process the OOM killer may kill (its fault path then does).
    void set_current_comm(std::string comm, bool killable = false, int pid = 0) {
        m_comm = std::move(comm);
        m_killable = killable;
        m_pid = pid;
    }
    // kernel/panic.c add_taint(TAINT_BAD_PAGE): one taint state for the kernel, shared with the
    // slab allocator's reports (print_tainted); the first taint says so in the log.
    void taint();
    // kernel/sched/core.c __might_resched: a request that may sleep made in interrupt context.
    void might_sleep_report();
    bool tainted() const { return m_tainted; }

    // Whether the frame lies inside a free block of the buddy lists (mm/page_alloc.c).
    bool is_free_buddy_page(pfn_t pfn) const;
    // Every invariant in the header comment; returns the first violation, empty when sound.
    std::string check_invariants() const;

private:
    void build_nodes(const memblock& blocks);
    void build_zonelists();
    unsigned node_distance(std::size_t a, std::size_t b) const;
    std::vector<std::size_t> node_order(std::size_t local, std::vector<unsigned>& node_load) const;
    void setup_zone_pagesets();
    void setup_watermarks();
    void reserve_bootmem_region(pfn_t start, pfn_t end);
    void free_range(pfn_t start, pfn_t end);

    per_cpu_pages& this_cpu_pcp(zone& z) { return z.pcp[m_cpu.cpu < z.pcp.size() ? m_cpu.cpu : 0]; }
    zone* zone_of(pfn_t pfn);
    const zone* zone_of(pfn_t pfn) const;
    migratetype pageblock_migratetype(const zone& z, pfn_t pfn) const;
    void set_pageblock_migratetype(zone& z, pfn_t pfn, migratetype type);

    // Free lists.
    void add_to_free_list(zone& z, pfn_t pfn, unsigned order, migratetype type, bool tail);
    void del_from_free_list(zone& z, pfn_t pfn, unsigned order);
    void list_add(page_list& list, pfn_t pfn, bool tail);
    void list_del(page_list& list, pfn_t pfn);
    bool page_is_buddy(const zone& z, pfn_t buddy, unsigned order) const;
    bool buddy_merge_likely(const zone& z, pfn_t pfn, pfn_t buddy, unsigned order) const;

    // Allocation.
    page* alloc_pages_slowpath(gfp_t gfp, unsigned order, const std::vector<zone*>& zonelist,
                               std::size_t highest);
    page* may_oom(gfp_t gfp, unsigned order, const std::vector<zone*>& zonelist, std::size_t highest);
    page* get_page_from_freelist(gfp_t gfp, unsigned order, unsigned alloc_flags,
                                 const std::vector<zone*>& zonelist, std::size_t highest);
    bool zone_watermark_ok(const zone& z, unsigned order, std::uint64_t mark, std::size_t highest,
                           unsigned alloc_flags) const;
    unsigned alloc_flags_nofragment(const std::vector<zone*>& zonelist, std::size_t highest) const;
    std::size_t zone_index(const zone& z) const;
    page* rmqueue(zone& z, unsigned order, migratetype type, bool no_fragment);
    page* rmqueue_pcplist(zone& z, migratetype type, bool no_fragment);
    pfn_t rmqueue_smallest(zone& z, unsigned order, migratetype type);
    pfn_t rmqueue_buddy(zone& z, unsigned order, migratetype type, bool no_fragment);
    bool rmqueue_fallback(zone& z, unsigned order, migratetype start_type, bool no_fragment);
    void steal_suitable_fallback(zone& z, pfn_t pfn, migratetype start_type, bool whole_block);
    std::uint64_t move_freepages_block(zone& z, pfn_t pfn, migratetype type);
    void expand(zone& z, pfn_t pfn, unsigned low, unsigned high, migratetype type);
    void prep_new_page(page* p, unsigned order, gfp_t gfp);
    void warn_alloc(gfp_t gfp, unsigned order);
    void out_of_memory(gfp_t gfp, unsigned order);

    // Freeing.
    void free_the_page(page* p, unsigned order);
    bool free_pages_prepare(page* p, unsigned order);
    void free_unref_page(page* p);
    std::uint64_t nr_pcp_free(per_cpu_pages& pcp);
    void free_pcppages_bulk(zone& z, per_cpu_pages& pcp, std::uint64_t count, unsigned first);
    void free_one_page(zone& z, pfn_t pfn, unsigned order, migratetype type, bool tail);

    // Reports.
    void bad_page(const page* p, const char* reason);
    void kernel_bug(const std::string& what);
    void print(kern_level level, std::string text) { m_log.print(m_machine.now(), level, std::move(text)); }
    std::string invariant_violation(const zone& z) const;

    page_alloc_config m_config;
    machine_ops& m_machine;
    cpu_context& m_cpu;
    printk_buffer& m_log;
    mem_map m_map;
    std::vector<pglist_data> m_nodes;
    // Populated zones by address, for page_zone(); node ids index m_nodes.
    std::vector<zone*> m_zones_by_pfn;
    // gfp_zone() of every GFP_ZONEMASK combination as an index into a node's zones; -1 for
    // GFP_ZONE_BAD.
    std::array<int, GFP_ZONEMASK + 1> m_highest_zone{};
    // alloc_flags_nofragment of each node's zonelist (fallback, THISNODE) and highest zone.
    std::vector<std::array<std::array<unsigned, MAX_NR_ZONES>, 2>> m_nofragment;
    vm_events m_events;
    node_page_state m_node_state;
    std::uint64_t m_min_free_kbytes = 0;
    std::uint64_t m_bugs = 0;
    // bad_page's ratelimit: a burst of 60 reports, then quiet until a minute has passed.
    std::uint64_t m_bad_page_shown = 0;
    std::uint64_t m_bad_page_unshown = 0;
    picoseconds m_warn_alloc_window = 0;  // warn_alloc's ratelimit: ten in five seconds
    std::uint64_t m_warn_alloc_shown = 0;
    bool m_warned_order = false;
    picoseconds m_bad_page_resume = 0;
    bool m_tainted = false;
    std::string m_comm = "swapper/0";
    int m_pid = 0;
    picoseconds m_might_sleep_next = 0;  // __might_resched's prev_jiffy + HZ
    bool m_might_sleep_reported = false;
    bool m_killable = false;
};

}  // namespace memsim::kernel
