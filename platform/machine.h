// The hardware a machine_config describes, built and wired: RAM laid into its windows, the
// bus, the DMA engines with their reach and interrupt lines, the interrupt controller. The
// CPU plugs in with bind_cpu().
#pragma once

#include <memory>
#include <vector>

#include <systemc>
#include <tlm>

#include "base/log.h"
#include "base/stats.h"
#include "hw/bus.h"
#include "hw/dma_engine.h"
#include "hw/irq.h"
#include "hw/ram.h"
#include "hw/sim_time.h"
#include "platform/config.h"

namespace memsim::platform {

class machine : public sc_core::sc_module {
public:
    machine(sc_core::sc_module_name name, const machine_config& config, stats::registry& stats, logger& log);

    // Connects the CPU's port with the profile's reach (cpu.reach_bits); another CPU-like master
    // binds under its own name with the same reach.
    void bind_cpu(tlm::tlm_initiator_socket<>& cpu, std::string_view name = "cpu");

    const machine_config& config() const { return m_config; }
    hw::irq_controller& interrupts() { return m_irqs; }

    // The DMA engines' own log lines carry their own time, which may run ahead of global time.
    void follow_engines(hw::systemc_time& clock) const;

    // Where a physical address lands in RAM's backing store, or nullptr outside RAM.
    unsigned char* host_address(std::uint64_t physical, std::uint64_t length);

private:
    const machine_config m_config;
    hw::ram m_ram;
    hw::bus m_bus;
    hw::irq_controller m_irqs;
    std::vector<std::unique_ptr<hw::dma_engine>> m_dma;
};

// One cycle of a configured clock as SystemC time.
sc_core::sc_time clock_period(std::uint64_t frequency_hz);

}  // namespace memsim::platform
