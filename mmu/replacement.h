// Replacement policies for the sets of one set-associative array (the TLB arrays): true LRU,
// tree pseudo-LRU and seeded random. Every set's state lives in one vector sized at construction,
// so a touch or a victim choice never allocates and never makes a virtual call (DESIGN.md §6).
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

// What a use of a way teaches the policy, and which way of a full set to evict. Invalid ways are
// the caller's business: it fills the lowest invalid way before asking for a victim.
class replacement {
public:
    // Throws std::invalid_argument for a geometry the policy cannot serve: no sets or ways, or
    // tree-PLRU with a number of ways that is not a power of two up to 64.
    replacement(replacement_policy policy, unsigned sets, unsigned ways, std::uint64_t seed);

    // The way at `slot` (set * ways + way, the index of the entry in a set-major array) was just
    // used, by a hit or a fill: it becomes the most recently used.
    void touch(std::size_t slot) {
        switch (m_policy) {
            case replacement_policy::lru:
                m_state[slot] = ++m_clock;
                return;
            case replacement_policy::plru:
                // Tree-PLRU ways are a power of two: the set and the way are a shift and a mask.
                plru_touch(m_state[slot >> m_tree_depth], static_cast<unsigned>(slot & (m_ways - 1)));
                return;
            case replacement_policy::random:
                return;
        }
    }

    // The way to evict from `set`, every way of which is valid.
    unsigned victim(unsigned set);

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
    unsigned plru_victim(std::uint64_t bits) const;
    unsigned lru_victim(unsigned set) const;

    replacement_policy m_policy;
    unsigned m_ways;
    unsigned m_tree_depth = 0;  // log2(ways), for tree-PLRU
    // LRU: the use stamp of every way (set-major); tree-PLRU: one word of tree bits per set.
    std::vector<std::uint64_t> m_state;
    std::uint64_t m_clock = 0;  // LRU's stamp source; 64 bits never wrap in a simulation
    splitmix64 m_rng;
};

}  // namespace memsim::mmu
