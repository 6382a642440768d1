// Looking ahead of page walks to come: the CPU core finds, a few operations ahead, where the
// paging-structure entry that maps an access's page is, and later where its data is, and has the
// host prefetch them, so the host's cache misses of a TLB-hostile trace overlap. Hints only: no
// simulated state, statistic or time changes.
#pragma once

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

// Finds the entry that maps `linear` by reading, through the port's window only, the entries above
// it (which a walk reads too, so they are likely in the host's caches), but not the PTE itself.
// IA-32e paging only, where the working sets of tables are large; follows present entries as the
// walker would, without its reserved-bit and rights checks.
leaf_location find_leaf_entry(const control_registers& cr, std::uint64_t linear, const pte_port& memory);

// Where the window holds the byte `linear` maps through the entry at `leaf`, or nullptr.
const unsigned char* find_data(const leaf_location& leaf, std::uint64_t linear, const pte_port& memory);

}  // namespace memsim::mmu
