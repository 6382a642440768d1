// When a shared data path (the bus, a RAM channel) is free, for initiators that run ahead of
// each other under temporal decoupling. Simulated time is cut into slots of 16 cycles, each
// with its own busy-until time: a transfer queues behind what was booked in the slot it
// arrives in (and in the slots it runs on into), not behind everything ever booked. So
// saturated traffic queues exactly as behind one busy-until time, while an initiator whose
// local time lags another's finds the idle time between the other's transfers instead of
// being charged up to a whole quantum of false waiting. Within one slot it is approximate:
// an arrival queues behind a later transfer booked there first. The slots form a ring sized
// to span the quantum several times over; an arrival older than the ring (an initiator more
// than that far behind) finds the path idle and is counted as stale.
#pragma once

#include <cstdint>
#include <vector>

#include "base/stats.h"

namespace memsim::hw {

class occupancy {
public:
    // Slots are the smallest power of two of picoseconds that holds 16 cycles of `period_ps`.
    occupancy(std::uint64_t period_ps, stats::counter& stale);

    // Sizes the ring for initiators up to `horizon_ps` apart (the quantum), forgetting bookings.
    void span(std::uint64_t horizon_ps);

    // Books `held_ps` of the path for a transfer arriving at `arrival_ps`; returns how long it
    // waits before it can start.
    std::uint64_t reserve(std::uint64_t arrival_ps, std::uint64_t held_ps) {
        slot* s = find(arrival_ps >> m_shift);
        // The ring has moved past this arrival: older than anything booked, it finds the path idle.
        if (!s) {
            ++m_stale;
            return 0;
        }
        std::uint64_t start = arrival_ps > s->busy_until ? arrival_ps : s->busy_until;
        std::uint64_t end = start + held_ps;
        if (((start >> m_shift) != (arrival_ps >> m_shift)) | ((end - 1) >> m_shift != start >> m_shift))
            return book_across(arrival_ps, held_ps);
        s->busy_until = end;
        return start - arrival_ps;
    }

    std::uint64_t slot_ps() const { return std::uint64_t{1} << m_shift; }
    std::size_t slots() const { return m_slots.size(); }

private:
    // Four quanta at least; 64 Ki slots (1 MiB) at most, a quantum of ~250 us at 1 GHz.
    static constexpr std::size_t min_slots = 4096;
    static constexpr std::size_t max_slots = 65536;

    struct slot {
        std::uint64_t window = 0;  // which slot of time it holds now (an empty one holds window 0)
        std::uint64_t busy_until = 0;
    };

    // The slot for `window`, emptied if it held an older one; nullptr if it holds a newer one.
    slot* find(std::uint64_t window) {
        slot& s = m_slots[window & m_mask];
        if (s.window == window) return &s;
        if (s.window > window) return nullptr;
        s = {window, 0};
        return &s;
    }
    // A transfer that starts in a later slot than it arrived in, or runs on into one.
    std::uint64_t book_across(std::uint64_t arrival_ps, std::uint64_t held_ps);

    unsigned m_shift;
    std::vector<slot> m_slots;  // a power of two of them
    std::uint64_t m_mask;       // m_slots.size() - 1
    stats::counter& m_stale;
};

}  // namespace memsim::hw
