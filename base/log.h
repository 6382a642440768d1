// The simulation log: timestamped lines in the kernel's dmesg style ("[    0.000123] bus: ..."),
// at a level a user chooses. One logger per machine; time comes from whoever owns the clock.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string_view>

#include <fmt/format.h>

#include "base/units.h"

namespace memsim {

enum class log_level { error, warning, info, debug };

// Supplies the current simulated time; the platform adapts SystemC's clock to it.
class time_source {
public:
    virtual picoseconds now() const = 0;

protected:
    ~time_source() = default;
};

class logger {
public:
    logger(std::ostream& sink, log_level level) : m_sink(&sink), m_level(level) {}

    void set_time_source(const time_source* clock) { m_clock = clock; }
    bool enabled(log_level level) const { return level <= m_level; }

    template <typename... Args>
    void log(log_level level, std::string_view component, fmt::format_string<Args...> format,
             Args&&... args) {
        if (!enabled(level)) return;
        write(component, fmt::format(format, std::forward<Args>(args)...));
    }

private:
    void write(std::string_view component, std::string_view message);

    std::ostream* m_sink;
    log_level m_level;
    const time_source* m_clock = nullptr;
};

}  // namespace memsim
