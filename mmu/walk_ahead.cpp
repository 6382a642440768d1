#include "mmu/walk_ahead.h"

#include <cstring>

namespace memsim::mmu {
namespace {

// SDM Vol. 3A, 4.5.4: bits 51:12 of an IA-32e entry locate the next table or the page.
constexpr std::uint64_t address_bits = 0x000f'ffff'ffff'f000;
constexpr unsigned index_bits = 9;

// Whether an entry of the level that linear-address bit `shift` up index maps a page: a PTE
// always, a PDE or PDPTE with PS (SDM 4.5, Tables 4-15 to 4-20).
bool maps_page(std::uint64_t entry, unsigned shift) {
    return shift == 12 || ((shift == 21 || shift == 30) && (entry & entry_flag::ps));
}

}  // namespace

const unsigned char* walk_ahead(const control_registers& cr, std::uint64_t linear, const pte_port& memory,
                                prefetch_target target) {
    const paging_mode mode = mode_of(cr);
    if (mode != paging_mode::ia32e_4 && mode != paging_mode::ia32e_5) return nullptr;
    std::uint64_t table = cr.cr3 & address_bits;
    for (unsigned shift = mode == paging_mode::ia32e_5 ? 48 : 39;; shift -= index_bits) {
        const unsigned char* at = memory.host(table + ((linear >> shift) & ((1u << index_bits) - 1)) * 8, 8);
        if (!at || (shift == 12 && target == prefetch_target::leaf_entry)) return at;
        std::uint64_t entry = 0;
        std::memcpy(&entry, at, 8);
        if (!(entry & entry_flag::p)) return nullptr;
        if (maps_page(entry, shift)) {
            if (target == prefetch_target::leaf_entry) return nullptr;  // read already
            const std::uint64_t offset_mask = (std::uint64_t{1} << shift) - 1;
            return memory.host((entry & address_bits & ~offset_mask) | (linear & offset_mask), 1);
        }
        table = entry & address_bits;
    }
}

}  // namespace memsim::mmu
