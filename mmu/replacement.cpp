// Replacement policies: geometry checks, the initial state, and the schemes other than small-set
// LRU (whose touches and victims are inline).
#include "mmu/replacement.h"

#include <bit>
#include <stdexcept>
#include <string>

namespace memsim::mmu {

// Each set's ring starts as ways 0, 1, ... from the newest, way 0 the newest and so the newer
// neighbour of way 0 the oldest, ways - 1.
lru_order::lru_order(unsigned sets, unsigned ways) : m_ways(static_cast<std::uint16_t>(ways)) {
    if (ways > 0xffff)
        throw std::invalid_argument("lru: at most 65535 ways (16-bit links), not " + std::to_string(ways));
    m_links.reserve(std::size_t{sets} * (ways + 1));
    for (unsigned set = 0; set < sets; ++set) {
        for (unsigned way = 0; way < ways; ++way) {
            m_links.push_back({static_cast<std::uint16_t>(way == 0 ? ways - 1 : way - 1),
                               static_cast<std::uint16_t>(way + 1 == ways ? 0 : way + 1)});
        }
        m_links.push_back({0, 0});  // the newest: way 0
    }
}

// Field i starts as way i: the same initial order as lru_order's. Fields from `ways` up hold
// numbers no way has.
lru_word::lru_word(unsigned sets, unsigned ways)
    : m_oldest_at(ways == 0 ? 0 : 4 * (ways - 1)), m_order(sets, 0xfedcba9876543210) {}

replacement::replacement(replacement_policy policy, unsigned sets, unsigned ways, std::uint64_t seed)
    : m_policy(policy),
      m_scheme(scheme_for(policy, ways)),
      m_ways(ways),
      m_lru_word(m_scheme == scheme::lru_word ? sets : 0, ways),
      m_lru(m_scheme == scheme::lru_order ? sets : 0, m_scheme == scheme::lru_order ? ways : 0),
      m_rng(seed) {
    if (sets == 0 || ways == 0) throw std::invalid_argument("replacement: a set needs at least one way");
    if (policy == replacement_policy::plru && (!std::has_single_bit(ways) || ways > 64)) {
        throw std::invalid_argument(
            "replacement: tree-PLRU needs a power-of-two number of ways up to 64, not " +
            std::to_string(ways));
    }
    m_tree_depth = static_cast<unsigned>(std::countr_zero(ways));
    if (policy == replacement_policy::plru) m_state.assign(sets, 0);
}

replacement::scheme replacement::scheme_for(replacement_policy policy, unsigned ways) {
    switch (policy) {
        case replacement_policy::lru:
            return ways <= lru_word::max_ways ? scheme::lru_word : scheme::lru_order;
        case replacement_policy::plru:
            return scheme::plru;
        case replacement_policy::random:
            return scheme::random;
    }
    return scheme::random;
}

void replacement::touch_other(unsigned set, unsigned way) {
    if (m_scheme == scheme::lru_order) return m_lru.touch(set, way);
    if (m_scheme == scheme::plru) plru_touch(m_state[set], way);
}

unsigned replacement::victim_other(unsigned set) {
    if (m_scheme == scheme::lru_order) return m_lru.oldest(set);
    if (m_scheme == scheme::plru) return plru_victim(m_state[set]);
    return static_cast<unsigned>(m_rng.next() % m_ways);
}

unsigned replacement::replace_other(unsigned set) {
    if (m_scheme == scheme::lru_order) return m_lru.renew_oldest(set);
    const unsigned way = victim_other(set);
    touch_other(set, way);
    return way;
}

// Tree-PLRU: the ways are the leaves of a complete binary tree whose ways - 1 inner nodes are
// numbered from 1 as in a heap (node n has children 2n and 2n + 1) and kept as bit n of the
// set's word; a set bit means "the victim is in the right subtree". A use turns every node on the
// way's path to point away from it.
void replacement::plru_touch(std::uint64_t& bits, unsigned way) const {
    unsigned node = 1;
    for (unsigned level = m_tree_depth; level-- > 0;) {
        const unsigned right = (way >> level) & 1;
        const std::uint64_t bit = std::uint64_t{1} << node;
        bits = right ? bits & ~bit : bits | bit;
        node = 2 * node + right;
    }
}

// The leaf the node bits lead to from the root.
unsigned replacement::plru_victim(std::uint64_t bits) const {
    unsigned node = 1;
    while (node < m_ways) node = 2 * node + static_cast<unsigned>((bits >> node) & 1);
    return node - m_ways;
}

}  // namespace memsim::mmu
