// High memory on i386 and i386-pae (mm/highmem.c, arch/x86/include/asm/highmem.h): pages above
// max_low_pfn have no direct-map address, so the kernel maps them on demand, either in the pkmap
// window (kmap, sleeping, shared) or in per-CPU fixmap slots (kmap_local / kmap_atomic, stacked).
//
// Invariants: pkmap_count[i] is 0 (free, PTE clear), 1 (mapped but unused, PTE kept until the next
// flush_all_zero_pkmaps) or 1 + the kmap users of its page; a page has a pkmap address exactly
// while its entry's count is at least 1; each CPU's kmap_local slots are used as a stack, the
// first `depth` set and the rest clear.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernel_mm/start_kernel.h"

namespace memsim::kernel {

// include/linux/highmem-internal.h KM_MAX_IDX: nested kmap_local slots per CPU
// (CONFIG_DEBUG_KMAP_LOCAL off, as Debian builds it).
inline constexpr unsigned KM_MAX_IDX = 16;

// arch/x86/include/asm/fixmap.h for Debian's 686(-pae) 6.1 configuration: FIXADDR_TOP is
// 0xfffff000 and FIX_KMAP_BEGIN follows FIX_HOLE, FIX_DBGP_BASE, FIX_EARLYCON_MEM_BASE,
// FIX_OHCI1394_BASE, FIX_APIC_BASE and 64 IO-APIC entries (MAX_IO_APICS on 32-bit): index 69.
inline constexpr std::uint64_t i386_fixaddr_top = 0xfffff000;
inline constexpr unsigned fix_kmap_begin = 69;

class highmem {
public:
    // kmap_init and permanent_kmaps_init: the pkmap window's page table and the fixmap kmap
    // slots' tables. Throws std::invalid_argument on x86_64, which has no high memory.
    highmem(kernel_state& kernel, machine_ops& machine);
    highmem(const highmem&) = delete;
    highmem& operator=(const highmem&) = delete;

    // kmap: the pkmap address of a HighMem page (mapping it if it has none), or the direct-map
    // address of a lowmem page. 0 when every pkmap entry is in use, where Linux would sleep.
    std::uint64_t kmap(page* p);
    void kunmap(page* p);
    // kmap_local_page / kunmap_local: the next fixmap slot of the running CPU; unmapping must
    // follow the reverse order of mapping.
    std::uint64_t kmap_local_page(page* p);
    void kunmap_local(std::uint64_t addr);
    // kmap_atomic also disables page faults and preemption, which have no effect here.
    std::uint64_t kmap_atomic(page* p) { return kmap_local_page(p); }
    void kunmap_atomic(std::uint64_t addr) { kunmap_local(addr); }

    // PageHighMem.
    bool is_highmem(const page* p) const { return m_pages.page_to_pfn(p) >= m_max_low_pfn; }
    // page_address: the direct-map address, a HighMem page's pkmap address, or 0.
    std::uint64_t page_address(const page* p) const;

    // arch/x86/include/asm/pgtable_32_areas.h: LAST_PKMAP entries from PKMAP_BASE.
    unsigned last_pkmap() const { return m_last_pkmap; }
    std::uint64_t pkmap_base() const { return m_pkmap_base; }
    std::uint64_t pkmap_addr(unsigned nr) const { return m_pkmap_base + (std::uint64_t{nr} << page_shift); }
    int pkmap_count(unsigned nr) const { return m_pkmap_count[nr]; }
    // __fix_to_virt(FIX_KMAP_BEGIN + idx): slot idx = type + KM_MAX_IDX * cpu.
    static std::uint64_t fix_kmap_addr(unsigned idx) {
        return i386_fixaddr_top - (std::uint64_t{fix_kmap_begin + idx} << page_shift);
    }
    unsigned kmap_local_depth(unsigned cpu) const { return m_kmap_depth[cpu]; }

    // Kernel bugs (BUG_ON) and warnings (WARN_ON) reported; the simulation goes on after each.
    std::uint64_t bugs() const { return m_bugs; }
    std::uint64_t warnings() const { return m_warnings; }

private:
    std::uint64_t kmap_high(page* p);
    std::uint64_t map_new_virtual(page* p);
    void flush_all_zero_pkmaps();
    phys_addr_t pkmap_pte(unsigned nr) const { return m_pkmap_pte + nr * m_pgd.entry_bytes(); }
    std::uint64_t lowmem_address(const page* p) const { return m_page_offset + m_pages.page_to_phys(p); }
    unsigned this_cpu() const;
    void bug(const std::string& what);
    void warn_once(const std::string& what);

    kernel_state& m_kernel;
    machine_ops& m_machine;
    page_allocator& m_pages;
    page_table& m_pgd;
    std::uint64_t m_page_offset = 0;
    pfn_t m_max_low_pfn = 0;
    std::uint64_t m_kmap_prot = 0;  // PAGE_KERNEL, NX with PAE
    unsigned m_last_pkmap = 0;
    std::uint64_t m_pkmap_base = 0;
    phys_addr_t m_pkmap_pte = 0;  // pkmap_page_table: entry 0's PTE, the others follow it
    std::vector<int> m_pkmap_count;
    std::vector<page*> m_pkmap_page;
    unsigned m_last_pkmap_nr = 0;
    std::unordered_map<const page*, std::uint64_t> m_page_address;  // page_address_htable
    std::vector<phys_addr_t> m_kmap_pte;                            // each fixmap kmap slot's PTE
    std::vector<unsigned> m_kmap_depth;                             // per CPU: current->kmap_ctrl.idx
    std::uint64_t m_bugs = 0;
    std::uint64_t m_warnings = 0;
    bool m_warned = false;
};

}  // namespace memsim::kernel
