// Linux's boot-time allocator (mm/memblock.c), written from its semantics.
#include "kernel_mm/memblock.h"

#include <algorithm>
#include <stdexcept>

#include "base/bits.h"

namespace memsim::kernel {

namespace {

// memblock_cap_size: shrink size so that base + size does not wrap past PHYS_ADDR_MAX.
phys_addr_t cap_size(phys_addr_t base, phys_addr_t size) { return std::min(size, PHYS_ADDR_MAX - base); }

// numa_valid_node: a real node id, as opposed to NUMA_NO_NODE or MAX_NUMNODES ("any").
bool numa_valid_node(int nid) { return nid >= 0 && nid < MAX_NUMNODES; }

// memblock_addrs_overlap.
bool addrs_overlap(phys_addr_t base1, phys_addr_t size1, phys_addr_t base2, phys_addr_t size2) {
    return base1 < base2 + size2 && base2 < base1 + size1;
}

// should_skip_region for memblock.memory with MEMBLOCK_NONE: other nodes when a node is asked
// for, and NOMAP memory. Hotpluggable memory is skipped only with movable_node, and mirror-only
// allocation only with mirrored_kernelcore; memsim has neither, so both are allocatable.
bool skip_region(const memblock_region& m, int nid) {
    if (numa_valid_node(nid) && nid != m.nid) return true;
    return (m.flags & MEMBLOCK_NOMAP) != 0;
}

}  // namespace

// ---- memblock_type ----------------------------------------------------------------------

long memblock_type::search(phys_addr_t addr) const {
    auto it = std::upper_bound(m_regions.begin(), m_regions.end(), addr,
                               [](phys_addr_t a, const memblock_region& r) { return a < r.base; });
    if (it == m_regions.begin()) return -1;
    --it;
    if (addr >= it->end()) return -1;
    return static_cast<long>(it - m_regions.begin());
}

bool memblock_type::overlaps(phys_addr_t base, phys_addr_t size) const {
    size = cap_size(base, size);
    // The first region ending above base has the lowest base of all that might overlap.
    auto it = std::upper_bound(m_regions.begin(), m_regions.end(), base,
                               [](phys_addr_t a, const memblock_region& r) { return a < r.end(); });
    return it != m_regions.end() && addrs_overlap(base, size, it->base, it->size);
}

// memblock_double_array: Linux doubles the array when an insertion would not fit, allocating the
// new array from memblock itself (and reserving it) or from slab once that is up. memsim models
// the capacity and counts the doublings; it does not reserve the array's bytes in simulated RAM
// (Linux can do so only after memblock_allow_resize(), and frees the old array besides), so the
// reserved totals here exclude the array itself.
void memblock_type::ensure_room(std::size_t extra) {
    while (m_regions.size() + extra > m_capacity) {
        m_capacity *= 2;
        ++m_doublings;
    }
}

void memblock_type::insert_region(std::size_t idx, phys_addr_t base, phys_addr_t size, int nid,
                                  std::uint32_t flags) {
    m_regions.insert(m_regions.begin() + static_cast<long>(idx), memblock_region{base, size, nid, flags});
    m_total_size += size;
}

// memblock_merge_regions: fold each region into its predecessor when they touch and agree on
// nid and flags. Regions never overlap, so touching is the only case.
void memblock_type::merge_regions() {
    if (m_regions.size() < 2) return;
    std::size_t out = 0;
    for (std::size_t i = 1; i < m_regions.size(); ++i) {
        memblock_region& prev = m_regions[out];
        const memblock_region& next = m_regions[i];
        if (prev.end() == next.base && prev.nid == next.nid && prev.flags == next.flags) {
            prev.size += next.size;
            continue;
        }
        m_regions[++out] = next;
    }
    m_regions.resize(out + 1);
}

// memblock_add_range: insert only the parts of [base, base + size) no region covers yet, with
// the caller's nid and flags (existing regions keep theirs), then merge. Linux first counts the
// new pieces so that it can double the array before touching it; so does this.
void memblock_type::add_range(phys_addr_t base, phys_addr_t size, int nid, std::uint32_t flags) {
    size = cap_size(base, size);
    if (size == 0) return;
    const phys_addr_t end = base + size;

    std::vector<memblock_region> missing;
    for (const memblock_region& r : m_regions) {
        if (r.base >= end) break;
        if (r.end() <= base) continue;
        if (r.base > base) missing.push_back({base, r.base - base, nid, flags});
        base = std::min(r.end(), end);
    }
    if (base < end) missing.push_back({base, end - base, nid, flags});

    ensure_room(missing.size());
    for (const memblock_region& piece : missing) {
        auto at = std::lower_bound(m_regions.begin(), m_regions.end(), piece.base,
                                   [](const memblock_region& r, phys_addr_t b) { return r.base < b; });
        insert_region(static_cast<std::size_t>(at - m_regions.begin()), piece.base, piece.size, piece.nid,
                      piece.flags);
    }
    merge_regions();
}

// memblock_isolate_range: split the regions straddling base or base + size so that the range is
// covered by whole regions, and return their index range [first, last). Linux makes room for two
// more regions first, whether or not it will split.
std::pair<std::size_t, std::size_t> memblock_type::isolate_range(phys_addr_t base, phys_addr_t size) {
    size = cap_size(base, size);
    if (size == 0) return {0, 0};
    ensure_room(2);
    const phys_addr_t end = base + size;

    std::size_t first = 0, last = 0;
    bool found = false;
    std::size_t idx = 0;
    while (idx < m_regions.size()) {
        const memblock_region r = m_regions[idx];
        if (r.base >= end) break;
        if (r.end() <= base) {
            ++idx;
            continue;
        }
        if (r.base < base) {
            // The part below base becomes its own region; look at the rest next.
            m_regions[idx].base = base;
            m_regions[idx].size = r.end() - base;
            m_regions.insert(m_regions.begin() + static_cast<long>(idx),
                             {r.base, base - r.base, r.nid, r.flags});
            ++idx;
            continue;
        }
        if (r.end() > end) {
            // The part above end becomes its own region; the part below is inside, seen next.
            m_regions[idx].base = end;
            m_regions[idx].size = r.end() - end;
            m_regions.insert(m_regions.begin() + static_cast<long>(idx),
                             {r.base, end - r.base, r.nid, r.flags});
            continue;
        }
        if (!found) first = idx;
        found = true;
        last = ++idx;
    }
    return {first, last};
}

// memblock_remove_range: isolate, then drop the regions inside.
void memblock_type::remove_range(phys_addr_t base, phys_addr_t size) {
    const auto [first, last] = isolate_range(base, size);
    for (std::size_t i = first; i < last; ++i) m_total_size -= m_regions[i].size;
    m_regions.erase(m_regions.begin() + static_cast<long>(first),
                    m_regions.begin() + static_cast<long>(last));
}

// memblock_setclr_flag: isolate, flip the flag on the regions inside, merge again.
void memblock_type::set_flag(phys_addr_t base, phys_addr_t size, std::uint32_t flag, bool set) {
    const auto [first, last] = isolate_range(base, size);
    for (std::size_t i = first; i < last; ++i) {
        if (set)
            m_regions[i].flags |= flag;
        else
            m_regions[i].flags &= ~flag;
    }
    merge_regions();
}

void memblock_type::set_node(phys_addr_t base, phys_addr_t size, int nid) {
    const auto [first, last] = isolate_range(base, size);
    for (std::size_t i = first; i < last; ++i) m_regions[i].nid = nid;
    merge_regions();
}

// ---- memblock -----------------------------------------------------------------------------

int memblock::set_node(phys_addr_t base, phys_addr_t size, int nid) {
    m_memory.set_node(base, size, nid);
    m_reserved.set_node(base, size, nid);
    return 0;
}

int memblock::add_node(phys_addr_t base, phys_addr_t size, int nid, std::uint32_t flags) {
    m_memory.add_range(base, size, nid, flags);
    return 0;
}

int memblock::remove(phys_addr_t base, phys_addr_t size) {
    m_memory.remove_range(base, size);
    return 0;
}

// memblock_reserve: reserved regions carry no node (MAX_NUMNODES) and no flags.
int memblock::reserve(phys_addr_t base, phys_addr_t size) {
    m_reserved.add_range(base, size, MAX_NUMNODES, MEMBLOCK_NONE);
    return 0;
}

int memblock::phys_free(phys_addr_t base, phys_addr_t size) {
    m_reserved.remove_range(base, size);
    return 0;
}

int memblock::set_memory_flag(phys_addr_t base, phys_addr_t size, std::uint32_t flag, bool set) {
    m_memory.set_flag(base, size, flag, set);
    return 0;
}

int memblock::mark_hotplug(phys_addr_t base, phys_addr_t size) {
    return set_memory_flag(base, size, MEMBLOCK_HOTPLUG, true);
}
int memblock::clear_hotplug(phys_addr_t base, phys_addr_t size) {
    return set_memory_flag(base, size, MEMBLOCK_HOTPLUG, false);
}
int memblock::mark_mirror(phys_addr_t base, phys_addr_t size) {
    return set_memory_flag(base, size, MEMBLOCK_MIRROR, true);
}
int memblock::mark_nomap(phys_addr_t base, phys_addr_t size) {
    return set_memory_flag(base, size, MEMBLOCK_NOMAP, true);
}
int memblock::clear_nomap(phys_addr_t base, phys_addr_t size) {
    return set_memory_flag(base, size, MEMBLOCK_NOMAP, false);
}

phys_addr_t memblock::start_of_dram() const {
    return m_memory.regions().empty() ? 0 : m_memory.regions().front().base;
}

phys_addr_t memblock::end_of_dram() const {
    return m_memory.regions().empty() ? 0 : m_memory.regions().back().end();
}

bool memblock::is_region_memory(phys_addr_t base, phys_addr_t size) const {
    const long idx = m_memory.search(base);
    if (idx < 0) return false;
    const phys_addr_t end = base + cap_size(base, size);
    return m_memory.regions()[static_cast<std::size_t>(idx)].end() >= end;
}

bool memblock::is_region_reserved(phys_addr_t base, phys_addr_t size) const {
    return m_reserved.overlaps(base, size);
}

// __next_mem_range over memory and reserved: each eligible memory region minus the reserved
// regions, one range per gap, carrying the memory region's nid and flags.
std::vector<memblock_region> memblock::free_ranges(int nid) const {
    std::vector<memblock_region> out;
    const auto& rsv = m_reserved.regions();
    for (const memblock_region& m : m_memory.regions()) {
        if (skip_region(m, nid)) continue;
        auto r = std::upper_bound(rsv.begin(), rsv.end(), m.base,
                                  [](phys_addr_t a, const memblock_region& x) { return a < x.end(); });
        phys_addr_t cur = m.base;
        for (; r != rsv.end() && r->base < m.end(); ++r) {
            if (r->base > cur) out.push_back({cur, r->base - cur, m.nid, m.flags});
            cur = std::max(cur, r->end());
        }
        if (cur < m.end()) out.push_back({cur, m.end() - cur, m.nid, m.flags});
    }
    return out;
}

// memblock_find_in_range_node with __memblock_find_range_{top_down,bottom_up}. The first page is
// never handed out (start is raised to PAGE_SIZE), so 0 can mean failure. Kernels before 5.11
// also started bottom-up searches above the kernel image's end; memsim ignores that (as Linux now
// does): it has no kernel image in simulated RAM, so bottom-up starts at start.
phys_addr_t memblock::find_in_range_node(phys_addr_t size, phys_addr_t align, phys_addr_t start,
                                         phys_addr_t end, int nid) const {
    if (end == MEMBLOCK_ALLOC_ACCESSIBLE || end == MEMBLOCK_ALLOC_NOLEAKTRACE) end = m_current_limit;
    start = std::max(start, MEMBLOCK_PAGE_SIZE);
    end = std::max(start, end);
    const std::vector<memblock_region> ranges = free_ranges(nid);

    if (m_bottom_up) {
        for (const memblock_region& r : ranges) {
            const phys_addr_t lo = std::clamp(r.base, start, end);
            const phys_addr_t hi = std::clamp(r.end(), start, end);
            const phys_addr_t cand = align_down(lo + (align - 1), align);
            if (cand >= lo && cand < hi && hi - cand >= size) return cand;
        }
        return 0;
    }
    for (auto r = ranges.rbegin(); r != ranges.rend(); ++r) {
        const phys_addr_t lo = std::clamp(r->base, start, end);
        const phys_addr_t hi = std::clamp(r->end(), start, end);
        if (hi < size) continue;
        const phys_addr_t cand = align_down(hi - size, align);
        if (cand >= lo) return cand;
    }
    return 0;
}

// memblock_alloc_range_nid: the asked node, then any node unless exact_nid; the found range is
// reserved. Linux retries without MEMBLOCK_MIRROR when mirrored memory runs out; memsim never
// asks for mirrored memory (no mirrored_kernelcore), so there is nothing to retry.
phys_addr_t memblock::phys_alloc_range(phys_addr_t size, phys_addr_t align, phys_addr_t start,
                                       phys_addr_t end, int nid, bool exact_nid) {
    if (align == 0) align = SMP_CACHE_BYTES;  // Linux dumps a stack trace, then does this.
    if (!is_power_of_two(align)) throw std::invalid_argument("memblock: alignment must be a power of two");
    if (nid == MAX_NUMNODES) nid = NUMA_NO_NODE;  // Linux warns: MAX_NUMNODES is deprecated here.

    phys_addr_t found = find_in_range_node(size, align, start, end, nid);
    if (found == 0 && numa_valid_node(nid) && !exact_nid)
        found = find_in_range_node(size, align, start, end, NUMA_NO_NODE);
    if (found == 0) return 0;
    reserve(found, size);
    return found;
}

// memblock_alloc_internal: cap max at current_limit, then drop min if that fails.
phys_addr_t memblock::alloc_internal(phys_addr_t size, phys_addr_t align, phys_addr_t min, phys_addr_t max,
                                     int nid, bool exact_nid) {
    max = std::min(max, m_current_limit);
    phys_addr_t found = phys_alloc_range(size, align, min, max, nid, exact_nid);
    if (found == 0 && min != 0) found = phys_alloc_range(size, align, 0, max, nid, exact_nid);
    return found;
}

phys_addr_t memblock::alloc_try_nid_raw(phys_addr_t size, phys_addr_t align, phys_addr_t min, phys_addr_t max,
                                        int nid, bool exact_nid) {
    return alloc_internal(size, align, min, max, nid, exact_nid);
}

phys_addr_t memblock::alloc_try_nid(phys_addr_t size, phys_addr_t align, phys_addr_t min, phys_addr_t max,
                                    int nid) {
    return alloc_try_nid(size, align, min, max, nid, m_zero);
}

// memblock_alloc_try_nid: memset(ptr, 0, size) on success; here through the caller's writer.
phys_addr_t memblock::alloc_try_nid(phys_addr_t size, phys_addr_t align, phys_addr_t min, phys_addr_t max,
                                    int nid, const zero_fn& zero) {
    if (!zero) throw std::logic_error("memblock: alloc_try_nid needs a way to zero memory");
    const phys_addr_t found = alloc_internal(size, align, min, max, nid, false);
    if (found != 0) zero(found, size);
    return found;
}

}  // namespace memsim::kernel
