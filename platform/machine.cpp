#include "platform/machine.h"

namespace memsim::platform {

sc_core::sc_time clock_period(std::uint64_t frequency_hz) {
    return sc_core::sc_time(static_cast<double>(period_of(frequency_hz)), sc_core::SC_PS);
}

namespace {

hw::ram_timing ram_timing_of(const ram_config& c) {
    return {clock_period(c.frequency_hz), c.latency_cycles, c.bytes_per_cycle, c.channels, c.interleave};
}

hw::bus_timing bus_timing_of(const bus_config& c) {
    return {clock_period(c.frequency_hz), c.width_bytes, c.latency_cycles};
}

hw::overreach_mode mode_of(overreach_policy p) {
    return p == overreach_policy::truncate ? hw::overreach_mode::truncate : hw::overreach_mode::error;
}

}  // namespace

machine::machine(sc_core::sc_module_name name, const machine_config& config, stats::registry& stats,
                 logger& log)
    : sc_module(name),
      m_config(config),
      m_ram("ram", config.ram.size, ram_timing_of(config.ram), stats.under("ram"),
            config.sim.host_huge_pages ? hw::host_pages::huge : hw::host_pages::base),
      m_bus("bus", bus_timing_of(config.bus), mode_of(config.bus.on_overreach), stats.under("bus"), log),
      m_irqs("irq", irq_lines, stats.under("irq")) {
    tlm::tlm_global_quantum::instance().set(
        sc_core::sc_time(static_cast<double>(config.sim.quantum), sc_core::SC_PS));
    // RAM is one backing store; its regions are consecutive slices of it, in address order.
    unsigned ram_port = m_bus.bind_target(m_ram.socket, "ram");
    std::uint64_t offset = 0;
    for (const ram_region& r : config.ram.regions) {
        m_bus.map(ram_port, r.base, r.size, offset);
        offset += r.size;
    }
    for (const dma_engine_config& d : config.dma_engines) {
        hw::dma_engine_params params{clock_period(d.frequency_hz), d.reach_bits, d.burst_bytes,
                                     d.max_transfer};
        auto& engine = *m_dma.emplace_back(
            std::make_unique<hw::dma_engine>(d.name.c_str(), params, stats.under("dma").under(d.name)));
        m_bus.map(m_bus.bind_target(engine.registers, d.name), d.base, d.size);
        m_bus.bind_initiator(engine.master.socket, d.name, d.reach_bits);
        engine.irq.bind(m_irqs.line(d.irq));
    }
}

void machine::bind_cpu(tlm::tlm_initiator_socket<>& cpu, std::string_view name) {
    m_bus.bind_initiator(cpu, name, m_config.cpu.reach_bits);
}

void machine::follow_engines(hw::systemc_time& clock) const {
    for (const auto& engine : m_dma) clock.follow(engine->thread(), engine->master.quantum);
}

unsigned char* machine::host_address(std::uint64_t physical, std::uint64_t length) {
    std::uint64_t offset = 0;
    for (const ram_region& r : m_config.ram.regions) {
        if (physical >= r.base && physical - r.base < r.size && length <= r.size - (physical - r.base))
            return m_ram.data() + offset + (physical - r.base);
        offset += r.size;
    }
    return nullptr;
}

}  // namespace memsim::platform
