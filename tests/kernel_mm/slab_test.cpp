// SLUB against Linux's rules: orders and objects per slab from calculate_order, HWCACHE_ALIGN,
// red-zone layout, merging, the debug reports (red zone, poison, free pointer, double free,
// wrong cache, destroy with objects) in mm/slub.c's text, and a million random operations that
// must give every page back to the buddy allocator.
#include <doctest/doctest.h>

#include <random>

#include <fmt/format.h>

#include "kernel_mm/slab.h"
#include "tests/kernel_mm/machine_under_test.h"

namespace memsim::kernel {
namespace {

struct slab_machine {
    machine_under_test m;
    slab_allocator slabs;
    explicit slab_machine(unsigned cpus = 1, slab_flags_t kmalloc_debug = 0)
        : m(pc_memblock(256 * MiB), config(cpus)), slabs(m.alloc, m.machine, m.log, kmalloc_debug) {}
    static page_alloc_config config(unsigned cpus) {
        page_alloc_config c;
        c.cpus = cpus;
        return c;
    }
    std::uint8_t& byte(std::uint64_t addr) { return m.machine.byte(addr - m.alloc.config().page_offset); }
    // The log's text from the first line starting with `first`.
    std::vector<std::string> lines_from(const std::string& first) {
        std::vector<std::string> all = m.log.lines();
        auto it = std::find_if(all.begin(), all.end(),
                               [&](const std::string& l) { return l.rfind(first, 0) == 0; });
        return {it, all.end()};
    }
};

std::string hex(std::uint64_t addr) { return fmt::format("{:016x}", addr); }

}  // namespace

TEST_CASE("a free pointer zeroed in a red-zoned cache cuts the freelist; the count is fixed, not followed") {
    slab_machine sm;
    kmem_cache* s = sm.slabs.kmem_cache_create("rz", 64, 0, SLAB_RED_ZONE);
    REQUIRE(s);
    std::uint64_t a = sm.slabs.kmem_cache_alloc(s, GFP_KERNEL);
    std::uint64_t b = sm.slabs.kmem_cache_alloc(s, GFP_KERNEL);
    sm.slabs.kmem_cache_free(s, a);
    // A use after free writes zeros over a, free pointer (inside the object here) included.
    for (unsigned i = 0; i < 64; ++i) sm.byte(a + i) = 0;
    std::uint64_t again = sm.slabs.kmem_cache_alloc(s, GFP_KERNEL);
    CHECK(again == a);
    // The freelist now ends early: the slab is counted full, reported, and the next object comes
    // from a new slab, not from before this one.
    std::uint64_t next = sm.slabs.kmem_cache_alloc(s, GFP_KERNEL);
    // The 46-object slab (64 + red zones = 88 bytes a stride) is one page.
    CHECK((next >> page_shift) != (a >> page_shift));
    CHECK(sm.m.log.lines("BUG rz (") ==
          std::vector<std::string>{
              "BUG rz (Not tainted): Wrong object count. Counter is 2 but counted were 46"});
    CHECK(sm.m.log.lines("FIX rz: ") == std::vector<std::string>{"FIX rz: Object count adjusted"});
    CHECK(sm.slabs.bugs() == 1);
    (void)b;
}

TEST_CASE("order and objects per slab follow calculate_order (slub_min_objects = 4 * (fls(nr_cpus) + 1))") {
    slab_machine one;  // 1 CPU: min_objects = 4 * (fls(1) + 1) = 8
    // kmalloc-8: get_order(8 * 8) = 0, 4096 % 8 = 0 -> order 0, 512 objects.
    CHECK(one.slabs.kmalloc_slab(8, GFP_KERNEL)->order == 0);
    CHECK(one.slabs.kmalloc_slab(8, GFP_KERNEL)->objects == 512);
    // kmalloc-96: 4096 % 96 = 64 <= 4096 / 16 -> order 0, 42; kmalloc-192: 64 left -> 21.
    CHECK(one.slabs.kmalloc_slab(96, GFP_KERNEL)->objects == 42);
    CHECK(one.slabs.kmalloc_slab(192, GFP_KERNEL)->objects == 21);
    // kmalloc-1k: get_order(8 * 1024) = 1, no leftover -> order 1, 8 objects.
    CHECK(one.slabs.kmalloc_slab(1024, GFP_KERNEL)->order == 1);
    CHECK(one.slabs.kmalloc_slab(1024, GFP_KERNEL)->objects == 8);
    // kmalloc-8k: min_objects = min(8, 32768 / 8192 = 4) = 4 -> get_order(32768) = 3, 4 objects.
    CHECK(one.slabs.kmalloc_slab(8192, GFP_KERNEL)->order == 3);
    CHECK(one.slabs.kmalloc_slab(8192, GFP_KERNEL)->objects == 4);
    // 700 bytes -> size 704; get_order(8 * 704 = 5632) = 1; 8192 % 704 = 448 <= 512 -> order 1, 11.
    kmem_cache* c700 = one.slabs.kmem_cache_create("c700", 700, 0, 0);
    CHECK(c700->size == 704);
    CHECK(c700->order == 1);
    CHECK(c700->objects == 11);
    // 3000 bytes: get_order(24000) = 3, 32768 % 3000 = 2768 > 32768 / 16 = 2048, order 4 is too
    // high; with 1/8: 2768 <= 4096 -> order 3, 10 objects.
    kmem_cache* c3000 = one.slabs.kmem_cache_create("c3000", 3000, 0, 0);
    CHECK(c3000->order == 3);
    CHECK(c3000->objects == 10);
    slab_machine eight(8);  // min_objects = 4 * (fls(8) + 1) = 20, as a Debian 8-CPU machine shows
    // kmalloc-512: get_order(20 * 512 = 10240) = 2 -> 32 objects in 4 pages.
    CHECK(eight.slabs.kmalloc_slab(512, GFP_KERNEL)->order == 2);
    CHECK(eight.slabs.kmalloc_slab(512, GFP_KERNEL)->objects == 32);
    // kmalloc-1k: get_order(20480) = 3 -> 32 objects in 8 pages; kmalloc-192 stays 21 in 1.
    CHECK(eight.slabs.kmalloc_slab(1024, GFP_KERNEL)->order == 3);
    CHECK(eight.slabs.kmalloc_slab(1024, GFP_KERNEL)->objects == 32);
    CHECK(eight.slabs.kmalloc_slab(192, GFP_KERNEL)->order == 0);
}

TEST_CASE("SLAB_HWCACHE_ALIGN halves the 64-byte line while the object fits twice") {
    slab_machine s;
    auto align_of = [&](unsigned size, unsigned align) {
        return s.slabs.kmem_cache_create("a", size, align, SLAB_HWCACHE_ALIGN | SLAB_RED_ZONE)->align;
    };
    CHECK(align_of(8, 0) == 8);    // 64 -> 32 -> 16 -> 8
    CHECK(align_of(20, 0) == 32);  // 20 <= 32, not <= 16
    CHECK(align_of(32, 0) == 32);
    CHECK(align_of(33, 0) == 64);
    CHECK(align_of(100, 0) == 64);
    CHECK(align_of(20, 128) == 128);  // max(requested, 32)
    kmem_cache* c = s.slabs.kmem_cache_create("line", 20, 0, SLAB_HWCACHE_ALIGN);
    CHECK(c->size == 32);
    std::uint64_t a = s.slabs.kmem_cache_alloc(c, GFP_KERNEL);
    std::uint64_t b = s.slabs.kmem_cache_alloc(c, GFP_KERNEL);
    CHECK(a % 32 == 0);
    CHECK(b - a == 32);
}

TEST_CASE("red zone layout: left pad, right zone of at least a pointer, free pointer in the middle") {
    slab_machine s;
    // 20 -> 24 (the aligned size already leaves 4 red-zone bytes), offset ALIGN_DOWN(10, 8) = 8,
    // then 8 bytes of padding and an 8-byte left red zone: 24 + 8 + 8 = 40.
    kmem_cache* rz = s.slabs.kmem_cache_create("rz", 20, 0, SLAB_RED_ZONE);
    CHECK(rz->inuse == 24);
    CHECK(rz->offset == 8);
    CHECK(rz->red_left_pad == 8);
    CHECK(rz->size == 40);
    CHECK(rz->objects == 102);  // 4096 / 40
    // With poison the free pointer moves past the object: 24 + 8 (fp) + 8 + 8 = 48.
    kmem_cache* pz = s.slabs.kmem_cache_create("pz", 20, 0, SLAB_RED_ZONE | SLAB_POISON);
    CHECK(pz->offset == 24);
    CHECK(pz->size == 48);
    std::uint64_t object = s.slabs.kmem_cache_alloc(pz, GFP_KERNEL);
    CHECK(s.byte(object - 1) == SLUB_RED_ACTIVE);
    CHECK(s.byte(object) == POISON_FREE);
    CHECK(s.byte(object + 19) == POISON_END);
    CHECK(s.byte(object + 20) == SLUB_RED_ACTIVE);
    s.slabs.kmem_cache_free(pz, object);
    CHECK(s.byte(object - 1) == SLUB_RED_INACTIVE);
    CHECK(s.byte(object + 23) == SLUB_RED_INACTIVE);
}

TEST_CASE("one byte past a red-zoned object is found at free, reported and restored") {
    slab_machine s;
    kmem_cache* rz = s.slabs.kmem_cache_create("rz", 20, 0, SLAB_RED_ZONE | SLAB_CONSISTENCY_CHECKS);
    std::uint64_t object = s.slabs.kmem_cache_alloc(rz, GFP_KERNEL);
    std::uint64_t base = object - 8;
    s.byte(object + 20) = 0x78;
    s.slabs.kmem_cache_free(rz, object);
    CHECK(s.slabs.bugs() == 1);
    std::uint64_t slab_struct = 0xffffea0000000000 + ((base - 0xffff888000000000) >> 12) * 64;
    std::vector<std::string> expected = {
        std::string(77, '='),
        "BUG rz (Not tainted): Right Redzone overwritten",
        std::string(77, '-'),
        "",
        fmt::format("0x{}-0x{} @offset=28. First byte 0x78 instead of 0xcc", hex(object + 20),
                    hex(object + 20)),
        fmt::format("Slab 0x{} objects=102 used=1 fp=0x{} flags=0x200(slab|node=0|zone=1)", hex(slab_struct),
                    hex(object + 40)),
        fmt::format("Object 0x{} @offset=8 fp=0x{}", hex(object), hex(object + 40)),
        "",
        fmt::format("Redzone  {}: cc cc cc cc cc cc cc cc                          ........", hex(base)),
    };
    std::vector<std::string> got = s.lines_from(std::string(77, '='));
    REQUIRE(got.size() > expected.size());
    CHECK(std::vector<std::string>(got.begin(), got.begin() + 9) == expected);
    CHECK(s.m.log.lines("FIX rz") ==
          std::vector<std::string>{fmt::format("FIX rz: Restoring Right Redzone 0x{}-0x{}=0xcc",
                                               hex(object + 20), hex(object + 20)),
                                   fmt::format("FIX rz: Object at 0x{} not freed", hex(object))});
    CHECK(s.byte(object + 20) == SLUB_RED_ACTIVE);  // restored; the object stays allocated
}

TEST_CASE("a write into a freed poisoned object is found when the object is allocated again") {
    slab_machine s;
    kmem_cache* c = s.slabs.kmem_cache_create("poisoned", 64, 0, SLAB_POISON | SLAB_CONSISTENCY_CHECKS);
    std::uint64_t object = s.slabs.kmem_cache_alloc(c, GFP_KERNEL);
    s.slabs.kmem_cache_free(c, object);
    s.byte(object + 5) = 0x00;
    CHECK(s.slabs.kmem_cache_alloc(c, GFP_KERNEL) != object);  // that slab is marked used
    CHECK(s.m.log.lines("BUG poisoned") ==
          std::vector<std::string>{"BUG poisoned (Not tainted): Poison overwritten"});
    CHECK(s.m.log.lines("0x") ==
          std::vector<std::string>{fmt::format("0x{}-0x{} @offset=5. First byte 0x0 instead of 0x6b",
                                               hex(object + 5), hex(object + 5))});
    CHECK(s.m.log.lines("FIX poisoned") ==
          std::vector<std::string>{
              fmt::format("FIX poisoned: Restoring Poison 0x{}-0x{}=0x6b", hex(object + 5), hex(object + 5)),
              "FIX poisoned: Marking all objects used"});
    CHECK(s.slabs.bugs() == 1);
}

TEST_CASE("a corrupted free pointer is found and the slab's freelist abandoned") {
    slab_machine s;
    kmem_cache* c = s.slabs.kmem_cache_create("fp", 64, 0, SLAB_RED_ZONE | SLAB_CONSISTENCY_CHECKS);
    CHECK(c->offset == 32);
    std::uint64_t a = s.slabs.kmem_cache_alloc(c, GFP_KERNEL);
    s.slabs.kmem_cache_free(c, a);
    for (int i = 0; i < 8; ++i) s.byte(a + 32 + static_cast<unsigned>(i)) = 0x41;
    std::uint64_t b = s.slabs.kmem_cache_alloc(c, GFP_KERNEL);
    CHECK(b != a);
    CHECK(s.m.log.lines("BUG fp") == std::vector<std::string>{"BUG fp (Not tainted): Freepointer corrupt"});
    CHECK(s.m.log.lines("Object 0x") ==
          std::vector<std::string>{fmt::format("Object 0x{} @offset=8 fp=0x4141414141414141", hex(a))});
    CHECK(s.m.log.lines("FIX fp") == std::vector<std::string>{"FIX fp: Marking all objects used"});
}

TEST_CASE("double free and a free into the wrong cache") {
    slab_machine s;
    kmem_cache* d = s.slabs.kmem_cache_create("dbl", 64, 0, SLAB_CONSISTENCY_CHECKS);
    std::uint64_t object = s.slabs.kmem_cache_alloc(d, GFP_KERNEL);
    s.slabs.kmem_cache_free(d, object);
    s.slabs.kmem_cache_free(d, object);
    CHECK(s.m.log.lines("BUG dbl") == std::vector<std::string>{"BUG dbl (Not tainted): Object already free"});
    CHECK(s.m.log.lines("FIX dbl") ==
          std::vector<std::string>{fmt::format("FIX dbl: Object at 0x{} not freed", hex(object))});
    // A plain cache catches a double free at the freelist's head (FREELIST_HARDENED).
    kmem_cache* plain = s.slabs.kmem_cache_create("plain", 200, 0, 0);
    std::uint64_t p = s.slabs.kmem_cache_alloc(plain, GFP_KERNEL);
    s.slabs.kmem_cache_free(plain, p);
    s.slabs.kmem_cache_free(plain, p);
    CHECK(s.m.log.lines("BUG plain") ==
          std::vector<std::string>{"BUG plain (Tainted: G    B             ): Object already free"});
    // Wrong cache: warned, and the object goes back to the cache it came from.
    kmem_cache* other = s.slabs.kmem_cache_create("other", 300, 0, 0);
    std::uint64_t o = s.slabs.kmem_cache_alloc(other, GFP_KERNEL);
    s.slabs.kmem_cache_free(plain, o);
    CHECK(s.m.log.lines("cache_from_obj") ==
          std::vector<std::string>{"cache_from_obj: Wrong slab cache. plain but object is from other"});
    CHECK(s.slabs.get_slabinfo(*other).active_objs == 13);  // the CPU slab's free objects count
    CHECK(s.slabs.kmem_cache_alloc(other, GFP_KERNEL) == o);
    CHECK(s.slabs.bugs() == 3);
}

TEST_CASE("kmem_cache_destroy with live objects lists them, warns and keeps the cache") {
    slab_machine s;
    kmem_cache* c = s.slabs.kmem_cache_create("leaky", 128, 0, 0);
    std::uint64_t object = s.slabs.kmem_cache_alloc(c, GFP_KERNEL);
    std::uint64_t base = object;
    s.slabs.kmem_cache_destroy(c);
    std::uint64_t slab_struct = 0xffffea0000000000 + ((base - 0xffff888000000000) >> 12) * 64;
    CHECK(s.lines_from("BUG leaky") ==
          std::vector<std::string>{
              "BUG leaky (Not tainted): Objects remaining in leaky on __kmem_cache_shutdown()",
              std::string(77, '-'),
              "",
              fmt::format("Slab 0x{} objects=32 used=1 fp=0x{} flags=0x200(slab|node=0|zone=1)",
                          hex(slab_struct), hex(base + 128)),
              "Disabling lock debugging due to kernel taint",
              fmt::format("Object 0x{} @offset=0", hex(object)),
              "------------[ cut here ]------------",
              "kmem_cache_destroy leaky: Slab cache still has objects when called from 0x0",
              "WARNING: CPU: 0 PID: 0 at mm/slab_common.c kmem_cache_destroy",
          });
    CHECK(s.slabs.slab_caches().back() == c);
    // Freed, a second destroy goes through.
    s.slabs.kmem_cache_free(c, object);
    s.slabs.kmem_cache_destroy(c);
    CHECK(s.slabs.slab_caches().back()->name == "dma-kmalloc-8k");
}

TEST_CASE("compatible caches merge; a ctor or debug flags keep a cache apart") {
    slab_machine s;
    kmem_cache* a = s.slabs.kmem_cache_create("a", 100, 0, 0);  // size 104
    kmem_cache* b = s.slabs.kmem_cache_create("b", 104, 0, 0);
    CHECK(b == a);
    CHECK(a->refcount == 2);
    int constructed = 0;
    kmem_cache* c = s.slabs.kmem_cache_create("c", 100, 0, 0, [&](std::uint64_t) { ++constructed; });
    CHECK(c != a);
    kmem_cache* d = s.slabs.kmem_cache_create("d", 100, 0, SLAB_POISON);
    CHECK(d != a);
    kmem_cache* dma = s.slabs.kmem_cache_create("e", 100, 0, SLAB_CACHE_DMA);
    CHECK(dma != a);
    kmem_cache* big = s.slabs.kmem_cache_create("f", 120, 0, 0);  // 120 - 104 >= 8: no
    CHECK(big != a);
    // The ctor runs once per object when a slab is laid out, not per allocation.
    std::uint64_t object = s.slabs.kmem_cache_alloc(c, GFP_KERNEL);
    CHECK(constructed == static_cast<int>(c->objects));
    s.slabs.kmem_cache_free(c, object);
    s.slabs.kmem_cache_alloc(c, GFP_KERNEL);
    CHECK(constructed == static_cast<int>(c->objects));
    // SLAB_CACHE_DMA slabs come from ZONE_DMA.
    CHECK(s.slabs.kmem_cache_alloc(dma, GFP_KERNEL) - s.m.alloc.config().page_offset < 16 * MiB);
    s.slabs.kmem_cache_destroy(b);
    CHECK(a->refcount == 1);
    CHECK(std::count(s.slabs.slab_caches().begin(), s.slabs.slab_caches().end(), a) == 1);
}

TEST_CASE("a failed kmem_cache_create prints Linux's message, or panics with SLAB_PANIC") {
    slab_machine s;
    CHECK(s.slabs.kmem_cache_create("huge", 5 * MiB, 0, 0) == nullptr);
    CHECK(s.slabs.kmem_cache_create("odd", 64, 0, 0x80000000u) == nullptr);
    CHECK(s.m.log.lines("kmem_cache_create") ==
          std::vector<std::string>{"kmem_cache_create_usercopy(huge) failed with error -22",
                                   "kmem_cache_create_usercopy(odd) failed with error -22"});
    CHECK_THROWS_AS(s.slabs.kmem_cache_create("must", 5 * MiB, 0, SLAB_PANIC), kernel_panic);
    CHECK(s.m.log.lines("Kernel panic") ==
          std::vector<std::string>{"Kernel panic - not syncing: kmem_cache_create_usercopy: Failed to create "
                                   "slab 'must'. Error -22"});
}

TEST_CASE("a million random operations give every page back") {
    slab_machine s(2);
    std::uint64_t free_before = s.m.alloc.nr_free_pages() + s.m.pcp_pages();
    std::vector<kmem_cache*> caches = {
        s.slabs.kmem_cache_create("obj24", 24, 0, 0),
        s.slabs.kmem_cache_create("obj200", 200, 0, SLAB_HWCACHE_ALIGN),
        s.slabs.kmem_cache_create("obj1500", 1500, 0, 0),
        s.slabs.kmem_cache_create("ctor64", 64, 0, 0, [](std::uint64_t) {}),
        s.slabs.kmem_cache_create("dma96", 96, 0, SLAB_CACHE_DMA),
    };
    struct held {
        std::uint64_t addr;
        kmem_cache* cache;  // nullptr: kmalloc
    };
    std::vector<held> live;
    std::mt19937_64 random(5);
    for (int op = 0; op < 1'000'000; ++op) {
        s.m.machine.cpu.cpu = static_cast<unsigned>(random() % 2);
        if (live.size() < 10000 && (live.empty() || random() % 100 < 52)) {
            std::uint64_t r = random();
            std::uint64_t addr = 0;
            kmem_cache* cache = nullptr;
            if (r % 4 == 0) {
                cache = caches[r / 4 % caches.size()];
                addr = s.slabs.kmem_cache_alloc(cache, GFP_KERNEL);
            } else {
                std::uint64_t size = r % 97 == 0 ? 8193 + r / 97 % 40000 : 1 + r / 4 % 3000;
                addr = s.slabs.kmalloc(size, r % 13 == 0 ? GFP_KERNEL | GFP_DMA : GFP_KERNEL);
            }
            REQUIRE(addr != 0);
            live.push_back({addr, cache});
        } else {
            std::size_t i = random() % live.size();
            if (live[i].cache)
                s.slabs.kmem_cache_free(live[i].cache, live[i].addr);
            else
                s.slabs.kfree(live[i].addr);
            live[i] = live.back();
            live.pop_back();
        }
    }
    CHECK(s.m.alloc.check_invariants() == "");
    for (const held& h : live)
        if (h.cache)
            s.slabs.kmem_cache_free(h.cache, h.addr);
        else
            s.slabs.kfree(h.addr);
    for (kmem_cache* c : std::vector<kmem_cache*>(s.slabs.slab_caches())) s.slabs.kmem_cache_shrink(c);
    for (kmem_cache* c : caches) s.slabs.kmem_cache_destroy(c);
    CHECK(s.slabs.bugs() == 0);
    CHECK(s.m.alloc.bugs() == 0);
    CHECK(s.m.alloc.nr_free_pages() + s.m.pcp_pages() == free_before);
    CHECK(s.m.alloc.check_invariants() == "");
    CHECK(s.slabs.slab_caches().size() == 26);
}

}  // namespace memsim::kernel
