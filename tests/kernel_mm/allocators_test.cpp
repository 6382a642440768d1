// The allocators together, as a kernel uses them: a million random operations across kmalloc
// (slab classes and page-allocator sizes), kmem caches and vmalloc on a booted i386 machine
// (so vmalloc takes HighMem pages too), then everything freed: the page allocator's free pages
// return exactly to what they were, and no allocator reported a bug.
#include <doctest/doctest.h>

#include <array>
#include <random>

#include "kernel_mm/slab.h"
#include "kernel_mm/vmalloc.h"
#include "tests/kernel_mm/booted_kernel.h"

namespace memsim::kernel {

TEST_CASE("a million operations across kmalloc, kmem caches and vmalloc conserve every page") {
    testing::booted_kernel b(kernel_arch::i386, 1ull << 30);
    slab_allocator slab(b.kernel->pages(), b.machine, b.log);
    vmalloc_space vm(*b.kernel, b.machine);
    // vmalloc_init's own tables and the kmalloc caches' first slabs stay; count from here.
    std::vector<kmem_cache*> caches{slab.kmem_cache_create("small", 24, 0, 0),
                                    slab.kmem_cache_create("aligned", 100, 0, SLAB_HWCACHE_ALIGN),
                                    slab.kmem_cache_create("debug", 300, 0, SLAB_RED_ZONE | SLAB_POISON)};
    struct held {
        std::uint64_t addr;
        int kind;  // 0 kmalloc, 1..3 a cache, 4 vmalloc
    };
    std::vector<held> live;
    std::array<unsigned, 5> made{};  // successful allocations by kind
    std::mt19937_64 random(7);
    page_table& pgd = b.kernel->swapper_pg_dir();
    const std::uint64_t before = b.free_pages();
    const std::uint64_t tables_before = pgd.tables();
    for (int op = 0; op < 1'000'000; ++op) {
        bool allocate = live.empty() || (live.size() < 20'000 && random() % 2);
        if (allocate) {
            int kind = static_cast<int>(random() % 20);
            std::uint64_t addr = 0;
            if (kind < 14) {
                std::uint64_t size = random() % 16 == 0 ? 8192 + random() % 40'000 : 1 + random() % 2048;
                addr = slab.kmalloc(size, GFP_KERNEL | __GFP_NOWARN);
                kind = 0;
            } else if (kind < 19) {
                kind = 1 + kind % 3;
                addr = slab.kmem_cache_alloc(caches[static_cast<std::size_t>(kind - 1)], GFP_KERNEL);
            } else {
                addr = vm.vmalloc(4096 * (1 + random() % 8));
                kind = 4;
            }
            if (addr) {
                live.push_back({addr, kind});
                ++made[static_cast<std::size_t>(kind)];
            }
        } else {
            std::size_t i = random() % live.size();
            held h = live[i];
            live[i] = live.back();
            live.pop_back();
            if (h.kind == 0) slab.kfree(h.addr);
            if (h.kind >= 1 && h.kind <= 3)
                slab.kmem_cache_free(caches[static_cast<std::size_t>(h.kind - 1)], h.addr);
            if (h.kind == 4) vm.vfree(h.addr);
        }
    }
    // Each kind was exercised (about 350k kmalloc, 125k cache, 25k vmalloc allocations).
    CHECK(made[0] > 300'000);
    CHECK(made[1] + made[2] + made[3] > 100'000);
    CHECK(made[4] > 20'000);
    for (held h : live) {
        if (h.kind == 0) slab.kfree(h.addr);
        if (h.kind >= 1 && h.kind <= 3)
            slab.kmem_cache_free(caches[static_cast<std::size_t>(h.kind - 1)], h.addr);
        if (h.kind == 4) vm.vfree(h.addr);
    }
    for (kmem_cache* c : caches) slab.kmem_cache_destroy(c);
    // Empty slabs the kmalloc caches keep (min_partial) go back when shrunk; page tables vmalloc
    // made stay, as in Linux.
    for (kmem_cache* c : slab.slab_caches()) slab.kmem_cache_shrink(c);
    CHECK(b.free_pages() + (pgd.tables() - tables_before) == before);
    CHECK(b.kernel->pages().check_invariants() == "");
    CHECK(slab.bugs() == 0);
    CHECK(b.kernel->pages().bugs() == 0);
}

}  // namespace memsim::kernel
