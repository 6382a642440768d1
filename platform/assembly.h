// The machine with its CPU core, as `memsim run` and `memsim boot` build it (and integration
// tests too): the simulator's log and stats, the board, the core on the bus with its interrupts
// and a trap handler, and the outputs a run writes.
#pragma once

#include <filesystem>
#include <sstream>

#include "base/log.h"
#include "base/stats.h"
#include "hw/cpu_core.h"
#include "hw/sim_time.h"
#include "platform/config.h"
#include "platform/kernel_machine.h"
#include "platform/machine.h"
#include "platform/trap_report.h"

namespace memsim::platform {

struct assembly {
    stats::registry stats;
    std::ostringstream dmesg;
    hw::systemc_time clock;
    logger log;
    machine board;
    trap_report traps;
    hw::cpu_core cpu;

    explicit assembly(const machine_config& config);

    // stats.json, stats.txt, dmesg.log (the kernel's log first, then the simulator's own lines),
    // config.yaml, and proc/ when a kernel booted.
    void write_outputs(const std::filesystem::path& out, const machine_config& config,
                       const kernel_machine* host) const;
};

}  // namespace memsim::platform
