// The page-fault handler: arch/x86/mm/fault.c do_user_addr_fault (find the area, grow a stack,
// check the access) and mm/memory.c handle_mm_fault (tables, the zero page, anonymous pages,
// copy-on-write) with shmem_fault for shared anonymous areas.
#include "kernel_mm/mm.h"

namespace memsim::kernel {
namespace {

fault_result segv(segv_code code) {
    fault_result r;
    r.segv = code;
    return r;
}

fault_result resolved(fault_kind kind) {
    fault_result r;
    r.resolved = true;
    r.kind = kind;
    return r;
}

fault_result out_of_memory() {
    fault_result r;
    r.oom = true;
    return r;
}

// access_error (arch/x86/mm/fault.c): a write needs VM_WRITE; a read of a present page or of an
// area without any access is refused. Instruction fetches are not checked here: the PTE's NX
// refuses them and the retried fetch comes back as a protection fault.
bool access_error(std::uint32_t error_code, const vm_area_struct& vma) {
    if (error_code & pf::write) return !(vma.vm_flags & VM_WRITE);
    if (error_code & pf::prot) return true;
    return !(vma.vm_flags & VM_ACCESS_FLAGS);
}

}  // namespace

// arch/x86/mm/pgprot.c protection_map: private writable areas map read-only (copy-on-write);
// no NX without EFER.NXE's PTE bit.
std::uint64_t mm_struct::vm_page_prot(vm_flags_t flags) const {
    if (!(flags & VM_ACCESS_FLAGS)) return pte::protnone | pte::accessed;
    std::uint64_t prot = pte::present | pte::user | pte::accessed;
    if ((flags & VM_SHARED) && (flags & VM_WRITE)) prot |= pte::rw;
    if (!(flags & VM_EXEC) && m_services.nx) prot |= pte::nx;
    return prot;
}

fault_result mm_struct::handle_fault(std::uint64_t addr, std::uint32_t error_code) {
    const picoseconds began = m_machine.now();
    m_machine.context().cycles += m_services.costs.exception;
    fault_result r = user_addr_fault(addr, error_code);
    if (!r.resolved) return r;
    const std::uint64_t cycles = static_cast<std::uint64_t>((m_machine.now() - began) / m_services.cycle);
    m_services.faults.latency[static_cast<unsigned>(r.kind)].sample(cycles);
    if (r.page_tables) m_services.faults.page_table_latency.sample(cycles);
    return r;
}

fault_result mm_struct::user_addr_fault(std::uint64_t addr, std::uint32_t error_code) {
    // A user access to the kernel half: always SEGV_MAPERR (sanitize_error_code hides the
    // kernel's layout).
    if (addr >= m_services.layout.task_size) return segv(segv_code::maperr);
    const vm_area_struct* vma = m_areas.find_vma(addr);
    if (!vma) return segv(segv_code::maperr);
    if (vma->vm_start > addr) {
        if (!(vma->vm_flags & VM_GROWSDOWN) || m_areas.expand_stack(addr) != 0)
            return segv(segv_code::maperr);
        vma = m_areas.find_vma(addr);
    }
    if (access_error(error_code, *vma)) return segv(segv_code::accerr);
    return handle_mm_fault(*vma, addr, error_code);
}

fault_result mm_struct::handle_mm_fault(const vm_area_struct& vma, std::uint64_t addr,
                                        std::uint32_t error_code) {
    ++m_pages.events().pgfault;
    m_machine.context().cycles += m_services.costs.handle_mm_fault;
    addr &= ~(vm_page_size - 1);
    const std::uint64_t tables = m_pgtables;
    std::optional<phys_addr_t> at = m_pgd.pte_alloc(addr, true);
    if (!at) return out_of_memory();
    const bool write = error_code & pf::write;
    const std::uint64_t entry = m_pgd.read_entry(*at, m_pgd.entry_bytes());
    fault_result r = resolved(fault_kind::spurious);  // the PTE allows it: the TLB had an older entry
    if (!pte_present(entry))
        r = vma.vm_file ? do_shmem_fault(vma, addr, write, *at) : do_anonymous_page(vma, addr, write, *at);
    else if (write && !(entry & pte::rw))
        r = do_wp_page(vma, addr, *at, entry);
    else if (const std::uint64_t young = entry | pte::accessed | (write ? pte::dirty : 0); young != entry)
        m_pgd.set_pte(*at, young);  // ptep_set_access_flags
    r.page_tables = m_pgtables != tables;
    if (r.resolved) ++m_min_flt;
    return r;
}

std::uint64_t mm_struct::mk_pte(phys_addr_t frame, vm_flags_t flags, bool writable) const {
    std::uint64_t entry = frame | vm_page_prot(flags);
    if (writable) entry |= pte::rw | pte::dirty;  // maybe_mkwrite(pte_mkdirty())
    return entry;
}

// alloc_zeroed_user_highpage_movable / alloc_page_vma: HighMem allowed on i386.
page* mm_struct::alloc_user_page(bool zero) {
    return m_pages.alloc_pages(GFP_HIGHUSER_MOVABLE | (zero ? __GFP_ZERO : 0), 0);
}

// page_add_new_anon_rmap: a new page's first mapping, exclusive to this process.
void mm_struct::add_new_anon_page(page* p, const vm_area_struct& vma, std::uint64_t addr) {
    const std::uint64_t anon_vma = m_areas.anon_vma_prepare(addr);
    p->mapping = static_cast<std::uint32_t>(anon_vma << 1) | PAGE_MAPPING_ANON;
    p->index = static_cast<std::uint32_t>(vma.vm_pgoff + ((addr - vma.vm_start) >> 12));
    p->set_mapcount(0);
    p->set(PG_anon_exclusive);
    p->set(PG_swapbacked);
    ++m_anon;
    ++m_pages.node_state().nr_anon_mapped;
}

fault_result mm_struct::do_anonymous_page(const vm_area_struct& vma, std::uint64_t addr, bool write,
                                          phys_addr_t at) {
    if (!write) {
        // The shared zero page, read-only and special: no reference, no RSS.
        m_pgd.set_pte(at, (mk_pte(m_services.zero_page, vma.vm_flags, false) & ~pte::rw) | pte::special);
        return resolved(fault_kind::zero_page);
    }
    page* p = alloc_user_page(true);
    if (!p) return out_of_memory();
    add_new_anon_page(p, vma, addr);
    m_pgd.set_pte(at, mk_pte(m_pages.page_to_phys(p), vma.vm_flags, vma.vm_flags & VM_WRITE));
    return resolved(fault_kind::anonymous);
}

// do_wp_page: a write to a present read-only PTE of a writable area. An anonymous page only
// this process can reach is reused (PageAnonExclusive, or one reference left); anything else is
// copied, and a copy of the zero page is a zeroed page (wp_page_copy).
fault_result mm_struct::do_wp_page(const vm_area_struct& vma, std::uint64_t addr, phys_addr_t at,
                                   std::uint64_t entry) {
    const phys_addr_t frame = pte_frame(entry);
    const bool zero = frame == m_services.zero_page;
    page* old = zero ? nullptr : m_pages.pfn_to_page(frame >> 12);
    if (old && (vma.vm_flags & VM_SHARED)) {
        // wp_page_shared: a shared page is written in place.
        m_pgd.set_pte(at, entry | pte::rw | pte::dirty | pte::accessed);
        return resolved(fault_kind::cow_reuse);
    }
    if (old && (old->test(PG_anon_exclusive) || old->refcount == 1)) {
        old->set(PG_anon_exclusive);  // page_move_anon_rmap
        m_pgd.set_pte(at, entry | pte::rw | pte::dirty | pte::accessed);
        return resolved(fault_kind::cow_reuse);
    }
    page* fresh = alloc_user_page(zero);
    if (!fresh) return out_of_memory();
    if (!zero) m_machine.copy_phys(m_pages.page_to_phys(fresh), frame, vm_page_size);  // copy_user_highpage
    add_new_anon_page(fresh, vma, addr);
    // ptep_clear_flush, then the new PTE; the old page loses this mapping.
    m_pgd.set_pte(at, 0);
    if (m_services.loaded == this) {
        ++m_services.tlb_local_flush_one;
        m_machine.flush_tlb_page(addr);
    }
    m_pgd.set_pte(at, mk_pte(m_pages.page_to_phys(fresh), vma.vm_flags, true));
    if (old) unmap_page(entry);
    return resolved(fault_kind::cow_copy);
}

// shmem_fault + finish_fault: the file's page at this offset, allocated zeroed on first touch
// (one reference for the page cache), mapped with the area's protection.
fault_result mm_struct::do_shmem_fault(const vm_area_struct& vma, std::uint64_t addr, bool write,
                                       phys_addr_t at) {
    shmem_file& file = shmem_of(vma);
    const std::uint64_t index = vma.vm_pgoff + ((addr - vma.vm_start) >> 12);
    page*& p = file.pages[index];
    if (!p) {
        p = m_pages.alloc_pages(GFP_HIGHUSER_MOVABLE | __GFP_ZERO, 0);
        if (!p) {
            file.pages.erase(index);
            return out_of_memory();
        }
        p->mapping = static_cast<std::uint32_t>(vma.vm_file << 1);
        p->index = static_cast<std::uint32_t>(index);
        p->set(PG_swapbacked);
        ++m_pages.node_state().nr_shmem;
    }
    m_pages.get_page(p);
    p->set_mapcount(p->mapcount() + 1);
    ++m_shmem;
    // do_set_pte: a write fault maps the page dirty.
    m_pgd.set_pte(at, mk_pte(m_pages.page_to_phys(p), vma.vm_flags, false) | (write ? pte::dirty : 0));
    return resolved(fault_kind::shmem);
}

}  // namespace memsim::kernel
