#include "base/log.h"

#include <ostream>

#include <fmt/ostream.h>

namespace memsim {

void logger::write(std::string_view component, std::string_view message) {
    picoseconds t = m_clock ? m_clock->now() : 0;
    // dmesg's "[%5lu.%06lu] " from printk's timestamp, here in simulated seconds.
    std::uint64_t us = t / ps_per_us;
    fmt::print(*m_sink, "[{:5}.{:06}] {}: {}\n", us / 1000'000, us % 1000'000, component, message);
}

}  // namespace memsim
