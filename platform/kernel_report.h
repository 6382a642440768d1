// What a run says about its kernel: the summary lines (the Memory: line, bugs, a slabtop-like
// table of the largest caches), the kernel's counters in the stats, and the /proc files.
#pragma once

#include <filesystem>
#include <string>

#include "base/stats.h"
#include "platform/config.h"
#include "platform/kernel_machine.h"

namespace memsim::platform {

// The boot's Memory: line or its panic, the bugs reported, the caches using most memory.
std::string describe_kernel(const kernel_machine& host);
// kernel.* counters: free and managed pages, pgfree, bugs, slab and vmalloc use.
void add_kernel_stats(stats::registry& stats, const kernel_machine& host);
// Every /proc file into DIR/proc/ (nothing when the kernel did not boot).
void write_proc(const std::filesystem::path& out, const kernel_machine& host, const machine_config& config);

}  // namespace memsim::platform
