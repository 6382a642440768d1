// Page tables the kernel builds in simulated RAM (arch/x86/mm): entries written and read through
// machine_ops so that each store is a timed memory access and the MMU walks exactly what the
// kernel wrote. Table pages come from whoever the caller says (memblock at boot, the buddy
// allocator later).
//
// Invariants: a kernel table page, once linked, stays linked (Linux frees no kernel page tables
// on vunmap either; a process's tables go at munmap and exit, see mm.h); leaves() counts the leaves map()
// wrote (the direct map), not the 4 KiB PTEs that vmalloc and kmap set and clear through set_pte/clear_pte.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>

#include "kernel_mm/machine_ops.h"
#include "mmu/paging.h"

namespace memsim::kernel {

// arch/x86/include/asm/pgtable_types.h: what the kernel puts in its entries, by Linux's names
// for the SDM's bits.
namespace pte {
inline constexpr std::uint64_t present = mmu::entry_flag::p;
inline constexpr std::uint64_t rw = mmu::entry_flag::rw;
inline constexpr std::uint64_t user = mmu::entry_flag::us;
inline constexpr std::uint64_t accessed = mmu::entry_flag::a;
inline constexpr std::uint64_t dirty = mmu::entry_flag::d;
inline constexpr std::uint64_t pse = mmu::entry_flag::ps;
inline constexpr std::uint64_t global = mmu::entry_flag::g;
inline constexpr std::uint64_t nx = mmu::entry_flag::xd;
// __PAGE_KERNEL without NX (which 2-level paging does not have): present, writable, A, D, G.
inline constexpr std::uint64_t page_kernel = present | rw | accessed | dirty | global;
// _KERNPG_TABLE: what an upper-level entry of the kernel's tables grants.
inline constexpr std::uint64_t kernpg_table = present | rw | accessed | dirty;
// Software meanings: _PAGE_SPECIAL (software bit 1) marks a PTE of the zero page; _PAGE_PROTNONE
// (the G bit's position, never set in a user PTE) a PROT_NONE mapping, absent to the hardware
// and present to Linux.
inline constexpr std::uint64_t special = 1ull << 9;
inline constexpr std::uint64_t protnone = global;
}  // namespace pte

// arch/x86/mm/tlb.c tlb_single_page_flush_ceiling: a kernel range of more pages than this is
// flushed whole rather than page by page.
inline constexpr std::uint64_t tlb_single_page_flush_ceiling = 33;

// arch/x86/mm/tlb.c flush_tlb_kernel_range: INVLPG per page of [start, end), or a full flush
// when the range is longer than the ceiling.
void flush_tlb_kernel_range(machine_ops& machine, std::uint64_t start, std::uint64_t end);

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

    // After boot the kernel's new tables come from the buddy allocator, not memblock
    // (arch/x86/mm/pgtable.c pte_alloc_one_kernel with GFP_PGTABLE_KERNEL).
    void set_table_alloc(table_alloc alloc) { m_alloc = std::move(alloc); }
    // Bytes of one entry: 4 with 2-level paging, 8 otherwise.
    unsigned entry_bytes() const { return m_mode == mmu::paging_mode::bits32 ? 4 : 8; }

    // The leaf entry mapping `linear` (arch/x86/mm/pat/set_memory.c lookup_address).
    struct leaf {
        phys_addr_t at = 0;  // where the entry lives
        std::uint64_t entry = 0;
        mmu::page_size size = mmu::page_size::size_4k;
        phys_addr_t frame() const;  // the physical page it maps
    };
    std::optional<leaf> lookup(std::uint64_t linear);
    // pte_alloc_kernel: the tables down to the 4 KiB level exist for `linear`; the physical
    // address of its PTE, or nullopt when a table could not be allocated or a large page maps it.
    std::optional<phys_addr_t> pte_alloc(std::uint64_t linear, bool user = false);
    // The table one level below the root exists for `linear` (pud_alloc / p4d_alloc, as
    // preallocate_vmalloc_pages does); false when no page was left.
    bool upper_alloc(std::uint64_t linear);
    // set_pte / pte_clear at an address pte_alloc or lookup gave.
    void set_pte(phys_addr_t at, std::uint64_t entry) { write_entry(at, entry_bytes(), entry); }
    // ptep_get_and_clear of the 4 KiB PTE mapping `linear`: the frame it mapped, or nullopt when
    // nothing (or a large page) maps it. No TLB maintenance: that is the caller's.
    std::optional<phys_addr_t> clear_pte(std::uint64_t linear);

    // The geometry of the mode's levels, root first (SDM Vol. 3A, 4.3 to 4.5), for code that
    // walks a range of the tables itself (a process's page tables at fork, munmap and exit).
    struct level {
        unsigned shift;  // the linear-address bit the level's index starts at
        unsigned index_bits;
        unsigned entry_bytes;
        std::uint64_t span() const { return 1ull << shift; }  // what one entry covers
    };
    const level* levels(std::size_t& count) const;
    std::uint64_t read_entry(phys_addr_t at, unsigned bytes);
    void write_entry(phys_addr_t at, unsigned bytes, std::uint64_t value);
    // The table an upper-level entry points to.
    static phys_addr_t table_of(std::uint64_t entry, unsigned entry_bytes);
    // A table page the walker freed (free_pgtables) no longer counts.
    void table_freed() { --m_tables; }
    // A table page linked by hand (pgd_alloc's preallocated PAE PMDs) counts.
    void table_added() { ++m_tables; }

private:
    // The entry at `depth` levels below the root for `linear`, allocating the tables above it.
    std::optional<phys_addr_t> entry_alloc(std::uint64_t linear, std::size_t depth, bool user);

    mmu::paging_mode m_mode;
    machine_ops& m_machine;
    table_alloc m_alloc;
    phys_addr_t m_root = 0;
    std::uint64_t m_tables = 0;
    std::array<std::uint64_t, 4> m_leaves{};
};

}  // namespace memsim::kernel
