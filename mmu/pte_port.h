// How the walker reaches paging-structure entries in physical memory: the CPU core implements
// it with timed bus reads and writes, tests with a plain map. Little-endian values of 4 bytes
// (32-bit paging) or 8 bytes (PAE and IA-32e paging).
#pragma once

#include <cstdint>

namespace memsim::mmu {

class pte_port {
public:
    virtual std::uint64_t read(std::uint64_t physical, unsigned size) = 0;  // size 4 or 8
    // Sets Accessed and Dirty flags (SDM Vol. 3A, 4.8): on hardware a locked read-modify-write;
    // the walker issues it right after its own read of the entry.
    virtual void write(std::uint64_t physical, std::uint64_t value, unsigned size) = 0;

protected:
    ~pte_port() = default;
};

}  // namespace memsim::mmu
