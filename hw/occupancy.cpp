#include "hw/occupancy.h"

#include <algorithm>
#include <bit>

namespace memsim::hw {

occupancy::occupancy(std::uint64_t period_ps, stats::counter& stale)
    : m_shift(std::bit_width(std::max<std::uint64_t>(16 * period_ps, 2) - 1)),
      m_slots(min_slots),
      m_mask(min_slots - 1),
      m_stale(stale) {}

void occupancy::span(std::uint64_t horizon_ps) {
    std::uint64_t wanted = 4 * (horizon_ps / slot_ps() + 1);
    std::size_t slots = std::bit_ceil(std::clamp<std::uint64_t>(wanted, min_slots, max_slots));
    m_slots.assign(slots, slot{});
    m_mask = slots - 1;
}

std::uint64_t occupancy::book_across(std::uint64_t arrival_ps, std::uint64_t held_ps) {
    // Move the start on through every slot that is busy past it; at most once round the ring.
    std::uint64_t start = arrival_ps;
    for (std::size_t step = 0; step < m_slots.size(); ++step) {
        slot* s = find(start >> m_shift);
        if (!s || s->busy_until <= start) break;
        start = s->busy_until;
    }
    std::uint64_t end = start + held_ps;
    for (std::uint64_t w = start >> m_shift, last = (end - 1) >> m_shift;
         w <= last && w - (start >> m_shift) < m_slots.size(); ++w)
        if (slot* s = find(w)) s->busy_until = std::max(s->busy_until, end);
    return start - arrival_ps;
}

}  // namespace memsim::hw
