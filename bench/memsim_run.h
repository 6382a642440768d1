// `memsim run` in a child process, for the end-to-end benchmarks: its summary goes to /dev/null,
// and the run's host time and stats.txt go to the caller's `extract`, which makes of them the
// trivially copyable result the child sends back (bench/in_child.h).
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "bench/in_child.h"
#include "platform/run.h"

namespace memsim::bench {

using stats_map = std::map<std::string, std::uint64_t>;

// <out>/stats.txt: `name value # description` a line.
inline stats_map read_stats(const std::filesystem::path& path) {
    stats_map values;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string name;
        std::uint64_t value = 0;
        if (fields >> name >> value) values[name] = value;
    }
    return values;
}

// The calling process's peak resident memory.
inline long max_rss_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

// options.out_dir must be set: the stats are read from there.
template <typename Result, typename Extract>
Result run_in_child(const platform::run_options& options, Extract&& extract, const std::string& what_failed) {
    std::fflush(stdout);
    return in_child<Result>(
        [&] {
            int null = open("/dev/null", O_WRONLY);
            if (null < 0 || dup2(null, STDOUT_FILENO) < 0) _exit(1);
            auto began = std::chrono::steady_clock::now();
            int status = platform::run_machine(options);
            std::chrono::duration<double> took = std::chrono::steady_clock::now() - began;
            if (status != 0) _exit(1);
            std::fflush(stdout);
            return extract(took.count(), read_stats(std::filesystem::path(*options.out_dir) / "stats.txt"));
        },
        what_failed);
}

}  // namespace memsim::bench
