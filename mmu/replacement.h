// Replacement policies for the sets of a set-associative array (TLB arrays; LRU also for the
// paging-structure caches): true LRU, tree pseudo-LRU and seeded random. State is sized at
// construction, so a touch or a victim choice never allocates nor calls virtually (DESIGN.md §6).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace memsim::mmu {

enum class replacement_policy { lru, plru, random };

// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA
// 2014): one 64-bit word of state, so each array owns one and the same seed gives the same victims.
class splitmix64 {
public:
    explicit splitmix64(std::uint64_t seed) : m_state(seed) {}

    std::uint64_t next() {
        std::uint64_t z = (m_state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }

private:
    std::uint64_t m_state;
};

// True LRU kept as an order rather than use stamps, so a victim needs no search: the ways of each
// set from the most to the least recently used, as a circular doubly-linked list through the set's
// block of ways, and after them a link whose older field names the newest way. The oldest way is
// then the newest's newer neighbour, so renewing it (every fill into a full set) only moves the
// newest mark one step round the ring. Every way stays in its list whether valid or not: by the
// time a set is full each of its ways has been used since its fill, so the oldest way is the least
// recently used valid one.
class lru_order {
public:
    // Throws std::invalid_argument for more ways than a link can name.
    lru_order(unsigned sets, unsigned ways);

    // `way` of `set` was just used: it becomes the most recently used.
    void touch(unsigned set, unsigned way) {
        link* l = links(set);
        const unsigned newest = l[m_ways].older;
        if (way == newest) return;
        move_behind_oldest(l, newest, way);
        l[m_ways].older = static_cast<std::uint16_t>(way);  // the ring turned: `way` is the newest
    }
    unsigned oldest(unsigned set) const {
        const link* l = &m_links[std::size_t{set} * (m_ways + 1)];
        return l[l[m_ways].older].newer;
    }
    // oldest(), made the most recently used: a fill's victim, found and touched in one go.
    unsigned renew_oldest(unsigned set) {
        link* l = links(set);
        const std::uint16_t way = l[l[m_ways].older].newer;
        l[m_ways].older = way;
        return way;
    }

private:
    // 16-bit way numbers: two links in four bytes, and the 12-way STLB's 128 sets in 6.5 KiB.
    struct link {
        std::uint16_t newer, older;
    };
    link* links(unsigned set) { return &m_links[std::size_t{set} * (m_ways + 1)]; }
    // Unlinks `way`, not the newest, and links it in between the oldest and the newest, where the
    // ring wraps; the caller then marks it the newest. The oldest lands where it was, which is
    // what makes it the newest: no branch for it, which a hit on a small cache's oldest entry
    // would mispredict every few lookups.
    static void move_behind_oldest(link* l, unsigned newest, unsigned way) {
        const link old = l[way];
        l[old.newer].older = old.older;
        l[old.older].newer = old.newer;
        const std::uint16_t oldest = l[newest].newer;
        l[way] = {oldest, static_cast<std::uint16_t>(newest)};
        l[oldest].older = static_cast<std::uint16_t>(way);
        l[newest].newer = static_cast<std::uint16_t>(way);
    }

    std::uint16_t m_ways;
    std::vector<link> m_links;
};

// True LRU for sets of at most 16 ways, one word per set: the ways' numbers in 4-bit fields,
// from the most recently used (bits 3:0) to the least (field ways - 1). A fill's victim is then
// the top field, renewed by one shift; a hit finds its way's field with a SWAR zero-field search
// rather than chasing links. Fields above ways - 1 hold leftovers no search reaches: every way is
// in exactly one of the fields below, and the search reports the lowest match.
class lru_word {
public:
    static constexpr unsigned max_ways = 16;

    lru_word(unsigned sets, unsigned ways);

    void touch(unsigned set, unsigned way) {
        std::uint64_t& order = m_order[set];
        if ((order & 15) == way) return;               // hits in a row on one entry: a page's accesses
        const std::uint64_t x = order ^ (way * ones);  // a zero field where `way` is
        // Borrows make the search flag fields above a zero one too, never below: the lowest flag
        // is exact.
        const unsigned at = static_cast<unsigned>(std::countr_zero((x - ones) & ~x & (ones << 3))) - 3;
        const std::uint64_t newer = (std::uint64_t{1} << at) - 1;  // the ways used since `way`
        order = (order & (~newer << 4)) | (order & newer) << 4 | way;
    }
    unsigned oldest(unsigned set) const { return m_order[set] >> m_oldest_at & 15; }
    unsigned renew_oldest(unsigned set) {
        std::uint64_t& order = m_order[set];
        const unsigned way = order >> m_oldest_at & 15;
        order = order << 4 | way;
        return way;
    }

private:
    static constexpr std::uint64_t ones = 0x1111111111111111;

    unsigned m_oldest_at;  // the bit offset of field ways - 1
    std::vector<std::uint64_t> m_order;
};

// What a use of a way teaches the policy, and which way of a full set to evict. Invalid ways are
// the caller's business: it fills the lowest invalid way before asking for a victim.
class replacement {
public:
    // Throws std::invalid_argument for a geometry the policy cannot serve: no sets or ways, or
    // tree-PLRU with a number of ways that is not a power of two up to 64.
    replacement(replacement_policy policy, unsigned sets, unsigned ways, std::uint64_t seed);

    // `way` of `set` was just used, by a hit or a fill: it becomes the most recently used.
    // LRU of at most 16 ways, the default, is inline; the other schemes are calls, so that the
    // TLB lookup that touches stays small enough to be inlined into its caller.
    void touch(unsigned set, unsigned way) {
        if (m_scheme == scheme::lru_word) return m_lru_word.touch(set, way);
        touch_other(set, way);
    }
    // The way to evict from `set`, every way of which is valid.
    unsigned victim(unsigned set) {
        if (m_scheme == scheme::lru_word) return m_lru_word.oldest(set);
        return victim_other(set);
    }
    // victim(), then touch() of it: what a fill into a full set does, for LRU in one go.
    unsigned replace(unsigned set) {
        if (m_scheme == scheme::lru_word) return m_lru_word.renew_oldest(set);
        return replace_other(set);
    }

    replacement_policy policy() const { return m_policy; }
    unsigned ways() const { return m_ways; }

private:
    // The policy's implementation: LRU keeps small sets in a word, larger ones as lists.
    enum class scheme { lru_word, lru_order, plru, random };
    static scheme scheme_for(replacement_policy policy, unsigned ways);

    void touch_other(unsigned set, unsigned way);
    unsigned victim_other(unsigned set);
    unsigned replace_other(unsigned set);
    void plru_touch(std::uint64_t& bits, unsigned way) const;
    unsigned plru_victim(std::uint64_t bits) const;

    replacement_policy m_policy;
    scheme m_scheme;
    unsigned m_ways;
    unsigned m_tree_depth = 0;           // log2(ways), for tree-PLRU
    lru_word m_lru_word;                 // LRU of at most 16 ways (no sets otherwise)
    lru_order m_lru;                     // LRU of more ways (no sets otherwise)
    std::vector<std::uint64_t> m_state;  // tree-PLRU: one word of tree bits per set
    splitmix64 m_rng;
};

}  // namespace memsim::mmu
