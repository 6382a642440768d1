// Virtual memory areas: placement (mm/mmap.c get_unmapped_area, arch/x86/kernel/sys_x86_64.c),
// mmap/munmap/brk/stack growth (mm/mmap.c), mprotect (mm/mprotect.c) and /proc/PID/maps
// (fs/proc/task_mmu.c).
#include "kernel_mm/vma.h"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

namespace memsim::kernel {

namespace {

constexpr std::uint64_t page_mask = ~(vm_page_size - 1);
constexpr unsigned page_shift_bits = 12;

// PAGE_ALIGN: wraps to 0 past the top, as Linux's does, which callers turn into -ENOMEM.
constexpr std::uint64_t page_align(std::uint64_t x) { return (x + vm_page_size - 1) & page_mask; }

// include/linux/mman.h calc_vm_prot_bits (no protection keys).
vm_flags_t calc_vm_prot_bits(int prot) {
    vm_flags_t flags = 0;
    if (prot & prot_read) flags |= VM_READ;
    if (prot & prot_write) flags |= VM_WRITE;
    if (prot & prot_exec) flags |= VM_EXEC;
    return flags;
}

bool anon_vma_compatible(std::uint64_t a, std::uint64_t b) { return a == 0 || b == 0 || a == b; }

// The first area with vm_end > addr: the one starting at or below addr if it reaches past addr,
// else the next one up.
template <typename Map>
auto first_ending_above(Map& areas, std::uint64_t addr) {
    auto it = areas.upper_bound(addr);
    if (it != areas.begin()) {
        auto prev = std::prev(it);
        if (prev->second.vm_end > addr) return prev;
    }
    return it;
}

}  // namespace

mm_layout mm_layout_for(kernel_arch arch, std::uint64_t rlimit_stack) {
    mm_layout layout;
    layout.arch = arch;
    // x86_64: TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE with 4-level paging, also DEFAULT_MAP_WINDOW
    // (arch/x86/include/asm/page_64_types.h). i386: TASK_SIZE = PAGE_OFFSET = 0xc0000000 with
    // CONFIG_VMSPLIT_3G (arch/x86/include/asm/page_32_types.h). STACK_TOP is TASK_SIZE on both.
    layout.task_size = arch == kernel_arch::x86_64 ? 0x7ffffffff000ull : 0xc0000000ull;
    layout.stack_top = layout.task_size;
    layout.rlimit_stack = rlimit_stack;
    // mm/mmap.c: stack_guard_gap = 256 pages.
    layout.stack_guard_gap = 256 * vm_page_size;
    // vm.mmap_min_addr: CONFIG_DEFAULT_MMAP_MIN_ADDR=65536 in Debian's x86 configs.
    layout.mmap_min_addr = 65536;
    // include/linux/mm.h DEFAULT_MAX_MAP_COUNT = USHRT_MAX - MAPCOUNT_ELF_CORE_MARGIN (5).
    layout.max_map_count = 65530;
    // arch/x86/mm/mmap.c mmap_base(): gap = RLIMIT_STACK + stack_maxrandom_size (0 without
    // PF_RANDOMIZE) + stack_guard_gap, unless that overflows; clamped to [128 MiB,
    // task_size / 6 * 5]; base = PAGE_ALIGN(task_size - gap - rnd) with rnd 0. So 8 MiB gives
    // 128 MiB: 0x7ffff7fff000 on x86_64, 0xb8000000 on i386.
    std::uint64_t gap = rlimit_stack;
    const std::uint64_t pad = layout.stack_guard_gap;
    if (gap + pad > gap) gap += pad;
    gap = std::clamp<std::uint64_t>(gap, 128ull << 20, layout.task_size / 6 * 5);
    layout.mmap_base = page_align(layout.task_size - gap);
    // mmap_legacy_base = __TASK_UNMAPPED_BASE = PAGE_ALIGN(task_size / 3): 0x2aaaaaaab000 and
    // 0x40000000; the bottom-up search starts there when the top-down one fails.
    layout.mmap_legacy_base = page_align(layout.task_size / 3);
    return layout;
}

mm_areas::mm_areas(const mm_layout& layout, std::uint64_t* ids)
    : m_layout(layout),
      m_own_ids(ids ? nullptr : std::make_shared<std::uint64_t>(1)),
      m_ids(ids ? ids : m_own_ids.get()) {}

mm_areas mm_areas::fork_copy() const {
    mm_areas child(*this);
    std::map<std::uint64_t, std::uint64_t> renamed;  // parent's anon_vma -> the child's
    for (auto& [start, vma] : child.m_areas) {
        if (vma.anon_vma == 0) continue;
        auto [it, fresh] = renamed.try_emplace(vma.anon_vma, 0);
        if (fresh) it->second = child.next_id();
        vma.anon_vma = it->second;
    }
    return child;
}

std::uint64_t mm_areas::anon_vma_prepare(std::uint64_t addr) {
    iterator it = vma_containing(addr);
    if (it == m_areas.end() || it->second.vm_start > addr) return 0;
    if (it->second.anon_vma == 0) it->second.anon_vma = next_id();
    return it->second.anon_vma;
}

std::uint64_t mm_areas::total_vm() const {
    std::uint64_t pages = 0;
    for (const auto& [start, vma] : m_areas) pages += vma.pages();
    return pages;
}

mm_areas::iterator mm_areas::vma_containing(std::uint64_t addr) { return first_ending_above(m_areas, addr); }

const vm_area_struct* mm_areas::find_vma(std::uint64_t addr) const {
    auto it = first_ending_above(m_areas, addr);
    return it == m_areas.end() ? nullptr : &it->second;
}

const vm_area_struct* mm_areas::find_vma_intersection(std::uint64_t start, std::uint64_t end) const {
    const vm_area_struct* vma = find_vma(start);
    return vma != nullptr && vma->vm_start < end ? vma : nullptr;
}

// include/linux/mm.h vm_start_gap: a stack keeps stack_guard_gap free below it.
std::uint64_t mm_areas::vm_start_gap(const vm_area_struct& vma) const {
    if (!(vma.vm_flags & VM_GROWSDOWN)) return vma.vm_start;
    return vma.vm_start > m_layout.stack_guard_gap ? vma.vm_start - m_layout.stack_guard_gap : 0;
}

// ---- placement --------------------------------------------------------------------------------

// The hint check of arch_get_unmapped_area_topdown (mmap_address_hint_valid, then the next area
// and its guard gap).
bool mm_areas::hint_fits(std::uint64_t addr, std::uint64_t len) const {
    if (m_layout.task_size - len < addr) return false;
    const vm_area_struct* next = find_vma(addr);
    return next == nullptr || addr + len <= vm_start_gap(*next);
}

// unmapped_area_topdown: the highest len bytes within [low, high) that overlap no area and end
// below the guard gap of a stack above them.
std::int64_t mm_areas::unmapped_area_topdown(std::uint64_t len, std::uint64_t low, std::uint64_t high) const {
    auto next = m_areas.lower_bound(high);
    for (;;) {
        std::uint64_t gap_end = high;
        if (next != m_areas.end()) gap_end = std::min(gap_end, vm_start_gap(next->second));
        const bool has_prev = next != m_areas.begin();
        const std::uint64_t gap_start = has_prev ? std::max(low, std::prev(next)->second.vm_end) : low;
        if (gap_end >= gap_start && gap_end - gap_start >= len)
            return static_cast<std::int64_t>(gap_end - len);
        if (!has_prev || std::prev(next)->second.vm_end <= low) return -enomem;
        --next;
    }
}

// unmapped_area: the lowest such range, for the bottom-up fallback.
std::int64_t mm_areas::unmapped_area(std::uint64_t len, std::uint64_t low, std::uint64_t high) const {
    auto next = m_areas.upper_bound(low);
    std::uint64_t gap_start = low;
    if (next != m_areas.begin()) gap_start = std::max(low, std::prev(next)->second.vm_end);
    for (;;) {
        std::uint64_t gap_end = high;
        if (next != m_areas.end()) gap_end = std::min(gap_end, vm_start_gap(next->second));
        if (gap_end >= gap_start && gap_end - gap_start >= len) return static_cast<std::int64_t>(gap_start);
        if (next == m_areas.end() || next->second.vm_end >= high) return -enomem;
        gap_start = std::max(gap_start, next->second.vm_end);
        ++next;
    }
}

// get_unmapped_area (mm/mmap.c) over the top-down allocator: x86_64's
// arch_get_unmapped_area_topdown searches [PAGE_SIZE, mmap_base); i386 uses the generic one, whose
// floor is max(PAGE_SIZE, mmap_min_addr). Both fall back to bottom-up from mmap_legacy_base.
std::int64_t mm_areas::get_unmapped_area(std::uint64_t addr, std::uint64_t len, int flags) const {
    if (len > m_layout.task_size) return -enomem;
    std::int64_t found = static_cast<std::int64_t>(addr);
    if (flags & map_fixed) {
        // No checks beyond the common ones below: the caller unmaps what is there.
    } else if (addr != 0 && hint_fits(addr & page_mask, len)) {
        found = static_cast<std::int64_t>(addr & page_mask);
    } else {
        const std::uint64_t low = m_layout.arch == kernel_arch::x86_64
                                      ? vm_page_size
                                      : std::max(vm_page_size, m_layout.mmap_min_addr);
        found = unmapped_area_topdown(len, low, m_layout.mmap_base);
        if (found < 0) found = unmapped_area(len, m_layout.mmap_legacy_base, m_layout.task_size);
        if (found < 0) return found;
    }
    const auto where = static_cast<std::uint64_t>(found);
    if (where > m_layout.task_size - len) return -enomem;
    if (where & ~page_mask) return -einval;
    // security_mmap_addr → cap_mmap_addr: below mmap_min_addr needs CAP_SYS_RAWIO, which a
    // simulated process does not have.
    if (where < m_layout.mmap_min_addr) return -eperm;
    return found;
}

// ---- splitting and merging --------------------------------------------------------------------

// __split_vma: [start, addr) stays, [addr, end) becomes a new area whose offset moves along.
mm_areas::iterator mm_areas::split_vma(iterator it, std::uint64_t addr) {
    vm_area_struct upper = it->second;
    upper.vm_start = addr;
    upper.vm_pgoff += (addr - it->second.vm_start) >> page_shift_bits;
    it->second.vm_end = addr;
    return m_areas.emplace_hint(std::next(it), addr, std::move(upper));
}

// is_mergeable_vma + is_mergeable_anon_vma + the offset check of can_vma_merge_after (mm/mmap.c).
bool mm_areas::can_merge(const vm_area_struct& prev, const vm_area_struct& next) const {
    return prev.vm_end == next.vm_start && prev.vm_flags == next.vm_flags && !(prev.vm_flags & VM_SPECIAL) &&
           prev.vm_file == next.vm_file && prev.vm_pgoff + prev.pages() == next.vm_pgoff &&
           anon_vma_compatible(prev.anon_vma, next.anon_vma) && prev.name == next.name;
}

// vma_merge's outcome for an area just created or changed: it joins the area before it, then
// the one after it, when they are compatible.
mm_areas::iterator mm_areas::merge_neighbours(iterator it) {
    if (it != m_areas.begin()) {
        auto prev = std::prev(it);
        if (can_merge(prev->second, it->second)) {
            prev->second.vm_end = it->second.vm_end;
            if (prev->second.anon_vma == 0) prev->second.anon_vma = it->second.anon_vma;
            m_areas.erase(it);
            it = prev;
        }
    }
    auto next = std::next(it);
    if (next != m_areas.end() && can_merge(it->second, next->second)) {
        it->second.vm_end = next->second.vm_end;
        if (it->second.anon_vma == 0) it->second.anon_vma = next->second.anon_vma;
        m_areas.erase(next);
    }
    return it;
}

mm_areas::iterator mm_areas::insert(const vm_area_struct& vma) {
    return m_areas.emplace(vma.vm_start, vma).first;
}

// ---- mmap -------------------------------------------------------------------------------------

std::int64_t mm_areas::mmap(std::uint64_t addr, std::uint64_t len, int prot, int flags) {
    // ksys_mmap_pgoff: without MAP_ANONYMOUS the descriptor (-1) is looked up and is bad.
    if (!(flags & map_anonymous)) return -ebadf;
    // do_mmap, in its order.
    if (len == 0) return -einval;
    if (flags & map_fixed_noreplace) flags |= map_fixed;
    if (!(flags & map_fixed)) {
        // round_hint_to_min
        addr &= page_mask;
        if (addr != 0 && addr < m_layout.mmap_min_addr) addr = page_align(m_layout.mmap_min_addr);
    }
    len = page_align(len);
    if (len == 0) return -enomem;
    if (map_count() > m_layout.max_map_count) return -enomem;
    const std::int64_t placed = get_unmapped_area(addr, len, flags);
    if (placed < 0) return placed;
    addr = static_cast<std::uint64_t>(placed);
    if ((flags & map_fixed_noreplace) && find_vma_intersection(addr, addr + len) != nullptr) return -eexist;

    vm_flags_t vm_flags = calc_vm_prot_bits(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
    if (flags & map_growsdown) vm_flags |= VM_GROWSDOWN;
    std::uint64_t pgoff = 0;
    std::uint64_t file = 0;
    switch (flags & map_type) {
        case map_shared:
            if (vm_flags & VM_GROWSDOWN) return -einval;
            vm_flags |= VM_SHARED | VM_MAYSHARE;
            // shmem_zero_setup: a fresh file for every shared mapping, its size charged
            // (shmem_acct_size) unless MAP_NORESERVE.
            if (!(flags & map_noreserve) && !vm_enough_memory(len >> page_shift_bits)) return -enomem;
            file = *m_ids;
            break;
        case map_private:
            pgoff = addr >> page_shift_bits;
            break;
        default:
            return -einval;
    }
    // MAP_NORESERVE skips the charge (the default heuristic mode honours it).
    if (flags & map_noreserve) vm_flags |= VM_NORESERVE;
    // MAP_POPULATE needs pages: the fault path will populate; the bookkeeping is the same.
    return mmap_region(addr, len, vm_flags, pgoff, file);
}

// mmap_region: clear what MAP_FIXED covers, charge private writable memory (accountable_mapping),
// then merge or insert.
std::int64_t mm_areas::mmap_region(std::uint64_t addr, std::uint64_t len, vm_flags_t flags,
                                   std::uint64_t pgoff, std::uint64_t file) {
    if (do_munmap(addr, addr + len) < 0) return -enomem;
    // The charge comes after the old mappings went: a refused MAP_FIXED still unmapped them.
    if ((flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE) {
        if (!vm_enough_memory(len >> page_shift_bits)) return -enomem;
        flags |= VM_ACCOUNT;
    }
    if (file != 0) next_id();
    vm_area_struct vma;
    vma.vm_start = addr;
    vma.vm_end = addr + len;
    vma.vm_flags = flags;
    vma.vm_pgoff = pgoff;
    vma.vm_file = file;
    merge_neighbours(insert(vma));
    return static_cast<std::int64_t>(addr);
}

// ---- munmap -----------------------------------------------------------------------------------

int mm_areas::munmap(std::uint64_t addr, std::uint64_t len) {
    // __vm_munmap → do_mas_munmap.
    if ((addr & ~page_mask) || addr > m_layout.task_size || len > m_layout.task_size - addr) return -einval;
    len = page_align(len);
    if (len == 0) return -einval;
    return do_munmap(addr, addr + len);
}

// do_mas_align_munmap: split the first and last areas at the range's ends, then drop what lies
// inside. Only a split in the middle of one area can exceed max_map_count.
int mm_areas::do_munmap(std::uint64_t start, std::uint64_t end) {
    auto it = vma_containing(start);
    if (it == m_areas.end() || it->second.vm_start >= end) return 0;
    if (it->second.vm_start < start) {
        if (end < it->second.vm_end && map_count() >= m_layout.max_map_count) return -enomem;
        it = split_vma(it, start);
    }
    while (it != m_areas.end() && it->second.vm_start < end) {
        if (it->second.vm_end > end) split_vma(it, end);
        it = m_areas.erase(it);
    }
    return 0;
}

// ---- mprotect ---------------------------------------------------------------------------------

int mm_areas::mprotect(std::uint64_t start, std::uint64_t len, int prot) {
    // do_mprotect_pkey, in its order.
    const int grows = prot & (prot_growsdown | prot_growsup);
    prot &= ~(prot_growsdown | prot_growsup);
    if (grows == (prot_growsdown | prot_growsup)) return -einval;
    if (start & ~page_mask) return -einval;
    if (len == 0) return 0;
    len = page_align(len);
    const std::uint64_t end = start + len;
    if (end <= start) return -enomem;
    if (prot & ~(prot_read | prot_write | prot_exec | prot_sem)) return -einval;  // arch_validate_prot

    auto it = vma_containing(start);
    if (it == m_areas.end()) return -enomem;
    if (grows & prot_growsdown) {
        if (it->second.vm_start >= end) return -enomem;
        start = it->second.vm_start;
        if (!(it->second.vm_flags & VM_GROWSDOWN)) return -einval;
    } else {
        if (it->second.vm_start > start) return -enomem;
        if (grows & prot_growsup) return -einval;  // x86 has no VM_GROWSUP
    }
    std::uint64_t nstart = start;
    while (nstart < end) {
        if (it == m_areas.end() || it->second.vm_start > nstart) return -enomem;  // a hole
        const vm_flags_t newflags = calc_vm_prot_bits(prot) | (it->second.vm_flags & ~VM_ACCESS_FLAGS);
        // VM_MAY* sit four bits above the bits they allow.
        if ((newflags & ~(newflags >> 4)) & VM_ACCESS_FLAGS) return -eacces;
        const std::uint64_t tmp = std::min(it->second.vm_end, end);
        iterator done;
        if (const int error = mprotect_fixup(it, nstart, tmp, newflags, done); error < 0) return error;
        // A merge with the next area may already cover more of the range.
        nstart = std::max(tmp, done->second.vm_end);
        it = std::next(done);
    }
    return 0;
}

// mprotect_fixup: nothing when the flags do not change; making a private area writable charges
// it (VM_ACCOUNT, never dropped again); then vma_merge with the neighbours, or split_vma at the
// ends (each split refused at max_map_count). `done` is the area [start, end) now belongs to.
int mm_areas::mprotect_fixup(iterator it, std::uint64_t start, std::uint64_t end, vm_flags_t newflags,
                             iterator& done) {
    const vm_flags_t oldflags = it->second.vm_flags;
    if (newflags == oldflags) {
        done = it;
        return 0;
    }
    if ((newflags & VM_WRITE) && !(oldflags & (VM_ACCOUNT | VM_WRITE | VM_SHARED | VM_NORESERVE))) {
        if (!vm_enough_memory((end - start) >> page_shift_bits)) return -enomem;
        newflags |= VM_ACCOUNT;
    }

    vm_area_struct changed = it->second;
    changed.vm_start = start;
    changed.vm_end = end;
    changed.vm_flags = newflags;
    changed.vm_pgoff += (start - it->second.vm_start) >> page_shift_bits;
    const bool joins_prev =
        start == it->second.vm_start && it != m_areas.begin() && can_merge(std::prev(it)->second, changed);
    const bool joins_next = end == it->second.vm_end && std::next(it) != m_areas.end() &&
                            can_merge(changed, std::next(it)->second);
    // A merge only moves boundaries; without one each split adds an area and is refused at the
    // limit (a first split stays when the second is refused, as in Linux).
    const bool adds_areas = !joins_prev && !joins_next;
    if (start != it->second.vm_start) {
        if (adds_areas && map_count() >= m_layout.max_map_count) return -enomem;
        it = split_vma(it, start);
    }
    if (end != it->second.vm_end) {
        if (adds_areas && map_count() >= m_layout.max_map_count) return -enomem;
        split_vma(it, end);
    }
    it->second.vm_flags = newflags;
    done = merge_neighbours(it);
    return 0;
}

// ---- brk --------------------------------------------------------------------------------------

void mm_areas::set_brk_base(std::uint64_t start_brk) {
    m_start_brk = page_align(start_brk);
    m_brk = m_start_brk;
}

// SYSCALL_DEFINE1(brk) (mm/mmap.c): shrinking always works; growing needs the range free
// (check_brk_limits) and a page to spare below the next area's guard gap. The brk area grows in
// place when compatible (do_brk_flags), else a new one starts; it never merges with what lies
// below start_brk.
std::uint64_t mm_areas::brk(std::uint64_t new_brk) {
    const std::uint64_t origbrk = m_brk;
    if (new_brk < m_start_brk) return origbrk;
    const std::uint64_t newbrk = page_align(new_brk);
    const std::uint64_t oldbrk = page_align(m_brk);
    if (oldbrk == newbrk) return m_brk = new_brk;
    if (new_brk <= m_brk) {
        if (do_munmap(newbrk, oldbrk) < 0) return origbrk;
        return m_brk = new_brk;
    }
    if (get_unmapped_area(oldbrk, newbrk - oldbrk, map_fixed) < 0) return origbrk;
    const vm_area_struct* next = find_vma(oldbrk);
    if (next != nullptr && newbrk + vm_page_size > vm_start_gap(*next)) return origbrk;
    if (map_count() > m_layout.max_map_count) return origbrk;
    if (!vm_enough_memory((newbrk - oldbrk) >> page_shift_bits)) return origbrk;

    vm_area_struct grown;
    grown.vm_start = oldbrk;
    grown.vm_end = newbrk;
    grown.vm_flags = VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT;
    grown.vm_pgoff = oldbrk >> page_shift_bits;
    auto brkvma = oldbrk > m_start_brk ? vma_containing(oldbrk - 1) : m_areas.end();
    if (brkvma != m_areas.end() && can_merge(brkvma->second, grown))
        brkvma->second.vm_end = newbrk;
    else
        insert(grown);
    return m_brk = new_brk;
}

// ---- the stack --------------------------------------------------------------------------------

// setup_arg_pages (fs/exec.c): the argument pages at the top, expanded by 128 KiB (stack_expand)
// unless that passes RLIMIT_STACK; start_stack (bprm->p) lies in the argument pages.
int mm_areas::setup_stack(std::uint64_t arg_pages) {
    const std::uint64_t top = m_layout.stack_top;
    const std::uint64_t args = arg_pages * vm_page_size;
    const std::uint64_t stack_expand = 128 * 1024;
    const std::uint64_t rlim = m_layout.rlimit_stack & page_mask;
    const std::uint64_t base = args + stack_expand > rlim ? top - rlim : top - args - stack_expand;
    vm_area_struct stack;
    stack.vm_start = base;
    stack.vm_end = top;
    stack.vm_flags = VM_STACK_FLAGS;
    if (const int error = insert_vm_struct(stack); error < 0) return error;
    m_start_stack = top - args;
    return 0;
}

// expand_stack → expand_downwards (mm/mmap.c) with acct_stack_growth's RLIMIT_STACK test.
int mm_areas::expand_stack(std::uint64_t addr) {
    auto it = vma_containing(addr);
    if (it == m_areas.end()) return -efault;
    vm_area_struct& vma = it->second;
    if (vma.vm_start <= addr) return 0;
    if (!(vma.vm_flags & VM_GROWSDOWN)) return -efault;
    const std::uint64_t address = addr & page_mask;
    if (address < m_layout.mmap_min_addr) return -eperm;
    // The guard gap is kept from an accessible area below that is not itself a stack.
    if (it != m_areas.begin()) {
        const vm_area_struct& prev = std::prev(it)->second;
        if (!(prev.vm_flags & VM_GROWSDOWN) && (prev.vm_flags & VM_ACCESS_FLAGS) &&
            address - prev.vm_end < m_layout.stack_guard_gap)
            return -enomem;
    }
    const std::uint64_t size = vma.vm_end - address;
    const std::uint64_t grow = (vma.vm_start - address) >> page_shift_bits;
    if (grow > vma.vm_pgoff) return -enomem;
    if (size > m_layout.rlimit_stack) return -enomem;
    if (!vm_enough_memory(grow)) return -enomem;  // acct_stack_growth
    auto node = m_areas.extract(it);
    node.key() = address;
    node.mapped().vm_start = address;
    node.mapped().vm_pgoff -= grow;
    m_areas.insert(std::move(node));
    return 0;
}

int mm_areas::insert_vm_struct(vm_area_struct vma) {
    if (vma.vm_start >= vma.vm_end || ((vma.vm_start | vma.vm_end) & ~page_mask)) return -einval;
    if (find_vma_intersection(vma.vm_start, vma.vm_end) != nullptr) return -enomem;
    // vma_is_anonymous: no vm_ops, which special mappings and files have.
    if (vma.vm_file == 0 && vma.name.empty()) vma.vm_pgoff = vma.vm_start >> page_shift_bits;
    insert(vma);
    return 0;
}

// ---- /proc/PID/maps ---------------------------------------------------------------------------

// show_map_vma's labels: the heap test spans start_brk..brk, the stack test holds start_stack.
bool mm_areas::is_heap(const vm_area_struct& vma) const {
    return vma.vm_start <= m_brk && vma.vm_end >= m_start_brk;
}

bool mm_areas::is_stack(const vm_area_struct& vma) const {
    return vma.vm_start <= m_start_stack && vma.vm_end >= m_start_stack;
}

// show_vma_header_prefix, then the name after seq_pad to 25 + 6 * sizeof(void*) - 1 columns
// (72 on x86_64, 48 on i386). A shared anonymous mapping is its shmem file, "/dev/zero
// (deleted)" on the internal mount 00:01, with its offset.
std::string mm_areas::maps() const {
    const std::size_t width = m_layout.arch == kernel_arch::x86_64 ? 72 : 48;
    std::string out;
    for (const auto& [start, vma] : m_areas) {
        const bool file = vma.vm_file != 0;
        std::string line =
            fmt::format("{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ", vma.vm_start, vma.vm_end,
                        vma.vm_flags & VM_READ ? 'r' : '-', vma.vm_flags & VM_WRITE ? 'w' : '-',
                        vma.vm_flags & VM_EXEC ? 'x' : '-', vma.vm_flags & VM_MAYSHARE ? 's' : 'p',
                        file ? vma.vm_pgoff << page_shift_bits : 0, 0, file ? 1 : 0, vma.vm_file);
        std::string name = file                ? "/dev/zero (deleted)"
                           : !vma.name.empty() ? vma.name
                           : is_heap(vma)      ? "[heap]"
                           : is_stack(vma)     ? "[stack]"
                                               : "";
        if (!name.empty()) {
            if (line.size() < width) line.append(width - line.size(), ' ');
            line += ' ';
            line += name;
        }
        out += line;
        out += '\n';
    }
    return out;
}

std::string mm_areas::check_invariants() const {
    std::uint64_t last_end = 0;
    for (const auto& [start, vma] : m_areas) {
        if (start != vma.vm_start) return fmt::format("key {:#x} != vm_start {:#x}", start, vma.vm_start);
        if (vma.vm_start >= vma.vm_end) return fmt::format("empty area at {:#x}", vma.vm_start);
        if ((vma.vm_start | vma.vm_end) & ~page_mask)
            return fmt::format("unaligned area at {:#x}", vma.vm_start);
        if (vma.vm_start < last_end) return fmt::format("overlap at {:#x}", vma.vm_start);
        last_end = vma.vm_end;
    }
    if (m_brk < m_start_brk) return "brk below start_brk";
    return {};
}

}  // namespace memsim::kernel
