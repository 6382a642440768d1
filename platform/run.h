// `memsim run`: build the configured machine, drive it, print a summary, write the outputs;
// `memsim boot`: boot its kernel and show the boot log or a /proc file.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace memsim::platform {

struct run_options {
    std::optional<std::string> config_path;  // the embedded default when absent
    std::optional<std::string> workload_path;
    std::optional<std::string> out_dir;
    std::vector<std::string> sets;
};

// Returns the process's exit status; throws user_error for bad input.
int run_machine(const run_options& options);
// `memsim boot`: boots the kernel and prints its log, or the /proc file `proc` names.
int boot_machine(const run_options& options, const std::optional<std::string>& proc);

}  // namespace memsim::platform
