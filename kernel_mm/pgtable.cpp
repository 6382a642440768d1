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

// Walks to the entry `depth` levels below the root, linking a new table where an entry above it
// is empty; nullopt when a page for a table ran out or a large page already maps the address.
std::optional<phys_addr_t> page_table::entry_alloc(std::uint64_t linear, std::size_t depth, bool user) {
    std::size_t count = 0;
    const level* lv = levels(count);
    phys_addr_t table = m_root;
    for (std::size_t i = 0;; ++i) {
        const level& l = lv[i];
        phys_addr_t at = table + ((linear >> l.shift) & ((1ull << l.index_bits) - 1)) * l.entry_bytes;
        if (i == depth) return at;
        std::uint64_t entry = read_entry(at, l.entry_bytes);
        // A PAE PDPTE has no R/W, U/S, A or D bits: they are reserved (SDM 4.4.1, Table 4-8).
        bool pdpte = m_mode == mmu::paging_mode::pae && i == 0;
        if (!(entry & pte::present)) {
            phys_addr_t next = m_alloc();
            if (!next) return std::nullopt;
            ++m_tables;
            entry = next | (pdpte ? pte::present : pte::kernpg_table | (user ? pte::user : 0));
            write_entry(at, l.entry_bytes, entry);
        } else if (!pdpte && (entry & pte::pse)) {
            return std::nullopt;
        } else if (user && !pdpte && !(entry & pte::user)) {
            // Permissions combine across levels: a user page needs U/S on every entry above it.
            entry |= pte::user;
            write_entry(at, l.entry_bytes, entry);
        }
        table = table_of(entry, l.entry_bytes);
    }
}

bool page_table::map(std::uint64_t linear, phys_addr_t physical, mmu::page_size size, std::uint64_t flags) {
    std::size_t count = 0;
    const level* lv = levels(count);
    unsigned leaf_shift = mmu::page_shift(size);
    std::size_t depth = 0;
    while (depth < count && lv[depth].shift != leaf_shift) ++depth;
    if (depth == count) return false;
    std::optional<phys_addr_t> at = entry_alloc(linear, depth, (flags & pte::user) != 0);
    if (!at) return false;
    write_entry(*at, lv[depth].entry_bytes, physical | flags | (leaf_shift > 12 ? pte::pse : 0));
    ++m_leaves[static_cast<unsigned>(size)];
    return true;
}

std::optional<phys_addr_t> page_table::pte_alloc(std::uint64_t linear, bool user) {
    std::size_t count = 0;
    levels(count);
    return entry_alloc(linear, count - 1, user);
}

phys_addr_t page_table::table_of(std::uint64_t entry, unsigned entry_bytes) {
    return entry & frame_mask & (entry_bytes == 4 ? 0xfffff000 : ~0ull);
}

bool page_table::upper_alloc(std::uint64_t linear) { return entry_alloc(linear, 1, false).has_value(); }

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

std::optional<page_table::leaf> page_table::lookup(std::uint64_t linear) {
    std::size_t count = 0;
    const level* lv = levels(count);
    phys_addr_t table = m_root;
    for (std::size_t i = 0; i < count; ++i) {
        const level& l = lv[i];
        phys_addr_t at = table + ((linear >> l.shift) & ((1ull << l.index_bits) - 1)) * l.entry_bytes;
        std::uint64_t entry = read_entry(at, l.entry_bytes);
        if (!(entry & pte::present)) return std::nullopt;
        bool last = i + 1 == count;
        if (last || ((i > 0 || m_mode != mmu::paging_mode::pae) && (entry & pte::pse))) {
            mmu::page_size size = l.shift == 12   ? mmu::page_size::size_4k
                                  : l.shift == 21 ? mmu::page_size::size_2m
                                  : l.shift == 22 ? mmu::page_size::size_4m
                                                  : mmu::page_size::size_1g;
            return leaf{at, entry, size};
        }
        table = table_of(entry, l.entry_bytes);
    }
    return std::nullopt;
}

// A large page's frame drops the low bits that hold its PAT and reserved bits; a 4 MiB PDE holds
// address bits 31:22 only (PSE-36 not modelled; a 2-level entry is read as 4 bytes).
phys_addr_t page_table::leaf::frame() const { return entry & frame_mask & ~(mmu::page_bytes(size) - 1); }

std::optional<phys_addr_t> page_table::translate(std::uint64_t linear) {
    std::optional<leaf> l = lookup(linear);
    if (!l) return std::nullopt;
    return l->frame() + (linear & (mmu::page_bytes(l->size) - 1));
}

std::optional<phys_addr_t> page_table::clear_pte(std::uint64_t linear) {
    std::optional<leaf> l = lookup(linear);
    if (!l || l->size != mmu::page_size::size_4k) return std::nullopt;
    set_pte(l->at, 0);
    return l->frame();
}

void flush_tlb_kernel_range(machine_ops& machine, std::uint64_t start, std::uint64_t end) {
    if ((end - start) >> 12 > tlb_single_page_flush_ceiling) {
        machine.flush_tlb_all();
        return;
    }
    for (std::uint64_t addr = start; addr < end; addr += 4096) machine.flush_tlb_page(addr);
}

}  // namespace memsim::kernel
