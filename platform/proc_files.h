// The /proc files a booted machine shows (buddyinfo, iomem, meminfo, pagetypeinfo, vmstat,
// zoneinfo): the kernel's views in Linux's formats, with what only the platform knows (the
// devices' register windows in iomem) filled in.
#pragma once

#include <string>
#include <string_view>

#include "platform/config.h"
#include "platform/kernel_machine.h"

namespace memsim::platform {

inline constexpr std::string_view proc_names[] = {"buddyinfo", "iomem",       "meminfo", "pagetypeinfo",
                                                  "slabinfo",  "vmallocinfo", "vmstat",  "zoneinfo"};

// Throws user_error naming the choices for a name not in proc_names.
void check_proc_name(std::string_view name);
// The file of a booted kernel (host.kernel() set).
std::string proc_file(const kernel_machine& host, const machine_config& config, std::string_view name);

}  // namespace memsim::platform
