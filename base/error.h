// Errors a user can cause (bad config, bad command line, bad workload): one line naming
// where and what, and exit status 2. Simulated faults are never reported this way.
#pragma once

#include <stdexcept>
#include <string>

namespace memsim {

// Where a bad input came from: a file with line and column (1-based), or only a
// description such as "--set ram.size=0" when there is no file.
struct source_location {
    std::string file;
    int line = 0;
    int column = 0;

    std::string str() const;
};

class user_error : public std::runtime_error {
public:
    explicit user_error(const std::string& what) : std::runtime_error(what) {}
    user_error(source_location where, const std::string& what)
        : std::runtime_error(what), m_where(std::move(where)) {}

    const source_location& where() const { return m_where; }
    // "FILE:LINE:COL: what", or just "what" where there is no location.
    std::string message() const;

private:
    source_location m_where;
};

// The exit status for every error a user can cause.
inline constexpr int exit_user_error = 2;

}  // namespace memsim
