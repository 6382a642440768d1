#include "kernel_mm/highmem.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "kernel_mm/vmalloc.h"

namespace memsim::kernel {

highmem::highmem(kernel_state& kernel, machine_ops& machine)
    : m_kernel(kernel),
      m_machine(machine),
      m_pages(kernel.pages()),
      m_pgd(kernel.swapper_pg_dir()),
      m_page_offset(kernel.page_offset()) {
    const kernel_config& c = kernel.config();
    if (c.arch != kernel_arch::i386) throw std::invalid_argument("highmem: x86_64 has no high memory");
    m_max_low_pfn = pfn_limits_of(c.arch, kernel.blocks()).max_low_pfn;
    m_kmap_prot = pte::page_kernel | (c.pae ? pte::nx : 0);
    // pgtable_32_areas.h: LAST_PKMAP 512 with PAE, 1024 without: one PTE table either way.
    m_last_pkmap = c.pae ? 512 : 1024;
    m_pkmap_base = i386_pkmap_base();
    m_pkmap_count.assign(m_last_pkmap, 0);
    m_pkmap_page.assign(m_last_pkmap, nullptr);
    m_pgd.set_table_alloc(kernel_table_alloc(m_pages));
    std::optional<phys_addr_t> pkmap = m_pgd.pte_alloc(m_pkmap_base);
    if (!pkmap) throw kernel_panic("highmem: no page for the pkmap page table");
    m_pkmap_pte = *pkmap;
    unsigned cpus = std::max(c.cpus, machine.cpu_count());
    for (unsigned idx = 0; idx < KM_MAX_IDX * cpus; ++idx) {
        std::optional<phys_addr_t> slot = m_pgd.pte_alloc(fix_kmap_addr(idx));
        if (!slot) throw kernel_panic("highmem: no page for the fixmap page table");
        m_kmap_pte.push_back(*slot);
    }
    m_kmap_depth.assign(cpus, 0);
}

std::uint64_t highmem::page_address(const page* p) const {
    if (!is_highmem(p)) return lowmem_address(p);
    auto it = m_page_address.find(p);
    return it == m_page_address.end() ? 0 : it->second;
}

std::uint64_t highmem::kmap(page* p) { return is_highmem(p) ? kmap_high(p) : lowmem_address(p); }

// kmap_high: an existing pkmap address is shared; every user holds one count above 1.
std::uint64_t highmem::kmap_high(page* p) {
    auto it = m_page_address.find(p);
    std::uint64_t vaddr = it != m_page_address.end() ? it->second : map_new_virtual(p);
    if (!vaddr) return 0;
    ++m_pkmap_count[(vaddr - m_pkmap_base) >> page_shift];
    return vaddr;
}

// map_new_virtual: the next free entry after the last one used; reaching entry 0 again first
// clears every entry nobody uses (count 1) and flushes the window.
std::uint64_t highmem::map_new_virtual(page* p) {
    unsigned mask = m_last_pkmap - 1;
    for (unsigned count = m_last_pkmap;;) {
        m_last_pkmap_nr = (m_last_pkmap_nr + 1) & mask;
        if (m_last_pkmap_nr == 0) {
            flush_all_zero_pkmaps();
            count = m_last_pkmap;
        }
        if (!m_pkmap_count[m_last_pkmap_nr]) break;
        if (--count) continue;
        // Linux sleeps on pkmap_map_wait until a kunmap; nothing else runs meanwhile here.
        bug("kmap_high: every pkmap entry is in use");
        return 0;
    }
    unsigned nr = m_last_pkmap_nr;
    m_pgd.set_pte(pkmap_pte(nr), m_pages.page_to_phys(p) | m_kmap_prot);
    m_pkmap_count[nr] = 1;
    m_pkmap_page[nr] = p;
    std::uint64_t vaddr = pkmap_addr(nr);
    m_page_address[p] = vaddr;
    return vaddr;
}

// flush_all_zero_pkmaps: entries left at count 1 lose their PTE and page; one flush of the
// whole window (LAST_PKMAP pages, above the single-page ceiling: a full flush).
void highmem::flush_all_zero_pkmaps() {
    bool need_flush = false;
    for (unsigned nr = 0; nr < m_last_pkmap; ++nr) {
        if (m_pkmap_count[nr] != 1) continue;
        m_pkmap_count[nr] = 0;
        m_pgd.set_pte(pkmap_pte(nr), 0);
        m_page_address.erase(m_pkmap_page[nr]);
        m_pkmap_page[nr] = nullptr;
        need_flush = true;
    }
    if (need_flush) flush_tlb_kernel_range(m_machine, pkmap_addr(0), pkmap_addr(m_last_pkmap));
}

// kunmap_high: the mapping stays (count 1) until the window wraps; a count falling to 0 means
// an unbalanced kunmap, BUG() in Linux.
void highmem::kunmap(page* p) {
    if (!is_highmem(p)) return;
    auto it = m_page_address.find(p);
    if (it == m_page_address.end()) {
        bug("kunmap_high: page has no pkmap address");
        return;
    }
    int& count = m_pkmap_count[(it->second - m_pkmap_base) >> page_shift];
    if (--count == 0) {
        count = 1;
        bug("kunmap_high: unbalanced kunmap");
    }
}

unsigned highmem::this_cpu() const {
    return std::min<unsigned>(m_machine.context().cpu, m_kmap_depth.size() - 1);
}

// __kmap_local_pfn_prot: slot kmap_local_idx_push() + KM_MAX_IDX * cpu; lowmem needs no slot.
std::uint64_t highmem::kmap_local_page(page* p) {
    if (!is_highmem(p)) return lowmem_address(p);
    unsigned cpu = this_cpu();
    if (m_kmap_depth[cpu] >= KM_MAX_IDX) {
        bug("kmap_local_idx_push: more than KM_MAX_IDX nested kmap_local mappings");
        return 0;
    }
    unsigned idx = m_kmap_depth[cpu]++ + KM_MAX_IDX * cpu;
    m_pgd.set_pte(m_kmap_pte[idx], m_pages.page_to_phys(p) | m_kmap_prot);
    return fix_kmap_addr(idx);
}

// kunmap_local_indexed: a direct-map address was never pushed; otherwise the most recent slot is
// popped. Given another slot's address Linux warns, yet clears the most recent slot's PTE and
// flushes the address it was given: so does this.
void highmem::kunmap_local(std::uint64_t addr) {
    addr &= ~std::uint64_t{0xfff};
    if (addr < fix_kmap_addr(KM_MAX_IDX * static_cast<unsigned>(m_kmap_depth.size()) - 1) ||
        addr > fix_kmap_addr(0)) {
        if (addr < m_page_offset) warn_once(fmt::format("kunmap_local of {:#x}, not a kernel address", addr));
        return;
    }
    unsigned cpu = this_cpu();
    if (m_kmap_depth[cpu] == 0) {
        bug("kmap_local_idx_pop: no kmap_local mapping to undo");
        return;
    }
    unsigned idx = --m_kmap_depth[cpu] + KM_MAX_IDX * cpu;
    if (addr != fix_kmap_addr(idx))
        warn_once(fmt::format("kunmap_local of {:#x} but the most recent kmap_local is {:#x}", addr,
                              fix_kmap_addr(idx)));
    m_pgd.set_pte(m_kmap_pte[idx], 0);
    m_machine.flush_tlb_page(addr);
}

// BUG_ON: lib/bug.c report_bug's "kernel BUG at" line (pr_crit) and, with panic_on_bug, the
// panic; otherwise the simulation goes on.
void highmem::bug(const std::string& what) {
    ++m_bugs;
    m_kernel.log().print(m_machine.now(), kern_level::crit,
                         fmt::format("kernel BUG at mm/highmem.c: {}", what));
    if (m_kernel.config().panic_on_bug) throw kernel_panic(what);
}

// WARN_ON_ONCE: counted each time, printed the first time.
void highmem::warn_once(const std::string& what) {
    ++m_warnings;
    if (m_warned) return;
    m_warned = true;
    m_kernel.log().print(m_machine.now(), kern_level::warning,
                         fmt::format("WARNING: at mm/highmem.c kunmap_local_indexed: {}", what));
}

}  // namespace memsim::kernel
