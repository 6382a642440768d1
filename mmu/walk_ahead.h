// Looking ahead of page walks to come: the CPU core finds, a few operations ahead, where the
// paging-structure entry that maps an access's page is, and later where its data is, and has the
// host prefetch them, so the host's cache misses of a TLB-hostile trace overlap. Hints only: no
// simulated state, statistic or time changes.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

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
    // `mode` is mode_of() the control registers that hold `cr3`: the caller knows it already.
    leaf_location find(paging_mode mode, std::uint64_t cr3, std::uint64_t linear, const pte_port& memory);

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

// Inline, like the TLB's hit path: the core calls them for every walk.

namespace walk_ahead_detail {

// SDM Vol. 3A, 4.5.4: bits 51:12 of an IA-32e entry locate the next table or the page.
constexpr std::uint64_t address_bits = 0x000f'ffff'ffff'f000;
constexpr unsigned index_bits = 9;

// The present entry at `address` in the window, or 0.
inline std::uint64_t present_entry(std::uint64_t address, const pte_port& memory) {
    const unsigned char* at = memory.host(address, 8);
    if (!at) return 0;
    std::uint64_t entry = 0;
    std::memcpy(&entry, at, 8);
    return entry & entry_flag::p ? entry : 0;
}

// From `table`, whose entries linear-address bits `shift` up index, down to the entry that maps
// the page; the page directory it passes through goes to `directory`.
inline leaf_location descend(std::uint64_t table, unsigned shift, std::uint64_t linear,
                             const pte_port& memory, std::uint64_t* directory) {
    for (;; shift -= index_bits) {
        if (shift == 21 && directory) *directory = table;
        const std::uint64_t address = table + ((linear >> shift) & ((1u << index_bits) - 1)) * 8;
        if (shift == 12) return {address, shift};
        const std::uint64_t entry = present_entry(address, memory);
        if (!entry) return {};
        // PS maps a page in a PDPTE or a PDE; it is reserved above (SDM 4.5, Tables 4-15 to 4-18).
        if (shift <= 30 && (entry & entry_flag::ps)) return {address, shift};
        table = entry & address_bits;
    }
}

}  // namespace walk_ahead_detail

inline leaf_location leaf_finder::find(paging_mode mode, std::uint64_t cr3, std::uint64_t linear,
                                       const pte_port& memory) {
    if (mode != paging_mode::ia32e_4 && mode != paging_mode::ia32e_5) return {};
    const std::uint64_t region = linear >> 30;
    directory& known = m_directories[region % m_directories.size()];
    if (known.cr3 == cr3 && known.region == region)
        return walk_ahead_detail::descend(known.table, 21, linear, memory, nullptr);
    std::uint64_t table = 0;
    const leaf_location leaf =
        walk_ahead_detail::descend(cr3 & walk_ahead_detail::address_bits,
                                   mode == paging_mode::ia32e_5 ? 48 : 39, linear, memory, &table);
    if (table) known = {cr3, region, table};
    return leaf;
}

inline const unsigned char* find_data(const leaf_location& leaf, std::uint64_t linear,
                                      const pte_port& memory) {
    if (!leaf.shift) return nullptr;
    const std::uint64_t entry = walk_ahead_detail::present_entry(leaf.entry, memory);
    if (!entry) return nullptr;
    const std::uint64_t offset_mask = (std::uint64_t{1} << leaf.shift) - 1;
    return memory.host((entry & walk_ahead_detail::address_bits & ~offset_mask) | (linear & offset_mask), 1);
}

}  // namespace memsim::mmu
