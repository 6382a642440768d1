#include "mmu/walk_ahead.h"

#include <cstring>

namespace memsim::mmu {
namespace {

// SDM Vol. 3A, 4.5.4: bits 51:12 of an IA-32e entry locate the next table or the page.
constexpr std::uint64_t address_bits = 0x000f'ffff'ffff'f000;
constexpr unsigned index_bits = 9;

// The present entry at `address` in the window, or 0.
std::uint64_t present_entry(std::uint64_t address, const pte_port& memory) {
    const unsigned char* at = memory.host(address, 8);
    if (!at) return 0;
    std::uint64_t entry = 0;
    std::memcpy(&entry, at, 8);
    return entry & entry_flag::p ? entry : 0;
}

// From `table`, whose entries linear-address bits `shift` up index, down to the entry that maps
// the page; the page directory it passes through goes to `directory`.
leaf_location descend(std::uint64_t table, unsigned shift, std::uint64_t linear, const pte_port& memory,
                      std::uint64_t* directory) {
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

}  // namespace

leaf_location leaf_finder::find(const control_registers& cr, std::uint64_t linear, const pte_port& memory) {
    const paging_mode mode = mode_of(cr);
    if (mode != paging_mode::ia32e_4 && mode != paging_mode::ia32e_5) return {};
    const std::uint64_t region = linear >> 30;
    directory& known = m_directories[region % m_directories.size()];
    if (known.cr3 == cr.cr3 && known.region == region)
        return descend(known.table, 21, linear, memory, nullptr);
    std::uint64_t table = 0;
    const leaf_location leaf =
        descend(cr.cr3 & address_bits, mode == paging_mode::ia32e_5 ? 48 : 39, linear, memory, &table);
    if (table) known = {cr.cr3, region, table};
    return leaf;
}

const unsigned char* find_data(const leaf_location& leaf, std::uint64_t linear, const pte_port& memory) {
    if (!leaf.shift) return nullptr;
    const std::uint64_t entry = present_entry(leaf.entry, memory);
    if (!entry) return nullptr;
    const std::uint64_t offset_mask = (std::uint64_t{1} << leaf.shift) - 1;
    return memory.host((entry & address_bits & ~offset_mask) | (linear & offset_mask), 1);
}

}  // namespace memsim::mmu
