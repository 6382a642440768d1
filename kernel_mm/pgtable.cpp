#include "kernel_mm/pgtable.h"

#include <span>
#include <stdexcept>

namespace memsim::kernel {
namespace {

constexpr std::uint64_t frame_mask = 0x000ffffffffff000;  // bits 51:12 of an entry

}  // namespace

page_table::page_table(mmu::paging_mode mode, machine_ops& machine, table_alloc alloc)
    : m_mode(mode), m_machine(machine), m_alloc(std::move(alloc)) {
    if (mode == mmu::paging_mode::none) throw std::invalid_argument("page_table: no paging mode");
    m_root = m_alloc();
    if (!m_root) throw std::runtime_error("page_table: no page for the root table");
    ++m_tables;
}

// SDM Vol. 3A, 4.3 to 4.5: the linear-address bits each level indexes and its entry width.
const page_table::level* page_table::levels(std::size_t& count) const {
    static constexpr level bits32[] = {{22, 10, 4}, {12, 10, 4}};
    static constexpr level pae[] = {{30, 2, 8}, {21, 9, 8}, {12, 9, 8}};
    static constexpr level ia32e_5[] = {{48, 9, 8}, {39, 9, 8}, {30, 9, 8}, {21, 9, 8}, {12, 9, 8}};
    switch (m_mode) {
        case mmu::paging_mode::bits32:
            count = 2;
            return bits32;
        case mmu::paging_mode::pae:
            count = 3;
            return pae;
        case mmu::paging_mode::ia32e_4:
            count = 4;
            return ia32e_5 + 1;
        default:
            count = 5;
            return ia32e_5;
    }
}

std::uint64_t page_table::read_entry(phys_addr_t at, unsigned bytes) {
    std::uint64_t value = 0;
    m_machine.read_phys(at, &value, bytes);
    return value;
}

void page_table::write_entry(phys_addr_t at, unsigned bytes, std::uint64_t value) {
    m_machine.write_phys(at, &value, bytes);
}

bool page_table::map(std::uint64_t linear, phys_addr_t physical, mmu::page_size size, std::uint64_t flags) {
    std::size_t count = 0;
    const level* lv = levels(count);
    unsigned leaf_shift = mmu::page_shift(size);
    phys_addr_t table = m_root;
    for (std::size_t i = 0; i < count; ++i) {
        const level& l = lv[i];
        phys_addr_t at = table + ((linear >> l.shift) & ((1ull << l.index_bits) - 1)) * l.entry_bytes;
        if (l.shift == leaf_shift) {
            write_entry(at, l.entry_bytes, physical | flags | (leaf_shift > 12 ? pte::pse : 0));
            ++m_leaves[static_cast<unsigned>(size)];
            return true;
        }
        std::uint64_t entry = read_entry(at, l.entry_bytes);
        if (!(entry & pte::present)) {
            phys_addr_t next = m_alloc();
            if (!next) return false;
            ++m_tables;
            // A PAE PDPTE has no R/W, U/S, A or D bits: they are reserved (SDM 4.4.1, Table 4-8).
            std::uint64_t bits = m_mode == mmu::paging_mode::pae && i == 0 ? pte::present : pte::kernpg_table;
            entry = next | bits | (flags & pte::user && bits != pte::present ? pte::user : 0);
            write_entry(at, l.entry_bytes, entry);
        } else if ((flags & pte::user) && !(entry & pte::user) &&
                   !(m_mode == mmu::paging_mode::pae && i == 0)) {
            // Permissions combine across levels: a user page needs U/S on every entry above it.
            entry |= pte::user;
            write_entry(at, l.entry_bytes, entry);
        }
        table = entry & frame_mask & (l.entry_bytes == 4 ? 0xfffff000 : ~0ull);
    }
    return false;
}

bool page_table::map_range(std::uint64_t linear, phys_addr_t physical, std::uint64_t length,
                           std::uint64_t flags, mmu::page_size largest) {
    using mmu::page_size;
    if ((linear | physical | length) & 0xfff) throw std::invalid_argument("map_range: not 4 KiB aligned");
    // The page sizes of each mode, largest first (SDM Vol. 3A, Table 4-1).
    static constexpr page_size bits32[] = {page_size::size_4m, page_size::size_4k};
    static constexpr page_size pae[] = {page_size::size_2m, page_size::size_4k};
    static constexpr page_size ia32e[] = {page_size::size_1g, page_size::size_2m, page_size::size_4k};
    std::span<const page_size> sizes = m_mode == mmu::paging_mode::bits32 ? std::span<const page_size>(bits32)
                                       : m_mode == mmu::paging_mode::pae  ? std::span<const page_size>(pae)
                                                                          : std::span<const page_size>(ia32e);
    for (std::uint64_t done = 0; done < length;) {
        for (page_size size : sizes) {
            std::uint64_t bytes = mmu::page_bytes(size);
            if (bytes > mmu::page_bytes(largest) || ((linear + done) | (physical + done)) & (bytes - 1) ||
                length - done < bytes)
                continue;
            if (!map(linear + done, physical + done, size, flags)) return false;
            done += bytes;
            break;
        }
    }
    return true;
}

std::optional<phys_addr_t> page_table::translate(std::uint64_t linear) {
    std::size_t count = 0;
    const level* lv = levels(count);
    phys_addr_t table = m_root;
    for (std::size_t i = 0; i < count; ++i) {
        const level& l = lv[i];
        phys_addr_t at = table + ((linear >> l.shift) & ((1ull << l.index_bits) - 1)) * l.entry_bytes;
        std::uint64_t entry = read_entry(at, l.entry_bytes);
        if (!(entry & pte::present)) return std::nullopt;
        std::uint64_t base = entry & frame_mask & (l.entry_bytes == 4 ? 0xfffff000 : ~0ull);
        bool leaf = i + 1 == count || ((i > 0 || m_mode != mmu::paging_mode::pae) && (entry & pte::pse));
        if (leaf && i + 1 < count) {
            std::uint64_t page_mask = (1ull << l.shift) - 1;
            // A 4 MiB PDE holds address bits 31:22 only (PSE-36 not modelled).
            return (base & ~page_mask) + (linear & page_mask);
        }
        if (leaf) return base + (linear & 0xfff);
        table = base;
    }
    return std::nullopt;
}

}  // namespace memsim::kernel
