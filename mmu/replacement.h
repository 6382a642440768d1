// Replacement policies for the sets of a set-associative array (TLB arrays; LRU also for the
// paging-structure caches): true LRU, tree pseudo-LRU and seeded random. State is sized at
// construction, so a touch or a victim choice never allocates nor calls virtually (DESIGN.md §6).
#pragma once

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
// block of ways + 1 links, whose last link is the list's head. Every way stays in its list whether
// valid or not: by the time a set is full each of its ways has been used since its fill, so the
// oldest way is the least recently used valid one.
class lru_order {
public:
    // Throws std::invalid_argument for more ways than a link can name.
    lru_order(unsigned sets, unsigned ways);

    // `way` of `set` was just used: it becomes the most recently used.
    void touch(unsigned set, unsigned way) { make_newest(links(set), way); }
    unsigned oldest(unsigned set) const { return m_links[std::size_t{set} * (m_ways + 1) + m_ways].newer; }
    // oldest(), made the most recently used: a fill's victim, found and touched in one go.
    unsigned renew_oldest(unsigned set) {
        link* l = links(set);
        const unsigned way = l[m_ways].newer;
        make_newest(l, way);
        return way;
    }

private:
    // 16-bit way numbers: two links in four bytes, and the 12-way STLB's 128 sets in 6.5 KiB.
    struct link {
        std::uint16_t newer, older;
    };
    link* links(unsigned set) { return &m_links[std::size_t{set} * (m_ways + 1)]; }
    // Unlinks `way` from the set's list at `l` and links it in after the head.
    void make_newest(link* l, unsigned way) {
        const link old = l[way];
        l[old.newer].older = old.older;
        l[old.older].newer = old.newer;
        const std::uint16_t newest = l[m_ways].older;
        l[way] = {m_ways, newest};
        l[newest].newer = static_cast<std::uint16_t>(way);
        l[m_ways].older = static_cast<std::uint16_t>(way);
    }

    std::uint16_t m_ways;
    std::vector<link> m_links;
};

// What a use of a way teaches the policy, and which way of a full set to evict. Invalid ways are
// the caller's business: it fills the lowest invalid way before asking for a victim.
class replacement {
public:
    // Throws std::invalid_argument for a geometry the policy cannot serve: no sets or ways, or
    // tree-PLRU with a number of ways that is not a power of two up to 64.
    replacement(replacement_policy policy, unsigned sets, unsigned ways, std::uint64_t seed);

    // `way` of `set` was just used, by a hit or a fill: it becomes the most recently used.
    // LRU, the default, is tested first: one branch that always goes the same way.
    void touch(unsigned set, unsigned way) {
        if (m_policy == replacement_policy::lru) return m_lru.touch(set, way);
        if (m_policy == replacement_policy::plru) plru_touch(m_state[set], way);
    }

    // The way to evict from `set`, every way of which is valid. Inline like touch(), since
    // every fill into a full set asks.
    unsigned victim(unsigned set) {
        if (m_policy == replacement_policy::lru) return m_lru.oldest(set);
        if (m_policy == replacement_policy::plru) return plru_victim(m_state[set]);
        return static_cast<unsigned>(m_rng.next() % m_ways);
    }
    // victim(), then touch() of it: what a fill into a full set does, for LRU in one go.
    unsigned replace(unsigned set) {
        if (m_policy == replacement_policy::lru) return m_lru.renew_oldest(set);
        const unsigned way = victim(set);
        touch(set, way);
        return way;
    }

    replacement_policy policy() const { return m_policy; }
    unsigned ways() const { return m_ways; }

private:
    // Tree-PLRU: the ways are the leaves of a complete binary tree whose ways - 1 inner nodes are
    // numbered from 1 as in a heap (node n has children 2n and 2n + 1) and kept as bit n of the
    // set's word; a set bit means "the victim is in the right subtree". A use turns every node
    // on the way's path to point away from it.
    void plru_touch(std::uint64_t& bits, unsigned way) const {
        unsigned node = 1;
        for (unsigned level = m_tree_depth; level-- > 0;) {
            const unsigned right = (way >> level) & 1;
            const std::uint64_t bit = std::uint64_t{1} << node;
            bits = right ? bits & ~bit : bits | bit;
            node = 2 * node + right;
        }
    }
    // The leaf the node bits lead to from the root.
    unsigned plru_victim(std::uint64_t bits) const {
        unsigned node = 1;
        while (node < m_ways) node = 2 * node + static_cast<unsigned>((bits >> node) & 1);
        return node - m_ways;
    }

    replacement_policy m_policy;
    unsigned m_ways;
    unsigned m_tree_depth = 0;           // log2(ways), for tree-PLRU
    lru_order m_lru;                     // LRU (no sets for the other policies)
    std::vector<std::uint64_t> m_state;  // tree-PLRU: one word of tree bits per set
    splitmix64 m_rng;
};

}  // namespace memsim::mmu
