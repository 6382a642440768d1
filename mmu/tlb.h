// The TLB hierarchy: levels of set-associative arrays, each holding some page sizes for
// instruction fetches, data accesses or both, with PCID-tagged and global entries and the SDM's
// invalidations (SDM Vol. 3A, 4.10). The hit path is inline, allocation-free and non-virtual.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/stats.h"
#include "mmu/paging.h"
#include "mmu/replacement.h"

namespace memsim::mmu {

struct tlb_array_config {
    std::string name;                 // "l1d_4k": names its stats
    std::vector<page_size> sizes;     // page sizes it holds (shared arrays list several)
    unsigned entries = 64, ways = 4;  // ways == entries: fully associative
    replacement_policy policy = replacement_policy::lru;
    unsigned hit_latency = 1;               // cycles
    bool instruction = false, data = true;  // which accesses use it (both: unified)
};

struct tlb_level_config {
    std::vector<tlb_array_config> arrays;
};

struct tlb_config {
    std::vector<tlb_level_config> levels;  // level 0 first (L1), then L2 ...
    std::uint64_t seed = 1;                // seeds the random replacement of every array

    // A Skylake-class Intel core (see tlb.cpp for the sources of each figure).
    static tlb_config intel_default();
};

struct tlb_lookup {
    static constexpr std::uint32_t no_array = ~std::uint32_t{0};

    const translation* hit = nullptr;  // nullptr on a miss at every level
    unsigned level = 0;                // where it hit
    unsigned latency = 0;              // cycles spent (all levels probed)
    // The entry that answered, for tlb_hierarchy::rehit(): its array (no_array on a miss, or
    // when the hit refilled upper levels, which the next lookup would hit instead), slot and set.
    std::uint32_t array = no_array;
    std::uint32_t slot = 0;
    std::uint32_t set = 0;
};

// One cached translation. Its array keeps its key apart (tlb_key()), so a probe reads only keys.
struct tlb_entry {
    translation t;
    std::uint16_t pcid = 0;  // the PCID current when it was filled (SDM Vol. 3A, 4.10.1)
};

// An entry's key folds the page number of `linear` in pages of size `s` (linear >> page_shift(s)
// has at most 52 bits), the size and a valid bit into one word, so a probe compares once per way.
// Invalid entries hold 0, which no key equals.
constexpr std::uint64_t tlb_key(std::uint64_t linear, page_size s) {
    return (linear >> page_shift(s)) << 3 | std::uint64_t{static_cast<std::uint8_t>(s)} << 1 | 1;
}

// The page size a valid key encodes (tlb_key()'s bits 2:1).
constexpr page_size size_of_key(std::uint64_t key) { return static_cast<page_size>(key >> 1 & 3); }

// Whether the entry may translate for `pcid`: it was filled under that PCID, or it is global
// (SDM Vol. 3A, 4.10.2.4: a global translation is used whatever the current PCID).
constexpr bool usable_by(const tlb_entry& e, std::uint16_t pcid) { return e.pcid == pcid || e.t.global; }

// Why entries were invalidated; each cause is a counter of its own per array.
enum class tlb_flush_cause { cr3, invlpg, invpcid, all, drop };

// One array: entries / ways sets (a power of two) of `ways` entries. Each page size it holds
// indexes sets by the low bits of its own page number (4 KiB: linear bits 12 up; 2 MiB: 21 up).
class tlb_array {
public:
    // Throws std::invalid_argument for an impossible geometry.
    tlb_array(const tlb_array_config& config, std::uint64_t seed, const stats::scope& stats);

    // The slot of the entry that translates `linear` for `pcid`, made most recently used, and
    // its set; none if there is no such entry.
    std::size_t probe(std::uint64_t linear, std::uint16_t pcid, unsigned& set) {
        const std::size_t slot = find(linear, pcid, set);
        if (slot == none) {
            count_missed_lookup();
            m_missed = {linear, pcid};
            return none;
        }
        count_hits(1);
        m_replacement.touch(set, static_cast<unsigned>(slot - index(set, 0)));
        return slot;
    }
    const tlb_entry& entry(std::size_t slot) const { return m_entries[slot]; }
    // `times` probe()s of an address whose entry is known to be at `slot` of `set`, with nothing
    // else touched in between: the same counts and the same replacement state, without the
    // search (touching one way again changes no policy's order).
    void rehit(std::size_t slot, unsigned set, std::uint64_t times = 1) {
        count_hits(times);
        m_replacement.touch(set, static_cast<unsigned>(slot - index(set, 0)));
    }
    // A lookup of this array's level that another array of the level answered: the hardware
    // probes a level's arrays in parallel, so this one looked and missed.
    void count_missed_lookup(std::uint64_t times = 1) {
        m_lookups += times;
        m_misses += times;
    }
    // probe() without side effects: no statistics, no replacement update.
    const tlb_entry* peek(std::uint64_t linear, std::uint16_t pcid) const {
        unsigned set = 0;
        const std::size_t slot = find(linear, pcid, set);
        return slot == none ? nullptr : &m_entries[slot];
    }

    // Caches `t` (whose size this array must hold) for `pcid`, evicting if the set is full.
    void insert(std::uint64_t linear, std::uint16_t pcid, const translation& t);

    // Invalidates the entries `doomed` selects among those for the page holding `linear` (in
    // every size held) or among all entries, counting them under `cause`.
    template <class Pred>
    void invalidate_page(std::uint64_t linear, tlb_flush_cause cause, Pred doomed);
    template <class Pred>
    void invalidate_all(tlb_flush_cause cause, Pred doomed);

    bool serves(bool fetch) const { return fetch ? m_config.instruction : m_config.data; }
    const tlb_array_config& config() const { return m_config; }

    static constexpr std::size_t none = ~std::size_t{0};

private:
    struct size_index {
        unsigned shift;          // page_shift(size)
        std::uint64_t key_bits;  // tlb_key()'s low bits for the size
    };

    // The slot (set * ways + way) of the entry that translates `linear` for `pcid`, or none; its
    // set in `set`. Sizes are searched in the configuration's order (an address may have entries
    // of two sizes), but only those the array holds an entry of: most arrays that hold several
    // sizes mostly hold 4 KiB pages, and a miss would search every size's set.
    std::size_t find(std::uint64_t linear, std::uint16_t pcid, unsigned& set) const {
        for (unsigned held = m_held_sizes; held != 0; held &= held - 1) {
            const std::uint64_t key = key_of(linear, m_sizes[std::countr_zero(held)]);
            set = set_of(key);
            // Unrolled (a miss compares every way) over the keys alone: the entry is reached only
            // from a matching key, so no pointer into the entries steps along with the search.
            const std::uint64_t* const keys = m_keys.data();
            const std::uint64_t* const end = keys + index(set, m_ways);
#pragma GCC unroll 4
            for (const std::uint64_t* k = keys + index(set, 0); k != end; ++k) {
                if (*k == key && usable_by(m_entries[k - keys], pcid)) return k - keys;
            }
        }
        return none;
    }
    void count_hits(std::uint64_t times) {
        m_lookups += times;
        m_hits += times;
    }
    // tlb_key(linear, size) with the size's shift and bits at hand.
    static std::uint64_t key_of(std::uint64_t linear, const size_index& s) {
        return (linear >> s.shift) << 3 | s.key_bits;
    }
    std::size_t index(unsigned set, unsigned way) const { return std::size_t{set} * m_ways + way; }
    unsigned set_of(std::uint64_t key) const { return static_cast<unsigned>((key >> 3) & m_set_mask); }
    unsigned free_way(unsigned set, std::uint64_t key, std::uint16_t pcid, bool global);
    unsigned unused_way(unsigned set);
    // An entry of size `s` comes or goes: the counts by size, and m_held_sizes when one reaches
    // or leaves 0.
    void add_held(page_size s) {
        if (m_held[static_cast<unsigned>(s)]++ == 0) m_held_sizes |= m_size_bit[static_cast<unsigned>(s)];
    }
    void remove_held(page_size s) {
        if (--m_held[static_cast<unsigned>(s)] == 0) m_held_sizes &= ~m_size_bit[static_cast<unsigned>(s)];
    }
    // Makes the valid entry at `slot` invalid, keeping the counts (its key gives its size and set).
    void invalidate(std::size_t slot) {
        std::uint64_t& key = m_keys[slot];
        remove_held(size_of_key(key));
        --m_set_valid[set_of(key)];
        key = 0;
    }
    void count_invalidated(tlb_flush_cause cause, std::uint64_t n) {
        *m_invalidated[static_cast<unsigned>(cause)] += n;
    }

    // The hit path's members first, the configuration (names, for reports) last.
    unsigned m_ways;
    std::uint64_t m_set_mask;
    std::array<size_index, 4> m_sizes{};  // in the configuration's order
    unsigned m_size_count = 0;
    unsigned m_held_sizes = 0;               // bit i: m_sizes[i] has valid entries
    std::vector<std::uint64_t> m_keys;       // set-major, apart: a probe reads only the keys
    std::vector<tlb_entry> m_entries;        // set-major
    std::vector<std::uint32_t> m_set_valid;  // valid entries by set
    std::array<std::uint32_t, 4> m_held{};   // valid entries by page size
    std::array<unsigned, 4> m_size_bit{};    // by page size: its bit in m_held_sizes
    // The last probe that missed: no entry then translated `linear` for `pcid`, in any size held.
    // Invalidations keep that true, inserts may not (they forget it): a walk's fill right after
    // the miss knows that no entry for its page can be confused with the new one (free_way()).
    static constexpr std::uint32_t no_pcid = ~std::uint32_t{0};
    struct missed_probe {
        std::uint64_t linear = 0;
        std::uint32_t pcid = no_pcid;
    };
    missed_probe m_missed;
    replacement m_replacement;

    stats::counter& m_lookups;
    stats::counter& m_hits;
    stats::counter& m_misses;
    stats::counter& m_evictions;
    stats::counter& m_fills;
    std::array<stats::counter*, 5> m_invalidated;  // by tlb_flush_cause

    tlb_array_config m_config;
};

template <class Pred>
void tlb_array::invalidate_page(std::uint64_t linear, tlb_flush_cause cause, Pred doomed) {
    std::uint64_t n = 0;
    for (unsigned i = 0; i < m_size_count; ++i) {
        const std::uint64_t key = key_of(linear, m_sizes[i]);
        const std::size_t first = index(set_of(key), 0);
        for (std::size_t slot = first; slot != first + m_ways; ++slot) {
            if (m_keys[slot] != key || !doomed(m_entries[slot])) continue;
            invalidate(slot);
            ++n;
        }
    }
    count_invalidated(cause, n);
}

template <class Pred>
void tlb_array::invalidate_all(tlb_flush_cause cause, Pred doomed) {
    std::uint64_t n = 0;
    for (std::size_t slot = 0; slot != m_keys.size(); ++slot) {
        if (m_keys[slot] == 0 || !doomed(m_entries[slot])) continue;
        invalidate(slot);
        ++n;
    }
    count_invalidated(cause, n);
}

// The hierarchy the CPU core consults. A pointer it returns stays valid until the next call to
// a non-const member (a lookup too: an L2 hit refills L1). translation.global must already be
// G && CR4.PGE (SDM Vol. 3A, 4.10.2.4).
class tlb_hierarchy {
public:
    // Throws std::invalid_argument for an impossible geometry, or for two arrays of one level
    // that serve the same port and page size (a fill would not know which to use).
    tlb_hierarchy(const tlb_config& config, stats::scope stats);
    // Its counters live in the registry: a copy would count into the same ones.
    tlb_hierarchy(const tlb_hierarchy&) = delete;
    tlb_hierarchy& operator=(const tlb_hierarchy&) = delete;

    // Probes level by level (within a level every array serving this port, since the page size
    // is unknown before the lookup); a hit below L1 fills the levels above (inclusive-on-fill,
    // like Intel's STLB refilling the L1 TLBs). Latency: each probed level costs the largest
    // hit_latency of its arrays for this port.
    tlb_lookup lookup(std::uint64_t linear, std::uint16_t pcid, bool fetch);
    // Counts and touches exactly as lookup() did when it returned `hit` (a hit with an array),
    // without the search: valid for the same page, PCID and port while contents() is unchanged,
    // since the search depends on the entries alone. A lookup that hit the same entry again
    // would touch it again, so the replacement state is the same too. `times` stands for that
    // many such lookups with no other lookup of the hierarchy in between.
    void rehit(const tlb_lookup& hit, bool fetch, std::uint64_t times = 1);
    // Changes whenever an entry is written or invalidated (lookups that refill included).
    std::uint64_t contents() const { return m_contents; }
    // After a walk: insert into the array of every level that serves this port and page size.
    void fill(std::uint64_t linear, std::uint16_t pcid, bool fetch, const translation& t);

    // SDM Vol. 3A, 4.10.4.1. The CPU decides which to call when.
    // INVLPG: the page's entries for `pcid` and the page's global entries, of every size.
    void invlpg(std::uint64_t linear, std::uint16_t pcid);
    // MOV to CR3 without the no-flush bit: keep_global = true drops the PCID's non-global
    // entries; keep_global = false drops every entry `pcid` could use, global ones included.
    void flush_pcid(std::uint16_t pcid, bool keep_global);
    // Every entry (keep_global = false: CR4.PGE toggled, CR4.PCIDE cleared, CR0.PG changed) or
    // every non-global entry (keep_global = true).
    void flush_all(bool keep_global);
    // The page's entries of every PCID, global or not.
    void invalidate_page_any_pcid(std::uint64_t linear);
    // INVPCID types 0..3 (individual address, single context, all contexts with globals, all
    // contexts without); other types throw std::invalid_argument (the CPU raises #GP first).
    void invpcid(unsigned type, std::uint16_t pcid, std::uint64_t linear);
    // A write hit found dirty == false, a permission check failed on a hit, or a page fault:
    // drop every entry this port would use for the page, so the CPU walks again (SDM Vol. 3A,
    // 4.8 and 4.10.4.1 "Page faults").
    void drop(std::uint64_t linear, std::uint16_t pcid, bool fetch);

    // The translation level `level` holds for this port, without side effects (for tests and
    // inspection).
    const translation* peek(std::uint64_t linear, std::uint16_t pcid, bool fetch, unsigned level) const;
    unsigned levels() const { return m_level_count; }

private:
    // One level as one port sees it: its arrays are m_ports[].arrays[first, first + count).
    struct level_probe {
        unsigned level;
        unsigned latency;
        std::uint32_t first;
        std::uint32_t count;
    };
    struct port {
        std::vector<level_probe> levels;
        std::vector<std::uint32_t> arrays;
        // Per page size, the array of each level that caches it, upper levels first.
        std::array<std::vector<std::uint32_t>, 4> fill_targets;
    };

    port& port_for(bool fetch) { return m_ports[fetch ? 1 : 0]; }
    const port& port_for(bool fetch) const { return m_ports[fetch ? 1 : 0]; }
    void build_port(bool fetch);
    void add_fill_target(std::vector<std::uint32_t>& targets, std::uint32_t id, bool fetch, page_size s);
    // True if it wrote an entry.
    bool refill_above(const port& p, unsigned level, std::uint64_t linear, std::uint16_t pcid,
                      const translation& t);

    std::vector<tlb_array> m_arrays;
    std::uint64_t m_contents = 0;         // bumped by every change of any array's entries
    std::vector<unsigned> m_array_level;  // the level of each array
    unsigned m_level_count = 0;
    std::array<port, 2> m_ports;  // data, instruction

    stats::counter& m_lookups;
    stats::counter& m_misses;
    std::array<stats::counter*, 4> m_misses_by_size;  // by the page size the walk found
};

inline tlb_lookup tlb_hierarchy::lookup(std::uint64_t linear, std::uint16_t pcid, bool fetch) {
    ++m_lookups;
    const port& p = port_for(fetch);
    tlb_lookup result;
    for (const level_probe& lv : p.levels) {
        result.latency += lv.latency;
        const std::uint32_t* ids = &p.arrays[lv.first];
        for (std::uint32_t i = 0; i < lv.count; ++i) {
            unsigned set = 0;
            const std::size_t slot = m_arrays[ids[i]].probe(linear, pcid, set);
            if (slot == tlb_array::none) continue;
            for (std::uint32_t j = i + 1; j < lv.count; ++j) m_arrays[ids[j]].count_missed_lookup();
            const tlb_entry& e = m_arrays[ids[i]].entry(slot);
            result.hit = &e.t;
            result.level = lv.level;
            if (&lv != &p.levels.front() && refill_above(p, lv.level, linear, pcid, e.t)) return result;
            result.array = ids[i];
            result.slot = static_cast<std::uint32_t>(slot);
            result.set = set;
            return result;
        }
    }
    ++m_misses;
    return result;
}

inline void tlb_hierarchy::rehit(const tlb_lookup& hit, bool fetch, std::uint64_t times) {
    m_lookups += times;
    const port& p = port_for(fetch);
    for (const level_probe& lv : p.levels) {
        const std::uint32_t* ids = &p.arrays[lv.first];
        for (std::uint32_t i = 0; i < lv.count; ++i) {
            if (ids[i] != hit.array) {
                m_arrays[ids[i]].count_missed_lookup(times);
                continue;
            }
            m_arrays[ids[i]].rehit(hit.slot, hit.set, times);
            for (std::uint32_t j = i + 1; j < lv.count; ++j) m_arrays[ids[j]].count_missed_lookup(times);
            return;
        }
    }
}

}  // namespace memsim::mmu
