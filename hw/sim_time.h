// SystemC's simulated time as base's time_source, for the log's timestamps. A temporally
// decoupled thread runs ahead of global time (by many quanta when nothing else is due:
// quantum_keeper::end_quantum), so what it logs carries its own time.
#pragma once

#include <utility>
#include <vector>

#include <systemc>
#include <tlm_utils/tlm_quantumkeeper.h>

#include "base/log.h"

namespace memsim::hw {

class systemc_time final : public time_source {
public:
    // Lines logged while `thread` runs take `keeper`'s time: global time plus its local time.
    void follow(const sc_core::sc_process_handle& thread, const tlm_utils::tlm_quantumkeeper& keeper) {
        m_decoupled.emplace_back(thread, &keeper);
    }

    // sc_time's value() counts the time resolution, which memsim leaves at 1 ps.
    picoseconds now() const override {
        const sc_core::sc_process_handle running = sc_core::sc_get_current_process_handle();
        for (const auto& [thread, keeper] : m_decoupled)
            if (running == thread) return keeper->get_current_time().value();
        return sc_core::sc_time_stamp().value();
    }

private:
    std::vector<std::pair<sc_core::sc_process_handle, const tlm_utils::tlm_quantumkeeper*>> m_decoupled;
};

}  // namespace memsim::hw
