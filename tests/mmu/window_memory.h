// A pte_port whose direct window shows a block of host bytes as physical memory from `base`, as
// the CPU core's shows a DMI region; accesses outside the window are logged and read as 0.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "mmu/pte_port.h"

namespace memsim::mmu::testing {

class window_memory final : public pte_port {
public:
    window_memory(std::uint64_t base, std::size_t size) : base(base), bytes(size) { open(); }

    void open() { open_window({bytes.data(), base, bytes.size()}); }
    using pte_port::close_window;
    using pte_port::take_use;

    void store(std::uint64_t physical, std::uint64_t value) { std::memcpy(at(physical), &value, 8); }
    std::uint64_t load(std::uint64_t physical) const {
        std::uint64_t value = 0;
        std::memcpy(&value, at(physical), 8);
        return value;
    }
    unsigned char* at(std::uint64_t physical) { return bytes.data() + (physical - base); }
    const unsigned char* at(std::uint64_t physical) const { return bytes.data() + (physical - base); }

    const std::uint64_t base;
    std::vector<unsigned char> bytes;
    std::vector<std::uint64_t> outside;  // addresses read_entry() and write_entry() were asked for

private:
    std::uint64_t read_entry(std::uint64_t physical, unsigned) override {
        outside.push_back(physical);
        return 0;
    }
    void write_entry(std::uint64_t physical, std::uint64_t, unsigned) override {
        outside.push_back(physical);
    }
};

}  // namespace memsim::mmu::testing
