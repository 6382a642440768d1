// `memsim run`: build the configured machine, drive it, print a summary, write the outputs;
// `memsim boot`: boot its kernel and show the boot log or a /proc file.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memsim::platform {

struct run_options {
    std::optional<std::string> config_path;  // the embedded default when absent
    std::optional<std::string> workload_path;
    std::optional<std::string> out_dir;
    std::vector<std::string> sets;
};

// The workload `memsim run` runs without --workload: traces/samples/default.txt, built in.
std::string_view default_workload_text();
inline constexpr const char* default_workload_name = "traces/samples/default.txt";

// Returns the process's exit status; throws user_error for bad input.
int run_machine(const run_options& options);
// `memsim boot`: boots the kernel and prints its log, or the /proc file `proc` names.
int boot_machine(const run_options& options, const std::optional<std::string>& proc);

}  // namespace memsim::platform
