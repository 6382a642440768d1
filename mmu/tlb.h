// The TLB hierarchy: levels of set-associative arrays, each holding some page sizes for
// instruction fetches, data accesses or both, with PCID-tagged and global entries and the SDM's
// invalidations (SDM Vol. 3A, 4.10). The lookup's filter, the rehit of a known entry and the
// usual fill after a walk are inline; no path allocates or calls virtually.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
    // when the hit refilled upper levels, which the next lookup would hit instead), slot and set,
    // and the array's place in the port's probe order.
    std::uint32_t array = no_array;
    std::uint32_t slot = 0;
    std::uint32_t set = 0;
    std::uint32_t step = 0;
};

// One cached translation. Its array keeps its key apart (tlb_key()), so a probe reads only keys.
struct tlb_entry {
    translation t;
    std::uint16_t pcid = 0;  // the PCID current when it was filled (SDM Vol. 3A, 4.10.1)
};

// page_shift() by page_size's value: every lookup and fill builds a key, and the switch would
// cost a range check each time.
inline constexpr std::array<std::uint8_t, 4> key_shift{
    page_shift(page_size::size_4k), page_shift(page_size::size_2m), page_shift(page_size::size_4m),
    page_shift(page_size::size_1g)};

// An entry's key folds the page number of `linear` in pages of size `s` (linear >> page_shift(s)
// has at most 52 bits), the size and a valid bit into one word, so a probe compares once per way.
// Invalid entries hold 0, which no key equals.
constexpr std::uint64_t tlb_key(std::uint64_t linear, page_size s) {
    const unsigned size = static_cast<std::uint8_t>(s);
    return (linear >> key_shift[size]) << 3 | size << 1 | 1;
}

// The page size a valid key encodes (tlb_key()'s bits 2:1).
constexpr std::uint64_t size_bits = 6;
constexpr page_size size_of_key(std::uint64_t key) { return static_cast<page_size>((key & size_bits) >> 1); }

// Whether the entry may translate for `pcid`: it was filled under that PCID, or it is global
// (SDM Vol. 3A, 4.10.2.4: a global translation is used whatever the current PCID).
constexpr bool usable_by(const tlb_entry& e, std::uint16_t pcid) { return e.pcid == pcid || e.t.global; }

// The keys of the valid entries of all of a hierarchy's arrays, counted by hash bucket, and the
// page sizes some array holds. A lookup whose page has an empty bucket in every size held can
// hit nowhere, so it skips the probes, whose only effect would be their miss counts: most
// lookups of a TLB-hostile workload (random pages over more than the STLB covers) do. A fill
// whose key has an empty bucket has no entry to replace.
class tlb_filter {
public:
    // For arrays of `entries` entries in all.
    explicit tlb_filter(std::size_t entries);

    void add(std::uint64_t key) { ++m_counts[bucket(key)]; }
    void remove(std::uint64_t key) { --m_counts[bucket(key)]; }
    // remove(out), add(in): both buckets found before either count changes.
    void replace(std::uint64_t out, std::uint64_t in) {
        const std::size_t from = bucket(out), to = bucket(in);
        --m_counts[from];
        ++m_counts[to];
    }
    // Some array's entries of size `s` went from none to some, or back.
    void size_held(page_size s) {
        if (m_arrays_holding[static_cast<unsigned>(s)]++ == 0) m_sizes |= 1u << static_cast<unsigned>(s);
    }
    void size_dropped(page_size s) {
        if (--m_arrays_holding[static_cast<unsigned>(s)] == 0) m_sizes &= ~(1u << static_cast<unsigned>(s));
    }
    // False if no array holds an entry under `key`.
    bool may_hold_key(std::uint64_t key) const { return m_counts[bucket(key)] != 0; }
    // False if no array holds an entry for the page of `linear`, in any size.
    bool may_hold(std::uint64_t linear) const {
        for (unsigned sizes = m_sizes; sizes != 0; sizes &= sizes - 1) {
            if (may_hold_key(tlb_key(linear, static_cast<page_size>(std::countr_zero(sizes))))) return true;
        }
        return false;
    }

private:
    // Fibonacci hashing: the product's top bits, so neighbouring pages spread.
    std::size_t bucket(std::uint64_t key) const {
        return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ull) >> m_shift);
    }

    unsigned m_sizes = 0;                 // bit i: some array holds pages of size i (page_size's value)
    unsigned m_shift = 64;                // 64 - log2(buckets)
    std::vector<std::uint32_t> m_counts;  // valid entries by bucket: at most all the entries
    std::array<unsigned, 4> m_arrays_holding{};  // by page size
};

// Why entries were invalidated; each cause is a counter of its own per array.
enum class tlb_flush_cause { cr3, invlpg, invpcid, all, drop };

// One array: entries / ways sets (a power of two) of `ways` entries. Each page size it holds
// indexes sets by the low bits of its own page number (4 KiB: linear bits 12 up; 2 MiB: 21 up).
// Its lookups, hits and fills are counted by the hierarchy, which knows them for all its arrays
// at once; the array counts what only it knows (refills, fills that evicted nothing, flushes).
class tlb_array {
public:
    // Throws std::invalid_argument for an impossible geometry. `filter` counts its entries.
    tlb_array(const tlb_array_config& config, std::uint64_t seed, const stats::scope& stats,
              tlb_filter& filter);

    // The slot of the entry that translates `linear` for `pcid`, made most recently used, and
    // its set; none if there is no such entry.
    std::size_t probe(std::uint64_t linear, std::uint16_t pcid, unsigned& set) {
        const std::size_t slot = find(linear, pcid, set);
        if (slot != none) touch(slot, set);
        return slot;
    }
    const tlb_entry& entry(std::size_t slot) const { return m_entries[slot]; }
    // The entry at `slot` of `set` was used again: a probe() that found it, without the search
    // (touching one way again changes no policy's order).
    void touch(std::size_t slot, unsigned set) {
        m_replacement.touch(set, static_cast<unsigned>(slot - index(set, 0)));
    }
    // probe() without side effects: no replacement update.
    const tlb_entry* peek(std::uint64_t linear, std::uint16_t pcid) const {
        unsigned set = 0;
        const std::size_t slot = find(linear, pcid, set);
        return slot == none ? nullptr : &m_entries[slot];
    }

    // Caches `t` (whose size this array must hold) for `pcid` under `key` (tlb_key() of its
    // page). An entry for the same page that a lookup could confuse with the new one (same PCID,
    // or either of them global) is replaced, so at most one entry answers any lookup and a
    // re-walk after drop() or a stale hit never leaves two; else the new one goes into the lowest
    // invalid way, else over the policy's victim. A call: the fill's usual case is
    // insert_absent().
    [[gnu::noinline]] void insert(std::uint64_t key, std::uint16_t pcid, const translation& t);
    // insert() when the caller knows there is nothing to replace: no entry has `key` and may be
    // used by `pcid` (or, if `t` is global, by any PCID). A full set is then not searched.
    // Inline even where GCC would call it: the usual fill after a walk, half the TLBs' cost.
    [[gnu::always_inline]] void insert_absent(std::uint64_t key, std::uint16_t pcid, const translation& t) {
        const unsigned set = set_of(key);
        if (!is_full(set)) return insert_free(set, key, pcid, t);
        // The usual fill after a walk: the victim is valid, since the set is full.
        overwrite(index(set, m_replacement.replace(set)), key, pcid, t);
    }
    // An entry a lower level's hit brings up; `absent`: nothing to replace (insert_absent()).
    void refill(std::uint64_t key, std::uint16_t pcid, const translation& t, bool absent) {
        ++m_refills;
        if (absent) return insert_absent(key, pcid, t);
        insert(key, pcid, t);
    }
    // Entries written from a lower level's hit, and written into an invalid way (evicting
    // nothing): the hierarchy derives the array's fills and evictions from them.
    const stats::counter& refills() const { return m_refills; }
    const stats::counter& free_fills() const { return m_free_fills; }

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
            const std::size_t slot = find_key(key, pcid, index(set, 0));
            if (slot != none) return slot;
        }
        return none;
    }
    // The first slot of the set at `first` whose key is `key` and whose entry `pcid` may use.
    // Over the keys alone, four a step (a miss compares every way; 4, 8, 12 or 16 ways leave no
    // rest): the four that hold the key, and the rest, are then searched one by one, reading
    // the entry's PCID only for a matching key.
    std::size_t find_key(std::uint64_t key, std::uint16_t pcid, std::size_t first) const {
        const std::uint64_t* const keys = m_keys.data();
        const std::size_t fours_end = first + m_ways_in_fours;
        std::size_t slot = first;
        for (; slot != fours_end; slot += 4) {
            if (keys[slot] == key || keys[slot + 1] == key || keys[slot + 2] == key || keys[slot + 3] == key)
                break;
        }
        for (const std::size_t end = first + m_ways; slot != end; ++slot) {
            if (keys[slot] == key && usable_by(m_entries[slot], pcid)) return slot;
        }
        return none;
    }
    // tlb_key(linear, size) with the size's shift and bits at hand.
    static std::uint64_t key_of(std::uint64_t linear, const size_index& s) {
        return (linear >> s.shift) << 3 | s.key_bits;
    }
    std::size_t index(unsigned set, unsigned way) const { return std::size_t{set} * m_ways + way; }
    unsigned set_of(std::uint64_t key) const { return static_cast<unsigned>((key >> 3) & m_set_mask); }
    // insert_absent() into a set with an invalid way. A call even from the inline fill:
    // inlined, it would cost the usual fill (an eviction) registers.
    [[gnu::noinline]] void insert_free(unsigned set, std::uint64_t key, std::uint16_t pcid,
                                       const translation& t);
    unsigned free_way(unsigned set, std::uint64_t key, std::uint16_t pcid, bool global);
    unsigned unused_way(unsigned set);
    // Every set is full once the array is: one compare for all of a TLB-hostile workload's fills.
    bool is_full(unsigned set) const { return m_valid == m_capacity || m_set_valid[set] == m_ways; }
    unsigned lowest_invalid_way(unsigned set) const {
        const std::uint64_t* keys = &m_keys[index(set, 0)];
        unsigned way = 0;
        while (keys[way] != 0) ++way;
        return way;
    }
    // Writes the entry of `way` of `set` (the replacement state is the caller's).
    void write(unsigned set, unsigned way, std::uint64_t key, std::uint16_t pcid, const translation& t);
    // write() over the valid entry at `slot`: an eviction.
    void overwrite(std::size_t slot, std::uint64_t key, std::uint16_t pcid, const translation& t) {
        const std::uint64_t victim = m_keys[slot];
        m_keys[slot] = key;
        m_filter->replace(victim, key);
        // A victim of the new entry's size leaves the counts by size as they are.
        if ((victim ^ key) & size_bits) {
            remove_held(size_of_key(victim));
            add_held(t.size);
        }
        store(slot, pcid, t);
    }
    // The entry at `slot`, whose key is written.
    void store(std::size_t slot, std::uint16_t pcid, const translation& t) {
        // The translation in one wide copy (padding too), the PCID apart: a whole tlb_entry built
        // on the stack and copied in is reloaded as wide words right after its narrow stores, a
        // store-forwarding stall on every fill.
        tlb_entry& e = m_entries[slot];
        std::memcpy(&e.t, &t, sizeof t);
        e.pcid = pcid;
    }
    // An entry of size `s` comes or goes: the counts by size, and m_held_sizes and the filter's
    // sizes when one reaches or leaves 0.
    void add_held(page_size s) {
        if (m_held[static_cast<unsigned>(s)]++ != 0) return;
        m_held_sizes |= m_size_bit[static_cast<unsigned>(s)];
        m_filter->size_held(s);
    }
    void remove_held(page_size s) {
        if (--m_held[static_cast<unsigned>(s)] != 0) return;
        m_held_sizes &= ~m_size_bit[static_cast<unsigned>(s)];
        m_filter->size_dropped(s);
    }
    // Makes the valid entry at `slot` invalid, keeping the counts (its key gives its size and set).
    void invalidate(std::size_t slot) {
        std::uint64_t& key = m_keys[slot];
        m_filter->remove(key);
        remove_held(size_of_key(key));
        --m_set_valid[set_of(key)];
        --m_valid;
        key = 0;
    }
    void count_invalidated(tlb_flush_cause cause, std::uint64_t n) {
        *m_invalidated[static_cast<unsigned>(cause)] += n;
    }

    // The hit path's members first, the configuration (names, for reports) last.
    unsigned m_ways;
    unsigned m_ways_in_fours;  // m_ways rounded down to a multiple of 4
    std::uint64_t m_set_mask;
    std::array<size_index, 4> m_sizes{};  // in the configuration's order
    unsigned m_size_count = 0;
    unsigned m_held_sizes = 0;               // bit i: m_sizes[i] has valid entries
    std::vector<std::uint64_t> m_keys;       // set-major, apart: a probe reads only the keys
    std::vector<tlb_entry> m_entries;        // set-major
    std::vector<std::uint32_t> m_set_valid;  // valid entries by set
    std::size_t m_valid = 0;                 // valid entries in all
    std::size_t m_capacity;                  // entries in all
    std::array<std::uint32_t, 4> m_held{};   // valid entries by page size
    std::array<unsigned, 4> m_size_bit{};    // by page size: its bit in m_held_sizes
    replacement m_replacement;
    tlb_filter* m_filter;

    stats::counter& m_refills;                     // hidden
    stats::counter& m_free_fills;                  // hidden
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
//
// Counts: a lookup counts itself by port and a hit by the probe step that made it, a walk's fill
// by port and page size; every array's lookups, hits, misses, fills and evictions are sums of
// these (stats::registry::add_sum), since a level's arrays all look when the lookup reaches it.
// A miss, most of a TLB-hostile workload, then counts once rather than once per array.
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
    // hit_latency of its arrays for this port. The answer is the hierarchy's, valid until the
    // next call to a non-const member: a miss copies nothing.
    const tlb_lookup& lookup(std::uint64_t linear, std::uint16_t pcid, bool fetch);
    // Counts and touches exactly as lookup() did when it returned `hit` (a hit with an array),
    // without the search: valid for the same page, PCID and port while contents() is unchanged,
    // since the search depends on the entries alone. A lookup that hit the same entry again
    // would touch it again, so the replacement state is the same too. `times` stands for that
    // many such lookups with no other lookup of the hierarchy in between.
    void rehit(const tlb_lookup& hit, bool fetch, std::uint64_t times = 1);
    // Changes whenever an entry is written or invalidated (lookups that refill included).
    std::uint64_t contents() const { return m_contents; }
    // After a walk: insert into the array of every level that serves this port and page size.
    // Inline in its caller, which saves the registers once for the walk and the fill.
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
    // One array as one port probes it, in probe order: level by level, a level's arrays in the
    // configuration's order. Pointers, not indices, so that a probe reaches the array directly.
    struct probe_step {
        tlb_array* array;
        stats::counter* hits;  // hidden: lookups of the port this array answered
        std::uint32_t id;      // its index in m_arrays (tlb_lookup::array)
        unsigned level;
        unsigned latency;    // cycles of a lookup that ends at this level
        bool refills_above;  // below the port's first level: a hit refills the levels above
    };
    struct fill_target {
        tlb_array* array;
        unsigned level;
    };
    struct port {
        std::vector<probe_step> steps;
        tlb_lookup miss;  // the answer when no level hits: every level's latency
        // Per page size, the array of each level that caches it, upper levels first.
        std::array<std::vector<fill_target>, 4> fill_targets;
        stats::counter* lookups = nullptr;               // hidden
        std::array<stats::counter*, 4> fills_by_size{};  // hidden: after walks, by page size
    };

    // The lookup's probes, level by level; true if one hit (m_hit says where). A call: most
    // lookups either skip it (the filter) or never reach it (cpu_core's memo of the last hit).
    bool probe(const port& p, std::uint64_t linear, std::uint16_t pcid);
    port& port_for(bool fetch) { return m_ports[fetch ? 1 : 0]; }
    const port& port_for(bool fetch) const { return m_ports[fetch ? 1 : 0]; }
    void build_port(bool fetch, const stats::scope& stats);
    void add_fill_target(std::vector<fill_target>& targets, std::uint32_t id, bool fetch, page_size s);
    // The sums that present the hidden counts under the names readers expect.
    void add_sums(const stats::scope& stats) const;
    std::vector<stats::sum_term> lookups_of(std::uint32_t id) const;
    // True if it wrote an entry.
    bool refill_above(const port& p, unsigned level, std::uint64_t linear, std::uint16_t pcid,
                      const translation& t);

    tlb_filter m_filter;                  // of every array's entries
    std::vector<tlb_array> m_arrays;      // never reallocated: the ports point into it
    std::uint64_t m_contents = 0;         // bumped by every change of any array's entries
    std::vector<unsigned> m_array_level;  // the level of each array
    unsigned m_level_count = 0;
    std::array<port, 2> m_ports;  // data, instruction
    tlb_lookup m_hit;             // the last lookup's answer, if it hit
};

inline const tlb_lookup& tlb_hierarchy::lookup(std::uint64_t linear, std::uint16_t pcid, bool fetch) {
    const port& p = port_for(fetch);
    ++*p.lookups;
    if (m_filter.may_hold(linear) && probe(p, linear, pcid)) return m_hit;
    return p.miss;
}

inline void tlb_hierarchy::rehit(const tlb_lookup& hit, bool fetch, std::uint64_t times) {
    const port& p = port_for(fetch);
    *p.lookups += times;
    const probe_step& s = p.steps[hit.step];
    *s.hits += times;
    s.array->touch(hit.slot, hit.set);
}

[[gnu::always_inline]] inline void tlb_hierarchy::fill(std::uint64_t linear, std::uint16_t pcid, bool fetch,
                                                       const translation& t) {
    ++m_contents;
    const port& p = port_for(fetch);
    const unsigned size = static_cast<unsigned>(t.size);
    ++*p.fills_by_size[size];
    const std::uint64_t key = tlb_key(linear, t.size);
    const std::vector<fill_target>& targets = p.fill_targets[size];
    // Most fills follow a lookup that missed everywhere: usually no array holds the key, in any
    // PCID, so there is nothing to replace.
    if (m_filter.may_hold_key(key)) {
        for (const fill_target& f : targets) f.array->insert(key, pcid, t);
        return;
    }
    for (const fill_target& f : targets) f.array->insert_absent(key, pcid, t);
}

}  // namespace memsim::mmu
