#include "hw/irq.h"

#include <stdexcept>

#include <fmt/format.h>

namespace memsim::hw {

irq_controller::irq_controller(sc_core::sc_module_name name, unsigned lines, stats::scope stats)
    : sc_module(name),
      m_lines("line", lines),
      m_stats(stats),
      m_raises(lines, nullptr),
      m_last_raised(lines, sc_core::SC_ZERO_TIME) {
    if (lines > max_lines) throw std::invalid_argument("irq_controller: too many lines");
    SC_HAS_PROCESS(irq_controller);
    SC_METHOD(on_change);
    for (auto& l : m_lines) sensitive << l.value_changed_event();
    dont_initialize();
}

sc_core::sc_signal<bool>& irq_controller::line(unsigned n) {
    if (n >= m_lines.size()) throw std::out_of_range(fmt::format("irq_controller: no line {}", n));
    if (!m_raises[n])
        m_raises[n] = &m_stats.add_counter(fmt::format("line{}_raised", n), "Times this interrupt line rose");
    return m_lines[n];
}

void irq_controller::on_change() {
    std::uint32_t now = 0;
    for (unsigned n = 0; n < m_lines.size(); ++n)
        if (m_lines[n].read()) now |= std::uint32_t{1} << n;
    std::uint32_t rose = now & ~m_pending;
    m_pending = now;
    if (!rose) return;
    for (unsigned n = 0; n < m_lines.size(); ++n) {
        if (!(rose >> n & 1)) continue;
        m_last_raised[n] = sc_core::sc_time_stamp();
        if (m_raises[n]) ++*m_raises[n];
    }
    m_raised.notify(sc_core::SC_ZERO_TIME);
}

}  // namespace memsim::hw
