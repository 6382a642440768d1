// The TLB hierarchy: exact victims for each replacement policy, PCID and global tagging, the
// SDM's invalidations with their exact survivors, large pages, split ports, refills from L2, and
// long random traces checked against slow, obviously correct reference models.
#include "mmu/tlb.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "base/stats.h"

#include <doctest/doctest.h>

using namespace memsim;
using namespace memsim::mmu;

namespace {

constexpr std::uint64_t page_4k = 0x1000;
constexpr std::uint64_t page_2m = 0x200000;
constexpr std::uint64_t page_4m = 0x400000;
constexpr std::uint64_t page_1g = 0x40000000;

translation mapping(std::uint64_t frame, page_size size = page_size::size_4k, bool global = false) {
    translation t;
    t.frame = frame;
    t.size = size;
    t.writable = true;
    t.user = true;
    t.global = global;
    t.dirty = true;
    return t;
}

tlb_array_config array(std::string name, unsigned entries, unsigned ways,
                       replacement_policy policy = replacement_policy::lru,
                       std::vector<page_size> sizes = {page_size::size_4k}) {
    tlb_array_config a;
    a.name = std::move(name);
    a.sizes = std::move(sizes);
    a.entries = entries;
    a.ways = ways;
    a.policy = policy;
    return a;
}

// One level, one data array.
tlb_config single(tlb_array_config a) { return tlb_config{.levels = {{{std::move(a)}}}}; }

// A hierarchy with its own stats registry, and the questions tests ask of it.
struct machine {
    stats::registry registry;
    tlb_hierarchy tlb;

    explicit machine(const tlb_config& config) : tlb(config, registry.under("tlb")) {}

    std::uint64_t stat(const std::string& name) const {
        const std::optional<std::uint64_t> v = registry.value("tlb." + name);
        REQUIRE(v);
        return *v;
    }
    // Looks up and, on a miss, fills as the CPU would after a walk; true on a hit.
    bool access(std::uint64_t linear, const translation& t, std::uint16_t pcid = 0, bool fetch = false) {
        if (tlb.lookup(linear, pcid, fetch).hit) return true;
        tlb.fill(linear, pcid, fetch, t);
        return false;
    }
    bool access(std::uint64_t linear, std::uint16_t pcid = 0) {
        return access(linear, mapping(linear), pcid);
    }
    // The frame level 0 translates `linear` to for `pcid`, or 0 when nothing is cached.
    std::uint64_t frame(std::uint64_t linear, std::uint16_t pcid = 0, bool fetch = false,
                        unsigned level = 0) {
        const translation* t = tlb.peek(linear, pcid, fetch, level);
        return t ? t->frame : 0;
    }
    bool resident(std::uint64_t linear, std::uint16_t pcid = 0) { return frame(linear, pcid) != 0; }
};

// Pages A.. of the one-set tests: frame == linear, so resident() is simply frame() != 0.
constexpr std::uint64_t page(unsigned n) { return (n + 1) * page_4k; }

}  // namespace

// ---- replacement ----

TEST_CASE("LRU: a 4-way set evicts the least recently used way") {
    machine m(single(array("l1", 4, 4)));
    for (unsigned n = 0; n < 4; ++n) CHECK_FALSE(m.access(page(n)));  // A B C D
    CHECK(m.access(page(0)));                                         // A: order B C D A
    CHECK_FALSE(m.access(page(4)));                                   // E evicts B
    CHECK_FALSE(m.resident(page(1)));
    CHECK_FALSE(m.access(page(5)));  // F evicts C (order D A E)
    CHECK_FALSE(m.resident(page(2)));
    CHECK(m.access(page(3)));        // D: order A E F D
    CHECK_FALSE(m.access(page(6)));  // G evicts A
    CHECK_FALSE(m.resident(page(0)));
    for (unsigned n : {3u, 4u, 5u, 6u}) CHECK(m.resident(page(n)));
    CHECK(m.stat("l1.evictions") == 3);
    CHECK(m.stat("l1.fills") == 7);
    CHECK(m.stat("l1.hits") == 2);
    CHECK(m.stat("l1.misses") == 7);
    CHECK(m.stat("l1.lookups") == 9);
    CHECK(m.stat("misses") == 7);
    CHECK(m.stat("misses_4k") == 7);
}

TEST_CASE("tree-PLRU: a 4-way set evicts where the tree bits point, not the LRU way") {
    machine m(single(array("l1", 4, 4, replacement_policy::plru)));
    for (unsigned n = 0; n < 4; ++n) CHECK_FALSE(m.access(page(n)));  // A..D in ways 0..3
    // Bits now point at way 0 (root left, left pair way 0). A hit on A points the root right
    // and the right pair still points at way 2: C goes, though B is the least recently used.
    CHECK(m.access(page(0)));
    CHECK_FALSE(m.access(page(4)));  // E into way 2
    CHECK_FALSE(m.resident(page(2)));
    CHECK(m.resident(page(1)));
    // Root now points left, the left pair at way 1 (since A in way 0 was used): B goes.
    CHECK_FALSE(m.access(page(5)));  // F into way 1
    CHECK_FALSE(m.resident(page(1)));
    // Root right, right pair at way 3 (E in way 2 was used): D goes.
    CHECK_FALSE(m.access(page(6)));
    CHECK_FALSE(m.resident(page(3)));
    for (unsigned n : {0u, 4u, 5u, 6u}) CHECK(m.resident(page(n)));
    CHECK(m.stat("l1.evictions") == 3);
}

TEST_CASE("replacement: LRU victims in order of use, and geometry is checked") {
    replacement lru(replacement_policy::lru, 2, 4, 1);
    for (unsigned way : {2u, 0u, 3u, 1u}) lru.touch(1, way);
    CHECK(lru.victim(1) == 2);
    lru.touch(1, 2);
    CHECK(lru.victim(1) == 0);
    CHECK_THROWS_AS(replacement(replacement_policy::plru, 1, 12, 1), std::invalid_argument);
    CHECK_THROWS_AS(replacement(replacement_policy::plru, 1, 128, 1), std::invalid_argument);
    CHECK_NOTHROW(replacement(replacement_policy::plru, 1, 64, 1));
    CHECK_NOTHROW(replacement(replacement_policy::lru, 128, 12, 1));
    // LRU's order links name ways in 16 bits; the other policies keep no order.
    CHECK_NOTHROW(replacement(replacement_policy::lru, 1, 65535, 1));
    CHECK_THROWS_AS(replacement(replacement_policy::lru, 1, 65536, 1), std::invalid_argument);
    CHECK_NOTHROW(replacement(replacement_policy::random, 1, 1 << 20, 1));
}

TEST_CASE("random replacement is deterministic for a seed") {
    const auto run = [](std::uint64_t seed) {
        tlb_config config = single(array("l1", 16, 4, replacement_policy::random));
        config.seed = seed;
        machine m(config);
        std::vector<bool> hits;
        std::mt19937_64 trace(7);
        for (int i = 0; i < 20000; ++i) hits.push_back(m.access((trace() % 64) * page_4k + page_4k));
        return hits;
    };
    const std::vector<bool> first = run(1);
    CHECK(first == run(1));
    CHECK(first != run(2));

    // Victims stay in the set, and only a full set evicts.
    machine m(single(array("l1", 4, 4, replacement_policy::random)));
    for (unsigned n = 0; n < 4; ++n) m.access(page(n));
    CHECK(m.stat("l1.evictions") == 0);
    m.access(page(4));
    CHECK(m.stat("l1.evictions") == 1);
    unsigned resident = 0;
    for (unsigned n = 0; n < 5; ++n) resident += m.resident(page(n));
    CHECK(resident == 4);
}

// ---- tagging ----

TEST_CASE("PCIDs tag entries: one linear address, two PCIDs, two entries") {
    machine m(single(array("l1", 16, 16)));
    const std::uint64_t x = 0x7000;
    m.tlb.fill(x, 1, false, mapping(0xa000));
    m.tlb.fill(x, 2, false, mapping(0xb000));
    CHECK(m.tlb.lookup(x, 1, false).hit->frame == 0xa000);
    CHECK(m.tlb.lookup(x, 2, false).hit->frame == 0xb000);
    CHECK(m.tlb.lookup(x, 3, false).hit == nullptr);
    CHECK(m.stat("l1.fills") == 2);
    CHECK(m.stat("l1.evictions") == 0);
}

TEST_CASE("a refill replaces the entry for the same page instead of duplicating it") {
    machine m(single(array("l1", 4, 4)));
    for (unsigned n = 0; n < 4; ++n) m.access(page(n));
    translation clean = mapping(0xc000);
    m.tlb.fill(page(2), 0, false, clean);
    CHECK(m.stat("l1.evictions") == 0);
    CHECK(m.frame(page(2)) == 0xc000);
    for (unsigned n : {0u, 1u, 3u}) CHECK(m.resident(page(n)));
}

TEST_CASE("global entries match every PCID and survive what spares globals") {
    machine m(single(array("l1", 16, 16)));
    const std::uint64_t g = 0x10000, p1 = 0x20000, p2 = 0x30000;
    m.tlb.fill(g, 1, false, mapping(0xa000, page_size::size_4k, true));
    m.tlb.fill(p1, 1, false, mapping(0xb000));
    m.tlb.fill(p2, 2, false, mapping(0xc000));
    CHECK(m.tlb.lookup(g, 7, false).hit != nullptr);

    SUBCASE("flush_pcid keeping globals (MOV to CR3)") {
        m.tlb.flush_pcid(1, true);
        CHECK(m.frame(g, 1) == 0xa000);
        CHECK(m.frame(p1, 1) == 0);
        CHECK(m.frame(p2, 2) == 0xc000);
        CHECK(m.stat("l1.flushes_cr3") == 1);
    }
    SUBCASE("flush_pcid without keeping globals drops whatever that PCID could use") {
        m.tlb.flush_pcid(2, false);
        CHECK(m.frame(g, 1) == 0);
        CHECK(m.frame(p1, 1) == 0xb000);
        CHECK(m.frame(p2, 2) == 0);
        CHECK(m.stat("l1.flushes_cr3") == 2);
    }
    SUBCASE("flush_all keeping globals") {
        m.tlb.flush_all(true);
        CHECK(m.frame(g, 3) == 0xa000);
        CHECK(m.frame(p1, 1) == 0);
        CHECK(m.frame(p2, 2) == 0);
        CHECK(m.stat("l1.flushes_all") == 2);
    }
    SUBCASE("flush_all(false) drops globals too") {
        m.tlb.flush_all(false);
        CHECK(m.frame(g, 1) == 0);
        CHECK(m.frame(p1, 1) == 0);
        CHECK(m.frame(p2, 2) == 0);
        CHECK(m.stat("l1.flushes_all") == 3);
    }
}

// ---- invalidation ----

namespace {

// Five entries: A for PCIDs 1 and 2, B for PCID 1, G global (filled under PCID 1), C for PCID 2.
struct populated : machine {
    static constexpr std::uint64_t a = 0x1000, b = 0x2000, g = 0x3000, c = 0x4000;

    populated() : machine(single(array("l1", 16, 16))) {
        tlb.fill(a, 1, false, mapping(0xa1000));
        tlb.fill(a, 2, false, mapping(0xa2000));
        tlb.fill(b, 1, false, mapping(0xb1000));
        tlb.fill(g, 1, false, mapping(0x99000, page_size::size_4k, true));
        tlb.fill(c, 2, false, mapping(0xc2000));
    }
    // Which of the five are still cached, in the order a1 a2 b1 g c2.
    std::vector<bool> survivors() {
        return {frame(a, 1) == 0xa1000, frame(a, 2) == 0xa2000, frame(b, 1) == 0xb1000,
                frame(g, 5) == 0x99000, frame(c, 2) == 0xc2000};
    }
};

using survivors = std::vector<bool>;

}  // namespace

TEST_CASE("INVLPG: the page's entries for the PCID and its global entries") {
    populated m;
    m.tlb.invlpg(populated::a, 1);
    CHECK(m.survivors() == survivors{false, true, true, true, true});
    m.tlb.invlpg(populated::g, 2);  // a global entry goes whatever the current PCID
    CHECK(m.survivors() == survivors{false, true, true, false, true});
    m.tlb.invlpg(populated::c, 1);  // another PCID's entry stays (the minimal choice)
    CHECK(m.survivors() == survivors{false, true, true, false, true});
    CHECK(m.stat("l1.flushes_invlpg") == 2);
    m.tlb.invalidate_page_any_pcid(populated::a);
    CHECK(m.survivors() == survivors{false, false, true, false, true});
}

TEST_CASE("INVPCID types 0 to 3 leave exactly the SDM's survivors") {
    populated m;
    SUBCASE("type 0: one address of one PCID, except global translations") {
        m.tlb.invpcid(0, 1, populated::a);
        CHECK(m.survivors() == survivors{false, true, true, true, true});
        m.tlb.invpcid(0, 1, populated::g);
        CHECK(m.survivors() == survivors{false, true, true, true, true});
        CHECK(m.stat("l1.flushes_invpcid") == 1);
    }
    SUBCASE("type 1: one PCID, except global translations") {
        m.tlb.invpcid(1, 1, 0);
        CHECK(m.survivors() == survivors{false, true, false, true, true});
    }
    SUBCASE("type 2: every PCID, globals included") {
        m.tlb.invpcid(2, 0, 0);
        CHECK(m.survivors() == survivors{false, false, false, false, false});
        CHECK(m.stat("l1.flushes_invpcid") == 5);
    }
    SUBCASE("type 3: every PCID, except global translations") {
        m.tlb.invpcid(3, 0, 0);
        CHECK(m.survivors() == survivors{false, false, false, true, false});
    }
    SUBCASE("no other type") { CHECK_THROWS_AS(m.tlb.invpcid(4, 0, 0), std::invalid_argument); }
}

TEST_CASE("drop removes the entry a lookup would use, on this port only") {
    tlb_config config;
    tlb_array_config i = array("l1i", 16, 16);
    i.instruction = true;
    i.data = false;
    config.levels = {{{array("l1d", 16, 16), i}}};
    machine m(config);
    const std::uint64_t x = 0x5000;
    translation clean = mapping(0x8000);
    clean.dirty = false;
    m.tlb.fill(x, 1, false, clean);
    m.tlb.fill(x, 1, true, clean);
    CHECK_FALSE(m.tlb.lookup(x, 1, false).hit->dirty);  // a write would drop and walk again
    m.tlb.drop(x, 1, false);
    CHECK(m.tlb.lookup(x, 1, false).hit == nullptr);
    CHECK(m.tlb.lookup(x, 1, true).hit != nullptr);
    m.tlb.fill(x, 1, false, mapping(0x8000));
    CHECK(m.tlb.lookup(x, 1, false).hit->dirty);
    CHECK(m.stat("l1d.drops") == 1);
    CHECK(m.stat("l1i.drops") == 0);
}

// ---- page sizes ----

TEST_CASE("large pages match every address in their range, by their own page number") {
    using enum page_size;
    machine m(single(array("l1", 16, 4, replacement_policy::lru, {size_4k, size_2m, size_4m, size_1g})));
    const std::uint64_t base_2m = 0x7f2a'c0200000, base_4m = 0x80c00000, base_1g = 0x3'40000000;
    m.tlb.fill(base_2m + 0x1234, 0, false, mapping(0x40000000, size_2m));
    m.tlb.fill(base_4m + page_4m - 1, 0, false, mapping(0x800000, size_4m));
    m.tlb.fill(base_1g + 0x12345678, 0, false, mapping(0x80000000, size_1g));
    for (std::uint64_t offset : {std::uint64_t{0}, std::uint64_t{0x1000}, page_2m - 1}) {
        const tlb_lookup hit = m.tlb.lookup(base_2m + offset, 0, false);
        REQUIRE(hit.hit != nullptr);
        CHECK(hit.hit->frame == 0x40000000);
        CHECK(hit.hit->size == size_2m);
    }
    CHECK(m.tlb.lookup(base_2m - 1, 0, false).hit == nullptr);
    CHECK(m.tlb.lookup(base_2m + page_2m, 0, false).hit == nullptr);
    CHECK(m.tlb.lookup(base_4m, 0, false).hit->size == size_4m);
    CHECK(m.tlb.lookup(base_4m + page_4m - 1, 0, false).hit != nullptr);
    CHECK(m.tlb.lookup(base_4m + page_4m, 0, false).hit == nullptr);
    CHECK(m.tlb.lookup(base_1g + page_1g - 1, 0, false).hit->size == size_1g);
    CHECK(m.tlb.lookup(base_1g + page_1g, 0, false).hit == nullptr);
    CHECK(m.stat("misses_2m") == 1);
    CHECK(m.stat("misses_4m") == 1);
    CHECK(m.stat("misses_1g") == 1);

    // A 4 KiB page whose page number equals a 2 MiB page's is a different page.
    m.tlb.fill(5 * page_4k, 0, false, mapping(0x9000));
    CHECK(m.tlb.lookup(5 * page_2m, 0, false).hit == nullptr);

    // INVLPG anywhere in a large page invalidates it.
    m.tlb.invlpg(base_2m + 0x1f0000, 0);
    CHECK(m.tlb.lookup(base_2m, 0, false).hit == nullptr);
}

// ---- the hierarchy ----

TEST_CASE("split L1: a fetch does not hit a data entry; a unified L2 serves both") {
    tlb_config config = tlb_config::intel_default();
    machine m(config);
    const std::uint64_t x = 0x40'0000'1000;
    m.tlb.fill(x, 0, false, mapping(0x5000));
    const tlb_lookup data = m.tlb.lookup(x, 0, false);
    CHECK(data.hit != nullptr);
    CHECK(data.level == 0);
    CHECK(data.latency == 1);
    CHECK(m.frame(x, 0, true, 0) == 0);  // not in the ITLB
    const tlb_lookup fetch = m.tlb.lookup(x, 0, true);
    REQUIRE(fetch.hit != nullptr);  // from the unified STLB
    CHECK(fetch.level == 1);
    CHECK(fetch.latency == 8);
    CHECK(m.frame(x, 0, true, 0) == 0x5000);  // refilled into the ITLB
    CHECK(m.tlb.lookup(x, 0, true).latency == 1);
    CHECK(m.tlb.lookup(x + page_4k, 0, true).latency == 8);  // a miss probes both levels
    CHECK(m.stat("l1i_4k.fills") == 1);
    CHECK(m.stat("l2_stlb.hits") == 1);
    // The other L1 data arrays were probed in parallel and missed.
    CHECK(m.stat("l1d_2m.lookups") == 1);
    CHECK(m.stat("l1d_2m.misses") == 1);
    CHECK(m.stat("l1d_4k.hits") == 1);
    CHECK(m.tlb.levels() == 2);
}

TEST_CASE("rehit counts and touches as the lookup it stands for; contents() marks every change") {
    tlb_config config;
    config.levels = {
        {{array("l1", 4, 4), array("l1_2m", 4, 4, replacement_policy::lru, {page_size::size_2m})}},
        {{array("l2", 16, 16)}}};
    machine looked(config), rehit(config);
    for (machine* m : {&looked, &rehit}) {
        for (unsigned n = 0; n < 5; ++n) m->access(page(n));  // A falls out of L1, stays in L2
    }
    // An L2 hit refills L1, so the next lookup would hit L1 instead: nothing to rehit.
    const std::uint64_t before = rehit.tlb.contents();
    const tlb_lookup from_l2 = rehit.tlb.lookup(page(0), 0, false);
    looked.tlb.lookup(page(0), 0, false);
    CHECK(from_l2.level == 1);
    CHECK(from_l2.array == tlb_lookup::no_array);
    CHECK(rehit.tlb.contents() != before);
    // An L1 hit changes no entry; rehitting it is the same lookup without the search.
    const std::uint64_t stable = rehit.tlb.contents();
    const tlb_lookup c = rehit.tlb.lookup(page(2), 0, false);
    looked.tlb.lookup(page(2), 0, false);
    REQUIRE(c.array != tlb_lookup::no_array);
    CHECK(rehit.tlb.contents() == stable);
    for (unsigned round = 0; round < 3; ++round) {
        rehit.tlb.lookup(page(3), 0, false);  // another way of the set becomes the MRU
        looked.tlb.lookup(page(3), 0, false);
        rehit.tlb.rehit(c, false);  // and C is again
        looked.tlb.lookup(page(2), 0, false);
    }
    // The same counts, and the same LRU order: the next two fills evict the same ways.
    for (machine* m : {&looked, &rehit}) {
        m->access(page(7));
        m->access(page(8));
    }
    for (const char* name : {"lookups", "misses", "l1.lookups", "l1.hits", "l1.misses", "l1_2m.lookups",
                             "l1_2m.misses", "l2.hits", "l1.evictions", "l1.fills"})
        CHECK_MESSAGE(rehit.stat(name) == looked.stat(name), name);
    for (unsigned n = 0; n < 9; ++n) CHECK(rehit.frame(page(n)) == looked.frame(page(n)));
    CHECK(rehit.resident(page(2)));
    CHECK(rehit.resident(page(3)));
    CHECK_FALSE(rehit.resident(page(4)));
    const std::uint64_t filled = rehit.tlb.contents();
    CHECK(filled != stable);
    rehit.tlb.invlpg(page(2), 0);
    CHECK(rehit.tlb.contents() != filled);
}

TEST_CASE("an L2 hit refills L1") {
    tlb_config config;
    config.levels = {{{array("l1", 4, 4)}}, {{array("l2", 16, 16)}}};
    config.levels[1].arrays[0].hit_latency = 7;
    machine m(config);
    for (unsigned n = 0; n < 5; ++n) m.access(page(n));  // A falls out of L1, stays in L2
    CHECK(m.frame(page(0), 0, false, 0) == 0);
    CHECK(m.frame(page(0), 0, false, 1) == page(0));
    const tlb_lookup l2 = m.tlb.lookup(page(0), 0, false);
    CHECK(l2.level == 1);
    CHECK(l2.latency == 8);
    CHECK(m.frame(page(0), 0, false, 0) == page(0));
    const tlb_lookup l1 = m.tlb.lookup(page(0), 0, false);
    CHECK(l1.level == 0);
    CHECK(l1.latency == 1);
    CHECK(m.stat("l1.fills") == 6);
    CHECK(m.stat("l2.fills") == 5);
    CHECK(m.stat("misses") == 5);
}

namespace {

// What each array of a hierarchy counts, worked out from the outside: a lookup reaches a level
// when no level above answered, every array of the level for the port looks, and the one that
// holds the size of what peek() finds there answers; a hit below L1 refills the levels above.
class reference_counts {
public:
    explicit reference_counts(const tlb_config& config) : m_config(config) {}

    // Counts the lookup that is about to be made.
    void lookup(const tlb_hierarchy& tlb, std::uint64_t linear, std::uint16_t pcid, bool fetch) {
        ++m_lookups;
        for (unsigned level = 0; level < m_config.levels.size(); ++level) {
            for (const tlb_array_config& a : m_config.levels[level].arrays) {
                if (fetch ? a.instruction : a.data) ++m_arrays[a.name].lookups;
            }
            const translation* t = tlb.peek(linear, pcid, fetch, level);
            if (!t) continue;
            ++m_arrays[holder(level, fetch, t->size)].hits;
            for (unsigned above = 0; above < level; ++above) {
                if (const std::string* name = holder_or_null(above, fetch, t->size)) ++m_arrays[*name].fills;
            }
            return;
        }
        ++m_misses;
    }
    void fill(bool fetch, page_size size) {
        ++m_misses_by_size[static_cast<unsigned>(size)];
        for (unsigned level = 0; level < m_config.levels.size(); ++level) {
            if (const std::string* name = holder_or_null(level, fetch, size)) ++m_arrays[*name].fills;
        }
    }
    void check(const machine& m) {
        CHECK(m.stat("lookups") == m_lookups);
        CHECK(m.stat("misses") == m_misses);
        CHECK(m.stat("misses_4k") == m_misses_by_size[0]);
        CHECK(m.stat("misses_2m") == m_misses_by_size[1]);
        for (const tlb_level_config& level : m_config.levels) {
            for (const tlb_array_config& a : level.arrays) {
                const counts& c = m_arrays[a.name];
                CHECK_MESSAGE(m.stat(a.name + ".lookups") == c.lookups, a.name);
                CHECK_MESSAGE(m.stat(a.name + ".hits") == c.hits, a.name);
                CHECK_MESSAGE(m.stat(a.name + ".misses") == c.lookups - c.hits, a.name);
                CHECK_MESSAGE(m.stat(a.name + ".fills") == c.fills, a.name);
                CHECK_MESSAGE(m.stat(a.name + ".evictions") <= c.fills, a.name);
            }
        }
    }

private:
    struct counts {
        std::uint64_t lookups = 0, hits = 0, fills = 0;
    };
    const std::string* holder_or_null(unsigned level, bool fetch, page_size size) const {
        for (const tlb_array_config& a : m_config.levels[level].arrays) {
            if ((fetch ? a.instruction : a.data) &&
                std::find(a.sizes.begin(), a.sizes.end(), size) != a.sizes.end())
                return &a.name;
        }
        return nullptr;
    }
    const std::string& holder(unsigned level, bool fetch, page_size size) const {
        const std::string* name = holder_or_null(level, fetch, size);
        REQUIRE(name != nullptr);
        return *name;
    }

    tlb_config m_config;
    std::map<std::string, counts> m_arrays;
    std::uint64_t m_lookups = 0, m_misses = 0;
    std::array<std::uint64_t, 4> m_misses_by_size{};
};

}  // namespace

// The hierarchy counts lookups by port and hits by array, and derives the rest when read: the
// counts must be those of every array looking for itself, whatever the ports, levels and sizes.
TEST_CASE("every array counts the lookups that reached it, its hits and its fills") {
    tlb_array_config d4k = array("d4k", 8, 2), i4k = array("i4k", 8, 2);
    i4k.data = false;
    i4k.instruction = true;
    tlb_array_config u2m = array("u2m", 4, 4, replacement_policy::plru, {page_size::size_2m});
    u2m.instruction = true;
    tlb_array_config l2 =
        array("l2", 32, 4, replacement_policy::random, {page_size::size_4k, page_size::size_2m});
    l2.instruction = true;
    const tlb_config config{.levels = {{{d4k, u2m, i4k}}, {{l2}}}, .seed = 7};
    machine m(config);
    reference_counts reference(config);
    std::mt19937_64 rng(20261206);
    // The last hit, for rehits while the entries stay as they were.
    tlb_lookup last;
    std::uint64_t last_linear = 0, last_contents = ~std::uint64_t{0};
    std::uint16_t last_pcid = 0;
    bool last_fetch = false;
    for (int i = 0; i < 200'000; ++i) {
        const unsigned op = rng() % 100;
        const std::uint64_t linear = (rng() % 64) << 20 | (rng() % 4) << 12;
        const auto pcid = static_cast<std::uint16_t>(rng() % 2);
        const bool fetch = rng() % 3 == 0;
        if (op < 10 && last.array != tlb_lookup::no_array && m.tlb.contents() == last_contents) {
            reference.lookup(m.tlb, last_linear, last_pcid, last_fetch);
            m.tlb.rehit(last, last_fetch);
            continue;
        }
        if (op < 85) {
            reference.lookup(m.tlb, linear, pcid, fetch);
            const tlb_lookup hit = m.tlb.lookup(linear, pcid, fetch);
            if (hit.hit) {
                last = hit;
                last_linear = linear;
                last_pcid = pcid;
                last_fetch = fetch;
                last_contents = m.tlb.contents();
                continue;
            }
            const page_size size = rng() % 4 == 0 ? page_size::size_2m : page_size::size_4k;
            const std::uint64_t page = linear & ~(page_bytes(size) - 1);
            reference.fill(fetch, size);
            m.tlb.fill(linear, pcid, fetch, mapping(page + 0x1000'0000, size, rng() % 8 == 0));
        } else if (op < 90) {
            m.tlb.invlpg(linear, pcid);
        } else if (op < 95) {
            m.tlb.drop(linear, pcid, fetch);
        } else if (op < 97) {
            m.tlb.flush_pcid(pcid, rng() % 2 == 0);
        } else {
            m.tlb.invpcid(static_cast<unsigned>(rng() % 4), pcid, linear);
        }
        if (i % 50'000 == 0) reference.check(m);
    }
    reference.check(m);
    CHECK(m.stat("l2.hits") > 1000);  // every kind of count is exercised
    CHECK(m.stat("u2m.hits") > 1000);
    CHECK(m.stat("i4k.fills") > 1000);
}

TEST_CASE("impossible geometries are refused") {
    const auto build = [](const tlb_config& config) { machine m(config); };
    CHECK_THROWS_AS(build(single(array("l1", 10, 4))), std::invalid_argument);  // 10 % 4
    CHECK_THROWS_AS(build(single(array("l1", 12, 4))), std::invalid_argument);  // 3 sets
    CHECK_THROWS_AS(build(single(array("l1", 0, 4))), std::invalid_argument);
    CHECK_THROWS_AS(build(single(array("l1", 48, 12, replacement_policy::plru))), std::invalid_argument);
    CHECK_THROWS_AS(build(single(array("l1", 8, 4, replacement_policy::lru, {}))), std::invalid_argument);
    tlb_config twice;
    twice.levels = {{{array("a", 4, 4), array("b", 4, 4)}}};
    CHECK_THROWS_AS(build(twice), std::invalid_argument);
    tlb_array_config neither = array("l1", 4, 4);
    neither.data = false;
    CHECK_THROWS_AS(build(single(neither)), std::invalid_argument);
    CHECK_NOTHROW(build(tlb_config::intel_default()));
}

// ---- reference models ----

namespace {

// A set-associative LRU TLB as a textbook draws it: each set a list, most recent first.
class reference_lru {
public:
    reference_lru(unsigned sets, unsigned ways) : m_sets(sets), m_ways(ways) {}

    bool access(std::uint64_t page, std::uint16_t pcid) {
        std::list<std::pair<std::uint64_t, std::uint16_t>>& set = m_sets[page % m_sets.size()];
        for (auto it = set.begin(); it != set.end(); ++it) {
            if (*it == std::pair{page, pcid}) {
                set.splice(set.begin(), set, it);
                return true;
            }
        }
        if (set.size() == m_ways) set.pop_back();
        set.emplace_front(page, pcid);
        return false;
    }

private:
    std::vector<std::list<std::pair<std::uint64_t, std::uint16_t>>> m_sets;
    unsigned m_ways;
};

// Tree-PLRU as a tree of nodes: each node covers a range of ways and remembers which half the
// victim is in; a use points every node on the way's path at the other half. Empty ways fill
// first, lowest first.
class reference_plru {
public:
    reference_plru(unsigned sets, unsigned ways) : m_ways(ways) {
        for (unsigned s = 0; s < sets; ++s) m_sets.push_back({std::vector<way>(ways), build(0, ways)});
    }

    bool access(std::uint64_t page, std::uint16_t pcid) {
        set& s = m_sets[page % m_sets.size()];
        for (unsigned w = 0; w < m_ways; ++w) {
            if (s.ways[w].valid && s.ways[w].page == page && s.ways[w].pcid == pcid) {
                use(*s.tree, w);
                return true;
            }
        }
        unsigned target = m_ways;
        for (unsigned w = 0; w < m_ways && target == m_ways; ++w) {
            if (!s.ways[w].valid) target = w;
        }
        if (target == m_ways) target = victim(*s.tree);
        s.ways[target] = {true, page, pcid};
        use(*s.tree, target);
        return false;
    }

private:
    struct node {
        unsigned low, high;  // the ways [low, high) below this node
        bool victim_in_upper_half = false;
        std::unique_ptr<node> lower, upper;
    };
    struct way {
        bool valid = false;
        std::uint64_t page = 0;
        std::uint16_t pcid = 0;
    };
    struct set {
        std::vector<way> ways;
        std::unique_ptr<node> tree;
    };

    static std::unique_ptr<node> build(unsigned low, unsigned high) {
        if (high - low < 2) return nullptr;
        auto n = std::make_unique<node>();
        n->low = low;
        n->high = high;
        n->lower = build(low, (low + high) / 2);
        n->upper = build((low + high) / 2, high);
        return n;
    }
    static void use(node& n, unsigned w) {
        const bool in_upper = w >= (n.low + n.high) / 2;
        n.victim_in_upper_half = !in_upper;
        node* next = in_upper ? n.upper.get() : n.lower.get();
        if (next) use(*next, w);
    }
    static unsigned victim(const node& n) {
        const unsigned mid = (n.low + n.high) / 2;
        const node* next = n.victim_in_upper_half ? n.upper.get() : n.lower.get();
        if (next) return victim(*next);
        return n.victim_in_upper_half ? mid : n.low;
    }

    unsigned m_ways;
    std::vector<set> m_sets;
};

// A million accesses with locality: mostly a small hot set, often a warmer one, sometimes
// anywhere, over two PCIDs, through the real TLB and the reference, access by access.
template <class Reference>
void compare_with_reference(replacement_policy policy, unsigned entries, unsigned ways) {
    machine m(single(array("l1", entries, ways, policy)));
    Reference reference(entries / ways, ways);
    std::mt19937_64 rng(20240607);
    std::uint64_t misses = 0, reference_misses = 0, disagreements = 0;
    for (int i = 0; i < 1'000'000; ++i) {
        const unsigned pick = rng() % 100;
        const std::uint64_t vpn = pick < 70   ? rng() % 24
                                  : pick < 90 ? 0x1000 + rng() % 400
                                              : rng() % (1u << 24);
        const auto pcid = static_cast<std::uint16_t>(rng() % 8 == 0);
        const bool hit = m.access(vpn << 12, mapping((vpn + 1) << 12), pcid);
        const bool reference_hit = reference.access(vpn, pcid);
        misses += !hit;
        reference_misses += !reference_hit;
        disagreements += hit != reference_hit;
    }
    CHECK(disagreements == 0);
    CHECK(misses == reference_misses);
    CHECK(m.stat("l1.misses") == reference_misses);
    CHECK(misses > 10'000);  // the trace exercises both outcomes
    CHECK(misses < 990'000);
}

}  // namespace

TEST_CASE("LRU matches a list-per-set reference over a million accesses") {
    compare_with_reference<reference_lru>(replacement_policy::lru, 64, 4);
    compare_with_reference<reference_lru>(replacement_policy::lru, 1536, 12);
}

// Sets of up to 16 ways keep their order in one word, larger ones as linked lists: both sides of
// the boundary, and a way count that is not a power of two.
TEST_CASE("LRU matches the reference with 3, 16 and 64 ways a set") {
    compare_with_reference<reference_lru>(replacement_policy::lru, 96, 3);
    compare_with_reference<reference_lru>(replacement_policy::lru, 16, 16);
    compare_with_reference<reference_lru>(replacement_policy::lru, 64, 64);
}

TEST_CASE("tree-PLRU matches a tree-of-nodes reference over a million accesses") {
    compare_with_reference<reference_plru>(replacement_policy::plru, 64, 8);
    compare_with_reference<reference_plru>(replacement_policy::plru, 16, 16);
}
