#include "kernel_mm/vmalloc.h"

#include <iterator>
#include <optional>

#include <fmt/format.h>

#include "kernel_mm/procfs.h"

namespace memsim::kernel {
namespace {

constexpr std::uint64_t page_bytes = 4096;
constexpr std::uint64_t MiB = 1ull << 20, TiB = 1ull << 40;

// arch/x86/include/asm/pgtable_64_types.h (__VMALLOC_BASE_L4/L5, VMALLOC_SIZE_TB_L4/L5).
constexpr std::uint64_t vmalloc_base_l4 = 0xffffc90000000000;
constexpr std::uint64_t vmalloc_base_l5 = 0xffa0000000000000;
constexpr std::uint64_t vmalloc_size_tb_l4 = 32;
constexpr std::uint64_t vmalloc_size_tb_l5 = 12800;
// arch/x86/include/asm/pgtable_32_areas.h VMALLOC_OFFSET; arch/x86/mm/init_32.c
// __VMALLOC_RESERVE (the default vmalloc= size, 128 MiB).
constexpr std::uint64_t vmalloc_offset = 8 * MiB;
constexpr std::uint64_t vmalloc_reserve = 128 * MiB;

// mm/internal.h GFP_RECLAIM_MASK: what a nested allocation inherits from its caller's flags.
constexpr gfp_t gfp_reclaim_mask = __GFP_RECLAIM | __GFP_HIGH | __GFP_IO | __GFP_FS | __GFP_NOWARN |
                                   __GFP_RETRY_MAYFAIL | __GFP_NOFAIL | __GFP_NORETRY | __GFP_MEMALLOC |
                                   __GFP_NOMEMALLOC;

std::uint64_t page_align(std::uint64_t size) { return (size + page_bytes - 1) & ~(page_bytes - 1); }

}  // namespace

std::uint64_t i386_pkmap_base() {
    return 0xc0000000 + (i386_maxmem_pfn << page_shift) + vmalloc_reserve + 2 * page_bytes;
}

vmalloc_range vmalloc_range_of(const kernel_state& kernel) {
    const kernel_config& c = kernel.config();
    if (c.arch == kernel_arch::x86_64) {
        std::uint64_t base = c.la57 ? vmalloc_base_l5 : vmalloc_base_l4;
        return {base, base + (c.la57 ? vmalloc_size_tb_l5 : vmalloc_size_tb_l4) * TiB - 1};
    }
    // high_memory is the end of the direct map (arch/x86/mm/init_32.c).
    std::uint64_t high_memory =
        kernel.page_offset() + (pfn_limits_of(c.arch, kernel.blocks()).max_low_pfn << page_shift);
    return {high_memory + vmalloc_offset, i386_pkmap_base() - 2 * page_bytes};
}

page_table::table_alloc kernel_table_alloc(page_allocator& pages) {
    return [&pages]() -> phys_addr_t {
        page* p = pages.alloc_pages(GFP_KERNEL | __GFP_ZERO, 0);
        return p ? pages.page_to_phys(p) : 0;
    };
}

vmalloc_space::vmalloc_space(kernel_state& kernel, machine_ops& machine)
    : m_kernel(kernel),
      m_machine(machine),
      m_pages(kernel.pages()),
      m_pgd(kernel.swapper_pg_dir()),
      m_range(vmalloc_range_of(kernel)) {
    const kernel_config& c = kernel.config();
    bool nx = c.arch == kernel_arch::x86_64 || c.pae;
    m_page_kernel = pte::page_kernel | (nx ? pte::nx : 0);
    m_numa = debian_kconfig(m_pages.config()).numa;
    m_pointer_digits = c.arch == kernel_arch::x86_64 ? 16 : 8;
    m_free[m_range.start] = m_range.end;
    m_pgd.set_table_alloc(kernel_table_alloc(m_pages));
    if (c.arch != kernel_arch::x86_64) return;
    // preallocate_vmalloc_pages: the second-level table of every top-level entry the range
    // covers exists from boot, so no process's copy of the top level ever goes stale.
    std::uint64_t pgdir = 1ull << (c.la57 ? 48 : 39);
    for (std::uint64_t addr = m_range.start; addr && addr <= m_range.end; addr = (addr | (pgdir - 1)) + 1)
        if (!m_pgd.upper_alloc(addr))
            throw kernel_panic(
                fmt::format("Failed to pre-allocate {} pages for vmalloc area", c.la57 ? "p4d" : "pud"));
}

std::uint64_t vmalloc_space::vmalloc(std::uint64_t size, std::string_view caller) {
    return __vmalloc_node(size, GFP_KERNEL, NUMA_NO_NODE, caller);
}

std::uint64_t vmalloc_space::vzalloc(std::uint64_t size, std::string_view caller) {
    return __vmalloc_node(size, GFP_KERNEL | __GFP_ZERO, NUMA_NO_NODE, caller);
}

std::uint64_t vmalloc_space::vmalloc_node(std::uint64_t size, int nid, std::string_view caller) {
    return __vmalloc_node(size, GFP_KERNEL, nid, caller);
}

// __vmalloc_node_range: reserve the area, then back and map it (__vmalloc_area_node).
std::uint64_t vmalloc_space::__vmalloc_node(std::uint64_t size, gfp_t gfp, int nid, std::string_view caller) {
    if (!size) {
        warn("WARNING: at mm/vmalloc.c __vmalloc_node_range: size 0");
        return 0;
    }
    if ((size >> page_shift) > m_pages.totalram_pages()) {
        warn_alloc(gfp, fmt::format("vmalloc error: size {}, exceeds total pages", size));
        return 0;
    }
    vm_struct* area = get_vm_area(size, VM_ALLOC, gfp, caller);
    if (!area) {
        warn_alloc(gfp, fmt::format("vmalloc error: size {}, vm_struct allocation failed", size));
        return 0;
    }
    return vmalloc_area_node(*area, gfp, nid) ? area->addr : 0;
}

// __get_vm_area_node: the size rounded to pages plus the guard page (VM_NO_GUARD not modelled).
vm_struct* vmalloc_space::get_vm_area(std::uint64_t size, unsigned flags, gfp_t gfp,
                                      std::string_view caller) {
    size = page_align(size);
    if (!size) return nullptr;
    size += page_bytes;
    std::uint64_t addr = alloc_vmap_area(size, gfp);
    if (!addr) return nullptr;
    vm_struct& area = m_areas[addr];
    area.addr = addr;
    area.size = size;
    area.flags = flags;
    area.caller = caller;
    return &area;
}

// alloc_vmap_area: the lowest free range that holds `size` (find_vmap_lowest_match). Linux finds
// it in O(log n) with an augmented tree; the free ranges here are scanned from the bottom.
// When nothing fits, the lazily freed areas are purged and the search tried once more.
std::uint64_t vmalloc_space::alloc_vmap_area(std::uint64_t size, gfp_t gfp) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        for (auto it = m_free.begin(); it != m_free.end(); ++it) {
            auto [start, end] = *it;
            if (end - start < size) continue;
            m_free.erase(it);
            if (end - start > size) m_free[start + size] = end;
            return start;
        }
        if (m_purge.empty()) break;
        purge_vmap_area_lazy();
    }
    if (!(gfp & __GFP_NOWARN))
        warn(fmt::format("vmap allocation for size {} failed: use vmalloc=<size> to increase size", size));
    return 0;
}

// lazy_max_pages: 32 MiB of pages for each bit of the CPU count (fls(num_online_cpus)).
std::uint64_t vmalloc_space::lazy_max_pages() const {
    return static_cast<std::uint64_t>(std::bit_width(m_machine.cpu_count())) * ((32ull << 20) >> page_shift);
}

// free_vmap_area_noflush: the area waits on the purge list; past lazy_max_pages the list is
// purged (Linux schedules drain_vmap_work; here it runs at once).
void vmalloc_space::free_vmap_area_noflush(std::uint64_t addr, std::uint64_t size) {
    m_purge.emplace_back(addr, size);
    m_lazy_pages += size >> page_shift;
    if (m_lazy_pages > lazy_max_pages()) purge_vmap_area_lazy();
}

// __purge_vmap_area_lazy: one flush over everything from the lowest freed area to the end of
// the highest, then every range free again.
void vmalloc_space::purge_vmap_area_lazy() {
    if (m_purge.empty()) return;
    std::uint64_t start = ~std::uint64_t{0}, end = 0;
    for (auto [addr, size] : m_purge) {
        start = std::min(start, addr);
        end = std::max(end, addr + size);
    }
    flush_tlb_kernel_range(m_machine, start, end);
    for (auto [addr, size] : m_purge) free_vmap_area(addr, size);
    m_purge.clear();
    m_lazy_pages = 0;
}

// merge_or_add_vmap_area: the range returns to the free ranges, joined with its neighbours.
void vmalloc_space::free_vmap_area(std::uint64_t addr, std::uint64_t size) {
    std::uint64_t end = addr + size;
    auto next = m_free.find(end);
    if (next != m_free.end()) {
        end = next->second;
        m_free.erase(next);
    }
    auto prev = m_free.lower_bound(addr);
    if (prev != m_free.begin() && std::prev(prev)->second == addr) {
        std::prev(prev)->second = end;
        return;
    }
    m_free[addr] = end;
}

// __vmalloc_area_node: the page array (vmalloc'ed itself when it exceeds a page), order-0 pages
// from any zone (__GFP_HIGHMEM unless the caller asked for DMA zones), then 4 KiB PTEs. Any
// failure frees what was taken, as its `goto fail` with __vfree does.
bool vmalloc_space::vmalloc_area_node(vm_struct& area, gfp_t gfp, int nid) {
    const gfp_t nested_gfp = (gfp & gfp_reclaim_mask) | __GFP_ZERO;
    std::uint64_t nr_pages = (area.size - page_bytes) >> page_shift;
    std::uint64_t array_size = nr_pages * (m_pointer_digits / 2);  // sizeof(struct page *)
    if (!(gfp & (GFP_DMA | GFP_DMA32))) gfp |= __GFP_HIGHMEM;
    std::uint64_t addr = area.addr;
    if (array_size > page_bytes) {
        std::uint64_t array = __vmalloc_node(array_size, nested_gfp, nid, area.caller);
        if (!array) {
            warn_alloc(gfp, fmt::format("vmalloc error: size {}, failed to allocated page array size {}",
                                        nr_pages * page_bytes, array_size));
            remove_vm_area(addr, true);
            return false;
        }
        area.pages_array = array;
    }
    area.pages.reserve(nr_pages);
    while (area.pages.size() < nr_pages) {
        page* p = nid == NUMA_NO_NODE ? m_pages.alloc_pages(gfp | __GFP_NOWARN, 0)
                                      : m_pages.alloc_pages_node(nid, gfp | __GFP_NOWARN, 0);
        if (!p) break;
        area.pages.push_back(p);
        ++m_nr_vmalloc_pages;
    }
    // Debian's 6.1.y has the stable fix that dropped "page order %u" from this line.
    if (area.pages.size() != nr_pages) {
        warn_alloc(gfp, fmt::format("vmalloc error: size {}, failed to allocate pages",
                                    area.pages.size() * page_bytes));
        remove_vm_area(addr, true);
        return false;
    }
    if (!map_pages(addr, area.pages, m_page_kernel)) {
        warn_alloc(gfp, fmt::format("vmalloc error: size {}, failed to map pages", nr_pages * page_bytes));
        remove_vm_area(addr, true);
        return false;
    }
    return true;
}

// vmap_pages_range: one PTE per page, page tables allocated as needed; a new mapping needs no
// TLB flush (x86 caches no not-present entries).
bool vmalloc_space::map_pages(std::uint64_t addr, std::span<page* const> pages, std::uint64_t prot) {
    for (page* p : pages) {
        std::optional<phys_addr_t> pte = m_pgd.pte_alloc(addr);
        if (!pte) return false;
        m_pgd.set_pte(*pte, m_pages.page_to_phys(p) | prot);
        addr += page_bytes;
    }
    return true;
}

// remove_vm_area, free_unmap_vmap_area and __vunmap: the PTEs cleared (vunmap_range_noflush),
// the area onto the lazy purge list, then (vfree) the pages and the page array; the TLB flush
// comes with the purge.
void vmalloc_space::remove_vm_area(std::uint64_t addr, bool deallocate_pages) {
    auto it = m_areas.find(addr);
    vm_struct area = std::move(it->second);
    m_areas.erase(it);
    for (std::uint64_t at = area.addr; at < area.addr + area.size - page_bytes; at += page_bytes)
        m_pgd.clear_pte(at);
    free_vmap_area_noflush(area.addr, area.size);
    if (!deallocate_pages) return;
    for (page* p : area.pages) m_pages.__free_pages(p, 0);
    m_nr_vmalloc_pages -= area.pages.size();
    if (area.pages_array) vfree(area.pages_array);
}

void vmalloc_space::vfree(std::uint64_t addr) {
    if (!addr) return;
    if (addr & (page_bytes - 1)) {
        warn(fmt::format("Trying to vfree() bad address ({:0{}x})", addr, m_pointer_digits));
        return;
    }
    if (!m_areas.contains(addr)) {
        warn(fmt::format("Trying to vfree() nonexistent vm area ({:0{}x})", addr, m_pointer_digits));
        return;
    }
    remove_vm_area(addr, true);
}

// vmap: the pages mapped with pgprot_nx(PAGE_KERNEL) in a VM_MAP area; on a mapping failure the
// area is unmapped again.
std::uint64_t vmalloc_space::vmap(std::span<page* const> pages, std::string_view caller) {
    if (pages.size() > m_pages.totalram_pages()) return 0;
    vm_struct* area = get_vm_area(pages.size() << page_shift, VM_MAP, GFP_KERNEL, caller);
    if (!area) return 0;
    std::uint64_t addr = area->addr;
    if (!map_pages(addr, pages, m_page_kernel)) {
        remove_vm_area(addr, false);
        return 0;
    }
    return addr;
}

// vunmap: as vfree but the pages stay their owner's (6.1's __vunmap with deallocate_pages 0).
void vmalloc_space::vunmap(std::uint64_t addr) {
    if (!addr) return;
    if (!m_areas.contains(addr)) {
        warn(fmt::format("Trying to vfree() nonexistent vm area ({:0{}x})", addr, m_pointer_digits));
        return;
    }
    remove_vm_area(addr, false);
}

page* vmalloc_space::vmalloc_to_page(std::uint64_t addr) {
    std::optional<page_table::leaf> leaf = m_pgd.lookup(addr);
    if (!leaf) return nullptr;
    std::uint64_t offset = addr & (mmu::page_bytes(leaf->size) - 1);
    return m_pages.pfn_to_page((leaf->frame() + offset) >> page_shift);
}

const vm_struct* vmalloc_space::find_vm_area(std::uint64_t addr) const {
    auto it = m_areas.find(addr);
    return it == m_areas.end() ? nullptr : &it->second;
}

void vmalloc_space::warn(std::string text) {
    ++m_warnings;
    m_kernel.log().print(m_machine.now(), kern_level::warning, std::move(text));
}

// mm/page_alloc.c warn_alloc: "<comm>: <message>, mode:0x…(…), nodemask=(null)", silent with
// __GFP_NOWARN (its ratelimit is not modelled).
void vmalloc_space::warn_alloc(gfp_t gfp, std::string text) {
    if (gfp & __GFP_NOWARN) return;
    warn(fmt::format("{}: {}, mode:{}, nodemask=(null)", m_comm, text, gfp_mode(gfp)));
}

}  // namespace memsim::kernel
