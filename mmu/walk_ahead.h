// Looking ahead of page walks to come: the CPU core finds, a few operations ahead, where on the
// host the paging-structure entry and later the data those operations will touch are, and has
// the host prefetch them, so the host's cache misses of a TLB-hostile trace overlap. Hints
// only: no simulated state, statistic or time changes.
#pragma once

#include <cstdint>

#include "mmu/paging.h"
#include "mmu/pte_port.h"

namespace memsim::mmu {

enum class prefetch_target : std::uint8_t {
    leaf_entry,  // the entry that maps the page (the PTE of a 4 KiB page): reads those above it
    data,        // the byte at the linear address: reads every entry, the leaf's too
};

// Where the port's window holds `target` for an access to `linear`, or nullptr. IA-32e paging
// only (its hostile working sets are the large ones); follows present entries as the walker
// would, without its checks of reserved bits and rights, and stops at anything outside the window.
const unsigned char* walk_ahead(const control_registers& cr, std::uint64_t linear, const pte_port& memory,
                                prefetch_target target);

}  // namespace memsim::mmu
