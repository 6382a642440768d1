// Page tables the kernel builds in simulated RAM (arch/x86/mm): entries written and read through
// machine_ops so that each store is a timed memory access and the MMU walks exactly what the
// kernel wrote. Table pages come from whoever the caller says (memblock at boot, the buddy
// allocator later).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>

#include "kernel_mm/machine_ops.h"
#include "mmu/paging.h"

namespace memsim::kernel {

// arch/x86/include/asm/pgtable_types.h: what the kernel puts in its entries.
namespace pte {
inline constexpr std::uint64_t present = 1ull << 0;
inline constexpr std::uint64_t rw = 1ull << 1;
inline constexpr std::uint64_t user = 1ull << 2;
inline constexpr std::uint64_t accessed = 1ull << 5;
inline constexpr std::uint64_t dirty = 1ull << 6;
inline constexpr std::uint64_t pse = 1ull << 7;
inline constexpr std::uint64_t global = 1ull << 8;
inline constexpr std::uint64_t nx = 1ull << 63;
// __PAGE_KERNEL without NX (which 2-level paging does not have): present, writable, A, D, G.
inline constexpr std::uint64_t page_kernel = present | rw | accessed | dirty | global;
// _KERNPG_TABLE: what an upper-level entry of the kernel's tables grants.
inline constexpr std::uint64_t kernpg_table = present | rw | accessed | dirty;
}  // namespace pte

class page_table {
public:
    // A zeroed, 4 KiB-aligned page for a new table, or 0 when there is none.
    using table_alloc = std::function<phys_addr_t()>;

    // Allocates the root table. bits32, pae, ia32e_4 or ia32e_5.
    page_table(mmu::paging_mode mode, machine_ops& machine, table_alloc alloc);

    mmu::paging_mode mode() const { return m_mode; }
    phys_addr_t root() const { return m_root; }
    std::uint64_t tables() const { return m_tables; }
    // Leaf entries written, by page size (the direct map's DirectMap4k/2M/1G in /proc/meminfo).
    std::uint64_t leaves(mmu::page_size size) const { return m_leaves[static_cast<unsigned>(size)]; }

    // Maps one page of `size` (4K; 4M on bits32; 2M on the others; 1G on ia32e). `flags` are
    // the leaf's bits (pte::*); PSE is added for large pages. Returns false when a table could
    // not be allocated. Address alignment is the caller's duty.
    bool map(std::uint64_t linear, phys_addr_t physical, mmu::page_size size, std::uint64_t flags);
    // Maps [linear, linear + length) to physical with the largest pages alignment allows, up to
    // `largest`; returns false when tables ran out.
    bool map_range(std::uint64_t linear, phys_addr_t physical, std::uint64_t length, std::uint64_t flags,
                   mmu::page_size largest);
    // The software walk: where `linear` leads, if anywhere.
    std::optional<phys_addr_t> translate(std::uint64_t linear);

private:
    struct level {
        unsigned shift;
        unsigned index_bits;
        unsigned entry_bytes;
    };
    std::uint64_t read_entry(phys_addr_t at, unsigned bytes);
    void write_entry(phys_addr_t at, unsigned bytes, std::uint64_t value);
    const level* levels(std::size_t& count) const;

    mmu::paging_mode m_mode;
    machine_ops& m_machine;
    table_alloc m_alloc;
    phys_addr_t m_root = 0;
    std::uint64_t m_tables = 0;
    std::array<std::uint64_t, 4> m_leaves{};
};

}  // namespace memsim::kernel
