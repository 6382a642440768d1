// What a run says about its processes: faults by kind with their simulated latency, the
// processes' fates, the system calls, and the zones' free pages before the first process and
// at the end; the same in the stats.
#pragma once

#include <string>

#include "base/stats.h"
#include "platform/kernel_machine.h"

namespace memsim::platform {

// Empty when no process ran.
std::string describe_processes(const kernel_machine& host);
// kernel.pgfault, kernel.faults.*, kernel.processes.*, kernel.syscalls.*, kernel.zones.*.
void add_process_stats(stats::registry& stats, const kernel_machine& host);

}  // namespace memsim::platform
