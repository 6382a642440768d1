// The trap handler until there is a kernel to bind: a fault ends the run with a clear report
// (what, where, which operation), and interrupts are recorded. The kernel issues replace it.
#pragma once

#include <optional>
#include <string>

#include "base/log.h"
#include "hw/cpu_core.h"

namespace memsim::platform {

class trap_report final : public hw::trap_handler {
public:
    explicit trap_report(logger& log) : m_log(log) {}

    bool fault(hw::cpu_core& cpu, const hw::fault_report& report) override;
    void interrupt(hw::cpu_core& cpu, unsigned line) override;
    // Without a kernel there is nobody to serve a kernel operation: the run ends, reported.
    bool service(hw::cpu_core& cpu, const traces::op& o) override;
    std::uint64_t handle_address(std::int32_t) const override { return 0; }
    // Ends the run for an operation nobody can carry out, saying why; false.
    bool refuse(std::string why);

    // The fault that ended the run, in words, if one did.
    const std::optional<std::string>& ending() const { return m_ending; }

private:
    logger& m_log;
    std::optional<std::string> m_ending;
};

// "page fault at 0x400000 (error 0x6: not present, write, user)".
std::string describe(const hw::fault_report& report);

}  // namespace memsim::platform
