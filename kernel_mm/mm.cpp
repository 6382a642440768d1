// mm_struct's life (kernel/fork.c mm_alloc, dup_mm, mmput; arch/x86/mm/pgtable.c pgd_alloc) and
// the system calls that change its areas, with the PTE and TLB work each implies.
#include "kernel_mm/mm.h"

#include <set>
#include <stdexcept>

namespace memsim::kernel {
namespace {

std::uint64_t page_align(std::uint64_t v) { return (v + vm_page_size - 1) & ~(vm_page_size - 1); }

}  // namespace

const char* to_string(fault_kind kind) {
    static constexpr const char* names[] = {"zero_page", "anonymous", "cow_copy",
                                            "cow_reuse", "shmem",     "spurious"};
    return names[static_cast<unsigned>(kind)];
}

mm_struct::mm_struct(mm_services& services, mm_areas areas)
    : m_services(services),
      m_machine(services.machine),
      m_pages(services.pages),
      m_areas(std::move(areas)),
      m_pgd(services.kernel_tables.mode(), services.machine,
            [this] { return m_pgd_order < 0 ? alloc_pgd() : alloc_table(); }),
      m_ctx_id(services.next_id++) {
    // KERNEL_PGD_BOUNDARY: the top-level entries below TASK_SIZE are the process's own.
    std::size_t levels = 0;
    const page_table::level& top = m_pgd.levels(levels)[0];
    m_user_entries = static_cast<std::size_t>((services.layout.task_size + top.span() - 1) >> top.shift);
    clone_kernel_half();
}

// pgd_alloc's top level: PGD_ALLOCATION_ORDER pages, 1 on x86_64 (CONFIG_PAGE_TABLE_ISOLATION
// keeps the user copy in the second page, even when PTI is off at run time), else 0. It is no
// page table in NR_PAGETABLE's sense.
phys_addr_t mm_struct::alloc_pgd() {
    m_pgd_order = m_services.layout.arch == kernel_arch::x86_64 ? 1 : 0;
    page* p =
        m_pages.alloc_pages(GFP_KERNEL | __GFP_ZERO | __GFP_ACCOUNT, static_cast<unsigned>(m_pgd_order));
    return p ? m_pages.page_to_phys(p) : 0;
}

// PAE: pgd_prepopulate_pmd links the user half's PMDs at once (PREALLOCATED_PMDS); false, with
// the ones taken so far linked for the destructor to free, when memory ran out.
bool mm_struct::preallocate_pmds() {
    std::size_t levels = 0;
    const page_table::level& top = m_pgd.levels(levels)[0];
    for (std::size_t i = 0; i < m_user_entries; ++i) {
        phys_addr_t pmd = alloc_table();
        if (!pmd) return false;
        m_pgd.table_added();
        m_pgd.write_entry(m_pgd.root() + i * top.entry_bytes, top.entry_bytes, pmd | pte::present);
    }
    return true;
}

void mm_struct::clone_kernel_half() {
    std::size_t levels = 0;
    const page_table::level& top = m_pgd.levels(levels)[0];
    const std::size_t entries = std::size_t{1} << top.index_bits;
    const std::uint64_t offset = m_user_entries * top.entry_bytes;
    m_machine.copy_phys(m_pgd.root() + offset, m_services.kernel_tables.root() + offset,
                        (entries - m_user_entries) * top.entry_bytes);
}

std::unique_ptr<mm_struct> mm_struct::create(mm_services& services) {
    return create(services, mm_areas(services.layout, &services.next_id));
}

std::unique_ptr<mm_struct> mm_struct::create(mm_services& services, mm_areas areas) {
    std::unique_ptr<mm_struct> mm;
    try {
        mm.reset(new mm_struct(services, std::move(areas)));
    } catch (const std::runtime_error&) {
        return nullptr;  // no page for the top level: nothing was taken
    }
    if (mm->m_pgd.mode() == mmu::paging_mode::pae && !mm->preallocate_pmds()) return nullptr;
    return mm;
}

mm_struct::~mm_struct() {
    if (m_services.powering_off) return;
    // exit_mmap: unmap every area, free every table below the top level (PAE's PMDs among
    // them), then the files; pgd_free the top level.
    for (const auto& [start, vma] : m_areas.areas()) zap_page_range(vma.vm_start, vma.vm_end);
    free_pgtables(0, m_services.layout.task_size, 0, 0);
    for (std::uint64_t file : m_files) release_shmem(file);
    m_pages.__free_pages(m_pages.pfn_to_page(m_pgd.root() >> 12), static_cast<unsigned>(m_pgd_order));
}

phys_addr_t mm_struct::alloc_table() {
    // GFP_PGTABLE_USER (arch/x86/include/asm/pgalloc.h); no HIGHPTE, as Debian's configs.
    page* p = m_pages.alloc_pages(GFP_KERNEL | __GFP_ZERO | __GFP_ACCOUNT, 0);
    if (!p) return 0;
    ++m_pgtables;
    ++m_pages.node_state().nr_pagetable;
    return m_pages.page_to_phys(p);
}

void mm_struct::free_table(phys_addr_t table) {
    --m_pgtables;
    --m_pages.node_state().nr_pagetable;
    m_pages.__free_pages(m_pages.pfn_to_page(table >> 12), 0);
}

std::unique_ptr<mm_struct> mm_struct::dup() {
    // dup_mmap charges every accounted area again (security_vm_enough_memory_mm).
    for (const auto& [start, vma] : m_areas.areas())
        if ((vma.vm_flags & VM_ACCOUNT) && !m_areas.vm_enough_memory(vma.pages())) return nullptr;
    std::unique_ptr<mm_struct> child = create(m_services, m_areas.fork_copy());
    if (!child) return nullptr;
    child->hold_files();
    // copy_page_range only where a fault could not rebuild the PTEs (vma_needs_copy).
    bool copied = true;
    for (const auto& [start, vma] : m_areas.areas())
        if (vma.anon_vma != 0 && !(copied = copy_page_range(*child, vma))) break;
    // dup_mmap's flush_tlb_mm(oldmm): the parent's PTEs lost their write permission.
    flush_tlb_range(0, 0);
    if (!copied) return nullptr;
    return child;
}

// ---- the system calls --------------------------------------------------------------------------

std::int64_t mm_struct::mmap(std::uint64_t addr, std::uint64_t len, int prot, int flags) {
    // mmap_region unmaps what MAP_FIXED covers before it places the new area: when the areas
    // there went (the mapping succeeded, or failed only at its charge), so do their PTEs and
    // the tables nothing else maps.
    const std::uint64_t end = addr + page_align(len);
    const bool covered = (flags & map_fixed) && end > addr && m_areas.find_vma_intersection(addr, end);
    std::int64_t placed = m_areas.mmap(addr, len, prot, flags);
    if (covered && (placed >= 0 || !m_areas.find_vma_intersection(addr, end))) unmap_region(addr, end);
    if (placed < 0) return placed;
    hold_files();
    // MAP_POPULATE faults the whole range in now (mm/gup.c __mm_populate).
    if (flags & map_populate)
        populate(static_cast<std::uint64_t>(placed), static_cast<std::uint64_t>(placed) + page_align(len));
    return placed;
}

int mm_struct::munmap(std::uint64_t addr, std::uint64_t len) {
    int result = m_areas.munmap(addr, len);
    if (result == 0 && len) unmap_region(addr, addr + page_align(len));
    return result;
}

int mm_struct::mprotect(std::uint64_t addr, std::uint64_t len, int prot) {
    int result = m_areas.mprotect(addr, len, prot);
    if (result == -einval || result == -eacces) return result;
    // What changed: the areas from addr as far as they run without a hole (a failure at a hole
    // leaves the areas before it changed, as Linux does).
    const std::uint64_t end = addr + page_align(len);
    std::uint64_t at = addr;
    m_flush_start = ~0ull;
    m_flush_end = 0;
    for (const vm_area_struct* vma = m_areas.find_vma(at); vma && vma->vm_start <= at && at < end;
         vma = m_areas.find_vma(at)) {
        std::uint64_t stop = std::min(end, vma->vm_end);
        change_protection(*vma, at, stop);
        at = stop;
    }
    if (m_flush_start < m_flush_end) flush_tlb_range(m_flush_start, m_flush_end);
    return result;
}

std::uint64_t mm_struct::brk(std::uint64_t new_brk) {
    const std::uint64_t old = m_areas.current_brk();
    const std::uint64_t result = m_areas.brk(new_brk);
    if (result < old) unmap_region(page_align(result), page_align(old));
    return result;
}

// unmap_region: the PTEs of [start, end), then the page tables nothing around maps.
void mm_struct::unmap_region(std::uint64_t start, std::uint64_t end) {
    m_flush_start = ~0ull;
    m_flush_end = 0;
    zap_page_range(start, end);
    const vm_area_struct* next = m_areas.find_vma(start);
    std::uint64_t floor = 0;
    for (const auto& [s, vma] : m_areas.areas()) {
        if (vma.vm_end > start) break;
        floor = vma.vm_end;
    }
    std::uint64_t ceiling = next ? next->vm_start : 0;
    bool freed = free_pgtables(start, end, floor, ceiling);
    if (freed || m_flush_start < m_flush_end)
        flush_tlb_range(freed ? start : m_flush_start, freed ? end : m_flush_end);
    hold_files();
}

// ---- TLB ---------------------------------------------------------------------------------------

// flush_tlb_mm_range (arch/x86/mm/tlb.c): the generation moves on, so that a CPU that has this
// mm's PCID cached flushes it when it next loads it; the CPU running it flushes now, page by
// page up to tlb_single_page_flush_ceiling, else the whole PCID. end 0: the whole mm.
void mm_struct::flush_tlb_range(std::uint64_t start, std::uint64_t end) {
    ++m_tlb_gen;
    if (m_services.loaded != this) return;
    m_services.asids[m_services.loaded_asid].tlb_gen = m_tlb_gen;
    if (end == 0 || (end - start) / vm_page_size > tlb_single_page_flush_ceiling) {
        ++m_services.tlb_local_flush_all;
        m_machine.flush_tlb_pcid(m_services.loaded_pcid);
        return;
    }
    for (std::uint64_t a = start; a < end; a += vm_page_size) {
        ++m_services.tlb_local_flush_one;
        m_machine.flush_tlb_page(a);
    }
}

// ---- shmem files --------------------------------------------------------------------------------

shmem_file& mm_struct::shmem_of(const vm_area_struct& vma) { return m_services.shmem[vma.vm_file]; }

// The files this mm's areas map hold one reference each from it; a file no area maps any more
// loses its pages (shmem_evict_inode).
void mm_struct::hold_files() {
    std::set<std::uint64_t> now;
    for (const auto& [start, vma] : m_areas.areas())
        if (vma.vm_file) now.insert(vma.vm_file);
    for (std::uint64_t file : now)
        if (!m_files.count(file)) ++m_services.shmem[file].mappings;
    for (std::uint64_t file : m_files)
        if (!now.count(file)) release_shmem(file);
    m_files = std::move(now);
}

void mm_struct::release_shmem(std::uint64_t file) {
    auto it = m_services.shmem.find(file);
    if (it == m_services.shmem.end() || --it->second.mappings) return;
    for (auto& [index, p] : it->second.pages) {
        p->mapping = 0;
        p->clear(PG_swapbacked);
        --m_pages.node_state().nr_shmem;
        m_pages.put_page(p);
    }
    m_services.shmem.erase(it);
}

}  // namespace memsim::kernel
