// High memory on booted i386 kernels: kmap through the pkmap window and its flush when the
// window wraps, kmap_local slots as a per-CPU stack, lowmem pages at their direct-map address,
// and the MMU reaching the right page through every mapping.
#include <doctest/doctest.h>

#include <random>

#include "kernel_mm/highmem.h"
#include "kernel_mm/vmalloc.h"
#include "tests/kernel_mm/booted_kernel.h"

namespace memsim::kernel {
namespace {

constexpr std::uint64_t GiB = 1ull << 30;
constexpr std::uint64_t pkmap_base = 0xff000000;
constexpr std::uint64_t fix_kmap_0 = 0xfffba000;  // 0xfffff000 - 69 pages

std::vector<page*> highmem_pages(page_allocator& pages, std::size_t count) {
    std::vector<page*> out;
    for (std::size_t i = 0; i < count; ++i) out.push_back(pages.alloc_pages(GFP_HIGHUSER, 0));
    return out;
}

}  // namespace

TEST_CASE("kmap of a HighMem page maps it in the pkmap window, where the MMU finds it") {
    for (bool pae : {false, true}) {
        CAPTURE(pae);
        testing::booted_kernel b(kernel_arch::i386, 2 * GiB, pae);
        highmem hm(*b.kernel, b.machine);
        page_allocator& pages = b.kernel->pages();
        page_table& pgd = b.kernel->swapper_pg_dir();
        CHECK(hm.pkmap_base() == pkmap_base);
        CHECK(hm.last_pkmap() == (pae ? 512u : 1024u));
        page* p = pages.alloc_pages(GFP_HIGHUSER, 0);
        REQUIRE(hm.is_highmem(p));
        CHECK(hm.page_address(p) == 0);
        // The search starts after entry 0 (map_new_virtual's get_next_pkmap_nr).
        std::uint64_t vaddr = hm.kmap(p);
        CHECK(vaddr == pkmap_base + 0x1000);
        CHECK(hm.page_address(p) == vaddr);
        CHECK(hm.pkmap_count(1) == 2);
        phys_addr_t phys = pages.page_to_phys(p);
        std::optional<phys_addr_t> pa = pgd.translate(vaddr + 9);
        REQUIRE(pa);
        CHECK(*pa == phys + 9);
        const char text[] = "through kmap";
        b.machine.write_phys(*pa, text, sizeof text);
        CHECK(std::string(reinterpret_cast<const char*>(&b.machine.byte(phys + 9))) == text);
        std::optional<page_table::leaf> leaf = pgd.lookup(vaddr);
        REQUIRE(leaf);
        CHECK(((leaf->entry & pte::nx) != 0) == pae);
        // A second user shares the address; kunmap keeps the mapping until the window wraps.
        CHECK(hm.kmap(p) == vaddr);
        CHECK(hm.pkmap_count(1) == 3);
        hm.kunmap(p);
        hm.kunmap(p);
        CHECK(hm.pkmap_count(1) == 1);
        CHECK(pgd.translate(vaddr) == phys);
        CHECK(hm.kmap(p) == vaddr);
        CHECK(hm.bugs() == 0);
    }
}

TEST_CASE("a lowmem page is at its direct-map address: no pkmap entry, no kmap_local slot") {
    testing::booted_kernel b(kernel_arch::i386, 2 * GiB);
    highmem hm(*b.kernel, b.machine);
    page* p = b.kernel->pages().alloc_pages(GFP_KERNEL, 0);
    REQUIRE(!hm.is_highmem(p));
    std::uint64_t direct = 0xc0000000 + b.kernel->pages().page_to_phys(p);
    CHECK(hm.kmap(p) == direct);
    CHECK(hm.kmap_local_page(p) == direct);
    CHECK(hm.kmap_atomic(p) == direct);
    for (unsigned nr = 0; nr < hm.last_pkmap(); ++nr) REQUIRE(hm.pkmap_count(nr) == 0);
    CHECK(hm.kmap_local_depth(0) == 0);
    hm.kunmap_atomic(direct);
    hm.kunmap_local(direct);
    hm.kunmap(p);
    CHECK(hm.bugs() + hm.warnings() == 0);
    CHECK(b.machine.flushed_pages.empty());
}

TEST_CASE("pkmap wrap: unused entries are cleared with one full flush and reused from entry 0") {
    for (bool pae : {false, true}) {
        CAPTURE(pae);
        testing::booted_kernel b(kernel_arch::i386, 2 * GiB, pae);
        highmem hm(*b.kernel, b.machine);
        page_table& pgd = b.kernel->swapper_pg_dir();
        unsigned last = hm.last_pkmap();
        std::vector<page*> first = highmem_pages(b.kernel->pages(), last);
        std::vector<page*> second = highmem_pages(b.kernel->pages(), last);
        unsigned full = b.machine.full_flushes;
        // Entries 1 .. LAST_PKMAP-1, then 0: the wrap finds no unused entry, so no flush.
        for (unsigned i = 0; i < last; ++i) REQUIRE(hm.kmap(first[i]) == hm.pkmap_addr((i + 1) % last));
        CHECK(b.machine.full_flushes == full);
        for (page* p : first) hm.kunmap(p);
        for (unsigned nr = 0; nr < last; ++nr) REQUIRE(hm.pkmap_count(nr) == 1);
        // Every entry holds a page nobody uses: the next kmap wraps, clears them all, flushes once.
        CHECK(hm.kmap(second[0]) == hm.pkmap_addr(0));
        CHECK(b.machine.full_flushes == full + 1);
        CHECK(hm.page_address(first[0]) == 0);
        CHECK(pgd.translate(hm.pkmap_addr(5)) == std::nullopt);
        for (unsigned i = 1; i < last; ++i) REQUIRE(hm.kmap(second[i]) == hm.pkmap_addr(i));
        CHECK(b.machine.full_flushes == full + 1);
        CHECK(b.machine.flushed_pages.empty());
        CHECK(pgd.translate(hm.pkmap_addr(5)) == b.kernel->pages().page_to_phys(second[5]));
        // The window is full: Linux would sleep; here the kmap fails with a report.
        CHECK(hm.kmap(first[0]) == 0);
        CHECK(hm.bugs() == 1);
    }
}

TEST_CASE("kmap_local slots stack per CPU, each unmap flushes its page, misordering is reported") {
    testing::booted_kernel b(kernel_arch::i386, 2 * GiB, true);
    b.machine.cpus = 2;
    highmem hm(*b.kernel, b.machine);
    page_table& pgd = b.kernel->swapper_pg_dir();
    page_allocator& pages = b.kernel->pages();
    std::vector<page*> p = highmem_pages(pages, 3);
    std::uint64_t a = hm.kmap_local_page(p[0]);
    std::uint64_t c = hm.kmap_atomic(p[1]);
    CHECK(a == fix_kmap_0);
    CHECK(c == fix_kmap_0 - 0x1000);
    CHECK(pgd.translate(a + 3) == pages.page_to_phys(p[0]) + 3);
    CHECK(pgd.translate(c) == pages.page_to_phys(p[1]));
    CHECK(hm.kmap_local_depth(0) == 2);
    // CPU 1 has its own KM_MAX_IDX slots.
    b.machine.cpu.cpu = 1;
    std::uint64_t other = hm.kmap_local_page(p[2]);
    CHECK(other == fix_kmap_0 - 16 * 0x1000);
    hm.kunmap_local(other);
    b.machine.cpu.cpu = 0;
    SUBCASE("in order") {
        hm.kunmap_atomic(c);
        hm.kunmap_local(a);
        CHECK(b.machine.flushed_pages == std::vector<std::uint64_t>{other, c, a});
        CHECK(pgd.translate(a) == std::nullopt);
        CHECK(pgd.translate(c) == std::nullopt);
        CHECK(hm.warnings() == 0);
    }
    SUBCASE("out of order: WARN, and Linux's pop of the most recent slot") {
        hm.kunmap_local(a + 0x10);
        CHECK(hm.warnings() == 1);
        CHECK(b.log.lines("WARNING", kern_level::warning) ==
              std::vector<std::string>{"WARNING: at mm/highmem.c kunmap_local_indexed: kunmap_local of "
                                       "0xfffba000 but the most recent kmap_local is 0xfffb9000"});
        CHECK(b.machine.flushed_pages == std::vector<std::uint64_t>{other, a});
        CHECK(pgd.translate(c) == std::nullopt);
        CHECK(pgd.translate(a) == pages.page_to_phys(p[0]));
        CHECK(hm.kmap_local_depth(0) == 1);
        // Popping more than was pushed is a BUG.
        hm.kunmap_local(a);
        hm.kunmap_local(a);
        CHECK(hm.bugs() == 1);
        CHECK(b.log.lines("kernel BUG", kern_level::crit) ==
              std::vector<std::string>{
                  "kernel BUG at mm/highmem.c: kmap_local_idx_pop: no kmap_local mapping to undo"});
    }
}

TEST_CASE("kunmap of a page that was never kmapped is a kernel BUG, and the simulation goes on") {
    testing::booted_kernel b(kernel_arch::i386, 2 * GiB);
    highmem hm(*b.kernel, b.machine);
    page* p = b.kernel->pages().alloc_pages(GFP_HIGHUSER, 0);
    hm.kunmap(p);
    CHECK(hm.bugs() == 1);
    CHECK(hm.kmap(p) == pkmap_base + 0x1000);
}

TEST_CASE("x86_64 has no high memory") {
    testing::booted_kernel b(kernel_arch::x86_64, 2 * GiB);
    CHECK_THROWS_AS(highmem(*b.kernel, b.machine), std::invalid_argument);
}

TEST_CASE("conservation: random kmap, kmap_local and vmalloc traffic returns every page") {
    for (bool pae : {false, true}) {
        CAPTURE(pae);
        testing::booted_kernel b(kernel_arch::i386, 2 * GiB, pae);
        highmem hm(*b.kernel, b.machine);
        vmalloc_space vm(*b.kernel, b.machine);
        page_allocator& pages = b.kernel->pages();
        page_table& pgd = b.kernel->swapper_pg_dir();
        std::uint64_t before_pool = b.free_pages();
        std::vector<page*> pool = highmem_pages(pages, 1500);
        for (int i = 0; i < 100; ++i) pool.push_back(pages.alloc_pages(GFP_KERNEL, 0));
        std::uint64_t free = b.free_pages();
        std::uint64_t tables = pgd.tables();
        std::mt19937_64 random(11);
        std::vector<page*> kmapped;
        std::vector<std::pair<std::uint64_t, page*>> local;
        std::vector<std::uint64_t> areas;
        for (int op = 0; op < 20000; ++op) {
            switch (random() % 6) {
                case 0:
                case 1: {
                    if (kmapped.size() >= 300) break;  // fewer pages in use than pkmap entries
                    page* p = pool[random() % pool.size()];
                    if (std::uint64_t v = hm.kmap(p)) {
                        REQUIRE(pgd.translate(v) == pages.page_to_phys(p));
                        kmapped.push_back(p);
                    }
                    break;
                }
                case 2:
                    if (!kmapped.empty()) {
                        std::size_t i = random() % kmapped.size();
                        hm.kunmap(kmapped[i]);
                        kmapped[i] = kmapped.back();
                        kmapped.pop_back();
                    }
                    break;
                case 3:
                    if (local.size() < KM_MAX_IDX) {
                        page* p = pool[random() % pool.size()];
                        std::uint64_t v = hm.kmap_local_page(p);
                        REQUIRE(pgd.translate(v) == pages.page_to_phys(p));
                        local.emplace_back(v, p);
                    } else {
                        hm.kunmap_local(local.back().first);
                        local.pop_back();
                    }
                    break;
                case 4:
                    if (!local.empty()) {
                        hm.kunmap_local(local.back().first);
                        local.pop_back();
                    }
                    break;
                default:
                    if (areas.size() < 50 && random() % 2) {
                        areas.push_back(vm.vmalloc(1 + random() % (20 * 4096)));
                        REQUIRE(areas.back());
                    } else if (!areas.empty()) {
                        vm.vfree(areas.back());
                        areas.pop_back();
                    }
            }
        }
        for (page* p : kmapped) hm.kunmap(p);
        for (auto it = local.rbegin(); it != local.rend(); ++it) hm.kunmap_local(it->first);
        for (std::uint64_t a : areas) vm.vfree(a);
        CHECK(hm.bugs() + hm.warnings() + vm.warnings() == 0);
        CHECK(hm.kmap_local_depth(0) == 0);
        CHECK(b.free_pages() + (pgd.tables() - tables) == free);
        std::uint64_t vmalloc_tables = pgd.tables() - tables;
        for (page* p : pool) pages.__free_pages(p, 0);
        CHECK(b.free_pages() + vmalloc_tables == before_pool);
        CHECK(pages.check_invariants() == "");
    }
}

}  // namespace memsim::kernel
