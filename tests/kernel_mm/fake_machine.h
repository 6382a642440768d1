// A machine for kernel tests: physical memory is a sparse map of touched pages, time advances
// by the cycles charged, and TLB and control-register operations are recorded.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "kernel_mm/machine_ops.h"

namespace memsim::kernel::testing {

class fake_machine final : public machine_ops {
public:
    void read_phys(phys_addr_t addr, void* data, std::size_t length) override {
        auto* out = static_cast<std::uint8_t*>(data);
        for (std::size_t i = 0; i < length; ++i) out[i] = byte(addr + i);
    }
    void write_phys(phys_addr_t addr, const void* data, std::size_t length) override {
        const auto* in = static_cast<const std::uint8_t*>(data);
        for (std::size_t i = 0; i < length; ++i) byte(addr + i) = in[i];
    }
    void fill_phys(phys_addr_t addr, std::uint8_t value, std::size_t length) override {
        filled += length;
        for (std::size_t i = 0; i < length; ++i) byte(addr + i) = value;
    }
    void copy_phys(phys_addr_t to, phys_addr_t from, std::size_t length) override {
        for (std::size_t i = 0; i < length; ++i) byte(to + i) = byte(from + i);
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

    std::uint8_t& byte(phys_addr_t addr) {
        auto& page = memory[addr >> 12];
        if (page.empty()) page.assign(4096, 0);
        return page[addr & 4095];
    }

    std::unordered_map<std::uint64_t, std::vector<std::uint8_t>> memory;
    cpu_context cpu;
    std::uint64_t filled = 0;
    std::vector<std::pair<control_register, std::uint64_t>> control_writes;
    std::vector<std::uint64_t> flushed_pages;
    std::vector<std::uint16_t> flushed_pcids;
    unsigned full_flushes = 0;
    bool a20 = false;
    unsigned cpus = 1;
};

}  // namespace memsim::kernel::testing
