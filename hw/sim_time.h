// SystemC's simulated time as base's time_source, for the log's timestamps.
#pragma once

#include <systemc>

#include "base/log.h"

namespace memsim::hw {

class systemc_time final : public time_source {
public:
    // sc_time's value() counts the time resolution, which memsim leaves at 1 ps.
    picoseconds now() const override { return sc_core::sc_time_stamp().value(); }
};

}  // namespace memsim::hw
