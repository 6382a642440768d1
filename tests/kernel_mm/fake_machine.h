// A machine for kernel tests: physical memory is one reserved, uncommitted host mapping of the
// whole physical address space tests use (2 TiB), time advances by the cycles charged, and TLB
// and control-register operations are recorded.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <new>
#include <vector>

#include "kernel_mm/machine_ops.h"

namespace memsim::kernel::testing {

class fake_machine final : public machine_ops {
public:
    static constexpr std::uint64_t memory_bytes = 2ull << 40;

    fake_machine() {
        void* p = mmap(nullptr, memory_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        m_memory = static_cast<std::uint8_t*>(p);
    }
    ~fake_machine() { munmap(m_memory, memory_bytes); }
    fake_machine(const fake_machine&) = delete;
    fake_machine& operator=(const fake_machine&) = delete;

    void read_phys(phys_addr_t addr, void* data, std::size_t length) override {
        std::memcpy(data, m_memory + addr, length);
    }
    void write_phys(phys_addr_t addr, const void* data, std::size_t length) override {
        std::memcpy(m_memory + addr, data, length);
    }
    // Zeroing whole pages gives them back to the host instead (they read as zero again), so
    // that a boot's 64 MiB swiotlb clear costs the tests no host memory.
    void fill_phys(phys_addr_t addr, std::uint8_t value, std::size_t length) override {
        filled += length;
        constexpr std::uint64_t host_page = 4096;
        std::uint64_t first = (addr + host_page - 1) & ~(host_page - 1),
                      last = (addr + length) & ~(host_page - 1);
        if (value || first >= last) {
            std::memset(m_memory + addr, value, length);
            return;
        }
        std::memset(m_memory + addr, 0, first - addr);
        madvise(m_memory + first, last - first, MADV_DONTNEED);
        std::memset(m_memory + last, 0, addr + length - last);
    }
    void copy_phys(phys_addr_t to, phys_addr_t from, std::size_t length) override {
        std::memmove(m_memory + to, m_memory + from, length);
    }
    unsigned char* direct(phys_addr_t addr, std::size_t length) override {
        return addr + length <= memory_bytes ? m_memory + addr : nullptr;
    }
    cpu_context& context() override { return cpu; }
    picoseconds now() const override { return cpu.cycles * 500; }  // a 2 GHz clock
    void write_control(control_register reg, std::uint64_t value) override {
        control_writes.push_back({reg, value});
    }
    void enable_a20() override { a20 = true; }
    void flush_tlb_page(std::uint64_t linear) override { flushed_pages.push_back(linear); }
    void flush_tlb_pcid(std::uint16_t pcid) override { flushed_pcids.push_back(pcid); }
    void flush_tlb_all() override { ++full_flushes; }
    unsigned cpu_count() const override { return cpus; }
    // A device model of the test's: what happens while the CPU halts (it raises the interrupt).
    bool wait_for_interrupt() override {
        ++halts;
        if (!on_halt) return false;
        on_halt();
        return true;
    }

    std::uint8_t& byte(phys_addr_t addr) { return m_memory[addr]; }
    // A recognisable byte pattern, and whether [addr, addr + size) still holds it.
    void pattern(phys_addr_t addr, std::size_t size, std::uint8_t seed) {
        for (std::size_t i = 0; i < size; ++i) m_memory[addr + i] = static_cast<std::uint8_t>(seed + i * 7);
    }
    bool holds(phys_addr_t addr, std::size_t size, std::uint8_t seed) const {
        for (std::size_t i = 0; i < size; ++i)
            if (m_memory[addr + i] != static_cast<std::uint8_t>(seed + i * 7)) return false;
        return true;
    }

    cpu_context cpu;
    std::uint64_t filled = 0;
    std::vector<std::pair<control_register, std::uint64_t>> control_writes;
    std::vector<std::uint64_t> flushed_pages;
    std::vector<std::uint16_t> flushed_pcids;
    unsigned full_flushes = 0;
    bool a20 = false;
    unsigned cpus = 1;
    unsigned halts = 0;
    std::function<void()> on_halt;

private:
    std::uint8_t* m_memory;
};

}  // namespace memsim::kernel::testing
