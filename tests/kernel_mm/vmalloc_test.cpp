// vmalloc on booted kernels: memory the page tables really map, first-fit placement with guard
// pages, the TLB flushes of vfree, running out of address space or pages, vmap of given pages,
// /proc/vmallocinfo byte for byte, and every page given back.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "kernel_mm/procfs.h"
#include "kernel_mm/vmalloc.h"
#include "tests/kernel_mm/booted_kernel.h"

namespace memsim::kernel {
namespace {

constexpr std::uint64_t KiB = 1024, MiB = 1 << 20, GiB = 1ull << 30;
constexpr std::uint64_t x86_64_start = 0xffffc90000000000;
constexpr std::uint64_t i386_start = 0xf77fe000;  // high_memory 0xf6ffe000 + 8 MiB

}  // namespace

TEST_CASE("the vmalloc range of each profile") {
    SUBCASE("x86_64 4-level: 32 TiB, VMALLOC_END inclusive") {
        testing::booted_kernel b(kernel_arch::x86_64, 4 * GiB);
        vmalloc_space vm(*b.kernel, b.machine);
        CHECK(vm.range().start == x86_64_start);
        CHECK(vm.range().end == 0xffffe8ffffffffff);
        CHECK(vm.vmalloc_total_kb() == x86_64_vmalloc_total_kb);
    }
    SUBCASE("x86_64 5-level: 12800 TiB") {
        testing::booted_kernel b(kernel_arch::x86_64, 2 * GiB, false, true);
        vmalloc_space vm(*b.kernel, b.machine);
        CHECK(vm.range().start == 0xffa0000000000000);
        CHECK(vm.range().end == 0xffd1ffffffffffff);
    }
    SUBCASE("i386: high_memory + 8 MiB to PKMAP_BASE - 2 pages, 120 MiB") {
        testing::booted_kernel b(kernel_arch::i386, 2 * GiB);
        vmalloc_space vm(*b.kernel, b.machine);
        CHECK(vm.range().start == i386_start);
        CHECK(vm.range().end == 0xfeffe000);
        CHECK(i386_pkmap_base() == 0xff000000);
        CHECK(vm.vmalloc_total_kb() == 122880);
    }
}

TEST_CASE("x86_64 vmalloc_init preallocates the PUD pages of the whole range") {
    testing::booted_kernel b(kernel_arch::x86_64, 4 * GiB);
    std::uint64_t tables = b.kernel->swapper_pg_dir().tables();
    std::uint64_t free = b.free_pages();
    vmalloc_space vm(*b.kernel, b.machine);
    // 32 TiB / 512 GiB per PGD entry.
    CHECK(b.kernel->swapper_pg_dir().tables() == tables + 64);
    CHECK(b.free_pages() == free - 64);
}

TEST_CASE("vmalloc'ed memory is reachable through the kernel page tables, page by page") {
    for (kernel_arch arch : {kernel_arch::x86_64, kernel_arch::i386}) {
        CAPTURE(static_cast<int>(arch));
        testing::booted_kernel b(arch, arch == kernel_arch::x86_64 ? 4 * GiB : 2 * GiB);
        vmalloc_space vm(*b.kernel, b.machine);
        page_table& pgd = b.kernel->swapper_pg_dir();
        std::uint64_t addr = vm.vmalloc(3 * 4096 + 100);
        CHECK(addr == (arch == kernel_arch::x86_64 ? x86_64_start : i386_start));
        const vm_struct* area = vm.find_vm_area(addr);
        REQUIRE(area);
        CHECK(area->size == 5 * 4096);  // four pages and the guard
        REQUIRE(area->pages.size() == 4);
        CHECK(vm.nr_vmalloc_pages() == 4);
        for (std::uint64_t i = 0; i < 4; ++i) {
            std::uint64_t va = addr + i * 4096;
            page* p = vm.vmalloc_to_page(va + 17);
            CHECK(p == area->pages[i]);
            std::optional<phys_addr_t> pa = pgd.translate(va + 17);
            REQUIRE(pa);
            CHECK(*pa == b.kernel->pages().page_to_phys(p) + 17);
            auto value = static_cast<std::uint8_t>(0x40 + i);
            b.machine.write_phys(*pa, &value, 1);
            CHECK(b.machine.byte(b.kernel->pages().page_to_phys(p) + 17) == value);
            // PAGE_KERNEL: present, writable, global; NX where the profile has it.
            std::optional<page_table::leaf> leaf = pgd.lookup(va);
            REQUIRE(leaf);
            CHECK((leaf->entry & (pte::present | pte::rw | pte::global | pte::user)) ==
                  (pte::present | pte::rw | pte::global));
            CHECK(((leaf->entry & pte::nx) != 0) == (arch == kernel_arch::x86_64));
            // i386 gives vmalloc HighMem pages (__GFP_HIGHMEM).
            zone_type expected = arch == kernel_arch::x86_64 ? zone_type::normal : zone_type::highmem;
            CHECK(b.kernel->pages().page_zone(p).type == expected);
        }
        // The guard page after the area maps nothing.
        CHECK(pgd.translate(addr + 4 * 4096) == std::nullopt);
        CHECK(vm.vmalloc_to_page(addr + 4 * 4096) == nullptr);
        vm.vfree(addr);
        for (std::uint64_t i = 0; i < 4; ++i) CHECK(pgd.translate(addr + i * 4096) == std::nullopt);
        CHECK(vm.nr_vmalloc_pages() == 0);
        CHECK(b.kernel->pages().check_invariants() == "");
    }
}

TEST_CASE("areas are placed first fit from the bottom, each followed by its guard page") {
    testing::booted_kernel b(kernel_arch::x86_64, 4 * GiB);
    vmalloc_space vm(*b.kernel, b.machine);
    const std::uint64_t s = x86_64_start;
    std::uint64_t a = vm.vmalloc(4096);
    std::uint64_t c = vm.vmalloc(8192);
    std::uint64_t d = vm.vmalloc(1);
    CHECK(a == s);
    CHECK(c == s + 0x2000);
    CHECK(d == s + 0x5000);
    vm.vfree(c);  // a hole of 0x3000 at s + 0x2000 once the lazy purge has run
    CHECK(vm.vmalloc(4096) == s + 0x7000);
    vm.vm_unmap_aliases();
    CHECK(vm.vmalloc(4096) == s + 0x2000);
    // 0x1000 is left of the hole: an area of two pages and a guard goes after the others.
    CHECK(vm.vmalloc(8192) == s + 0x9000);
    // Nor does the smallest area (a page and its guard) fit the page that is left.
    CHECK(vm.vmalloc(100) == s + 0xc000);
}

TEST_CASE("vfree clears the PTEs at once; the TLB flush waits for the lazy purge, as mm/vmalloc.c") {
    testing::booted_kernel b(kernel_arch::x86_64, 4 * GiB);
    vmalloc_space vm(*b.kernel, b.machine);
    auto& flushed = b.machine.flushed_pages;
    unsigned full = b.machine.full_flushes;
    std::uint64_t a = vm.vmalloc(16 * KiB);
    CHECK(flushed.empty());  // a new mapping needs no flush
    vm.vfree(a);
    CHECK(b.kernel->swapper_pg_dir().translate(a) == std::nullopt);
    CHECK(flushed.empty());
    CHECK(vm.purge_list() == std::vector<std::pair<std::uint64_t, std::uint64_t>>{{a, 5 * 4096}});
    // vm_unmap_aliases purges: flush_tlb_kernel_range over the area and its guard page.
    vm.vm_unmap_aliases();
    CHECK(flushed == std::vector<std::uint64_t>{a, a + 0x1000, a + 0x2000, a + 0x3000, a + 0x4000});
    CHECK(b.machine.full_flushes == full);
    CHECK(vm.purge_list().empty());
    SUBCASE("32 pages and the guard: 33 INVLPGs, the ceiling") {
        flushed.clear();
        std::uint64_t x = vm.vmalloc(32 * 4096);
        vm.vfree(x);
        vm.vm_unmap_aliases();
        REQUIRE(flushed.size() == 33);
        CHECK(flushed.front() == x);
        CHECK(flushed.back() == x + 32 * 4096);
        CHECK(b.machine.full_flushes == full);
    }
    SUBCASE("33 pages and the guard: above the ceiling, one full flush") {
        flushed.clear();
        vm.vfree(vm.vmalloc(33 * 4096));
        vm.vm_unmap_aliases();
        CHECK(flushed.empty());
        CHECK(b.machine.full_flushes == full + 1);
    }
    SUBCASE("past lazy_max_pages (8192 pages with one CPU) the purge runs by itself, one flush for all") {
        flushed.clear();
        // Each vfree frees 2049 pages with the guard, then the 16 KiB page array's area (5): the
        // fourth area's pages pass 8192 (4 * 2049 + 3 * 5 = 8211) and purge; its array waits.
        for (int i = 0; i < 4; ++i) vm.vfree(vm.vmalloc(2048 * 4096));
        REQUIRE(vm.purge_list().size() == 1);
        CHECK(vm.purge_list()[0].second == 5 * 4096);
        CHECK(b.machine.full_flushes == full + 1);
        CHECK(flushed.empty());
    }
}

TEST_CASE("/proc/vmallocinfo lists freed areas awaiting the purge after the busy ones") {
    testing::booted_kernel b(kernel_arch::x86_64, 4 * GiB);
    vmalloc_space vm(*b.kernel, b.machine);
    std::uint64_t a = vm.vmalloc(4096);
    std::uint64_t c = vm.vmalloc(8192);
    vm.vfree(a);
    CHECK(proc_vmallocinfo(vm) == fmt::format("0x{:016x}-0x{:016x}   12288 vmalloc pages=2 vmalloc N0=2\n"
                                              "0x{:016x}-0x{:016x}    8192 unpurged vm_area\n",
                                              c, c + 0x3000, a, a + 0x2000));
}

TEST_CASE("vfree of NULL does nothing; of an unknown address it warns") {
    testing::booted_kernel b(kernel_arch::x86_64, 4 * GiB);
    vmalloc_space vm(*b.kernel, b.machine);
    vm.vfree(0);
    CHECK(vm.warnings() == 0);
    vm.vfree(x86_64_start + 0x5000);
    vm.vfree(x86_64_start + 8);
    CHECK(b.log.lines("Trying to vfree()", kern_level::warning) ==
          std::vector<std::string>{"Trying to vfree() nonexistent vm area (ffffc90000005000)",
                                   "Trying to vfree() bad address (ffffc90000000008)"});
    CHECK(vm.warnings() == 2);
}

TEST_CASE("vzalloc gives zeroed pages, where vmalloc leaves what was there") {
    testing::booted_kernel b(kernel_arch::x86_64, 4 * GiB);
    vmalloc_space vm(*b.kernel, b.machine);
    page_table& pgd = b.kernel->swapper_pg_dir();
    auto dirty = [&](std::uint64_t addr) {
        for (std::uint64_t i = 0; i < 2; ++i)
            b.machine.fill_phys(*pgd.translate(addr + i * 4096), 0xaa, 4096);
    };
    auto all = [&](std::uint64_t addr, std::uint8_t value) {
        for (std::uint64_t off = 0; off < 8192; off += 97)
            if (b.machine.byte(*pgd.translate(addr + off)) != value) return false;
        return true;
    };
    std::uint64_t a = vm.vmalloc(8192);
    dirty(a);
    vm.vfree(a);
    std::uint64_t again = vm.vmalloc(8192);  // the same pages, back from the per-CPU list
    CHECK(all(again, 0xaa));
    vm.vfree(again);
    std::uint64_t z = vm.vzalloc(8192);
    CHECK(all(z, 0));
}

TEST_CASE("vmap maps the caller's pages and vunmap leaves them to the caller") {
    testing::booted_kernel b(kernel_arch::x86_64, 4 * GiB);
    vmalloc_space vm(*b.kernel, b.machine);
    page_allocator& pages = b.kernel->pages();
    std::vector<page*> given;
    for (int i = 0; i < 3; ++i) given.push_back(pages.alloc_pages(GFP_KERNEL, 0));
    std::uint64_t addr = vm.vmap(given);
    CHECK(addr == x86_64_start);
    for (std::uint64_t i = 0; i < 3; ++i) {
        CHECK(vm.vmalloc_to_page(addr + i * 4096) == given[i]);
        CHECK(b.kernel->swapper_pg_dir().translate(addr + i * 4096 + 1) == pages.page_to_phys(given[i]) + 1);
    }
    CHECK(vm.nr_vmalloc_pages() == 0);  // vmap'ed pages are not vmalloc's
    CHECK(proc_vmallocinfo(vm) == "0xffffc90000000000-0xffffc90000004000   16384 vmap vmap\n");
    b.machine.flushed_pages.clear();
    vm.vunmap(addr);
    CHECK(b.machine.flushed_pages.empty());
    vm.vm_unmap_aliases();
    CHECK(b.machine.flushed_pages.size() == 4);
    CHECK(b.kernel->swapper_pg_dir().translate(addr) == std::nullopt);
    for (page* p : given) {
        CHECK(p->refcount == 1);
        pages.__free_pages(p, 0);
    }
    CHECK(pages.check_invariants() == "");
}

TEST_CASE("running out of vmalloc space fails with Linux's two warnings") {
    testing::booted_kernel b(kernel_arch::i386, 2 * GiB);
    vmalloc_space vm(*b.kernel, b.machine);
    std::uint64_t free = b.free_pages();
    CHECK(vm.vmalloc(121 * MiB) == 0);
    CHECK(
        b.log.lines("", kern_level::warning) ==
        std::vector<std::string>{
            "vmap allocation for size 126881792 failed: use vmalloc=<size> to increase size",
            "swapper/0: vmalloc error: size 126877696, vm_struct allocation failed, mode:0xcc0(GFP_KERNEL), "
            "nodemask=(null)"});
    CHECK(b.free_pages() == free);
    CHECK(vm.areas().empty());
    // __GFP_NOWARN silences both.
    CHECK(vm.__vmalloc_node(121 * MiB, GFP_KERNEL | __GFP_NOWARN, NUMA_NO_NODE, "vmalloc") == 0);
    CHECK(b.log.lines("", kern_level::warning).size() == 2);
    // Space enough for a smaller one is still there, at the bottom.
    CHECK(vm.vmalloc(MiB) == i386_start);
}

TEST_CASE("a request above all of RAM fails before looking for space") {
    testing::booted_kernel b(kernel_arch::x86_64, 4 * GiB);
    vmalloc_space vm(*b.kernel, b.machine);
    CHECK(vm.vmalloc(8 * GiB) == 0);
    CHECK(b.log.lines("swapper/0: vmalloc", kern_level::warning) ==
          std::vector<std::string>{"swapper/0: vmalloc error: size 8589934592, exceeds total pages, "
                                   "mode:0xcc0(GFP_KERNEL), nodemask=(null)"});
}

TEST_CASE("page allocation failing midway unwinds: pages, page array and range all given back") {
    testing::booted_kernel b(kernel_arch::x86_64, 4 * GiB);
    vmalloc_space vm(*b.kernel, b.machine);
    page_allocator& pages = b.kernel->pages();
    // A first vmalloc of the same size leaves the page tables the area needs (Linux keeps them).
    vm.vfree(vm.vmalloc(2048 * 4096));
    // Take every page vmalloc could get, then give 1000 back.
    std::vector<std::pair<page*, unsigned>> held;
    for (unsigned order : {10u, 0u})
        while (page* p = pages.alloc_pages(GFP_KERNEL | __GFP_HIGHMEM | __GFP_NOWARN, order))
            held.emplace_back(p, order);
    for (int i = 0; i < 1000; ++i) {
        pages.__free_pages(held.back().first, 0);
        held.pop_back();
    }
    vm.vm_unmap_aliases();
    std::uint64_t free = b.free_pages();
    std::uint64_t tables = b.kernel->swapper_pg_dir().tables();
    CHECK(vm.vmalloc(2048 * 4096) == 0);
    std::vector<std::string> warned = b.log.lines("swapper/0: vmalloc error", kern_level::warning);
    REQUIRE(warned.size() == 1);
    CHECK(warned[0].ends_with(
        ", failed to allocate pages, mode:0xcc2(GFP_KERNEL|__GFP_HIGHMEM), nodemask=(null)"));
    CHECK(b.free_pages() == free);
    CHECK(b.kernel->swapper_pg_dir().tables() == tables);
    CHECK(vm.areas().empty());
    CHECK(vm.nr_vmalloc_pages() == 0);
    for (auto [p, order] : held) pages.__free_pages(p, order);
    vm.vm_unmap_aliases();  // the failed areas were freed lazily
    CHECK(vm.vmalloc(4096) == x86_64_start);
    CHECK(pages.check_invariants() == "");
}

TEST_CASE("/proc/vmallocinfo: caller, pages, kind, vpages and the NUMA counts, as s_show prints") {
    SUBCASE("x86_64") {
        testing::booted_kernel b(kernel_arch::x86_64, 4 * GiB);
        vmalloc_space vm(*b.kernel, b.machine);
        page_allocator& pages = b.kernel->pages();
        vm.vmalloc(3 * 4096, "alloc_large_system_hash");
        std::vector<page*> given{pages.alloc_pages(GFP_KERNEL, 0), pages.alloc_pages(GFP_KERNEL, 0)};
        vm.vmap(given, "n_tty_open");
        // 513 pages: a page array of 4104 bytes, vmalloc'ed after the area itself.
        vm.vmalloc(2 * MiB + 1, "module_alloc");
        CHECK(proc_vmallocinfo(vm) ==
              "0xffffc90000000000-0xffffc90000004000   16384 alloc_large_system_hash pages=3 vmalloc N0=3\n"
              "0xffffc90000004000-0xffffc90000007000   12288 n_tty_open vmap\n"
              "0xffffc90000007000-0xffffc90000209000 2105344 module_alloc pages=513 vmalloc vpages N0=513\n"
              "0xffffc90000209000-0xffffc9000020c000   12288 module_alloc pages=2 vmalloc N0=2\n");
        CHECK(vm.nr_vmalloc_pages() == 518);
        meminfo_extras extras;
        extras.vmalloc_total_kb = vm.vmalloc_total_kb();
        extras.vmalloc_used_pages = vm.nr_vmalloc_pages();
        std::string meminfo = proc_meminfo(pages, extras);
        CHECK(meminfo.find("VmallocTotal:   34359738367 kB\nVmallocUsed:        2072 kB\n") !=
              std::string::npos);
        vm.vfree(x86_64_start + 0x7000);  // the page array goes with it
        CHECK(vm.areas().size() == 2);
        CHECK(vm.nr_vmalloc_pages() == 3);
    }
    SUBCASE("i386: 8 hex digits, no NUMA") {
        testing::booted_kernel b(kernel_arch::i386, 2 * GiB);
        vmalloc_space vm(*b.kernel, b.machine);
        vm.vmalloc(4096);
        vm.vzalloc(10000, "bpf_prog_alloc");
        CHECK(proc_vmallocinfo(vm) ==
              "0xf77fe000-0xf7800000    8192 vmalloc pages=1 vmalloc\n"
              "0xf7800000-0xf7804000   16384 bpf_prog_alloc pages=3 vmalloc\n");
    }
}

TEST_CASE("vmalloc_node takes the pages from the node asked for") {
    testing::fake_machine machine;
    printk_buffer log;
    kernel_config config;
    config.firmware_map = testing::pc_map(8 * GiB);
    config.numa_memblks = {{0, 4 * GiB, 0}, {4 * GiB, 9 * GiB, 1}};
    config.numa_distance = {{10, 21}, {21, 10}};
    auto kernel = start_kernel(machine, config, log);
    vmalloc_space vm(*kernel, machine);
    vm.vmalloc_node(2 * 4096, 1);
    vm.vmalloc_node(4096, 0);
    CHECK(proc_vmallocinfo(vm) ==
          "0xffffc90000000000-0xffffc90000003000   12288 vmalloc pages=2 vmalloc N1=2\n"
          "0xffffc90000003000-0xffffc90000005000    8192 vmalloc pages=1 vmalloc N0=1\n");
}

TEST_CASE("conservation: random vmalloc, vzalloc, vmap and vfree give every page back") {
    for (kernel_arch arch : {kernel_arch::x86_64, kernel_arch::i386}) {
        CAPTURE(static_cast<int>(arch));
        testing::booted_kernel b(arch, arch == kernel_arch::x86_64 ? 4 * GiB : 2 * GiB);
        vmalloc_space vm(*b.kernel, b.machine);
        page_allocator& pages = b.kernel->pages();
        page_table& pgd = b.kernel->swapper_pg_dir();
        std::uint64_t free = b.free_pages();
        std::uint64_t tables = pgd.tables();
        std::mt19937_64 random(5);
        struct held {
            std::uint64_t addr;
            std::vector<page*> given;  // vmap's pages
        };
        std::vector<held> live;
        for (int op = 0; op < 4000; ++op) {
            if (live.size() < 200 && (live.empty() || random() % 2)) {
                std::uint64_t size = 1 + random() % (70 * 4096);
                switch (random() % 4) {
                    case 0:
                        live.push_back({vm.vzalloc(size), {}});
                        break;
                    case 1: {
                        std::vector<page*> given(1 + random() % 8);
                        for (page*& p : given) p = pages.alloc_pages(GFP_KERNEL, 0);
                        live.push_back({vm.vmap(given), given});
                        break;
                    }
                    default:
                        live.push_back({vm.vmalloc(size), {}});
                }
                REQUIRE(live.back().addr);
            } else {
                std::size_t i = random() % live.size();
                if (live[i].given.empty()) {
                    vm.vfree(live[i].addr);
                } else {
                    vm.vunmap(live[i].addr);
                    for (page* p : live[i].given) pages.__free_pages(p, 0);
                }
                live[i] = std::move(live.back());
                live.pop_back();
            }
        }
        for (held& h : live) {
            if (h.given.empty()) {
                vm.vfree(h.addr);
            } else {
                vm.vunmap(h.addr);
                for (page* p : h.given) pages.__free_pages(p, 0);
            }
        }
        CHECK(vm.areas().empty());
        CHECK(vm.nr_vmalloc_pages() == 0);
        CHECK(vm.warnings() == 0);
        // Every page is free again but the page-table pages vmalloc added, which Linux keeps too.
        CHECK(b.free_pages() + (pgd.tables() - tables) == free);
        CHECK(pages.check_invariants() == "");
        // The whole range is one free range again: the next area starts at the bottom.
        CHECK(vm.vmalloc(4096) == vm.range().start);
    }
}

}  // namespace memsim::kernel
