// What hardware tests stand on: stats and a log to read back, and an initiator whose thread
// runs the test's script of reads and writes.
#pragma once

#include <cstdint>
#include <functional>
#include <sstream>

#include <systemc>

#include "base/log.h"
#include "base/stats.h"
#include "hw/sim_time.h"
#include "hw/timed_initiator.h"

namespace memsim::test {

using namespace sc_core;

// What every hardware test needs beside its models: stats and a log it can read back.
struct bench_ground {
    stats::registry stats;
    std::ostringstream log_text;
    hw::systemc_time clock;
    logger log{log_text, log_level::info};

    bench_ground() { log.set_time_source(&clock); }
    std::uint64_t count(std::string_view name) const {
        const stats::counter* c = stats.find_counter(name);
        return c ? c->value : ~std::uint64_t{0};
    }
};

// An initiator whose SC_THREAD runs the test's body, as a CPU would run a program.
class scripted_initiator : public sc_module, public hw::timed_initiator {
public:
    std::function<void(scripted_initiator&)> body;

    explicit scripted_initiator(sc_module_name name) : sc_module(name), timed_initiator("socket") {
        SC_HAS_PROCESS(scripted_initiator);
        SC_THREAD(run);
    }

private:
    void run() {
        if (body) body(*this);
        quantum.sync();
    }
};

}  // namespace memsim::test
