// vmalloc and vmap (mm/vmalloc.c): virtually contiguous kernel memory in VMALLOC_START..VMALLOC_END
// made of order-0 pages from any zone, HighMem included, mapped with 4 KiB PTEs into the kernel's
// page tables in simulated RAM, so that the MMU walks exactly what vmalloc wrote.
//
// Invariants: busy areas, lazily freed areas and free ranges tile [VMALLOC_START, VMALLOC_END)
// without overlap; each area's size includes its guard page, which is never mapped; an area's
// pages are mapped at addr + i * 4 KiB while it lives; a freed area's PTEs are cleared at once
// but its TLB flush and the reuse of its range wait for the lazy purge (mm/vmalloc.c
// free_vmap_area_noflush), as in Linux; nr_vmalloc_pages is the pages of every VM_ALLOC area.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_mm/start_kernel.h"

namespace memsim::kernel {

// include/linux/vmalloc.h: the vm_struct flags /proc/vmallocinfo names.
inline constexpr unsigned VM_IOREMAP = 0x1;
inline constexpr unsigned VM_ALLOC = 0x2;
inline constexpr unsigned VM_MAP = 0x4;
inline constexpr unsigned VM_USERMAP = 0x8;
inline constexpr unsigned VM_DMA_COHERENT = 0x10;

// The vmalloc address space of a booted kernel; `end` is Linux's VMALLOC_END, which no area
// crosses.
struct vmalloc_range {
    std::uint64_t start = 0;
    std::uint64_t end = 0;
};
// x86_64: arch/x86/include/asm/pgtable_64_types.h with KASLR off (4-level 0xffffc90000000000
// + 32 TiB - 1, 5-level 0xffa0000000000000 + 12800 TiB - 1). i386: pgtable_32_areas.h,
// high_memory + VMALLOC_OFFSET up to PKMAP_BASE - 2 pages.
vmalloc_range vmalloc_range_of(const kernel_state& kernel);

// i386 (arch/x86/include/asm/pgtable_32_areas.h): MAXMEM = VMALLOC_END - PAGE_OFFSET -
// __VMALLOC_RESERVE (128 MiB) and VMALLOC_END = PKMAP_BASE - 2 pages, so the measured MAXMEM
// (i386_maxmem_pfn, LINUX-FACTS.md) gives PKMAP_BASE: 0xff000000. Linux derives it from the
// fixmap and cpu_entry_area sizes of its build (NR_CPUS), which this model does not lay out.
std::uint64_t i386_pkmap_base();

// struct vm_struct: one area. `size` includes the guard page, as Linux's does.
struct vm_struct {
    std::uint64_t addr = 0;
    std::uint64_t size = 0;
    unsigned flags = 0;
    std::vector<page*> pages;  // VM_ALLOC: the pages that back it, in address order
    // Where the page array lives when it is itself vmalloc'ed (more than a page of pointers),
    // 0 when Linux would kmalloc it.
    std::uint64_t pages_array = 0;
    std::string caller;
};

class vmalloc_space {
public:
    // vmalloc_init: the area allocator over the profile's range, and on x86_64 the upper-level
    // tables of the whole range (arch/x86/mm/init_64.c preallocate_vmalloc_pages). From here on
    // the kernel's page-table pages come from the buddy allocator.
    vmalloc_space(kernel_state& kernel, machine_ops& machine);
    vmalloc_space(const vmalloc_space&) = delete;
    vmalloc_space& operator=(const vmalloc_space&) = delete;

    // Addresses are kernel virtual addresses; 0 is NULL. `caller` is what /proc/vmallocinfo
    // prints where Linux prints the caller's symbol (%pS).
    std::uint64_t vmalloc(std::uint64_t size, std::string_view caller = "vmalloc");
    std::uint64_t vzalloc(std::uint64_t size, std::string_view caller = "vmalloc");
    std::uint64_t vmalloc_node(std::uint64_t size, int nid, std::string_view caller = "vmalloc");
    // __vmalloc_node: the general form the others call.
    std::uint64_t __vmalloc_node(std::uint64_t size, gfp_t gfp, int nid, std::string_view caller);
    // Frees an area vmalloc (or vmap) made; 0 does nothing.
    void vfree(std::uint64_t addr);
    // Maps the given pages contiguously (VM_MAP, PAGE_KERNEL with NX); the pages stay the caller's.
    std::uint64_t vmap(std::span<page* const> pages, std::string_view caller = "vmap");
    void vunmap(std::uint64_t addr);
    // vm_unmap_aliases: the lazily freed areas purged now (one flush_tlb_kernel_range over all
    // of them) and their ranges reusable.
    void vm_unmap_aliases() { purge_vmap_area_lazy(); }
    // Freed areas waiting for the purge (start, size incl. the guard page), in freeing order.
    const std::vector<std::pair<std::uint64_t, std::uint64_t>>& purge_list() const { return m_purge; }
    // The page the kernel page tables map at `addr`, or nullptr.
    page* vmalloc_to_page(std::uint64_t addr);

    bool is_vmalloc_addr(std::uint64_t addr) const { return addr >= m_range.start && addr < m_range.end; }
    // find_vm_area: the area starting at `addr`, or nullptr.
    const vm_struct* find_vm_area(std::uint64_t addr) const;
    // Busy areas by address (vmap_area_list order).
    const std::map<std::uint64_t, vm_struct>& areas() const { return m_areas; }
    const vmalloc_range& range() const { return m_range; }

    // /proc/meminfo: VmallocTotal (VMALLOC_TOTAL >> 10) and VmallocUsed (vmalloc_nr_pages()).
    std::uint64_t vmalloc_total_kb() const { return (m_range.end - m_range.start) >> 10; }
    std::uint64_t nr_vmalloc_pages() const { return m_nr_vmalloc_pages; }
    // Warnings printed (failed allocations, bad frees).
    std::uint64_t warnings() const { return m_warnings; }
    // Whether /proc/vmallocinfo prints the N<node>= counts (CONFIG_NUMA: Debian amd64).
    bool numa() const { return m_numa; }
    // How many hex digits %px prints: 16 on x86_64, 8 on i386.
    unsigned pointer_digits() const { return m_pointer_digits; }
    page_allocator& pages() { return m_pages; }
    const page_allocator& pages() const { return m_pages; }

    // The name printed as the current task in warnings.
    void set_current_comm(std::string comm) { m_comm = std::move(comm); }

private:
    vm_struct* get_vm_area(std::uint64_t size, unsigned flags, gfp_t gfp, std::string_view caller);
    std::uint64_t alloc_vmap_area(std::uint64_t size, gfp_t gfp);
    void free_vmap_area(std::uint64_t addr, std::uint64_t size);
    void free_vmap_area_noflush(std::uint64_t addr, std::uint64_t size);
    void purge_vmap_area_lazy();
    std::uint64_t lazy_max_pages() const;
    bool vmalloc_area_node(vm_struct& area, gfp_t gfp, int nid);
    bool map_pages(std::uint64_t addr, std::span<page* const> pages, std::uint64_t prot);
    void remove_vm_area(std::uint64_t addr, bool deallocate_pages);
    void warn(std::string text);
    void warn_alloc(gfp_t gfp, std::string text);

    kernel_state& m_kernel;
    machine_ops& m_machine;
    page_allocator& m_pages;
    page_table& m_pgd;
    vmalloc_range m_range;
    std::uint64_t m_page_kernel = 0;  // PAGE_KERNEL: NX where the profile has it
    bool m_numa = false;
    unsigned m_pointer_digits = 16;
    std::map<std::uint64_t, vm_struct> m_areas;
    std::map<std::uint64_t, std::uint64_t> m_free;  // free ranges: start -> end
    // Freed areas not yet purged (start, size), and their pages counted toward lazy_max_pages.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> m_purge;
    std::uint64_t m_lazy_pages = 0;
    std::uint64_t m_nr_vmalloc_pages = 0;
    std::uint64_t m_warnings = 0;
    std::string m_comm = "swapper/0";
};

// The page-table page source after boot (pte_alloc_one_kernel): a zeroed lowmem page.
page_table::table_alloc kernel_table_alloc(page_allocator& pages);

}  // namespace memsim::kernel
