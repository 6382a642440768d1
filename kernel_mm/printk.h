// The kernel's log buffer (kernel/printk): every line the kernel prints, stamped with the
// simulated time it was printed at and its log level, kept whatever the simulator's own log
// level, so that `memsim boot` and dmesg.log show what Linux's dmesg would.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "base/units.h"

namespace memsim::kernel {

// include/linux/kern_levels.h
enum class kern_level { emerg, alert, crit, err, warning, notice, info, debug };

struct printk_record {
    picoseconds time = 0;
    kern_level level = kern_level::info;
    std::string text;
};

class printk_buffer {
public:
    void print(picoseconds time, kern_level level, std::string text) {
        m_records.push_back({time, level, std::move(text)});
    }
    const std::vector<printk_record>& records() const { return m_records; }
    // dmesg's "[    0.000000] text" lines.
    std::string dmesg() const;
    // Lines at or above `level` whose text starts with `prefix`, without timestamps (tests).
    std::vector<std::string> lines(std::string_view prefix = {}, kern_level level = kern_level::debug) const;

private:
    std::vector<printk_record> m_records;
};

}  // namespace memsim::kernel
