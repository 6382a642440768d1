// Replacement policies: geometry checks and victim choice (the miss path; touches are inline).
#include "mmu/replacement.h"

#include <bit>
#include <stdexcept>
#include <string>

namespace memsim::mmu {

namespace {

std::size_t state_words(replacement_policy policy, unsigned sets, unsigned ways) {
    switch (policy) {
        case replacement_policy::lru:
            return std::size_t{sets} * ways;
        case replacement_policy::plru:
            return sets;
        case replacement_policy::random:
            return 0;
    }
    return 0;
}

}  // namespace

replacement::replacement(replacement_policy policy, unsigned sets, unsigned ways, std::uint64_t seed)
    : m_policy(policy), m_ways(ways), m_rng(seed) {
    if (sets == 0 || ways == 0) throw std::invalid_argument("replacement: a set needs at least one way");
    if (policy == replacement_policy::plru && (!std::has_single_bit(ways) || ways > 64)) {
        throw std::invalid_argument(
            "replacement: tree-PLRU needs a power-of-two number of ways up to 64, not " +
            std::to_string(ways));
    }
    m_tree_depth = static_cast<unsigned>(std::countr_zero(ways));
    m_state.assign(state_words(policy, sets, ways), 0);
}

unsigned replacement::victim(unsigned set) {
    switch (m_policy) {
        case replacement_policy::lru:
            return lru_victim(set);
        case replacement_policy::plru:
            return plru_victim(m_state[set]);
        case replacement_policy::random:
            return static_cast<unsigned>(m_rng.next() % m_ways);
    }
    return 0;
}

unsigned replacement::lru_victim(unsigned set) const {
    const std::uint64_t* stamps = &m_state[std::size_t{set} * m_ways];
    unsigned oldest = 0;
    std::uint64_t oldest_stamp = stamps[0];
    for (unsigned way = 1; way < m_ways; ++way) {
        if (stamps[way] >= oldest_stamp) continue;
        oldest = way;
        oldest_stamp = stamps[way];
    }
    return oldest;
}

unsigned replacement::plru_victim(std::uint64_t bits) const {
    unsigned node = 1;
    while (node < m_ways) node = 2 * node + static_cast<unsigned>((bits >> node) & 1);
    return node - m_ways;
}

}  // namespace memsim::mmu
