// How long a data path of a fixed width holds a transfer of n bytes: ceil(n / width) cycles.
// Lengths up to 256 bytes (every CPU access and cache line, most DMA bursts) come from a
// table, so those b_transport paths of the bus and RAM do no division and no call into the
// SystemC library; longer ones are computed.
#pragma once

#include <array>
#include <cstdint>

#include <systemc>

#include "base/bits.h"

namespace memsim::hw {

class transfer_time {
public:
    static constexpr unsigned table_lengths = 257;  // 0..256 bytes

    transfer_time(sc_core::sc_time period, unsigned bytes_per_cycle)
        : m_period(period.value()), m_bytes_per_cycle(bytes_per_cycle) {
        for (unsigned n = 0; n < table_lengths; ++n) m_table[n] = compute(n);
    }

    // At least one cycle: even an empty transfer takes its slot.
    sc_core::sc_time operator()(std::uint64_t length) const {
        return length < table_lengths ? m_table[length] : compute(length);
    }

private:
    sc_core::sc_time compute(std::uint64_t length) const {
        std::uint64_t cycles = length ? div_ceil(length, m_bytes_per_cycle) : 1;
        return sc_core::sc_time::from_value(m_period * cycles);
    }

    std::uint64_t m_period;
    unsigned m_bytes_per_cycle;
    std::array<sc_core::sc_time, table_lengths> m_table;
};

}  // namespace memsim::hw
