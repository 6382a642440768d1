#include "platform/assembly.h"

#include "platform/kernel_report.h"
#include "platform/output.h"

namespace memsim::platform {
namespace {

hw::cpu_params cpu_params_of(const machine_config& c) {
    return {clock_period(c.cpu.frequency_hz), c.mmu.tlbs, c.mmu.paging_caches,
            physical_address_bits(c.profile)};
}

}  // namespace

assembly::assembly(const machine_config& config)
    : log(dmesg, config.sim.level),
      board("machine", config, stats, log),
      traps(log),
      cpu("cpu", cpu_params_of(config), stats.under("cpu"), log) {
    clock.follow(cpu.thread(), cpu.port.quantum);
    board.follow_engines(clock);
    log.set_time_source(&clock);
    board.bind_cpu(cpu.port.socket);
    cpu.connect_interrupts(board.interrupts());
    cpu.set_trap_handler(&traps);
}

void assembly::write_outputs(const std::filesystem::path& out, const machine_config& config,
                             const kernel_machine* host) const {
    std::ostringstream json, text;
    stats.write_json(json);
    stats.write_text(text);
    write_output(out, "stats.json", json.str());
    write_output(out, "stats.txt", text.str());
    write_output(out, "dmesg.log", (host ? host->log().dmesg() : std::string{}) + dmesg.str());
    write_output(out, "config.yaml", to_yaml(config));
    if (host) write_proc(out, *host, config);
}

}  // namespace memsim::platform
