// Memory pools as mm/mempool.c defines them: the reserve filled at creation, used only when the
// allocator fails, refilled first on free, resized both ways, given back on destroy.
#include <doctest/doctest.h>

#include "kernel_mm/mempool.h"
#include "tests/kernel_mm/machine_under_test.h"

namespace memsim::kernel {

TEST_CASE("mempool: the reserve serves when the page allocator is exhausted") {
    machine_under_test m(pc_memblock(16 * MiB));
    const std::uint64_t before = m.alloc.nr_free_pages() + m.pcp_pages();
    auto pool = mempool::create(4, mempool_alloc_pages(m.alloc, 0), mempool_free_pages(m.alloc, 0));
    REQUIRE(pool);
    CHECK(pool->curr_nr() == 4);
    CHECK(m.alloc.nr_free_pages() + m.pcp_pages() == before - 4);
    // Exhaust what GFP_KERNEL may take (down to min).
    std::vector<page*> held;
    while (page* p = m.alloc.alloc_pages(GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, 0)) held.push_back(p);
    // mempool_alloc's first try is GFP_NOWAIT-like and fails at the watermark: the reserve
    // gives its elements, newest first, and nothing is logged (__GFP_NOWARN is added).
    std::vector<mempool_element> got;
    for (int i = 0; i < 4; ++i) got.push_back(pool->alloc(GFP_NOIO));
    CHECK(pool->curr_nr() == 0);
    for (mempool_element e : got) CHECK(e != 0);
    CHECK(pool->alloc(GFP_NOIO) == 0);
    CHECK(m.log.lines("swapper/0: page allocation failure").empty());
    // Frees refill the reserve first, then go back to the allocator.
    for (mempool_element e : got) pool->free(e);
    CHECK(pool->curr_nr() == 4);
    for (page* p : held) m.alloc.__free_pages(p, 0);
    pool.reset();
    CHECK(m.alloc.nr_free_pages() + m.pcp_pages() == before);
    CHECK(m.alloc.check_invariants() == "");
}

TEST_CASE("mempool: an allocation the allocator can serve does not touch the reserve") {
    machine_under_test m(pc_memblock(64 * MiB));
    auto pool = mempool::create(2, mempool_alloc_pages(m.alloc, 1), mempool_free_pages(m.alloc, 1));
    REQUIRE(pool);
    mempool_element e = pool->alloc(GFP_KERNEL);
    CHECK(e != 0);
    CHECK(pool->curr_nr() == 2);
    // The reserve is full: the element goes back to the page allocator.
    std::uint64_t free_before = m.alloc.nr_free_pages();
    pool->free(e);
    CHECK(m.alloc.nr_free_pages() == free_before + 2);
}

TEST_CASE("mempool_resize grows with GFP_KERNEL and shrinks by giving back") {
    machine_under_test m(pc_memblock(64 * MiB));
    const std::uint64_t before = m.alloc.nr_free_pages() + m.pcp_pages();
    auto pool = mempool::create(2, mempool_alloc_pages(m.alloc, 0), mempool_free_pages(m.alloc, 0));
    CHECK(pool->resize(6) == 0);
    CHECK(pool->curr_nr() == 6);
    CHECK(pool->min_nr() == 6);
    CHECK(pool->resize(1) == 0);
    CHECK(pool->curr_nr() == 1);
    CHECK(m.alloc.nr_free_pages() + m.pcp_pages() == before - 1);
    pool.reset();
    CHECK(m.alloc.nr_free_pages() + m.pcp_pages() == before);
}

TEST_CASE("mempool over kmalloc and over a slab cache: reserve objects, given back on destroy") {
    machine_under_test m(pc_memblock(64 * MiB));
    slab_allocator slab(m.alloc, m.machine, m.log);
    kmem_cache* cache = slab.kmem_cache_create("bio", 200, 0, SLAB_POISON);  // its own, never merged
    REQUIRE(cache);
    // The cache's own allocator, made to fail on demand as an exhausted one would.
    bool exhausted = false;
    mempool::alloc_fn cache_alloc = mempool_alloc_slab(slab, cache);
    auto objects = mempool::create(
        3, [&](gfp_t gfp) { return exhausted ? 0 : cache_alloc(gfp); }, mempool_free_slab(slab, cache));
    REQUIRE(objects);
    exhausted = true;
    std::vector<mempool_element> taken;
    for (int i = 0; i < 3; ++i) taken.push_back(objects->alloc(GFP_NOIO));
    CHECK(objects->alloc(GFP_NOIO) == 0);
    for (mempool_element e : taken) CHECK(e >= 0xffff888000000000);
    CHECK(taken[0] != taken[1]);
    for (mempool_element e : taken) objects->free(e);
    CHECK(objects->curr_nr() == 3);
    objects.reset();
    // Every object is back in the cache: destroying it finds none alive.
    slab.kmem_cache_destroy(cache);
    CHECK(m.log.lines("kmem_cache_destroy").empty());
    auto buffers = mempool::create(2, mempool_kmalloc(slab, 512), mempool_kfree(slab));
    mempool_element b = buffers->alloc(GFP_KERNEL);
    CHECK(slab.ksize(b) == 512);
    buffers->free(b);
    CHECK(slab.bugs() == 0);
}

TEST_CASE("mempool_create fails cleanly when the reserve cannot be filled") {
    machine_under_test m(pc_memblock(16 * MiB));
    const std::uint64_t before = m.alloc.nr_free_pages() + m.pcp_pages();
    // 4 MiB blocks: a 16 MiB machine has two; GFP_KERNEL can take neither past the watermarks
    // for all eight.
    auto pool = mempool::create(8, mempool_alloc_pages(m.alloc, 10), mempool_free_pages(m.alloc, 10));
    CHECK(pool == nullptr);
    CHECK(m.alloc.nr_free_pages() + m.pcp_pages() == before);
}

}  // namespace memsim::kernel
