// What hardware tests stand on: stats and a log to read back, and an initiator whose thread
// runs the test's script of reads and writes.
#pragma once

#include <cstdint>
#include <functional>
#include <sstream>
#include <string>

#include <doctest/doctest.h>
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
    std::uint64_t count(std::string_view name) const { return stats.value(name).value_or(~std::uint64_t{0}); }
};

// An initiator whose SC_THREAD runs the test's body, as a CPU would run a program. A body
// that never ran to its end (its checks unmade) fails the test.
class scripted_initiator : public sc_module, public hw::timed_initiator {
public:
    std::function<void(scripted_initiator&)> body;

    explicit scripted_initiator(sc_module_name name) : sc_module(name), timed_initiator("socket") {
        SC_HAS_PROCESS(scripted_initiator);
        SC_THREAD(run);
    }
    ~scripted_initiator() override {
        if (body)
            CHECK_MESSAGE(m_finished, "the script of " << std::string(name()) << " did not run to its end");
    }

private:
    void run() {
        if (body) body(*this);
        quantum.sync();
        m_finished = true;
    }

    bool m_finished = false;
};

}  // namespace memsim::test
