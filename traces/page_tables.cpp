#include "traces/page_tables.h"

#include <stdexcept>

#include <fmt/format.h>

namespace memsim::traces {

namespace {

// Entry bits (SDM Vol. 3A, 4.3-4.5: Tables 4-4 to 4-20).
constexpr std::uint64_t present = 1ull << 0;
constexpr std::uint64_t writable_bit = 1ull << 1;
constexpr std::uint64_t user_bit = 1ull << 2;
constexpr std::uint64_t page_size_bit = 1ull << 7;
constexpr std::uint64_t global_bit = 1ull << 8;
constexpr std::uint64_t xd_bit = 1ull << 63;
constexpr std::uint64_t table_bytes = 4096;

op poke(std::uint64_t address, unsigned size, std::uint64_t value) {
    return op{
        .kind = op_kind::poke, .size = static_cast<std::uint8_t>(size), .address = address, .value = value};
}

}  // namespace

page_table_builder::page_table_builder(table_format format, std::uint64_t first_table)
    : m_format(format), m_root(first_table), m_next_table(first_table + table_bytes) {
    if (first_table % table_bytes) throw std::invalid_argument("page tables must start 4 KiB aligned");
}

std::vector<page_table_builder::level> page_table_builder::levels() const {
    switch (m_format) {
        case table_format::bits32:
            return {{22, 10, 4}, {12, 10, 4}};
        case table_format::pae:
            return {{30, 2, 8}, {21, 9, 8}, {12, 9, 8}};
        case table_format::long4:
            return {{39, 9, 8}, {30, 9, 8}, {21, 9, 8}, {12, 9, 8}};
        case table_format::long5:
            return {{48, 9, 8}, {39, 9, 8}, {30, 9, 8}, {21, 9, 8}, {12, 9, 8}};
    }
    return {};
}

// The table an upper-level entry points to, written (as a new zeroed table) when missing.
// Upper entries grant everything; the leaf restricts, as Linux builds them.
std::uint64_t page_table_builder::table_for(std::uint64_t entry_address, std::vector<op>& out) {
    auto found = m_entries.find(entry_address);
    if (found != m_entries.end()) {
        if (found->second == 0) throw std::invalid_argument("overlaps a larger page already mapped");
        return found->second;
    }
    std::uint64_t table = m_next_table;
    m_next_table += table_bytes;
    m_entries.emplace(entry_address, table);
    // A PAE PDPTE has no R/W or U/S bits: they are reserved there (SDM 4.4.1, Table 4-8).
    bool pdpte_pae = m_format == table_format::pae && entry_address - m_root < 32;
    std::uint64_t bits = pdpte_pae ? present : present | writable_bit | user_bit;
    out.push_back(poke(entry_address, m_format == table_format::bits32 ? 4 : 8, table | bits));
    return table;
}

void page_table_builder::map(std::uint64_t linear, std::uint64_t physical, mmu::page_size size,
                             mapping_flags flags, std::vector<op>& out) {
    unsigned shift = mmu::page_shift(size);
    bool size_ok = m_format == table_format::bits32
                       ? size == mmu::page_size::size_4k || size == mmu::page_size::size_4m
                       : size != mmu::page_size::size_4m &&
                             (size != mmu::page_size::size_1g || m_format != table_format::pae);
    if (!size_ok) throw std::invalid_argument("this paging mode has no pages of that size");
    std::uint64_t mask = mmu::page_bytes(size) - 1;
    if ((linear & mask) || (physical & mask))
        throw std::invalid_argument("address not aligned to the page size");
    if (m_format == table_format::bits32 && physical >> 32)
        throw std::invalid_argument("32-bit paging here maps only the low 4 GiB");
    // Entries hold physical addresses below MAXPHYADDR (52 bits at most, SDM Vol. 3A, 4.1.4).
    if (physical >> 52) throw std::invalid_argument("physical address beyond 52 bits");
    std::uint64_t table = m_root;
    for (const level& l : levels()) {
        std::uint64_t index = (linear >> l.shift) & ((1ull << l.index_bits) - 1);
        std::uint64_t entry = table + index * l.entry_bytes;
        if (l.shift != shift) {
            table = table_for(entry, out);
            continue;
        }
        if (m_entries.count(entry)) throw std::invalid_argument("that page is already mapped");
        m_entries.emplace(entry, 0);
        std::uint64_t bits = present | (flags.writable ? writable_bit : 0) | (flags.user ? user_bit : 0) |
                             (flags.global ? global_bit : 0) |
                             (size != mmu::page_size::size_4k ? page_size_bit : 0) |
                             (flags.nx && m_format != table_format::bits32 ? xd_bit : 0);
        out.push_back(poke(entry, l.entry_bytes, physical | bits));
        return;
    }
}

std::vector<op> page_table_builder::enable() const {
    std::uint64_t cr4 = mmu::cr4::pge | (m_format == table_format::bits32 ? mmu::cr4::pse : mmu::cr4::pae) |
                        (m_format == table_format::long5 ? mmu::cr4::la57 : 0);
    bool long_mode = m_format == table_format::long4 || m_format == table_format::long5;
    std::vector<op> ops{{.kind = op_kind::cr4, .value = cr4}};
    if (m_format != table_format::bits32)
        ops.push_back({.kind = op_kind::efer, .value = mmu::efer::nxe | (long_mode ? mmu::efer::lme : 0)});
    ops.push_back({.kind = op_kind::cr3, .value = m_root});
    ops.push_back({.kind = op_kind::cr0, .value = mmu::cr0::pe | mmu::cr0::pg | mmu::cr0::wp});
    return ops;
}

}  // namespace memsim::traces
