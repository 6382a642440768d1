#include "platform/self_test.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "base/bits.h"
#include "base/units.h"

namespace memsim::platform {

using namespace hw;

self_test::self_test(sc_core::sc_module_name name, machine& target, std::uint64_t seed)
    : sc_module(name), m_machine(target), m_cpu("cpu"), m_random(seed) {
    m_machine.bind_cpu(m_cpu.socket, "self_test");
    SC_HAS_PROCESS(self_test);
    SC_THREAD(run);
}

bool self_test::passed() const {
    return std::all_of(m_steps.begin(), m_steps.end(), [](const self_test_step& s) { return s.passed; });
}

void self_test::record(std::string name, bool passed, std::string detail) {
    m_steps.push_back({std::move(name), passed, std::move(detail)});
}

void self_test::run() {
    cpu_traffic();
    dma_copies();
    dma_beyond_reach();
    m_cpu.quantum.sync();
}

std::uint64_t self_test::registers(std::size_t engine) const {
    return m_machine.config().dma_engines[engine].base;
}

// Random bytes written by the CPU through a DMI pointer, as a program filling a buffer.
void self_test::fill_random(std::uint64_t physical, std::uint64_t len) {
    tlm::tlm_dmi grant;
    bool direct = m_cpu.dmi(physical, grant) && grant.get_end_address() >= physical + len - 1;
    for (std::uint64_t off = 0; off < len; off += 8) {
        std::uint64_t word = m_random();
        if (!direct) {
            m_cpu.write64(physical + off, word);
            continue;
        }
        std::memcpy(grant.get_dmi_ptr() + (physical + off - grant.get_start_address()), &word, 8);
        m_cpu.quantum.inc(grant.get_write_latency());
        if (m_cpu.quantum.need_sync()) m_cpu.quantum.sync();
    }
}

std::uint64_t self_test::cpu_page() const {
    const ram_region& low = m_machine.config().ram.regions.front();
    return low.base + std::min<std::uint64_t>(1 * MiB, low.size / 4);
}

void self_test::cpu_traffic() {
    // A page of words through b_transport in every RAM region, read back.
    for (const ram_region& r : m_machine.config().ram.regions) {
        std::uint64_t base = &r == &m_machine.config().ram.regions.front() ? cpu_page() : r.base;
        if (base + 4 * KiB > r.base + r.size) continue;
        std::vector<std::uint64_t> words(4 * KiB / 8);
        for (auto& w : words) w = m_random();
        bool ok = true;
        for (std::size_t i = 0; i < words.size(); ++i)
            ok &= m_cpu.write64(base + 8 * i, words[i]) == tlm::TLM_OK_RESPONSE;
        for (std::size_t i = 0; i < words.size(); ++i) ok &= m_cpu.read64(base + 8 * i) == words[i];
        record(fmt::format("cpu b_transport {:#x}", base), ok, "4 KiB written and read back");
    }
    // A block by DMI just above that page, checked through b_transport.
    const ram_region& low = m_machine.config().ram.regions.front();
    std::uint64_t base = cpu_page() + 4 * KiB;
    if (base >= low.base + low.size) return;
    std::uint64_t len = align_down(std::min<std::uint64_t>(64 * KiB, low.base + low.size - base), 8);
    if (len == 0) return;
    fill_random(base, len);
    const unsigned char* host = m_machine.host_address(base, len);
    std::uint64_t last = 0;
    m_cpu.read(base + len - 8, &last, 8);
    bool ok = host && std::memcmp(host + len - 8, &last, 8) == 0;
    record(fmt::format("cpu dmi {:#x}", base), ok,
           fmt::format("{} written by DMI, seen by b_transport", format_size(len)));
}

void self_test::start_copy(const copy_job& job, std::uint64_t ctrl) {
    std::uint64_t regs = registers(job.engine);
    m_cpu.write64(regs + dma_reg::src, job.src);
    m_cpu.write64(regs + dma_reg::dst, job.dst);
    m_cpu.write64(regs + dma_reg::len, job.len);
    m_cpu.write64(regs + dma_reg::ctrl, ctrl);
}

unsigned self_test::irq_of(std::size_t engine) const { return m_machine.config().dma_engines[engine].irq; }

std::uint64_t self_test::finish_copy(std::size_t engine) {
    std::uint32_t line = std::uint32_t{1} << irq_of(engine);
    std::uint64_t status = 0;
    // The line may still be high from the last transfer until the acknowledgement reaches it,
    // so a raised line counts only once the engine says it is no longer busy.
    for (;;) {
        m_cpu.quantum.sync();
        if (m_machine.interrupts().pending() & line) {
            status = m_cpu.read64(registers(engine) + dma_reg::status);
            if (!(status & dma_reg::status_busy)) break;
        }
        wait(m_machine.interrupts().raised());
    }
    m_cpu.write64(registers(engine) + dma_reg::ctrl, dma_reg::ctrl_ack);
    return status;
}

void self_test::dma_copies() {
    const auto& engines = m_machine.config().dma_engines;
    const ram_region& low = m_machine.config().ram.regions.front();
    std::vector<copy_job> jobs;
    for (std::size_t i = 0; i < engines.size(); ++i) {
        // Each engine copies between two slots in the upper half of the low RAM it reaches.
        std::uint64_t limit = std::min(low.base + low.size - 1, address_mask(engines[i].reach_bits)) + 1;
        std::uint64_t slot = std::min({engines[i].max_transfer, 256 * KiB, limit / 2 / (2 * engines.size())});
        std::uint64_t area = limit / 2 + 2 * i * slot;
        if (slot < 8 || area < low.base) continue;
        jobs.push_back({i, area, area + slot, align_down(slot, 8)});
        fill_random(area, jobs.back().len);
    }
    for (const copy_job& job : jobs) start_copy(job, dma_reg::ctrl_start | dma_reg::ctrl_irq_enable);
    // The CPU reads on while the engines run, so all three compete for the bus.
    for (unsigned i = 0; i < 2048; ++i) m_cpu.read64(cpu_page() + 8 * (i % 512));
    for (const copy_job& job : jobs) {
        std::uint64_t status = finish_copy(job.engine);
        const unsigned char* src = m_machine.host_address(job.src, job.len);
        const unsigned char* dst = m_machine.host_address(job.dst, job.len);
        bool ok = status == dma_reg::status_done && src && dst && std::memcmp(src, dst, job.len) == 0;
        record(fmt::format("{} copy", engines[job.engine].name), ok,
               fmt::format("{} {:#x} -> {:#x}, interrupt at {} (status {:#x})", format_size(job.len), job.src,
                           job.dst,
                           format_duration(m_machine.interrupts().last_raised(irq_of(job.engine)).value()),
                           status));
    }
}

void self_test::dma_beyond_reach() {
    const auto& engines = m_machine.config().dma_engines;
    auto narrowest = std::min_element(engines.begin(), engines.end(), [](const auto& a, const auto& b) {
        return a.reach_bits < b.reach_bits;
    });
    if (narrowest == engines.end() || narrowest->reach_bits >= 64) return;
    // The source in the middle of what it reaches; the target as far past the top of its reach
    // as a wrap would land from the bottom: 16 MiB + 64 KiB for a 24-bit ISA engine.
    std::uint64_t limit = address_mask(narrowest->reach_bits) + 1;
    unsigned len = narrowest->burst_bytes;
    if (limit < 4 * std::uint64_t{len}) return;  // too narrow to show anything
    std::uint64_t landing = align_down(std::min<std::uint64_t>(0x10000, limit / 4), len);
    std::uint64_t src = limit / 2, beyond = limit + landing;
    unsigned char* wrapped = m_machine.host_address(landing, len);
    const unsigned char* source = m_machine.host_address(src, len);
    if (!wrapped || !source || !m_machine.host_address(beyond, len)) return;  // no RAM there: nothing to show
    fill_random(src, len);
    std::vector<unsigned char> before(wrapped, wrapped + len);
    std::size_t engine = narrowest - engines.begin();
    start_copy({engine, src, beyond, len}, dma_reg::ctrl_start | dma_reg::ctrl_irq_enable);
    std::uint64_t status = finish_copy(engine);
    bool landed_low = std::memcmp(wrapped, source, len) == 0 && std::memcmp(before.data(), source, len) != 0;
    std::string name = fmt::format("{} beyond its {}-bit reach", narrowest->name, narrowest->reach_bits);
    if (m_machine.config().bus.on_overreach == overreach_policy::truncate) {
        record(name, status == dma_reg::status_done && landed_low,
               fmt::format("{:#x} wrapped to {:#x} as the hardware would", beyond, landing));
        return;
    }
    bool refused = status == (dma_reg::status_error | std::uint64_t(dma_error::bus_error) << 8);
    record(name, refused && !landed_low,
           fmt::format("{:#x} refused by the bus (status {:#x})", beyond, status));
}

}  // namespace memsim::platform
