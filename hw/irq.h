// Interrupt lines from devices to the CPU: a small controller in the IOAPIC's place. Devices
// drive level-triggered lines; the CPU (or a test) waits on `raised` and reads `pending`.
#pragma once

#include <cstdint>
#include <vector>

#include <systemc>

#include "base/stats.h"

namespace memsim::hw {

class irq_controller : public sc_core::sc_module {
public:
    static constexpr unsigned max_lines = 32;

    irq_controller(sc_core::sc_module_name name, unsigned lines, stats::scope stats);

    // The line a device drives for interrupt `n`; the device's process is its one writer.
    sc_core::sc_signal<bool>& line(unsigned n);

    // Lines now high, bit n for line n.
    std::uint32_t pending() const { return m_pending; }
    // Notified (one delta later) whenever a line rises.
    const sc_core::sc_event& raised() const { return m_raised; }
    // When line n last rose (SC_ZERO_TIME if never).
    sc_core::sc_time last_raised(unsigned n) const { return m_last_raised.at(n); }

private:
    void on_change();

    sc_core::sc_vector<sc_core::sc_signal<bool>> m_lines;
    stats::scope m_stats;
    std::vector<stats::counter*> m_raises;  // registered for lines a device uses
    std::vector<sc_core::sc_time> m_last_raised;
    std::uint32_t m_pending = 0;
    sc_core::sc_event m_raised;
};

}  // namespace memsim::hw
