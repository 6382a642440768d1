// The kmalloc family against include/linux/slab.h and mm/slab_common.c: every size's class and
// cache name, natural alignment, ZERO_SIZE_PTR, GFP_DMA and the GFP_DMA32 quirk, large kmalloc
// from the page allocator, kcalloc overflow, krealloc and ksize, slub_debug=FZ's kmalloc red
// zone, and /proc/slabinfo byte for byte.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include "kernel_mm/procfs.h"
#include "kernel_mm/slab.h"
#include "tests/kernel_mm/machine_under_test.h"

namespace memsim::kernel {
namespace {

struct kmalloc_machine {
    machine_under_test m{pc_memblock(256 * MiB)};
    slab_allocator slabs;
    explicit kmalloc_machine(slab_flags_t debug = 0) : slabs(m.alloc, m.machine, m.log, debug) {}
    std::uint8_t& byte(std::uint64_t addr) { return m.machine.byte(addr - m.alloc.config().page_offset); }
    std::uint64_t phys(std::uint64_t addr) const { return addr - m.alloc.config().page_offset; }
};

// The class Linux gives a size: 8, 16, 32, 64, 96, 128, 192, then powers of two.
unsigned expected_class(unsigned size) {
    for (unsigned c : {8u, 16u, 32u, 64u, 96u, 128u, 192u})
        if (size <= c) return c;
    return std::bit_ceil(size);
}

}  // namespace

TEST_CASE("every size from 1 to 8192 maps to Linux's class; above goes to the page allocator") {
    kmalloc_machine k;
    for (unsigned size = 1; size <= 8192; ++size) {
        CAPTURE(size);
        unsigned index = kmalloc_index(size);
        REQUIRE(kmalloc_class_size(index) == expected_class(size));
        REQUIRE(k.slabs.kmalloc_slab(size, GFP_KERNEL)->object_size == expected_class(size));
    }
    // size_index[(size - 1) / 8]: 65..96 -> 1 (kmalloc-96), 129..192 -> 2 (kmalloc-192).
    CHECK(kmalloc_index(65) == 1);
    CHECK(kmalloc_index(96) == 1);
    CHECK(kmalloc_index(97) == 7);
    CHECK(kmalloc_index(129) == 2);
    CHECK(kmalloc_index(193) == 8);
    CHECK(kmalloc_index(0) == 0);
    CHECK(kmalloc_index(8193) == 0);
    CHECK(k.slabs.kmalloc_slab(8193, GFP_KERNEL) == nullptr);
    for (unsigned size : {1u, 17u, 100u, 150u, 1000u, 5000u, 8192u}) {
        std::uint64_t p = k.slabs.kmalloc(size, GFP_KERNEL);
        CHECK(k.slabs.ksize(p) == expected_class(size));
        k.slabs.kfree(p);
    }
    // Above 8 KiB: get_order(size) pages, ksize the block.
    std::uint64_t large = k.slabs.kmalloc(8193, GFP_KERNEL);
    CHECK(k.phys(large) % 16384 == 0);
    CHECK(k.slabs.ksize(large) == 16384);
    std::uint64_t max = k.slabs.kmalloc(KMALLOC_MAX_SIZE, GFP_KERNEL);
    CHECK(k.slabs.ksize(max) == 4 * MiB);
    CHECK(k.slabs.kmalloc(KMALLOC_MAX_SIZE + 1, GFP_KERNEL | __GFP_NOWARN) == 0);
    std::uint64_t free_before = k.m.alloc.nr_free_pages();
    k.slabs.kfree(large);
    k.slabs.kfree(max);
    CHECK(k.m.alloc.nr_free_pages() == free_before + 4 + 1024);
}

TEST_CASE("cache names follow kmalloc_info, dma-kmalloc-N for GFP_DMA") {
    kmalloc_machine k;
    CHECK(kmalloc_cache_name(3, false) == "kmalloc-8");
    CHECK(kmalloc_cache_name(1, false) == "kmalloc-96");
    CHECK(kmalloc_cache_name(2, true) == "dma-kmalloc-192");
    CHECK(kmalloc_cache_name(10, false) == "kmalloc-1k");
    CHECK(kmalloc_cache_name(13, false) == "kmalloc-8k");
    CHECK(k.slabs.kmalloc_slab(1000, GFP_KERNEL | GFP_DMA)->name == "dma-kmalloc-1k");
    CHECK(k.slabs.kmalloc_slab(1000, GFP_KERNEL | GFP_DMA32)->name == "kmalloc-1k");
}

TEST_CASE("power-of-two sizes are naturally aligned; kmalloc(0) is ZERO_SIZE_PTR") {
    kmalloc_machine k;
    for (unsigned size : {8u, 16u, 32u, 64u, 128u, 256u, 512u, 1024u, 2048u, 4096u, 8192u})
        for (int i = 0; i < 3; ++i) CHECK(k.slabs.kmalloc(size, GFP_KERNEL) % size == 0);
    CHECK(k.slabs.kmalloc(96, GFP_KERNEL) % 32 == 0);
    CHECK(k.slabs.kmalloc(0, GFP_KERNEL) == ZERO_SIZE_PTR);
    k.slabs.kfree(ZERO_SIZE_PTR);
    k.slabs.kfree(0);
    CHECK(k.slabs.ksize(ZERO_SIZE_PTR) == 0);
    CHECK(k.slabs.bugs() == 0);
}

TEST_CASE("GFP_DMA gives ZONE_DMA memory; GFP_DMA32 gives normal kmalloc memory, with Linux's warning") {
    kmalloc_machine k;
    std::uint64_t dma = k.slabs.kmalloc(200, GFP_KERNEL | GFP_DMA);
    CHECK(k.phys(dma) < 16 * MiB);
    // The quirk: no kmalloc-dma32 caches; new_slab strips __GFP_DMA32 (kmalloc_fix_flags).
    std::uint64_t dma32 = k.slabs.kmalloc(200, GFP_KERNEL | GFP_DMA32);
    CHECK(k.slabs.kmalloc_slab(200, GFP_DMA32)->name == "kmalloc-256");
    CHECK(k.m.log.lines("Unexpected gfp") ==
          std::vector<std::string>{
              "Unexpected gfp: 0x4 (GFP_DMA32). Fixing up to gfp: 0xcc0 (GFP_KERNEL). Fix your code!"});
    CHECK(k.m.alloc.page_zone(k.m.alloc.pfn_to_page(k.phys(dma32) >> page_shift)).type == zone_type::dma32);
    // A large GFP_DMA kmalloc comes from ZONE_DMA too.
    CHECK(k.phys(k.slabs.kmalloc(20000, GFP_KERNEL | GFP_DMA)) < 16 * MiB);
}

TEST_CASE("kzalloc and kcalloc zero; kcalloc overflow is NULL") {
    kmalloc_machine k;
    std::uint64_t p = k.slabs.kmalloc(64, GFP_KERNEL);
    k.byte(p + 10) = 0x77;
    k.slabs.kfree(p);
    std::uint64_t z = k.slabs.kzalloc(64, GFP_KERNEL);
    CHECK(z == p);
    CHECK(k.byte(z + 10) == 0);
    CHECK(k.slabs.kcalloc(1ull << 33, 1ull << 32, GFP_KERNEL) == 0);
    std::uint64_t c = k.slabs.kcalloc(10, 30, GFP_KERNEL);
    CHECK(k.slabs.ksize(c) == 512);
    for (unsigned i = 0; i < 300; ++i) CHECK(k.byte(c + i) == 0);
}

TEST_CASE("krealloc keeps data, stays in place while the class holds it, and frees with size 0") {
    kmalloc_machine k;
    std::uint64_t p = k.slabs.kmalloc(100, GFP_KERNEL);  // kmalloc-128
    for (unsigned i = 0; i < 100; ++i) k.byte(p + i) = static_cast<std::uint8_t>(i);
    CHECK(k.slabs.krealloc(p, 120, GFP_KERNEL) == p);
    CHECK(k.slabs.krealloc(p, 10, GFP_KERNEL) == p);  // 6.1: in place whenever ksize holds it
    std::uint64_t q = k.slabs.krealloc(p, 1000, GFP_KERNEL | __GFP_ZERO);
    CHECK(q != p);
    CHECK(k.slabs.ksize(q) == 1024);
    for (unsigned i = 0; i < 100; ++i) CHECK(k.byte(q + i) == i);
    for (unsigned i = 128; i < 1000; ++i) CHECK(k.byte(q + i) == 0);
    std::uint64_t big = k.slabs.krealloc(q, 50000, GFP_KERNEL);
    CHECK(k.slabs.ksize(big) == 65536);
    CHECK(k.byte(big + 99) == 99);
    CHECK(k.slabs.krealloc(big, 0, GFP_KERNEL) == ZERO_SIZE_PTR);
    std::uint64_t fresh = k.slabs.krealloc(0, 40, GFP_KERNEL);
    CHECK(k.slabs.ksize(fresh) == 64);
    CHECK(k.slabs.bugs() == 0);
}

TEST_CASE("krealloc with the kmalloc red zone copies only what was asked for, so __GFP_ZERO holds") {
    kmalloc_machine k(SLAB_RED_ZONE);
    std::uint64_t p = k.slabs.kmalloc(18, GFP_KERNEL | __GFP_ZERO);
    for (unsigned i = 0; i < 18; ++i) k.byte(p + i) = 0x11;
    // Bytes 18..31 of kmalloc-32's object are the active red zone (0xcc): not data.
    std::uint64_t q = k.slabs.krealloc(p, 100, GFP_KERNEL | __GFP_ZERO);
    REQUIRE(q != p);
    for (unsigned i = 0; i < 18; ++i) CHECK(k.byte(q + i) == 0x11);
    for (unsigned i = 18; i < 100; ++i) CHECK(k.byte(q + i) == 0);
}

TEST_CASE("slub_debug=FZ: kmalloc(18) in kmalloc-32 with a write at bytes 18-19 is found") {
    kmalloc_machine k(SLAB_RED_ZONE | SLAB_CONSISTENCY_CHECKS);
    kmem_cache* s = k.slabs.kmalloc_slab(18, GFP_KERNEL);
    // 32 + 8 (red zone) = 40; free pointer at 16 inside; + 4 (request size) + 8; left pad
    // ALIGN(8, 32) = 32: 84 -> ALIGN(84, 32) = 96.
    CHECK(s->size == 96);
    CHECK(s->red_left_pad == 32);
    std::uint64_t p = k.slabs.kmalloc(18, GFP_KERNEL);
    CHECK(k.byte(p + 18) == SLUB_RED_ACTIVE);
    k.byte(p + 18) = 0x12;
    k.byte(p + 19) = 0x34;
    k.slabs.kfree(p);
    CHECK(k.m.log.lines("BUG kmalloc-32") ==
          std::vector<std::string>{"BUG kmalloc-32 (Not tainted): kmalloc Redzone overwritten"});
    CHECK(k.m.log.lines("0x") ==
          std::vector<std::string>{fmt::format(
              "0x{:016x}-0x{:016x} @offset=50. First byte 0x12 instead of 0xcc", p + 18, p + 19)});
    CHECK(
        k.m.log.lines("FIX") ==
        std::vector<std::string>{
            fmt::format("FIX kmalloc-32: Restoring kmalloc Redzone 0x{:016x}-0x{:016x}=0xcc", p + 18, p + 19),
            fmt::format("FIX kmalloc-32: Object at 0x{:016x} not freed", p)});
    // A full-sized object and a krealloc within the class are clean.
    std::uint64_t q = k.slabs.kmalloc(20, GFP_KERNEL);
    q = k.slabs.krealloc(q, 32, GFP_KERNEL);
    for (unsigned i = 0; i < 32; ++i) k.byte(q + i) = 1;
    q = k.slabs.krealloc(q, 8, GFP_KERNEL);
    k.slabs.kfree(q);
    CHECK(k.slabs.bugs() == 1);
}

TEST_CASE("/proc/slabinfo: version 2.1, newest cache first, SLUB's counts byte for byte") {
    kmalloc_machine k;
    kmem_cache* foo = k.slabs.kmem_cache_create("foo", 100, 0, SLAB_HWCACHE_ALIGN);  // 128, 32 a page
    for (int i = 0; i < 40; ++i) k.slabs.kmem_cache_alloc(foo, GFP_KERNEL);
    std::uint64_t a = k.slabs.kmalloc(64, GFP_KERNEL);
    k.slabs.kmalloc(64, GFP_KERNEL);
    k.slabs.kfree(a);
    k.slabs.kmalloc(5000, GFP_KERNEL);
    k.slabs.kmem_cache_create("a_long_cache_name_x", 24, 0, 0);
    std::string expected =
        "slabinfo - version: 2.1\n"
        "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> "
        "<batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n"
        "a_long_cache_name_x      0      0     24  170    1 : tunables    0    0    0 : slabdata      0      "
        "0      0\n"
        // 40 objects: the first slab full (off the lists), the CPU slab with 8 free counted active.
        "foo                   64     64    128   32    1 : tunables    0    0    0 : slabdata      2      2 "
        "     0\n";
    for (bool dma : {true, false})
        for (unsigned index : {13u, 12u, 11u, 10u, 9u, 8u, 2u, 7u, 1u, 6u, 5u, 4u, 3u}) {
            unsigned size = kmalloc_class_size(index);
            unsigned order = size == 8192 ? 3 : size == 4096 ? 3 : size == 2048 ? 2 : size == 1024 ? 1 : 0;
            unsigned per_slab = static_cast<unsigned>((4096u << order) / size);
            unsigned objs = !dma && (size == 64 || size == 8192) ? per_slab : 0;
            unsigned slabs = objs ? 1 : 0;
            expected += fmt::format(
                "{:<17} {:>6} {:>6} {:>6} {:>4} {:>4} : tunables    0    0    0 : slabdata {:>6} {:>6}      "
                "0\n",
                kmalloc_cache_name(index, dma), objs, objs, size, per_slab, 1 << order, slabs, slabs);
        }
    CHECK(proc_slabinfo(k.slabs) == expected);
    // Spot-check the format against a literal row.
    CHECK(proc_slabinfo(k.slabs).find(
              "\nkmalloc-8k             4      4   8192    4    8 : tunables    0    0    0 "
              ": slabdata      1      1      0\n") != std::string::npos);
}

}  // namespace memsim::kernel
