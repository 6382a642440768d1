// Looking ahead of page walks to come: the CPU core finds, a few operations ahead, where the
// paging-structure entry that maps an access's page is, and later where its data is, and has the
// host prefetch them, so the host's cache misses of a TLB-hostile trace overlap. Hints only: no
// simulated state, statistic or time changes.
#pragma once

#include <array>
#include <cstdint>

#include "mmu/paging.h"
#include "mmu/pte_port.h"

namespace memsim::mmu {

// The entry that maps a page: its physical address, and the linear-address bit its page's number
// starts at (12: a PTE; 21, 30: a PDE or PDPTE with PS). shift == 0: none found.
struct leaf_location {
    std::uint64_t entry = 0;
    unsigned shift = 0;
};

// Finds the entry that maps an address by reading, through the port's window only, the entries
// above it (which a walk reads too, so they are likely in the host's caches), but not the PTE
// itself. IA-32e paging only, where the working sets of tables are large; follows present entries
// as the walker would, without its reserved-bit and rights checks.
class leaf_finder {
public:
    leaf_location find(const control_registers& cr, std::uint64_t linear, const pte_port& memory);

private:
    // The page directory the last search through a 1 GiB region found under a CR3, so the next
    // search there reads only the PDE, as a PDPTE-cache hit lets the walker do. The finder only
    // hints: a directory the tables no longer point to costs a useless prefetch, nothing else.
    struct directory {
        std::uint64_t cr3 = 0, region = ~std::uint64_t{0};  // linear >> 30
        std::uint64_t table = 0;
    };
    std::array<directory, 16> m_directories;  // by region modulo 16
};

// Where the window holds the byte `linear` maps through the entry at `leaf`, or nullptr.
const unsigned char* find_data(const leaf_location& leaf, std::uint64_t linear, const pte_port& memory);

}  // namespace memsim::mmu
