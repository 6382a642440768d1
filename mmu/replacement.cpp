// Replacement policies: geometry checks and the initial state (touches and victims are inline).
#include "mmu/replacement.h"

#include <bit>
#include <stdexcept>
#include <string>

namespace memsim::mmu {

// Each set's list starts as ways 0, 1, ... from the newest; the head's newer link is the oldest.
lru_order::lru_order(unsigned sets, unsigned ways) : m_ways(static_cast<std::uint16_t>(ways)) {
    if (ways > 0xffff)
        throw std::invalid_argument("lru: at most 65535 ways (16-bit links), not " + std::to_string(ways));
    m_links.reserve(std::size_t{sets} * (ways + 1));
    for (unsigned set = 0; set < sets; ++set) {
        for (unsigned way = 0; way < ways; ++way) {
            m_links.push_back(
                {static_cast<std::uint16_t>(way == 0 ? ways : way - 1), static_cast<std::uint16_t>(way + 1)});
        }
        m_links.push_back({static_cast<std::uint16_t>(ways == 0 ? 0 : ways - 1), 0});
    }
}

replacement::replacement(replacement_policy policy, unsigned sets, unsigned ways, std::uint64_t seed)
    : m_policy(policy),
      m_ways(ways),
      m_lru(policy == replacement_policy::lru ? sets : 0, policy == replacement_policy::lru ? ways : 0),
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

}  // namespace memsim::mmu
