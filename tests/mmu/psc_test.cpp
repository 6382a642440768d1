// Paging-structure caches (SDM Vol. 3A, 4.10.3): tags, LRU replacement, invalidation by PCID,
// and walks that start below a hit, with the exact number of entries they read; long random
// traces checked against a slow, obviously correct reference model.
#include "mmu/psc.h"

#include <array>
#include <list>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "fake_memory.h"
#include "mmu/walker.h"

using namespace memsim;
using namespace memsim::mmu;
using memsim::mmu::testing::fake_memory;
using memsim::mmu::testing::paging_registers;

namespace {

namespace ef = entry_flag;

std::uint64_t counter(const stats::registry& registry, const char* name) {
    const std::optional<std::uint64_t> v = registry.value(name);
    REQUIRE(v);
    return *v;
}

psc_entry entry_at(std::uint64_t table) { return psc_entry{table, {}}; }

// A 4-level (or 5-level) machine with caches and 4 KiB pages mapped at the given addresses.
struct machine {
    stats::registry registry;
    fake_memory memory;
    paging_structure_caches caches;
    walker w;
    std::uint64_t root;

    explicit machine(paging_mode mode, const std::vector<std::uint64_t>& pages, psc_config config = {})
        : caches(config, registry.under("psc")),
          w(&caches, registry.under("walker")),
          root(memory.new_table()) {
        for (std::uint64_t linear : pages)
            memory.map_4k(mode, root, linear, 0x1'0000'0000 + linear % 0x1000'0000, ef::p | ef::rw | ef::us);
    }

    walk_result walk(const control_registers& cr, std::uint64_t linear, bool user = false) {
        return w.walk(cr, access{linear, access_kind::read, user, false}, memory);
    }
};

}  // namespace

// SDM 4.10.3.1: entries are tagged by PCID and by the linear-address bits that select the
// entry: 47:21 (56:21) for the PDE cache, 47:30 for PDPTEs, 47:39 for PML4Es, 56:48 for PML5Es.
TEST_CASE("a cache entry serves its PCID and the linear range its entry maps") {
    stats::registry registry;
    paging_structure_caches caches({}, registry.under("psc"));
    caches.fill(psc_level::pde, 1, 0x40'0000, psc_entry{0x5000, {false, true, true}});

    std::optional<psc_entry> hit = caches.lookup(psc_level::pde, 1, 0x5f'ffff);
    REQUIRE(hit);
    CHECK(hit->table == 0x5000);
    CHECK_FALSE(hit->rights.writable);
    CHECK(hit->rights.user);
    CHECK(hit->rights.xd);
    CHECK_FALSE(caches.lookup(psc_level::pde, 1, 0x60'0000));
    CHECK_FALSE(caches.lookup(psc_level::pde, 1, 0x3f'ffff));
    CHECK_FALSE(caches.lookup(psc_level::pde, 2, 0x40'0000));
    CHECK_FALSE(caches.lookup(psc_level::pdpte, 1, 0x40'0000));

    caches.fill(psc_level::pml4e, 1, 0x0000'7f80'0000'0000, entry_at(0x6000));
    CHECK(caches.lookup(psc_level::pml4e, 1, 0x0000'7fff'ffff'ffff));
    CHECK_FALSE(caches.lookup(psc_level::pml4e, 1, 0x0000'7f7f'ffff'ffff));
    caches.fill(psc_level::pml5e, 0, 0x00ff'0000'0000'0000, entry_at(0x7000));
    CHECK(caches.lookup(psc_level::pml5e, 0, 0x00ff'ffff'ffff'ffff));

    CHECK(counter(registry, "psc.pde.lookups") == 4);
    CHECK(counter(registry, "psc.pde.hits") == 1);
    CHECK(counter(registry, "psc.pde.misses") == 3);
    CHECK(counter(registry, "psc.pdpte.misses") == 1);
    CHECK(counter(registry, "psc.pml4e.hits") == 1);
    CHECK(counter(registry, "psc.pml5e.hits") == 1);
}

// The walker's form of an entry: P, the table's bits, and the rights as it combines them (R/W
// and U/S set while granted, bit 63 set while no entry has XD), so a hit is already a rights mask.
TEST_CASE("a cache entry as one word: P, the table, and the rights in the shape of an entry") {
    const std::uint64_t table = 0x000f'ffff'ffff'f000;
    for (bool writable : {false, true})
        for (bool user : {false, true})
            for (bool xd : {false, true}) {
                const psc_entry entry{table, {writable, user, xd}};
                const std::uint64_t word = psc_word::of(entry);
                CHECK((word & ef::p) != 0);
                CHECK((word & psc_word::table) == table);
                CHECK(((word & ef::rw) != 0) == writable);
                CHECK(((word & ef::us) != 0) == user);
                CHECK(((word & ef::xd) == 0) == xd);
                const psc_entry back = psc_word::entry_of(word);
                CHECK(back.table == table);
                CHECK(back.rights.writable == writable);
                CHECK(back.rights.user == user);
                CHECK(back.rights.xd == xd);
            }
    // Bits of a path's rights mask other than R/W, U/S and bit 63 do not reach the word.
    CHECK(psc_word::of(0x5000, ~std::uint64_t{0}) == (0x5000 | psc_word::rights | ef::p));

    stats::registry registry;
    paging_structure_caches caches({}, registry.under("psc"));
    CHECK(caches.lookup_word(psc_level::pdpte, 3, 0x4000'0000) == 0);
    caches.fill_word(psc_level::pdpte, 3, 0x4000'0000, psc_word::of(0x7000, ef::us));
    CHECK(caches.lookup_word(psc_level::pdpte, 3, 0x7fff'ffff) == (0x7000 | ef::us | ef::p));
}

TEST_CASE("a full cache replaces its least recently used entry; refilling a tag replaces it") {
    stats::registry registry;
    paging_structure_caches caches({.pde = 2}, registry.under("psc"));
    caches.fill(psc_level::pde, 0, 0x00'0000, entry_at(0x1000));
    caches.fill(psc_level::pde, 0, 0x20'0000, entry_at(0x2000));
    CHECK(caches.lookup(psc_level::pde, 0, 0x00'0000));  // now the most recently used
    caches.fill(psc_level::pde, 0, 0x40'0000, entry_at(0x3000));
    CHECK(counter(registry, "psc.pde.evictions") == 1);
    CHECK_FALSE(caches.lookup(psc_level::pde, 0, 0x20'0000));
    CHECK(caches.lookup(psc_level::pde, 0, 0x00'0000)->table == 0x1000);
    CHECK(caches.lookup(psc_level::pde, 0, 0x40'0000)->table == 0x3000);

    caches.fill(psc_level::pde, 0, 0x40'0000, entry_at(0x4000));
    CHECK(caches.valid_entries(psc_level::pde) == 2);
    CHECK(caches.lookup(psc_level::pde, 0, 0x40'0000)->table == 0x4000);
    CHECK(counter(registry, "psc.pde.evictions") == 1);
}

TEST_CASE("a cache of 0 entries is disabled: never filled, never looked up") {
    stats::registry registry;
    paging_structure_caches caches({.pml5e = 0, .pml4e = 0, .pdpte = 0, .pde = 0}, registry.under("psc"));
    caches.fill(psc_level::pde, 0, 0x40'0000, entry_at(0x1000));
    CHECK_FALSE(caches.lookup(psc_level::pde, 0, 0x40'0000));
    CHECK(caches.capacity(psc_level::pde) == 0);
    CHECK(counter(registry, "psc.pde.lookups") == 0);
    // A walk fills the caches whose lookups missed: a disabled one stays empty.
    caches.fill(psc_level::pde, 0, 0x40'0000, entry_at(0x1000));
    CHECK(caches.valid_entries(psc_level::pde) == 0);
    CHECK(counter(registry, "psc.pde.misses") == 0);
}

// SDM 4.10.4.1: INVLPG and INVPCID drop every paging-structure-cache entry of the PCID,
// whatever its address; MOV to CR3 without PCIDs drops everything.
TEST_CASE("invalidate_pcid drops only that PCID; invalidate_all drops everything") {
    stats::registry registry;
    paging_structure_caches caches({}, registry.under("psc"));
    for (std::uint16_t pcid : {1, 2}) {
        caches.fill(psc_level::pml4e, pcid, 0, entry_at(0x1000));
        caches.fill(psc_level::pdpte, pcid, 0, entry_at(0x2000));
        caches.fill(psc_level::pde, pcid, 0, entry_at(0x3000));
        caches.fill(psc_level::pde, pcid, 0x20'0000, entry_at(0x4000));
    }
    caches.invalidate_pcid(1);
    CHECK_FALSE(caches.lookup(psc_level::pde, 1, 0x20'0000));
    CHECK_FALSE(caches.lookup(psc_level::pml4e, 1, 0));
    CHECK(caches.lookup(psc_level::pde, 2, 0x20'0000));
    CHECK(caches.lookup(psc_level::pml4e, 2, 0));
    CHECK(counter(registry, "psc.pde.invalidations") == 2);
    CHECK(counter(registry, "psc.pml4e.invalidations") == 1);

    caches.invalidate_all();
    CHECK(caches.valid_entries(psc_level::pml4e) == 0);
    CHECK(caches.valid_entries(psc_level::pdpte) == 0);
    CHECK(caches.valid_entries(psc_level::pde) == 0);
    CHECK(counter(registry, "psc.pde.invalidations") == 4);
}

// SDM 4.10.3.2: a walk uses the deepest cache hit and reads only the entries below it.
TEST_CASE("neighbouring pages skip the levels the caches hold") {
    machine m(paging_mode::ia32e_4, {0x40'0000, 0x40'1000, 0x60'0000, 0x4000'0000, 0x80'0000'0000});
    control_registers cr = paging_registers(paging_mode::ia32e_4, m.root);

    walk_result r = m.walk(cr, 0x40'0000);
    CHECK(r.reads == 4);
    CHECK(r.skipped == 0);

    m.memory.read_log.clear();
    r = m.walk(cr, 0x40'1234);  // same page table: PDE-cache hit, only the PTE is read
    REQUIRE(r.ok());
    CHECK(r.result.frame == 0x1'0040'1000);
    CHECK(r.reads == 1);
    CHECK(r.skipped == 3);
    CHECK(r.writes == 1);  // the new PTE's A; the entries above already have theirs
    CHECK(m.memory.read_log == std::vector<std::uint64_t>{0x10'3008});

    r = m.walk(cr, 0x60'0000);  // same page directory: PDPTE-cache hit
    CHECK(r.reads == 2);
    CHECK(r.skipped == 2);
    r = m.walk(cr, 0x4000'0000);  // same PDPT: PML4E-cache hit
    CHECK(r.reads == 3);
    CHECK(r.skipped == 1);
    r = m.walk(cr, 0x80'0000'0000);  // another PML4E: nothing cached
    CHECK(r.reads == 4);
    CHECK(r.skipped == 0);
    CHECK(counter(m.registry, "walker.skipped_levels") == 6);
    CHECK(counter(m.registry, "walker.reads") == 14);

    SUBCASE("invalidate_pcid makes the walk read every level again") {
        m.caches.invalidate_pcid(0);
        CHECK(m.walk(cr, 0x40'1000).reads == 4);
        CHECK(m.walk(cr, 0x40'0000).reads == 1);
    }
    SUBCASE("invalidate_all too") {
        m.caches.invalidate_all();
        CHECK(m.walk(cr, 0x40'1000).reads == 4);
    }
    SUBCASE("invalidating another PCID keeps these entries") {
        m.caches.invalidate_pcid(1);
        CHECK(m.walk(cr, 0x40'1000).reads == 1);
    }
}

TEST_CASE("5-level paging: a PDE-cache hit skips four levels") {
    machine m(paging_mode::ia32e_5, {0x40'0000, 0x40'1000, 0x0100'0000'0000'0000 - 0x1000});
    control_registers cr = paging_registers(paging_mode::ia32e_5, m.root);
    CHECK(m.walk(cr, 0x40'0000).reads == 5);
    walk_result r = m.walk(cr, 0x40'1000);
    CHECK(r.reads == 1);
    CHECK(r.skipped == 4);
    r = m.walk(cr, 0x00ff'ffff'ffff'f000);  // PML5E 0xff: nothing cached
    CHECK(r.reads == 5);
}

// SDM 4.10.1: with CR4.PCIDE = 1, entries are created for the current PCID (CR3[11:0]) and
// used only under it.
TEST_CASE("PCIDs keep separate entries") {
    machine m(paging_mode::ia32e_4, {0x40'0000, 0x40'1000, 0x40'2000});
    control_registers pcid1 = paging_registers(paging_mode::ia32e_4, m.root | 1, cr4::pcide);
    control_registers pcid2 = paging_registers(paging_mode::ia32e_4, m.root | 2, cr4::pcide);
    CHECK(m.walk(pcid1, 0x40'0000).reads == 4);
    CHECK(m.walk(pcid2, 0x40'1000).reads == 4);
    CHECK(m.walk(pcid1, 0x40'2000).reads == 1);
    m.caches.invalidate_pcid(2);
    CHECK(m.walk(pcid1, 0x40'1000).reads == 1);
    CHECK(m.walk(pcid2, 0x40'2000).reads == 4);
}

// SDM 4.10.3.1: a cache entry holds the rights of the entries above the next table, so a walk
// that starts below them still honours them.
TEST_CASE("rights cached with an entry still apply to a walk that skips it") {
    stats::registry registry;
    fake_memory memory;
    paging_structure_caches caches({}, registry.under("psc"));
    walker w(&caches, registry.under("walker"));
    std::uint64_t root = memory.new_table();
    for (std::uint64_t linear : {0x40'0000, 0x40'1000})
        memory.map(paging_mode::ia32e_4, root, linear, linear, page_size::size_4k, ef::p | ef::rw | ef::us,
                   ef::p | ef::rw);  // supervisor-only tables above user PTEs
    control_registers cr = paging_registers(paging_mode::ia32e_4, root);

    REQUIRE(w.walk(cr, access{0x40'0000, access_kind::read, false, false}, memory).ok());
    walk_result r = w.walk(cr, access{0x40'1000, access_kind::read, true, false}, memory);
    CHECK(r.fault == fault_kind::page_fault);
    CHECK(r.error_code == (pf::p | pf::us));
    CHECK(r.reads == 1);
    CHECK(r.skipped == 3);
}

// SDM 4.10.4: software must invalidate after changing a paging-structure entry; until it does,
// the walk may use the cached copy. Faulting walks create no entries in this model.
TEST_CASE("a stale cache entry is used until invalidated; faulting walks fill nothing") {
    machine m(paging_mode::ia32e_4, {0x40'0000});
    control_registers cr = paging_registers(paging_mode::ia32e_4, m.root);

    CHECK(m.walk(cr, 0x40'1000).fault == fault_kind::page_fault);  // PTE not present
    CHECK(m.walk(cr, 0x40'0000).reads == 4);                       // nothing was cached

    // Point the PDE at a new page table that maps 0x401000.
    std::uint64_t pde = 0x10'2000 + 2 * 8;
    std::uint64_t table = m.memory.new_table();
    m.memory.poke(table + 8, 0xabc000 | ef::p);
    m.memory.poke(pde, table | ef::p | ef::rw | ef::us | ef::a);
    CHECK(m.walk(cr, 0x40'1000).fault == fault_kind::page_fault);  // still the old page table

    m.caches.invalidate_pcid(0);
    walk_result r = m.walk(cr, 0x40'1000);
    REQUIRE(r.ok());
    CHECK(r.result.frame == 0xabc000);
}

// Only IA-32e walks use the caches (the SDM allows PAE PDE caching too; not modelled).
TEST_CASE("PAE and 32-bit walks neither use nor fill the caches") {
    for (paging_mode mode : {paging_mode::pae, paging_mode::bits32}) {
        machine m(mode, {0x40'0000, 0x40'1000});
        control_registers cr = paging_registers(mode, m.root);
        unsigned levels = mode == paging_mode::pae ? 3 : 2;
        CHECK(m.walk(cr, 0x40'0000).reads == levels);
        CHECK(m.walk(cr, 0x40'1000).reads == levels);
        CHECK(counter(m.registry, "psc.pde.lookups") == 0);
        CHECK(m.caches.valid_entries(psc_level::pde) == 0);
    }
}

// ---- reference model ----

namespace {

// One cache as the model promises it, the slow and obvious way: fully associative, true LRU as
// a list in recency order searched front to back, tagged by PCID and linear-address bits 56:k
// (k = 48, 39, 30, 21 for PML5E, PML4E, PDPTE and PDE caches: SDM 4.10.3.1).
class reference_cache {
public:
    using tag = std::pair<std::uint16_t, std::uint64_t>;  // PCID, linear bits 56:k

    explicit reference_cache(unsigned capacity) : m_capacity(capacity) {}

    // A disabled cache (no entries) is never asked: its lookups are not counted.
    std::optional<psc_entry> lookup(const tag& t) {
        if (m_capacity == 0) return std::nullopt;
        ++lookups;
        const auto it = find(t);
        if (it == m_entries.end()) {
            ++misses;
            return std::nullopt;
        }
        ++hits;
        m_entries.splice(m_entries.begin(), m_entries, it);
        return it->second;
    }
    void fill(const tag& t, const psc_entry& e) {
        if (m_capacity == 0) return;
        if (const auto it = find(t); it != m_entries.end()) {
            it->second = e;
            m_entries.splice(m_entries.begin(), m_entries, it);
            return;
        }
        if (m_entries.size() == m_capacity) {
            m_entries.pop_back();
            ++evictions;
        }
        m_entries.emplace_front(t, e);
    }
    // Drops the entries of `pcid`, or of every PCID.
    void invalidate(std::optional<std::uint16_t> pcid) {
        invalidations += m_entries.remove_if(
            [&](const std::pair<tag, psc_entry>& e) { return !pcid || e.first.first == *pcid; });
    }
    std::size_t size() const { return m_entries.size(); }

    std::uint64_t lookups = 0, hits = 0, misses = 0, evictions = 0, invalidations = 0;

private:
    std::list<std::pair<tag, psc_entry>>::iterator find(const tag& t) {
        for (auto it = m_entries.begin(); it != m_entries.end(); ++it)
            if (it->first == t) return it;
        return m_entries.end();
    }

    unsigned m_capacity;
    std::list<std::pair<tag, psc_entry>> m_entries;  // most recently used first
};

constexpr std::array<psc_level, 4> all_levels = {psc_level::pml5e, psc_level::pml4e, psc_level::pdpte,
                                                 psc_level::pde};
constexpr std::array<const char*, 4> level_names = {"pml5e", "pml4e", "pdpte", "pde"};

reference_cache::tag tag_of(psc_level level, std::uint16_t pcid, std::uint64_t linear) {
    const unsigned k = 48 - 9 * static_cast<unsigned>(level);
    return {pcid, (linear & ((std::uint64_t{1} << 57) - 1)) >> k};
}

bool same(const std::optional<psc_entry>& a, const std::optional<psc_entry>& b) {
    if (!a || !b) return !a && !b;
    return a->table == b->table && a->rights.writable == b->rights.writable &&
           a->rights.user == b->rights.user && a->rights.xd == b->rights.xd;
}

// Random lookups, fills (half of them of the key the last lookup missed, as a walk fills) and
// invalidations, through both forms of the interface, on linear addresses drawn so that the
// levels' tags collide often: every answer, every valid count and every counter must agree.
void compare_with_reference(const psc_config& config, std::uint64_t seed, unsigned steps) {
    stats::registry registry;
    paging_structure_caches caches(config, registry.under("psc"));
    const std::array<unsigned, 4> capacities = {config.pml5e, config.pml4e, config.pdpte, config.pde};
    std::vector<reference_cache> reference(capacities.begin(), capacities.end());
    std::mt19937_64 random(seed);
    const auto below = [&](std::uint64_t n) { return random() % n; };
    const auto draw_linear = [&] {
        return below(2) << 48 | below(3) << 39 | below(4) << 30 | below(12) << 21 | below(1u << 21);
    };
    const auto draw_entry = [&] {
        return psc_entry{random() & 0x000f'ffff'ffff'f000, {below(2) == 0, below(2) == 0, below(2) == 0}};
    };
    struct {
        psc_level level = psc_level::pde;
        std::uint16_t pcid = 0;
        std::uint64_t linear = 0;
    } missed;
    unsigned disagreements = 0;
    for (unsigned step = 0; step < steps; ++step) {
        const std::uint64_t choice = below(100);
        const psc_level level = all_levels[below(4)];
        const auto pcid = static_cast<std::uint16_t>(below(3));
        const std::uint64_t linear = draw_linear();
        reference_cache& ref = reference[static_cast<unsigned>(level)];
        if (choice < 30) {
            const std::optional<psc_entry> expected = ref.lookup(tag_of(level, pcid, linear));
            disagreements += !same(caches.lookup(level, pcid, linear), expected);
            if (!expected) missed = {level, pcid, linear};
        } else if (choice < 45) {
            const std::optional<psc_entry> expected = ref.lookup(tag_of(level, pcid, linear));
            disagreements +=
                caches.lookup_word(level, pcid, linear) != (expected ? psc_word::of(*expected) : 0);
            if (!expected) missed = {level, pcid, linear};
        } else if (choice < 65) {
            const psc_entry e = draw_entry();
            reference[static_cast<unsigned>(missed.level)].fill(
                tag_of(missed.level, missed.pcid, missed.linear), e);
            caches.fill_word(missed.level, missed.pcid, missed.linear, psc_word::of(e));
        } else if (choice < 97) {
            const psc_entry e = draw_entry();
            ref.fill(tag_of(level, pcid, linear), e);
            caches.fill(level, pcid, linear, e);
        } else if (choice < 99) {
            for (reference_cache& r : reference) r.invalidate(pcid);
            caches.invalidate_pcid(pcid);
        } else {
            for (reference_cache& r : reference) r.invalidate(std::nullopt);
            caches.invalidate_all();
        }
    }
    CHECK(disagreements == 0);
    for (psc_level level : all_levels) {
        const reference_cache& ref = reference[static_cast<unsigned>(level)];
        const std::string name = std::string("psc.") + level_names[static_cast<unsigned>(level)] + ".";
        INFO("cache ", name);
        CHECK(caches.capacity(level) == capacities[static_cast<unsigned>(level)]);
        CHECK(caches.valid_entries(level) == ref.size());
        CHECK(counter(registry, (name + "lookups").c_str()) == ref.lookups);
        CHECK(counter(registry, (name + "hits").c_str()) == ref.hits);
        CHECK(counter(registry, (name + "misses").c_str()) == ref.misses);
        CHECK(counter(registry, (name + "evictions").c_str()) == ref.evictions);
        CHECK(counter(registry, (name + "invalidations").c_str()) == ref.invalidations);
    }
}

}  // namespace

TEST_CASE("random traces: the caches answer, count and evict as a true-LRU reference model does") {
    // The default sizes; one entry each; disabled levels beside odd sizes; sizes past the
    // 16-way word LRU and the hashed index's small cases.
    const std::array<psc_config, 5> configs = {psc_config{},
                                               {.pml5e = 1, .pml4e = 1, .pdpte = 1, .pde = 1},
                                               {.pml5e = 0, .pml4e = 3, .pdpte = 0, .pde = 17},
                                               {.pml5e = 8, .pml4e = 16, .pdpte = 24, .pde = 100},
                                               {.pml5e = 2, .pml4e = 5, .pdpte = 7, .pde = 300}};
    std::uint64_t seed = 1;
    for (const psc_config& config : configs) {
        INFO("caches ", config.pml5e, "/", config.pml4e, "/", config.pdpte, "/", config.pde);
        compare_with_reference(config, seed++, 100'000);
    }
}
