// A pte_port over a sparse byte map, with a builder of page tables for every paging mode and the
// control registers that enable each mode, for the tests of the walker, the TLBs and the CPU
// core. Tables come from a bump allocator from 1 MiB up, so their addresses are predictable.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "mmu/paging.h"
#include "mmu/pte_port.h"

namespace memsim::mmu::testing {

class fake_memory final : public pte_port {
public:
    static constexpr std::uint64_t first_table = 0x10'0000;
    static constexpr std::uint64_t table_flags = entry_flag::p | entry_flag::rw | entry_flag::us;

    std::uint64_t read_entry(std::uint64_t physical, unsigned size) override {
        read_log.push_back(physical);
        return peek(physical, size);
    }
    void write_entry(std::uint64_t physical, std::uint64_t value, unsigned size) override {
        write_log.push_back(physical);
        poke(physical, value, size);
    }

    // Little-endian access that is not logged; bytes never written read as 0.
    std::uint64_t peek(std::uint64_t physical, unsigned size = 8) const {
        std::uint64_t value = 0;
        for (unsigned i = size; i-- > 0;) {
            auto byte = m_bytes.find(physical + i);
            value = value << 8 | (byte == m_bytes.end() ? 0 : byte->second);
        }
        return value;
    }
    void poke(std::uint64_t physical, std::uint64_t value, unsigned size = 8) {
        for (unsigned i = 0; i < size; ++i, value >>= 8)
            m_bytes[physical + i] = static_cast<std::uint8_t>(value);
    }

    // A fresh zeroed 4 KiB table.
    std::uint64_t new_table() {
        std::uint64_t table = m_next_table;
        m_next_table += 0x1000;
        return table;
    }

    // Maps the page of `size` at `linear` to `frame` in the tables whose root is at `root`
    // (what CR3 locates: for PAE the 32-byte PDPT), making tables as needed. The leaf gets
    // `flags` (plus PS for a large page); the entries above it `upper_flags`, except PAE PDPTEs,
    // which get only P (SDM Vol. 3A, 4.4.1). Returns the entries' addresses, root level first.
    std::vector<std::uint64_t> map(paging_mode mode, std::uint64_t root, std::uint64_t linear,
                                   std::uint64_t frame, page_size size, std::uint64_t flags,
                                   std::uint64_t upper_flags = table_flags) {
        const format f = format_of(mode);
        std::vector<std::uint64_t> path;
        std::uint64_t table = root;
        for (unsigned i = 0;; ++i) {
            unsigned shift = f.shifts[i];
            std::uint64_t entry = table + ((linear >> shift) & ((1u << f.index_bits[i]) - 1)) * f.entry_bytes;
            path.push_back(entry);
            if (shift == page_shift(size)) {
                poke(entry, leaf_value(mode, frame, size, flags), f.entry_bytes);
                return path;
            }
            table = table_at(entry, f.entry_bytes,
                             mode == paging_mode::pae && i == 0 ? entry_flag::p : upper_flags);
        }
    }
    std::vector<std::uint64_t> map_4k(paging_mode mode, std::uint64_t root, std::uint64_t linear,
                                      std::uint64_t frame, std::uint64_t flags) {
        return map(mode, root, linear, frame, page_size::size_4k, flags);
    }

    std::vector<std::uint64_t> read_log;   // addresses read through the port, in order
    std::vector<std::uint64_t> write_log;  // addresses written through the port, in order

private:
    struct format {
        std::vector<unsigned> shifts, index_bits;
        unsigned entry_bytes;
    };

    static format format_of(paging_mode mode) {
        switch (mode) {
            case paging_mode::bits32:
                return {{22, 12}, {10, 10}, 4};
            case paging_mode::pae:
                return {{30, 21, 12}, {2, 9, 9}, 8};
            case paging_mode::ia32e_4:
                return {{39, 30, 21, 12}, {9, 9, 9, 9}, 8};
            case paging_mode::ia32e_5:
                return {{48, 39, 30, 21, 12}, {9, 9, 9, 9, 9}, 8};
            case paging_mode::none:
                break;
        }
        throw std::invalid_argument("fake_memory: no page tables without paging");
    }

    // The table the entry at `entry` points to, made (zeroed, pointed to with `flags`) if absent.
    std::uint64_t table_at(std::uint64_t entry, unsigned entry_bytes, std::uint64_t flags) {
        std::uint64_t value = peek(entry, entry_bytes);
        if (value & entry_flag::p) return value & 0x000f'ffff'ffff'f000;
        std::uint64_t table = new_table();
        poke(entry, table | flags, entry_bytes);
        return table;
    }

    // SDM 4.3: a 4-MByte PDE holds physical bits 39:32 in its bits 20:13 (PSE-36).
    static std::uint64_t leaf_value(paging_mode mode, std::uint64_t frame, page_size size,
                                    std::uint64_t flags) {
        if (size == page_size::size_4k) return frame | flags;
        if (mode == paging_mode::bits32)
            return (frame & 0xffc0'0000) | (frame >> 32) << 13 | flags | entry_flag::ps;
        return frame | flags | entry_flag::ps;
    }

    std::unordered_map<std::uint64_t, std::uint8_t> m_bytes;
    std::uint64_t m_next_table = first_table;
};

// The control registers that turn on `mode` with its tables at `cr3` (SDM Vol. 3A, 4.1.1):
// CR0.PG, then CR4.PAE, EFER.LME/LMA and CR4.LA57 as the mode needs, plus the bits given.
inline control_registers paging_registers(paging_mode mode, std::uint64_t cr3, std::uint64_t cr4_bits = 0,
                                          std::uint64_t efer_bits = 0) {
    control_registers cr;
    cr.cr0 = cr0::pe | cr0::pg;
    cr.cr3 = cr3;
    cr.cr4 = cr4_bits;
    cr.efer = efer_bits;
    if (mode != paging_mode::bits32) cr.cr4 |= cr4::pae;
    if (mode == paging_mode::ia32e_4 || mode == paging_mode::ia32e_5) cr.efer |= efer::lme | efer::lma;
    if (mode == paging_mode::ia32e_5) cr.cr4 |= cr4::la57;
    return cr;
}

}  // namespace memsim::mmu::testing
