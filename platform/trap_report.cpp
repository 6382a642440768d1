#include "platform/trap_report.h"

#include <fmt/format.h>

#include "traces/workload.h"

namespace memsim::platform {

std::string describe(const hw::fault_report& report) {
    if (report.vector == 13 && report.cr2)
        return fmt::format("general-protection fault: {} {:#x}", report.cause, report.cr2);
    if (report.vector == 13) return fmt::format("general-protection fault: {}", report.cause);
    std::uint32_t e = report.error_code;
    // The error code's bits (SDM Vol. 3A, 4.7).
    std::string why = fmt::format("{}, {}, {}", e & mmu::pf::p ? "protection violation" : "not present",
                                  report.op.kind == traces::op_kind::fetch ? "instruction fetch"
                                  : e & mmu::pf::wr                        ? "write"
                                                                           : "read",
                                  e & mmu::pf::us ? "user" : "supervisor");
    if (e & mmu::pf::rsvd) why += ", reserved bit set";
    return fmt::format("page fault at {:#x} (error {:#x}: {})", report.cr2, e, why);
}

bool trap_report::fault(hw::cpu_core&, const hw::fault_report& report) {
    m_ending = fmt::format("{} in operation {} ({}); no kernel to handle it", describe(report),
                           report.op_index + 1, traces::to_text(report.op));
    m_log.log(log_level::error, "cpu", "{}", *m_ending);
    return false;
}

void trap_report::interrupt(hw::cpu_core&, unsigned line) {
    m_log.log(log_level::info, "cpu", "interrupt on line {}; no kernel to handle it", line);
}

bool trap_report::service(hw::cpu_core&, const traces::op& o) {
    return refuse(fmt::format("kernel operation '{}' with no kernel booted", traces::to_text(o)));
}

bool trap_report::refuse(std::string why) {
    m_log.log(log_level::error, "cpu", "{}", why);
    m_ending = std::move(why);
    return false;
}

}  // namespace memsim::platform
