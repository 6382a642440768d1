#include "kernel_mm/printk.h"

namespace memsim::kernel {

std::string printk_buffer::dmesg() const {
    std::string out;
    for (const printk_record& r : m_records) {
        // kernel/printk/printk.c print_time: "[%5lu.%06lu] ".
        std::uint64_t us = r.time / ps_per_us;
        fmt::format_to(std::back_inserter(out), "[{:5}.{:06}] {}\n", us / 1000'000, us % 1000'000, r.text);
    }
    return out;
}

std::vector<std::string> printk_buffer::lines(std::string_view prefix, kern_level level) const {
    std::vector<std::string> out;
    for (const printk_record& r : m_records)
        if (r.level <= level && std::string_view(r.text).starts_with(prefix)) out.push_back(r.text);
    return out;
}

}  // namespace memsim::kernel
