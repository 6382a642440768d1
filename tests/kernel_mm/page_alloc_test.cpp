// The buddy allocator against Linux's rules: zone sizes at boot, the blocks memblock releases,
// split and merge at pfn ^ (1 << order), per-CPU lists, zone fallback and lowmem_reserve,
// watermarks with the reserves __GFP_HIGH and atomic requests may use, and the reports a
// buggy caller gets; then a million random operations under the invariant checker.
#include <doctest/doctest.h>

#include <random>

#include "kernel_mm/page_alloc.h"
#include "tests/kernel_mm/machine_under_test.h"

namespace memsim::kernel {

TEST_CASE("a 4 GiB pc x86_64 machine: zone spans, present and managed pages as Linux reports them") {
    machine_under_test m(pc_memblock(4 * GiB));
    // LINUX-FACTS.md: DMA 4095/3998/3840 (the 158 pages below 640 KiB are reserved with the
    // first 1 MiB), DMA32 1044480/782304 (pfn 0x1000..0xbffdf present), Normal 262144/262144.
    zone& dma = m.zone_named(zone_type::dma);
    CHECK(dma.zone_start_pfn == 1);
    CHECK(dma.spanned_pages == 4095);
    CHECK(dma.present_pages == 3998);
    CHECK(dma.managed_pages == 3840);
    zone& dma32 = m.zone_named(zone_type::dma32);
    CHECK(dma32.zone_start_pfn == 0x1000);
    CHECK(dma32.spanned_pages == 1044480);
    CHECK(dma32.present_pages == 782304);
    CHECK(dma32.managed_pages == 782304);
    zone& normal = m.zone_named(zone_type::normal);
    CHECK(normal.spanned_pages == 262144);
    CHECK(normal.present_pages == 262144);
    CHECK_FALSE(m.zone_named(zone_type::movable).populated());
    CHECK_FALSE(m.zone_named(zone_type::device).populated());
    // memblock's free range 0x100..0x1000 of DMA, released as naturally aligned blocks:
    // 0x100 (order 8), 0x200 (order 9), 0x400, 0x800, 0xc00 (order 10).
    CHECK(m.nr_free(zone_type::dma) == std::vector<std::uint64_t>{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3});
    // pfn 0x1000..0xbffe0 in DMA32: 763 order-10 blocks up to 0xbfc00, then 0xbfc00 order 9,
    // 0xbfe00 order 8, 0xbff00 order 7, 0xbff80 order 6 and 0xbffc0 order 5.
    CHECK(m.nr_free(zone_type::dma32) == std::vector<std::uint64_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 763});
    CHECK(m.alloc.nr_free_pages() == 3840 + 782304 + 262144);
    CHECK(m.alloc.totalram_pages() == 3840 + 782304 + 262144);
    // The reserved first 1 MiB: PageReserved, one reference; page 0 is no memory at all.
    CHECK(m.alloc.pfn_to_page(0x9e)->test(PG_reserved));
    CHECK(m.alloc.pfn_to_page(0x9e)->refcount == 1);
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("watermarks, lowmem_reserve and per-CPU batch/high follow mm/page_alloc.c") {
    machine_under_test m(pc_memblock(4 * GiB));
    // lowmem = 3840 + 782304 + 262144 = 1048288 pages; min_free_kbytes = int_sqrt(1048288 * 4 * 16)
    // = int_sqrt(67090432) = 8190; pages_min = 2047.
    CHECK(m.alloc.min_free_kbytes() == 8190);
    // DMA: share = 2047 * 3840 / 1048288 = 7; gap = max(7 >> 2, 3840 * 10 / 10000) = 3.
    CHECK(m.zone_named(zone_type::dma).wmark == watermark{7, 10, 13});
    // DMA32: share = 2047 * 782304 / 1048288 = 1527; gap = max(381, 782) = 782.
    CHECK(m.zone_named(zone_type::dma32).wmark == watermark{1527, 2309, 3091});
    // Normal: share = 2047 * 262144 / 1048288 = 511; gap = max(127, 262) = 262.
    CHECK(m.zone_named(zone_type::normal).wmark == watermark{511, 773, 1035});
    // DMA against Normal: (782304 + 262144) / 256 = 4079; DMA32 against Normal: 262144 / 256.
    CHECK(m.zone_named(zone_type::dma).lowmem_reserve[2] == 4079);
    CHECK(m.zone_named(zone_type::dma).lowmem_reserve[1] == 782304 / 256);
    CHECK(m.zone_named(zone_type::dma32).lowmem_reserve[2] == 1024);
    // zone_batchsize: DMA32 min(782304 >> 10, 256) / 4 = 64 -> rounddown_pow_of_two(96) - 1 = 63;
    // high = max(low / 1 CPU, 4 * batch).
    CHECK(m.zone_named(zone_type::dma32).pcp[0].batch == 63);
    CHECK(m.zone_named(zone_type::dma32).pcp[0].high == 2309);
    CHECK(m.zone_named(zone_type::dma).pcp[0].batch == 1);
    CHECK(m.zone_named(zone_type::dma).pcp[0].high == 10);
}

TEST_CASE("an order-0 GFP_DMA page comes from DMA's first pageblock, unmovable as pfn 0 is no RAM") {
    machine_under_test m(pc_memblock(4 * GiB));
    zone& dma = m.zone_named(zone_type::dma);
    // memmap_init_range never marked pageblock 0 (it starts at pfn 0, not memory): it is
    // MIGRATE_UNMOVABLE, and the order-8 block at 0x100 that boot freed into it is on that list.
    CHECK(dma.pageblock_type[0] == MIGRATE_UNMOVABLE);
    CHECK(dma.pageblock_type[1] == MIGRATE_MOVABLE);
    page* p = m.alloc.alloc_pages(GFP_DMA, 0);
    REQUIRE(p != nullptr);
    CHECK(m.alloc.page_to_pfn(p) == 0x100);
    CHECK(p->refcount == 1);
    CHECK(p->mapcount() == -1);
    // expand() leaves one block of each order below 8.
    CHECK(m.nr_free(zone_type::dma) == std::vector<std::uint64_t>{1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 3});
    CHECK(dma.area[0].free_list[MIGRATE_UNMOVABLE].count == 1);
    CHECK(m.alloc.events().pgalloc_of(zone_type::dma) == 1);
    // Freed, it waits on the per-CPU list (not in nr_free) until the list passes `high`.
    m.alloc.__free_pages(p, 0);
    CHECK(m.pcp_pages() == 1);
    CHECK(dma.counters.nr_free_pages == 3839);
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("an unmovable request with no unmovable block steals a whole movable one") {
    machine_under_test m(pc_memblock(4 * GiB));
    zone& normal = m.zone_named(zone_type::normal);
    // Normal is all movable: __rmqueue_fallback takes the largest movable block (the first,
    // pfn 0x100000, as memblock freed to the tail), both its pageblocks become unmovable, and
    // the per-CPU list is filled with a batch of 63 from it.
    page* p = m.alloc.alloc_pages(GFP_KERNEL, 0);
    REQUIRE(p != nullptr);
    CHECK(m.alloc.page_to_pfn(p) == 0x100000);
    CHECK(normal.pageblock_type[0] == MIGRATE_UNMOVABLE);
    CHECK(normal.pageblock_type[1] == MIGRATE_UNMOVABLE);
    CHECK(normal.pageblock_type[2] == MIGRATE_MOVABLE);
    CHECK(normal.pcp[0].count == 62);
    CHECK(normal.area[10].nr_free == 255);
    CHECK(normal.counters.nr_free_pages == 262144 - 63);
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("blocks of every order split and merge back exactly") {
    machine_under_test m(pc_memblock(64 * MiB));
    for (unsigned order = 1; order <= MAX_PAGE_ORDER; ++order) {
        CAPTURE(order);
        std::uint64_t before = m.alloc.nr_free_pages();
        page* p = m.alloc.alloc_pages(GFP_KERNEL, order);
        REQUIRE(p != nullptr);
        CHECK(m.alloc.page_to_pfn(p) % (1u << order) == 0);
        CHECK(m.alloc.nr_free_pages() == before - (1u << order));
        m.alloc.__free_pages(p, order);
        CHECK(m.alloc.nr_free_pages() == before);
        CHECK(m.alloc.check_invariants() == "");
    }
    // Every block merged back: the same free_area as after boot.
    machine_under_test fresh(pc_memblock(64 * MiB));
    CHECK(m.nr_free(zone_type::dma32) == fresh.nr_free(zone_type::dma32));
}

TEST_CASE("the buddy of pfn p at order n is p ^ (1 << n), and merging stops at a used buddy") {
    machine_under_test m(pc_memblock(64 * MiB));
    zone& dma = m.zone_named(zone_type::dma);
    page* a = m.alloc.alloc_pages(GFP_DMA, 1);
    page* b = m.alloc.alloc_pages(GFP_DMA, 1);
    REQUIRE(a);
    REQUIRE(b);
    // Split from one order-10 block: a is its first two pages, b the next two (a's buddy at order 1).
    CHECK((m.alloc.page_to_pfn(a) ^ 2) == m.alloc.page_to_pfn(b));
    std::vector<std::uint64_t> held = m.nr_free(zone_type::dma);
    m.alloc.__free_pages(a, 1);
    // b is in use: a stays an order-1 block.
    CHECK(dma.area[1].nr_free == held[1] + 1);
    m.alloc.__free_pages(b, 1);
    // Now a + b merge to order 2 and on up to the whole order-10 block.
    machine_under_test fresh(pc_memblock(64 * MiB));
    std::uint64_t free_after_steal = 0;
    for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) free_after_steal += dma.area[o].nr_free << o;
    CHECK(free_after_steal == fresh.zone_named(zone_type::dma).counters.nr_free_pages);
    CHECK(dma.area[10].nr_free == fresh.zone_named(zone_type::dma).area[10].nr_free);
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("gfp_zone picks the highest zone and the zonelist falls back downwards") {
    machine_under_test m(pc_memblock(4 * GiB));
    auto zone_of = [&](page* p) { return m.alloc.page_zone(p).type; };
    CHECK(zone_of(m.alloc.alloc_pages(GFP_KERNEL, 0)) == zone_type::normal);
    CHECK(zone_of(m.alloc.alloc_pages(GFP_DMA32, 0)) == zone_type::dma32);
    CHECK(zone_of(m.alloc.alloc_pages(GFP_DMA, 3)) == zone_type::dma);
    // x86_64 has no HighMem: __GFP_HIGHMEM means Normal.
    CHECK(zone_of(m.alloc.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)) == zone_type::normal);
    // Normal had 256 order-10 blocks; the two order-0 requests above split one each (unmovable,
    // movable). The other 254 go whole, then order 10 comes from DMA32; order-0 requests take
    // Normal's remains down to its min, and go on in DMA32 too.
    int whole = 0;
    while (zone_of(m.alloc.alloc_pages(GFP_KERNEL, 10)) == zone_type::normal) ++whole;
    CHECK(whole == 254);
    page* p = nullptr;
    for (int i = 0; i < 2000; ++i) p = m.alloc.alloc_pages(GFP_KERNEL, 0);
    CHECK(zone_of(p) == zone_type::dma32);
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("i386: GFP_HIGHUSER gets HighMem, GFP_KERNEL low memory, __get_free_pages no HighMem") {
    page_alloc_config config;
    config.arch = kernel_arch::i386;
    config.pageblock_order = 10;
    config.page_offset = 0xc0000000;
    machine_under_test m(pc_memblock(2 * GiB), config);
    // max_low_pfn 0x36ffe: Normal ends there, HighMem holds the rest up to 2 GiB - 128 KiB.
    CHECK(m.zone_named(zone_type::normal).zone_end_pfn() == 0x36ffe);
    CHECK(m.zone_named(zone_type::highmem).zone_start_pfn == 0x36ffe);
    CHECK(m.zone_named(zone_type::highmem).present_pages == 0x7ffe0 - 0x36ffe);
    CHECK(m.alloc.page_zone(m.alloc.alloc_pages(GFP_HIGHUSER, 0)).type == zone_type::highmem);
    CHECK(m.alloc.page_zone(m.alloc.alloc_pages(GFP_KERNEL, 0)).type == zone_type::normal);
    std::uint64_t addr = m.alloc.__get_free_pages(GFP_HIGHUSER, 0);
    CHECK(addr >= 0xc0000000);
    CHECK(addr < 0xc0000000 + (0x36ffeull << 12));
    // HighMem's watermarks follow the HighMem rule: min = clamp(managed / 1024, 32, 128).
    zone& high = m.zone_named(zone_type::highmem);
    CHECK(high.wmark.min == std::clamp<std::uint64_t>(high.managed_pages / 1024, 32, 128));
    CHECK(m.alloc.check_invariants() == "");
}

// A machine with only the DMA zone: 3808 managed pages (the top 128 KiB of its 16 MiB are the
// firmware's), batch 1, so every order-0 allocation takes exactly one page off the free lists.
TEST_CASE("watermarks: GFP_KERNEL stops at min, __GFP_HIGH at min/2, GFP_ATOMIC a quarter lower") {
    machine_under_test m(pc_memblock(16 * MiB));
    zone& dma = m.zone_named(zone_type::dma);
    // min_free_kbytes = int_sqrt(3808 * 64) = 493; pages_min 123; min 123, gap max(30, 3) = 30.
    REQUIRE(dma.wmark == watermark{123, 153, 183});
    auto allocate_all = [&](gfp_t gfp) {
        unsigned n = 0;
        while (m.alloc.alloc_pages(gfp | __GFP_NOWARN, 0)) ++n;
        return n;
    };
    // The slow path allows free > min: 3808 - 123 pages.
    CHECK(allocate_all(GFP_KERNEL) == 3808 - 123);
    CHECK(dma.counters.nr_free_pages == 123);
    // __GFP_HIGH: min - min / 2 = 62.
    CHECK(allocate_all(GFP_KERNEL | __GFP_HIGH) == 123 - 62);
    // GFP_ATOMIC: 62 - 62 / 4 = 47.
    CHECK(allocate_all(GFP_ATOMIC) == 62 - 47);
    CHECK(dma.counters.nr_free_pages == 47);
    // GFP_NOWAIT has no __GFP_HIGH: nothing below min for it.
    CHECK(allocate_all(GFP_NOWAIT) == 0);
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("lowmem_reserve keeps GFP_KERNEL out of DMA while GFP_DMA may use it") {
    machine_under_test m(pc_memblock(4 * GiB));
    zone& dma = m.zone_named(zone_type::dma);
    // DMA holds 3840 free pages; against a Normal-capable request it must keep min + 4079.
    REQUIRE(dma.lowmem_reserve[2] == 4079);
    // Exhaust Normal and DMA32 to their min with GFP_KERNEL; DMA gives GFP_KERNEL nothing.
    while (m.alloc.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 10)) {
    }
    while (m.alloc.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0)) {
    }
    CHECK(dma.counters.nr_free_pages == 3840);
    CHECK(m.alloc.events().pgalloc_of(zone_type::dma) == 0);
    // GFP_DMA's highest zone is DMA itself: reserve[0] is 0.
    CHECK(m.alloc.alloc_pages(GFP_DMA, 0) != nullptr);
    CHECK(m.alloc.events().pgalloc_of(zone_type::dma) == 1);
}

TEST_CASE("__GFP_THISNODE stays on its node; without it the zonelist reaches the other node") {
    memblock blocks;
    blocks.add_node(0x1000, 0x9fc00 - 0x1000, 0);
    blocks.add_node(0x100000, 256 * MiB - 0x100000, 0);
    blocks.add_node(256 * MiB, 256 * MiB, 1);
    blocks.reserve(0, 0x100000);
    machine_under_test m(std::move(blocks));
    REQUIRE(m.alloc.nodes().size() == 2);
    CHECK(m.alloc.nodes()[1].node_start_pfn == (256 * MiB) >> 12);
    // Drain node 1's DMA32 zone with __GFP_THISNODE.
    unsigned n = 0;
    while (m.alloc.alloc_pages_node(1, GFP_KERNEL | __GFP_THISNODE | __GFP_NOWARN, 0)) ++n;
    zone& z1 = m.zone_named(zone_type::dma32, 1);
    CHECK(z1.counters.nr_free_pages <= z1.wmark.min);
    // Still node 1 asked, without THISNODE: node 0 serves it.
    page* p = m.alloc.alloc_pages_node(1, GFP_KERNEL, 0);
    REQUIRE(p);
    CHECK(m.alloc.page_zone(p).node == 0);
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("zonelists follow find_next_best_node: nearest first, nodes above and without CPUs preferred") {
    memblock blocks;
    blocks.add_node(0x1000, 0x9fc00 - 0x1000, 0);
    blocks.add_node(0x100000, 64 * MiB - 0x100000, 0);
    blocks.add_node(64 * MiB, 64 * MiB, 1);
    blocks.add_node(128 * MiB, 64 * MiB, 2);
    blocks.reserve(0, 0x100000);
    page_alloc_config config;
    config.node_distance = {{10, 30, 20}, {30, 10, 20}, {20, 20, 10}};
    machine_under_test m(std::move(blocks), config);
    auto nodes_of = [](const std::vector<zone*>& list) {
        std::vector<int> out;
        for (const zone* z : list)
            if (out.empty() || out.back() != z->node) out.push_back(z->node);
        return out;
    };
    CHECK(nodes_of(m.alloc.nodes()[0].zonelist) == std::vector<int>{0, 2, 1});
    CHECK(nodes_of(m.alloc.nodes()[1].zonelist) == std::vector<int>{1, 2, 0});
    // From node 2 both others are 20 away: node 0 is below it and has the CPU (+1 each), node 1
    // only below (+1), so node 1 comes first.
    CHECK(nodes_of(m.alloc.nodes()[2].zonelist) == std::vector<int>{2, 1, 0});
}

TEST_CASE("four equidistant nodes take turns, as node_load makes them in Linux") {
    memblock blocks;
    blocks.add_node(0x1000, 0x9fc00 - 0x1000, 0);
    blocks.add_node(0x100000, 64 * MiB - 0x100000, 0);
    for (int n = 1; n < 4; ++n) blocks.add_node(n * 64 * MiB, 64 * MiB, n);
    blocks.reserve(0, 0x100000);
    machine_under_test m(std::move(blocks));
    auto nodes_of = [](const std::vector<zone*>& list) {
        std::vector<int> out;
        for (const zone* z : list)
            if (out.empty() || out.back() != z->node) out.push_back(z->node);
        return out;
    };
    // val = distance + (n below the local node) + (n has the CPU: node 0), then node_load.
    // Node 0: 1, 2, 3 all 20: by id; node 1, first of the 20-group, gets load 1.
    // Node 1: 2 and 3 at 20, 0 at 22: 2 (load 0), which gets load 1; 3; 0.
    // Node 2: 3 at 20, 1 at 21, 0 at 22: 3 (load 0, gets 1), 1, 0.
    // Node 3: 1 and 2 at 21 with load 1 each: 1 by id, 2, then 0 at 22.
    CHECK(nodes_of(m.alloc.nodes()[0].zonelist) == std::vector<int>{0, 1, 2, 3});
    CHECK(nodes_of(m.alloc.nodes()[1].zonelist) == std::vector<int>{1, 2, 3, 0});
    CHECK(nodes_of(m.alloc.nodes()[2].zonelist) == std::vector<int>{2, 3, 1, 0});
    CHECK(nodes_of(m.alloc.nodes()[3].zonelist) == std::vector<int>{3, 1, 2, 0});
}

TEST_CASE("__free_pages of a still-referenced order-2 block frees all but its first page") {
    machine_under_test m(pc_memblock(64 * MiB));
    std::uint64_t before = m.alloc.nr_free_pages() + m.pcp_pages();
    page* p = m.alloc.alloc_pages(GFP_KERNEL, 2);
    m.alloc.get_page(p);
    m.alloc.__free_pages(p, 2);
    // The order-1 tail at p + 2 and the order-0 page at p + 1 are back; p holds one reference.
    CHECK(m.alloc.nr_free_pages() + m.pcp_pages() == before - 1);
    CHECK(p->refcount == 1);
    m.alloc.put_page(p);
    CHECK(m.alloc.nr_free_pages() + m.pcp_pages() == before);
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("__GFP_COMP makes a compound page that put_page frees whole") {
    machine_under_test m(pc_memblock(64 * MiB));
    std::uint64_t before = m.alloc.nr_free_pages() + m.pcp_pages();
    page* p = m.alloc.alloc_pages(GFP_KERNEL | __GFP_COMP, 3);
    CHECK(p->test(PG_head));
    m.alloc.put_page(p);
    CHECK(m.alloc.nr_free_pages() + m.pcp_pages() == before);
    CHECK_FALSE(p->test(PG_head));
}

TEST_CASE("__GFP_ZERO and get_zeroed_page zero the frame in simulated memory") {
    machine_under_test m(pc_memblock(64 * MiB));
    page* p = m.alloc.alloc_pages(GFP_KERNEL, 0);
    phys_addr_t at = m.alloc.page_to_phys(p);
    m.machine.byte(at + 100) = 0x5a;
    m.alloc.__free_pages(p, 0);
    // Per-CPU lists are LIFO: the same frame comes back, now zeroed.
    page* q = m.alloc.alloc_pages(GFP_KERNEL | __GFP_ZERO, 0);
    CHECK(q == p);
    CHECK(m.machine.byte(at + 100) == 0);
    CHECK(m.machine.filled == 4096);
    std::uint64_t addr = m.alloc.get_zeroed_page(GFP_KERNEL);
    CHECK(addr >= 0xffff888000000000);
    CHECK(m.machine.filled == 8192);
    m.alloc.free_pages(addr, 0);
    m.alloc.free_pages(0, 0);  // free_pages(0) does nothing, as in Linux
    CHECK(m.alloc.bugs() == 0);
}

TEST_CASE("allocation failures print Linux's line with the GFP flags, unless __GFP_NOWARN") {
    machine_under_test m(pc_memblock(16 * MiB));
    // __GFP_NORETRY: no OOM killer either.
    while (m.alloc.alloc_pages(GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, 0)) {
    }
    CHECK(m.log.lines("swapper").empty());
    CHECK(m.alloc.alloc_pages(GFP_KERNEL | __GFP_ZERO, 0) == nullptr);
    // An order-0 GFP_KERNEL request would have the OOM killer run first.
    CHECK(
        m.log.lines("swapper/0 invoked oom-killer") ==
        std::vector<std::string>{
            "swapper/0 invoked oom-killer: gfp_mask=0xdc0(GFP_KERNEL|__GFP_ZERO), order=0, oom_score_adj=0"});
    CHECK(m.log.lines("swapper/0: page allocation failure") ==
          std::vector<std::string>{
              "swapper/0: page allocation failure: order:0, mode:0xdc0(GFP_KERNEL|__GFP_ZERO), "
              "nodemask=(null)"});
    // GFP_DMA's highest zone is below Normal: no OOM killer for lowmem requests.
    m.alloc.set_current_comm("insmod");
    CHECK(m.alloc.alloc_pages(GFP_KERNEL | GFP_DMA, 4) == nullptr);
    CHECK(m.log.lines("insmod invoked").empty());
    CHECK(
        m.log.lines("insmod:") ==
        std::vector<std::string>{"insmod: page allocation failure: order:4, mode:0xcc1(GFP_KERNEL|GFP_DMA), "
                                 "nodemask=(null)"});
    // Above MAX_PAGE_ORDER: a warning and NULL.
    CHECK(m.alloc.alloc_pages(GFP_KERNEL, 11) == nullptr);
    CHECK(m.log.lines("WARNING: at mm/page_alloc.c").size() == 1);
}

TEST_CASE("a sleeping allocation in interrupt context is reported; an atomic one is not") {
    machine_under_test m(pc_memblock(64 * MiB));
    m.machine.cpu.in_interrupt = true;
    CHECK(m.alloc.alloc_pages(GFP_ATOMIC, 0) != nullptr);
    CHECK(m.log.lines("BUG: sleeping").empty());
    CHECK(m.alloc.alloc_pages(GFP_KERNEL, 0) != nullptr);
    CHECK(m.log.lines("BUG: sleeping") ==
          std::vector<std::string>{
              "BUG: sleeping function called from invalid context at include/linux/sched/mm.h"});
    CHECK(m.log.lines("in_atomic()") ==
          std::vector<std::string>{
              "in_atomic(): 1, irqs_disabled(): 1, non_block: 0, pid: 0, name: swapper/0"});
    CHECK(m.log.lines("preempt_count") == std::vector<std::string>{"preempt_count: 10000, expected: 0"});
    // At most once a second.
    CHECK(m.alloc.alloc_pages(GFP_KERNEL, 0) != nullptr);
    CHECK(m.log.lines("BUG: sleeping").size() == 1);
    m.machine.cpu.cycles += 2'000'000'000;  // a second at 2 GHz
    CHECK(m.alloc.alloc_pages(GFP_KERNEL, 0) != nullptr);
    CHECK(m.log.lines("BUG: sleeping").size() == 2);
}

TEST_CASE("bad page states: double free, reserved, mapped, owned; reported, counted, survived") {
    machine_under_test m(pc_memblock(64 * MiB));
    page* p = m.alloc.alloc_pages(GFP_KERNEL, 0);
    pfn_t pfn = m.alloc.page_to_pfn(p);
    m.alloc.__free_pages(p, 0);
    m.alloc.__free_pages(p, 0);
    CHECK(m.alloc.bugs() == 1);
    std::vector<std::string> lines = m.log.lines();
    REQUIRE(lines.size() >= 5);
    CHECK(lines[0] == fmt::format("BUG: Bad page state in process swapper/0  pfn:{:05x}", pfn));
    CHECK(lines[1] ==
          fmt::format("page:{:016x} refcount:0 mapcount:-1 mapping:0000000000000000 index:0x0 pfn:{:#x}",
                      0xffffea0000000000 + pfn * 64, pfn));
    CHECK(lines[2] == "flags: 0x0(node=0|zone=1)");
    CHECK(lines[3] == "page dumped because: VM_BUG_ON_PAGE(page_ref_count(page) == 0)");
    CHECK(lines[4] == "Disabling lock debugging due to kernel taint");

    page* reserved = m.alloc.pfn_to_page(0x50);
    m.alloc.__free_pages(reserved, 0);
    CHECK(m.log.lines("page dumped because").back() ==
          "page dumped because: PAGE_FLAGS_CHECK_AT_FREE flag(s) set");
    CHECK(m.log.lines("flags: 0x2000(reserved|").size() == 1);

    page* mapped = m.alloc.alloc_pages(GFP_KERNEL, 0);
    mapped->set_mapcount(0);
    m.alloc.__free_pages(mapped, 0);
    CHECK(m.log.lines("page dumped because").back() == "page dumped because: nonzero mapcount");

    page* owned = m.alloc.alloc_pages(GFP_KERNEL, 0);
    owned->mapping = 6;  // a file's: an anonymous one (bit 0) is cleared at free, as Linux does
    m.alloc.__free_pages(owned, 0);
    CHECK(m.log.lines("page dumped because").back() == "page dumped because: non-NULL mapping");

    page* block = m.alloc.alloc_pages(GFP_KERNEL, 0);
    m.alloc.__free_pages(block, 11);
    CHECK(m.log.lines("BUG: __free_pages") ==
          std::vector<std::string>{"BUG: __free_pages: order 11 above MAX_PAGE_ORDER"});
    CHECK(m.alloc.bugs() == 5);
    // The leaked pages stay out of the allocator; everything else is consistent.
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("every page of a freed block is checked: a bad tail page is reported and the block kept") {
    machine_under_test m(pc_memblock(64 * MiB));
    page* p = m.alloc.alloc_pages(GFP_KERNEL, 2);
    pfn_t pfn = m.alloc.page_to_pfn(p);
    (p + 1)->set_mapcount(0);
    (p + 2)->set(PG_dirty);
    m.alloc.__free_pages(p, 2);
    CHECK(m.alloc.bugs() == 1);
    CHECK(m.log.lines("BUG: Bad page state") ==
          std::vector<std::string>{
              fmt::format("BUG: Bad page state in process swapper/0  pfn:{:05x}", pfn + 1)});
    CHECK(m.log.lines("page dumped because") ==
          std::vector<std::string>{"page dumped because: nonzero mapcount"});
    // PG_dirty is not among PAGE_FLAGS_CHECK_AT_FREE: the dirty page alone would be fine, but
    // the block goes nowhere while one of its pages is bad.
    for (pfn_t f = pfn; f < pfn + 4; ++f) CHECK_FALSE(m.alloc.is_free_buddy_page(f));
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("the last problem found names a bad page, as page_bad_reason's order has it") {
    machine_under_test m(pc_memblock(64 * MiB));
    page* reserved = m.alloc.pfn_to_page(0x50);
    reserved->set_mapcount(0);
    reserved->refcount = 1;
    m.alloc.__free_pages(reserved, 0);
    CHECK(m.log.lines("page dumped because") ==
          std::vector<std::string>{"page dumped because: PAGE_FLAGS_CHECK_AT_FREE flag(s) set"});
}

TEST_CASE("out of memory: GFP_NOFS and GFP_NOIO fail without the OOM killer; __GFP_NOFAIL") {
    machine_under_test m(pc_memblock(16 * MiB));
    zone& dma = m.zone_named(zone_type::dma);
    while (m.alloc.alloc_pages(GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, 0)) {
    }
    REQUIRE(dma.counters.nr_free_pages == 123);
    // out_of_memory does nothing for a request that may not enter the filesystem.
    CHECK(m.alloc.alloc_pages(GFP_NOFS | __GFP_NOWARN, 0) == nullptr);
    CHECK(m.alloc.alloc_pages(GFP_NOIO | __GFP_NOWARN, 0) == nullptr);
    CHECK(m.log.lines("swapper/0 invoked oom-killer").empty());
    // A non-blocking __GFP_NOFAIL is a caller bug: warned, and it fails at GFP_ATOMIC's floor.
    while (m.alloc.alloc_pages(GFP_ATOMIC | __GFP_NOFAIL | __GFP_NOWARN, 0)) {
    }
    CHECK(dma.counters.nr_free_pages == 47);
    CHECK(m.log.lines("WARNING: at mm/page_alloc.c __alloc_pages_slowpath").size() >= 1);
    // A blocking one goes through the OOM killer, which would free memory; with nothing to kill
    // it takes the reserves (ALLOC_NO_WATERMARKS), down to the last page.
    unsigned taken = 0;
    while (m.alloc.alloc_pages(GFP_KERNEL | __GFP_NOFAIL | __GFP_NOWARN, 0)) ++taken;
    CHECK(taken == 47);
    CHECK(dma.counters.nr_free_pages == 0);
    CHECK(m.log.lines("swapper/0 invoked oom-killer").size() == 48);
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("per-CPU lists: frees at high give back batch << free_factor, the factor doubling") {
    machine_under_test m(pc_memblock(4 * GiB));
    per_cpu_pages& pcp = m.zone_named(zone_type::dma).pcp[0];
    REQUIRE(pcp.batch == 1);
    REQUIRE(pcp.high == 10);
    std::vector<page*> pages;
    for (int i = 0; i < 20; ++i) pages.push_back(m.alloc.alloc_pages(GFP_DMA, 0));
    REQUIRE(pcp.count == 0);
    // nr_pcp_free: at count 10 free 1 << free_factor (clamped to 1..9) and raise the factor
    // while that is below 9: 1, 2, 4, then 8, then 9 pages.
    std::vector<std::uint64_t> counts;
    for (page* p : pages) {
        m.alloc.__free_pages(p, 0);
        counts.push_back(pcp.count);
    }
    CHECK(counts == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 8, 9, 6, 7, 8, 9, 2, 3, 4, 5});
    // An allocation halves the factor.
    unsigned factor = pcp.free_factor;
    m.alloc.alloc_pages(GFP_DMA, 0);
    CHECK(pcp.free_factor == factor / 2);
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("ALLOC_NOFRAGMENT: an unmovable request takes a whole DMA32 block before splitting Normal's") {
    machine_under_test m(pc_memblock(4 * GiB));
    zone& normal = m.zone_named(zone_type::normal);
    // Leave Normal with only small movable blocks: take each pageblock as a non-compound order-9
    // block, keep its first page, and give the rest back (511 pages in blocks of order 8 to 0).
    while (normal.area[9].nr_free + normal.area[10].nr_free > 0) {
        page* p = m.alloc.alloc_pages(GFP_HIGHUSER_MOVABLE, 9);
        REQUIRE(m.alloc.page_zone(p).type == zone_type::normal);
        m.alloc.get_page(p);
        m.alloc.__free_pages(p, 9);
    }
    // (The order-0 tail of each goes to the per-CPU list.)
    REQUIRE(normal.counters.nr_free_pages + normal.pcp[0].count == 512 * 511);
    // Normal is preferred and far above its watermarks, but serving from it would put unmovable
    // pages among movable ones; DMA32 still has whole pageblocks.
    page* p = m.alloc.alloc_pages(GFP_KERNEL, 0);
    CHECK(m.alloc.page_zone(p).type == zone_type::dma32);
    // A movable request is served in Normal from its own lists.
    CHECK(m.alloc.page_zone(m.alloc.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)).type == zone_type::normal);
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("NUMA_NO_NODE means the running CPU's node") {
    machine_under_test m(pc_memblock(64 * MiB));
    CHECK(m.alloc.alloc_pages_node(NUMA_NO_NODE, GFP_KERNEL, 0) != nullptr);
    CHECK(m.alloc.bugs() == 0);
}

TEST_CASE("bad page reports are rate-limited to 60 a minute, as bad_page does") {
    machine_under_test m(pc_memblock(64 * MiB));
    page* p = m.alloc.alloc_pages(GFP_KERNEL, 0);
    m.alloc.__free_pages(p, 0);
    for (int i = 0; i < 100; ++i) m.alloc.__free_pages(p, 0);
    CHECK(m.alloc.bugs() == 100);
    CHECK(m.log.lines("BUG: Bad page state in process").size() == 60);
    m.machine.cpu.cycles += 61ull * 2'000'000'000;  // a minute later
    m.alloc.__free_pages(p, 0);
    CHECK(m.log.lines("BUG: Bad page state: 40 messages suppressed").size() == 1);
}

TEST_CASE("kernel.panic_on_bug turns a bad page into a kernel panic") {
    page_alloc_config config;
    config.panic_on_bug = true;
    machine_under_test m(pc_memblock(64 * MiB), config);
    page* p = m.alloc.alloc_pages(GFP_KERNEL, 0);
    m.alloc.__free_pages(p, 0);
    CHECK_THROWS_AS(m.alloc.__free_pages(p, 0), kernel_panic);
    CHECK(m.log.lines("Kernel panic - not syncing").size() == 1);
}

TEST_CASE("a million random allocations and frees keep every invariant and leak nothing") {
    machine_under_test m(pc_memblock(128 * MiB));
    const std::uint64_t total = m.alloc.nr_free_pages() + m.pcp_pages();
    std::mt19937_64 random(42);
    const gfp_t kinds[] = {GFP_KERNEL,
                           GFP_DMA,
                           GFP_DMA32,
                           GFP_ATOMIC,
                           GFP_HIGHUSER_MOVABLE,
                           GFP_NOWAIT,
                           GFP_KERNEL | __GFP_RECLAIMABLE,
                           GFP_KERNEL | __GFP_COMP};
    std::vector<std::pair<page*, unsigned>> held;
    std::uint64_t held_pages = 0;
    for (int op = 0; op < 1'000'000; ++op) {
        bool allocate = held.empty() || random() % 100 < (held_pages < total / 2 ? 55u : 40u);
        if (allocate) {
            // Mostly small orders, as a kernel asks.
            unsigned order = random() % 4 == 0 ? static_cast<unsigned>(random() % (MAX_PAGE_ORDER + 1)) : 0;
            gfp_t gfp = kinds[random() % std::size(kinds)] | __GFP_NOWARN;
            if (page* p = m.alloc.alloc_pages(gfp, order)) {
                held.emplace_back(p, order);
                held_pages += 1u << order;
            }
        } else {
            std::size_t i = random() % held.size();
            auto [p, order] = held[i];
            held[i] = held.back();
            held.pop_back();
            held_pages -= 1u << order;
            if (p->test(PG_head))
                m.alloc.put_page(p);
            else
                m.alloc.__free_pages(p, order);
        }
        if (op % 100'000 == 0) {
            REQUIRE(m.alloc.check_invariants() == "");
            REQUIRE(m.alloc.nr_free_pages() + m.pcp_pages() + held_pages == total);
            // No frame of a held block is inside a free one.
            for (auto [p, order] : held)
                for (pfn_t f = m.alloc.page_to_pfn(p); f < m.alloc.page_to_pfn(p) + (1u << order); ++f)
                    REQUIRE_FALSE(m.alloc.is_free_buddy_page(f));
        }
    }
    for (auto [p, order] : held) m.alloc.__free_pages(p, order);
    CHECK(m.alloc.check_invariants() == "");
    CHECK(m.alloc.nr_free_pages() + m.pcp_pages() == total);
    CHECK(m.alloc.bugs() == 0);
}

}  // namespace memsim::kernel
