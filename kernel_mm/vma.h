// The address-space bookkeeping of a process (mm/mmap.c, mm/mprotect.c): its virtual memory areas
// in address order, and mmap, munmap, mprotect, brk and stack growth with Linux's placement,
// splitting, merging and errno results. No page tables and no pages: the fault handler reads
// find_vma() and vm_flags, and populates later.
//
// Invariants (checked by check_invariants): areas are page aligned, non-empty and do not overlap;
// the map is keyed by vm_start; brk never lies below start_brk. Areas merge where Linux's
// vma_merge merges them (a new mapping, an mprotect) and nowhere else: munmap, stack growth,
// insert_vm_struct and a new brk area leave neighbours apart as Linux does.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "kernel_mm/zone_ranges.h"

namespace memsim::kernel {

using vm_flags_t = std::uint64_t;

// include/linux/mm.h (Linux 6.1), the flags this file sets or tests.
inline constexpr vm_flags_t VM_NONE = 0x00000000;
inline constexpr vm_flags_t VM_READ = 0x00000001;
inline constexpr vm_flags_t VM_WRITE = 0x00000002;
inline constexpr vm_flags_t VM_EXEC = 0x00000004;
inline constexpr vm_flags_t VM_SHARED = 0x00000008;
inline constexpr vm_flags_t VM_MAYREAD = 0x00000010;
inline constexpr vm_flags_t VM_MAYWRITE = 0x00000020;
inline constexpr vm_flags_t VM_MAYEXEC = 0x00000040;
inline constexpr vm_flags_t VM_MAYSHARE = 0x00000080;
inline constexpr vm_flags_t VM_GROWSDOWN = 0x00000100;
inline constexpr vm_flags_t VM_PFNMAP = 0x00000400;
inline constexpr vm_flags_t VM_LOCKED = 0x00002000;
inline constexpr vm_flags_t VM_IO = 0x00004000;
inline constexpr vm_flags_t VM_DONTEXPAND = 0x00040000;
inline constexpr vm_flags_t VM_ACCOUNT = 0x00100000;
inline constexpr vm_flags_t VM_NORESERVE = 0x00200000;
inline constexpr vm_flags_t VM_MIXEDMAP = 0x10000000;
inline constexpr vm_flags_t VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;
// Mappings vma_merge never merges.
inline constexpr vm_flags_t VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;
// arch/x86/include/asm/page_types.h VM_DATA_DEFAULT_FLAGS (VM_DATA_FLAGS_TSK_EXEC without
// READ_IMPLIES_EXEC): the heap's and the stack's flags; VM_STACK_FLAGS adds VM_GROWSDOWN and
// VM_ACCOUNT.
inline constexpr vm_flags_t VM_DATA_DEFAULT_FLAGS =
    VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
inline constexpr vm_flags_t VM_STACK_FLAGS = VM_GROWSDOWN | VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT;

// include/uapi/asm-generic/mman-common.h and mman.h, x86's values, spelled in lower case because
// the host's <sys/mman.h> and <cerrno> define the upper-case names as macros.
inline constexpr int prot_none = 0x0;
inline constexpr int prot_read = 0x1;
inline constexpr int prot_write = 0x2;
inline constexpr int prot_exec = 0x4;
inline constexpr int prot_sem = 0x8;
inline constexpr int prot_growsdown = 0x01000000;
inline constexpr int prot_growsup = 0x02000000;
inline constexpr int map_shared = 0x01;
inline constexpr int map_private = 0x02;
inline constexpr int map_type = 0x0f;
inline constexpr int map_fixed = 0x10;
inline constexpr int map_anonymous = 0x20;
inline constexpr int map_growsdown = 0x0100;
inline constexpr int map_noreserve = 0x4000;
inline constexpr int map_populate = 0x8000;
inline constexpr int map_fixed_noreplace = 0x100000;

// include/uapi/asm-generic/errno-base.h and errno.h; results are their negatives, as syscalls
// return them.
inline constexpr int eperm = 1;
inline constexpr int ebadf = 9;
inline constexpr int enomem = 12;
inline constexpr int eacces = 13;
inline constexpr int efault = 14;
inline constexpr int eexist = 17;
inline constexpr int einval = 22;

// PAGE_SIZE (also a host macro on some C libraries).
inline constexpr std::uint64_t vm_page_size = 4096;

struct vm_area_struct {
    std::uint64_t vm_start = 0;
    std::uint64_t vm_end = 0;  // exclusive
    vm_flags_t vm_flags = 0;
    // In pages. Anonymous private areas keep vm_start >> PAGE_SHIFT (insert_vm_struct, do_mmap,
    // do_brk_flags), so their neighbours' offsets line up and merge; a shared anonymous area is
    // its shmem file's offset, 0 at mmap.
    std::uint64_t vm_pgoff = 0;
    // 0: anonymous. Otherwise the identity of the backing file: the shmem inode of a shared
    // anonymous mapping ("/dev/zero (deleted)" in maps).
    std::uint64_t vm_file = 0;
    // 0 until the first write fault gives the area an anon_vma (anon_vma_prepare); areas with
    // different non-zero anon_vmas do not merge.
    std::uint64_t anon_vma = 0;
    // A special mapping's name ("[vdso]", "[vvar]"), as vm_special_mapping.name; empty for others.
    std::string name;

    std::uint64_t pages() const { return (vm_end - vm_start) / vm_page_size; }
};

// Where a process's areas go, from arch/x86/mm/mmap.c and the rlimits (no ASLR: every random
// offset is 0). mm_layout_for() gives Linux's values; tests may change any field.
struct mm_layout {
    kernel_arch arch = kernel_arch::x86_64;
    std::uint64_t task_size = 0;
    std::uint64_t stack_top = 0;
    std::uint64_t mmap_base = 0;         // top-down search below this
    std::uint64_t mmap_legacy_base = 0;  // bottom-up fallback from here
    std::uint64_t mmap_min_addr = 0;
    std::uint64_t rlimit_stack = 0;
    std::uint64_t stack_guard_gap = 0;
    std::uint64_t max_map_count = 0;
    // OVERCOMMIT_GUESS (vm.overcommit_memory 0): one charge of VM_ACCOUNT memory larger than RAM
    // plus swap fails with -ENOMEM (__vm_enough_memory); 0: no limit.
    std::uint64_t overcommit_pages = 0;
};

mm_layout mm_layout_for(kernel_arch arch, std::uint64_t rlimit_stack = 8ull << 20);

// The VMA half of mm_struct: mm_mt, map_count, mmap_base, start_brk/brk, start_stack. The later
// mm_struct owns one of these beside its page tables and counters.
class mm_areas {
public:
    using area_map = std::map<std::uint64_t, vm_area_struct>;  // keyed by vm_start

    // `ids` hands out shmem inode numbers and anon_vma ids, unique across the address spaces
    // that share it (Linux's get_next_ino and anon_vma pointers); null: this one's own counter.
    explicit mm_areas(const mm_layout& layout, std::uint64_t* ids = nullptr);
    // dup_mmap's copy of the areas (kernel/fork.c): the same areas, each anon_vma replaced by a
    // fresh one for the child (anon_vma_fork), the shmem files shared.
    mm_areas fork_copy() const;
    mm_areas(mm_areas&&) = default;
    mm_areas(const mm_areas&) = default;
    mm_areas& operator=(const mm_areas&) = delete;

    const mm_layout& layout() const { return m_layout; }
    const area_map& areas() const { return m_areas; }
    std::uint64_t map_count() const { return m_areas.size(); }
    std::uint64_t total_vm() const;  // pages
    std::uint64_t start_brk() const { return m_start_brk; }
    std::uint64_t current_brk() const { return m_brk; }
    std::uint64_t start_stack() const { return m_start_stack; }

    // find_vma: the first area with vm_end > addr (it may start above addr), or nullptr.
    const vm_area_struct* find_vma(std::uint64_t addr) const;
    // find_vma_intersection: the first area overlapping [start, end), or nullptr.
    const vm_area_struct* find_vma_intersection(std::uint64_t start, std::uint64_t end) const;

    // mmap of anonymous memory (fd -1): the address, or a negative errno.
    std::int64_t mmap(std::uint64_t addr, std::uint64_t len, int prot, int flags);
    // munmap: 0 or a negative errno; unmapping nothing succeeds.
    int munmap(std::uint64_t addr, std::uint64_t len);
    // mprotect: 0 or a negative errno. As in Linux, areas before a hole keep their new
    // protection when the call fails with -ENOMEM at the hole.
    int mprotect(std::uint64_t addr, std::uint64_t len, int prot);
    // brk: the new break, or the old one on failure (brk(0) asks for the current one).
    std::uint64_t brk(std::uint64_t new_brk);

    // What the ELF loader sets: start_brk = brk = the page-aligned end of the bss.
    void set_brk_base(std::uint64_t start_brk);
    // setup_arg_pages: the [stack] area below stack_top, arg_pages of arguments plus 128 KiB.
    int setup_stack(std::uint64_t arg_pages = 1);
    // The fault path's stack growth: addr lies below a VM_GROWSDOWN area (find_vma(addr)); grow
    // it down to addr's page within RLIMIT_STACK and the guard gap. 0 (also when addr is already
    // mapped), -EFAULT when no growable area lies above addr, -ENOMEM or -EPERM as
    // expand_downwards.
    int expand_stack(std::uint64_t addr);
    // insert_vm_struct / _install_special_mapping: an area the kernel makes itself (vdso, the ELF
    // loader's segments); -ENOMEM when it overlaps (-EINVAL, not in Linux, when unaligned or
    // empty). Anonymous areas get vm_pgoff = vm_start >> 12.
    int insert_vm_struct(vm_area_struct vma);

    // anon_vma_prepare: the area containing addr gets an anon_vma if it has none; its id.
    std::uint64_t anon_vma_prepare(std::uint64_t addr);

    // __vm_enough_memory under OVERCOMMIT_GUESS: whether a charge of `pages` may be made.
    bool vm_enough_memory(std::uint64_t pages) const {
        return m_layout.overcommit_pages == 0 || pages <= m_layout.overcommit_pages;
    }

    // /proc/PID/maps (fs/proc/task_mmu.c show_map_vma).
    std::string maps() const;
    // Empty when the invariants hold, else what is wrong.
    std::string check_invariants() const;

private:
    using iterator = area_map::iterator;

    std::int64_t get_unmapped_area(std::uint64_t addr, std::uint64_t len, int flags) const;
    std::int64_t unmapped_area_topdown(std::uint64_t len, std::uint64_t low, std::uint64_t high) const;
    std::int64_t unmapped_area(std::uint64_t len, std::uint64_t low, std::uint64_t high) const;
    bool hint_fits(std::uint64_t addr, std::uint64_t len) const;
    std::int64_t mmap_region(std::uint64_t addr, std::uint64_t len, vm_flags_t flags, std::uint64_t pgoff,
                             std::uint64_t file);
    int do_munmap(std::uint64_t start, std::uint64_t end);
    int mprotect_fixup(iterator it, std::uint64_t start, std::uint64_t end, vm_flags_t newflags,
                       iterator& done);
    iterator split_vma(iterator it, std::uint64_t addr);
    iterator merge_neighbours(iterator it);
    bool can_merge(const vm_area_struct& prev, const vm_area_struct& next) const;
    iterator insert(const vm_area_struct& vma);
    iterator vma_containing(std::uint64_t addr);  // find_vma for changing
    std::uint64_t vm_start_gap(const vm_area_struct& vma) const;
    bool is_heap(const vm_area_struct& vma) const;
    bool is_stack(const vm_area_struct& vma) const;

    mm_layout m_layout;
    area_map m_areas;
    std::uint64_t m_start_brk = 0;
    std::uint64_t m_brk = 0;
    std::uint64_t m_start_stack = 0;
    std::uint64_t next_id() { return (*m_ids)++; }

    // get_next_ino for the shmem files behind shared anonymous mappings, and anon_vma ids: the
    // caller's counter, or one the copies of these areas share.
    std::shared_ptr<std::uint64_t> m_own_ids;
    std::uint64_t* m_ids;
};

}  // namespace memsim::kernel
