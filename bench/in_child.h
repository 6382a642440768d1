// Running one measurement in a child process: SystemC allows one elaboration per process, and
// a child's peak memory is its own. The result, a trivially copyable struct, comes back through
// a pipe; a child that fails ends the benchmark with the message given.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <type_traits>

#include <fmt/format.h>

namespace memsim::bench {

template <typename Result, typename Measure>
Result in_child(Measure&& measure, const std::string& what_failed) {
    static_assert(std::is_trivially_copyable_v<Result>);
    int fds[2];
    if (pipe(fds) != 0) std::exit(1);
    pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        Result r = measure();
        if (write(fds[1], &r, sizeof r) != sizeof r) _exit(1);
        _exit(0);
    }
    close(fds[1]);
    Result r{};
    bool ok = read(fds[0], &r, sizeof r) == sizeof r;
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fmt::print(stderr, "{}\n", what_failed);
        std::exit(1);
    }
    return r;
}

}  // namespace memsim::bench
