// The traffic `memsim run` drives until the CPU core and the kernel arrive: the CPU writes and
// reads RAM through b_transport and DMI, every DMA engine copies within its reach while the
// CPU keeps the bus busy, and the narrowest engine is pointed past its reach once to show the
// DMA constraint enforced. Each step checks the bytes it moved.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <systemc>

#include "hw/timed_initiator.h"
#include "platform/machine.h"

namespace memsim::platform {

struct self_test_step {
    std::string name;
    bool passed = false;
    std::string detail;
};

class self_test : public sc_core::sc_module {
public:
    self_test(sc_core::sc_module_name name, machine& target, std::uint64_t seed);

    const std::vector<self_test_step>& steps() const { return m_steps; }
    bool passed() const;

private:
    struct copy_job {
        std::size_t engine;
        std::uint64_t src, dst, len;
    };

    void run();
    void cpu_traffic();
    void dma_copies();
    void dma_beyond_reach();

    // Where the CPU works: 1 MiB into the low region, past the real-mode area, or a quarter
    // of the way into a smaller one.
    std::uint64_t cpu_page() const;
    void fill_random(std::uint64_t physical, std::uint64_t len);
    void start_copy(const copy_job& job, std::uint64_t ctrl);
    // Waits for the engine's interrupt; returns its status and acknowledges it.
    std::uint64_t finish_copy(std::size_t engine);
    std::uint64_t registers(std::size_t engine) const;
    unsigned irq_of(std::size_t engine) const;
    void record(std::string name, bool passed, std::string detail);

    machine& m_machine;
    hw::timed_initiator m_cpu;
    std::mt19937_64 m_random;
    std::vector<self_test_step> m_steps;
};

}  // namespace memsim::platform
