// `memsim run`: build the configured machine, drive it, print a summary, write the outputs.
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

}  // namespace memsim::platform
