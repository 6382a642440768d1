// The page-table walker (SDM Vol. 3A, 4.3 to 4.8): translates one linear address by reading the
// paging-structure entries of the current mode through a pte_port, checks reserved bits and
// access rights, sets Accessed/Dirty flags, and uses paging-structure caches to skip levels.
#pragma once

#include <array>
#include <cstdint>

#include "base/stats.h"
#include "mmu/paging.h"
#include "mmu/psc.h"
#include "mmu/pte_port.h"

namespace memsim::mmu {

enum class fault_kind { none, page_fault, general_protection };  // #GP: non-canonical in IA-32e

struct walk_result {
    fault_kind fault = fault_kind::none;
    std::uint32_t error_code = 0;  // for page_fault
    translation result;            // valid when fault == none
    unsigned reads = 0;            // paging-structure entries read from memory
    unsigned writes = 0;           // A/D updates written
    unsigned skipped = 0;          // levels a paging-structure cache let the walk skip
    bool ok() const { return fault == fault_kind::none; }
};

namespace detail {

// The masks of one level of a paging mode's hierarchy (SDM 4.3 to 4.5) that depend on
// MAXPHYADDR and on CR4.PSE or EFER.NXE: worked out once per walker rather than every walk.
struct walk_level {
    std::uint64_t large_flag;      // PS where a set PS maps a page, else 0 (PS reserved or ignored)
    std::uint64_t reserved;        // bits a present entry referencing a table or a 4 KiB page must clear
    std::uint64_t large_reserved;  // bits a present entry mapping a large page must clear
    std::uint64_t large_frame;     // a large page's frame bits, below bit 32 with 4-byte entries
};

// Those of a paging mode, root first, and the mode's address masks.
struct walk_format {
    std::array<walk_level, 5> levels;
    std::uint64_t root_mask;    // the CR3 bits that locate the root table
    std::uint64_t table_mask;   // the bits of a non-leaf entry that locate the next table
    std::uint64_t pse36_frame;  // PSE-36: the 4-MByte PDE bits, from bit 13, of physical bits M-1:32
};

// The walker's statistics, counted where a walk ends: there the entries it read and the
// levels it skipped are constants of the path it took. The number of walks and of writes are
// sums taken when read: the samples of `references`, and its sum less the reads.
struct walk_counters {
    stats::counter& faults;
    stats::counter& reads;
    stats::counter& skipped;
    stats::histogram& references;  // reads + writes

    void count(unsigned read, unsigned written, unsigned skipped_levels, bool fault) {
        if (fault) ++faults;
        reads += read;
        skipped += skipped_levels;
        references.sample(read + written);
    }
};

// What every walk of a walker uses, in one argument: so that a walk's arguments all travel in
// registers.
struct walk_resources {
    // Two per paging mode: CR4.PSE matters only to 32-bit paging, EFER.NXE only to the others.
    std::array<walk_format, 8> formats;
    paging_structure_caches* caches;
    walk_counters counters;
};

}  // namespace detail

class walker {
public:
    // `caches` may be null (no paging-structure caches); they serve IA-32e paging only.
    // `maxphyaddr` (32..52) bounds physical addresses; entry bits at or above it are reserved.
    walker(paging_structure_caches* caches, stats::scope stats, unsigned maxphyaddr = 52);

    // With paging disabled (CR0.PG = 0) the result is the identity translation of the 4 KiB page.
    walk_result walk(const control_registers& cr, const access& a, pte_port& memory) {
        return walk(mode_of(cr), cr, a, memory);
    }
    // walk() for a caller that keeps the paging mode, mode_of(cr), as it changes only with CR0,
    // CR4 or EFER: a walk then goes straight to the mode's own code, one indirect call from the
    // caller's (a switch in a call of its own cost 20 host instructions a walk).
    walk_result walk(paging_mode mode, const control_registers& cr, const access& a, pte_port& memory) {
        return m_walks[static_cast<unsigned>(mode)](cr, a, memory, m_resources);
    }

private:
    using walk_function = walk_result (*)(const control_registers&, const access&, pte_port&,
                                          detail::walk_resources&);
    detail::walk_resources m_resources;
    std::array<walk_function, 5> m_walks;  // by paging_mode
};

}  // namespace memsim::mmu
