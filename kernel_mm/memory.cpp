// A process's page tables over ranges (mm/memory.c zap_page_range, free_pgtables,
// copy_page_range; mm/mprotect.c change_protection): each reads a table page's entries as one
// timed burst and writes the entries it changes.
#include "kernel_mm/mm.h"

#include <array>

#include <fmt/format.h>

namespace memsim::kernel {
bool mm_struct::pte_present(std::uint64_t entry) { return (entry & (pte::present | pte::protnone)) != 0; }

phys_addr_t mm_struct::pte_frame(std::uint64_t entry) const {
    return page_table::table_of(entry, m_pgd.entry_bytes());
}

// Reads `count` entries of a table from index `first` in one access.
void mm_struct::read_entries(phys_addr_t table, std::size_t first, std::size_t count, unsigned bytes,
                             std::uint64_t* out) {
    if (bytes == 8) {
        m_machine.read_phys(table + first * 8, out, count * 8);
        return;
    }
    std::array<std::uint32_t, 1024> narrow;
    m_machine.read_phys(table + first * 4, narrow.data(), count * 4);
    for (std::size_t i = 0; i < count; ++i) out[i] = narrow[i];
}

// Calls visit(linear, entry address, entry) for every PTE of [start, end) that Linux counts as
// present, below tables that exist.
template <class Visit>
void mm_struct::walk_ptes(std::uint64_t start, std::uint64_t end, Visit&& visit) {
    std::size_t count = 0;
    const page_table::level* lv = m_pgd.levels(count);
    auto walk = [&](auto& self, phys_addr_t table, std::size_t depth, std::uint64_t base) -> void {
        const page_table::level& l = lv[depth];
        const std::uint64_t span = l.span();
        const std::size_t entries = std::size_t{1} << l.index_bits;
        std::size_t first = start > base ? static_cast<std::size_t>((start - base) / span) : 0;
        std::size_t last =
            static_cast<std::size_t>(std::min<std::uint64_t>((end - 1 - base) / span, entries - 1));
        std::array<std::uint64_t, 1024> e;
        read_entries(table, first, last - first + 1, l.entry_bytes, e.data());
        for (std::size_t i = first; i <= last; ++i) {
            std::uint64_t entry = e[i - first];
            std::uint64_t linear = base + i * span;
            if (depth + 1 == count) {
                if (pte_present(entry)) visit(linear, table + i * l.entry_bytes, entry);
                continue;
            }
            if (entry & pte::present)
                self(self, page_table::table_of(entry, l.entry_bytes), depth + 1, linear);
        }
    };
    if (start < end) walk(walk, m_pgd.root(), 0, 0);
}

void mm_struct::note_flush(std::uint64_t linear) {
    m_flush_start = std::min(m_flush_start, linear);
    m_flush_end = std::max(m_flush_end, linear + vm_page_size);
}

// zap_pte_range: clear each PTE, dropping the mapping's counts and reference.
void mm_struct::zap_page_range(std::uint64_t start, std::uint64_t end) {
    walk_ptes(start, end, [&](std::uint64_t linear, phys_addr_t at, std::uint64_t entry) {
        m_pgd.set_pte(at, 0);
        note_flush(linear);
        unmap_page(entry);
    });
}

// page_remove_rmap + the RSS counter + put_page of what a cleared PTE mapped.
void mm_struct::unmap_page(std::uint64_t entry) {
    phys_addr_t frame = pte_frame(entry);
    if (frame == m_services.zero_page) return;
    page* p = m_pages.pfn_to_page(frame >> 12);
    p->set_mapcount(p->mapcount() - 1);
    if (p->mapping & PAGE_MAPPING_ANON) {
        --m_anon;
        if (p->mapcount() < 0) --m_pages.node_state().nr_anon_mapped;
    } else {
        --m_shmem;
    }
    m_pages.put_page(p);
}

// free_pgd_range: a table goes when everything it covers lies in [floor, ceiling), the gap
// around the unmapped range (ceiling 0: the top of the user half); PAE's PMDs too (pud_clear
// and pmd_free_tlb), to be linked again by the next fault there. True when a table was freed
// (the paging-structure caches need a flush).
bool mm_struct::free_pgtables(std::uint64_t start, std::uint64_t end, std::uint64_t floor,
                              std::uint64_t ceiling) {
    std::size_t levels = 0;
    if (ceiling == 0) ceiling = m_user_entries * m_pgd.levels(levels)[0].span();  // USER_PGTABLES_CEILING
    return start < end && free_table_range(m_pgd.root(), 0, 0, start, end, floor, ceiling);
}

bool mm_struct::free_table_range(phys_addr_t table, std::size_t depth, std::uint64_t base,
                                 std::uint64_t start, std::uint64_t end, std::uint64_t floor,
                                 std::uint64_t ceiling) {
    std::size_t count = 0;
    const page_table::level& l = m_pgd.levels(count)[depth];
    if (depth + 1 == count) return false;  // a PTE table's entries are pages, not tables
    const std::uint64_t span = l.span();
    const std::size_t entries = std::size_t{1} << l.index_bits;
    std::size_t first = start > base ? static_cast<std::size_t>((start - base) / span) : 0;
    std::size_t last =
        static_cast<std::size_t>(std::min<std::uint64_t>((end - 1 - base) / span, entries - 1));
    if (depth == 0) last = std::min(last, m_user_entries - 1);
    bool freed = false;
    for (std::size_t i = first; i <= last; ++i) {
        phys_addr_t at = table + i * l.entry_bytes;
        std::uint64_t entry = m_pgd.read_entry(at, l.entry_bytes);
        if (!(entry & pte::present)) continue;
        const std::uint64_t lo = base + i * span;
        const bool whole = lo >= floor && lo + span - 1 <= ceiling - 1;
        phys_addr_t child = page_table::table_of(entry, l.entry_bytes);
        // A table that goes takes everything below it; one that stays frees what it can.
        freed |= whole ? free_table_range(child, depth + 1, lo, lo, lo + span, floor, ceiling)
                       : free_table_range(child, depth + 1, lo, std::max(start, lo), std::min(end, lo + span),
                                          floor, ceiling);
        if (!whole) continue;
        m_pgd.write_entry(at, l.entry_bytes, 0);
        free_table(child);
        m_pgd.table_freed();
        freed = true;
    }
    return freed;
}

// copy_pte_range for one area: the child gets each PTE, a private writable one write-protected
// on both sides (copy_present_pte), old; every page one more reference and mapping.
bool mm_struct::copy_page_range(mm_struct& child, const vm_area_struct& vma) {
    const bool cow = (vma.vm_flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;
    bool ok = true;
    walk_ptes(vma.vm_start, vma.vm_end, [&](std::uint64_t linear, phys_addr_t at, std::uint64_t entry) {
        if (!ok) return;
        std::optional<phys_addr_t> to = child.m_pgd.pte_alloc(linear, true);
        if (!to) {
            ok = false;
            return;
        }
        if (cow && (entry & pte::rw)) {
            entry &= ~pte::rw;
            m_pgd.set_pte(at, entry);
        }
        std::uint64_t copy = entry & ~pte::accessed;
        if (vma.vm_flags & VM_SHARED) copy &= ~pte::dirty;
        child.m_pgd.set_pte(*to, copy);
        phys_addr_t frame = pte_frame(entry);
        if (frame == m_services.zero_page) return;
        page* p = m_pages.pfn_to_page(frame >> 12);
        m_pages.get_page(p);
        p->set_mapcount(p->mapcount() + 1);
        // page_try_dup_anon_rmap: a page both may map is no longer exclusive.
        if (p->mapping & PAGE_MAPPING_ANON) {
            p->clear(PG_anon_exclusive);
            ++child.m_anon;
        } else {
            ++child.m_shmem;
        }
    });
    return ok;
}

// change_pte_range: every PTE takes the area's new protection, keeping its frame, A and D; a
// private writable area's exclusive anonymous pages stay writable (can_change_pte_writable).
void mm_struct::change_protection(const vm_area_struct& vma, std::uint64_t start, std::uint64_t end) {
    const std::uint64_t keep = pte::accessed | pte::dirty | pte::special;
    const bool try_writable = (vma.vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE;
    walk_ptes(start, end, [&](std::uint64_t linear, phys_addr_t at, std::uint64_t entry) {
        phys_addr_t frame = pte_frame(entry);
        std::uint64_t updated = frame | (entry & keep) | vm_page_prot(vma.vm_flags);
        if (try_writable && (updated & pte::present) && frame != m_services.zero_page &&
            m_pages.pfn_to_page(frame >> 12)->test(PG_anon_exclusive))
            updated |= pte::rw;
        if (updated == entry) return;
        m_pgd.set_pte(at, updated);
        note_flush(linear);
    });
}

// __mm_populate: each page faulted in as get_user_pages would, a write fault where the area is
// private and writable (FOLL_WRITE); an inaccessible area is skipped.
void mm_struct::populate(std::uint64_t start, std::uint64_t end) {
    for (std::uint64_t addr = start; addr < end; addr += vm_page_size) {
        const vm_area_struct* vma = m_areas.find_vma(addr);
        if (!vma || vma->vm_start > addr || !(vma->vm_flags & VM_ACCESS_FLAGS)) continue;
        const bool write = (vma->vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE;
        const std::uint64_t entry = pte_of(addr);
        if (pte_present(entry) && (!write || (entry & pte::rw))) continue;
        // __get_user_pages stops at the first error; the OOM killer acts on it.
        if (handle_mm_fault(*vma, addr, write ? pf::write : 0).oom) {
            m_oom = true;
            return;
        }
    }
}

std::uint64_t mm_struct::pte_of(std::uint64_t addr) {
    std::optional<page_table::leaf> leaf = m_pgd.lookup(addr);
    if (leaf) return leaf->entry;
    // lookup stops at a not-present PTE: read it where the tables lead, if they exist.
    std::size_t count = 0;
    const page_table::level* lv = m_pgd.levels(count);
    phys_addr_t table = m_pgd.root();
    for (std::size_t i = 0; i < count; ++i) {
        const page_table::level& l = lv[i];
        phys_addr_t at = table + ((addr >> l.shift) & ((1ull << l.index_bits) - 1)) * l.entry_bytes;
        std::uint64_t entry = m_pgd.read_entry(at, l.entry_bytes);
        if (i + 1 == count) return entry;
        if (!(entry & pte::present)) return 0;
        table = page_table::table_of(entry, l.entry_bytes);
    }
    return 0;
}

std::string mm_struct::check_invariants() {
    if (std::string areas = m_areas.check_invariants(); !areas.empty()) return areas;
    std::uint64_t anon = 0, shmem = 0;
    std::string problem;
    walk_ptes(0, m_services.layout.task_size, [&](std::uint64_t linear, phys_addr_t, std::uint64_t entry) {
        const vm_area_struct* vma = m_areas.find_vma(linear);
        if (problem.empty() && (!vma || vma->vm_start > linear))
            problem = fmt::format("a PTE maps {:#x}, outside every area", linear);
        phys_addr_t frame = pte_frame(entry);
        if (frame == m_services.zero_page) {
            if (problem.empty() && (entry & pte::rw))
                problem = fmt::format("the zero page is writable at {:#x}", linear);
            return;
        }
        const page* p = m_pages.pfn_to_page(frame >> 12);
        if (problem.empty() && (p->refcount <= p->mapcount() || p->mapcount() < 0))
            problem = fmt::format("page {:#x} at {:#x}: refcount {} mapcount {}", frame >> 12, linear,
                                  p->refcount, p->mapcount());
        ++(p->mapping & PAGE_MAPPING_ANON ? anon : shmem);
    });
    if (!problem.empty()) return problem;
    if (anon != m_anon || shmem != m_shmem)
        return fmt::format("RSS says {} anon + {} shmem pages, the PTEs map {} + {}", m_anon, m_shmem, anon,
                           shmem);
    return "";
}

}  // namespace memsim::kernel
