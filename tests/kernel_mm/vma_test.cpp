// VMA bookkeeping (kernel_mm/vma.h): placement, MAP_FIXED, MAP_FIXED_NOREPLACE, munmap, mprotect,
// brk and stack growth with the addresses, flags and errnos Linux 6.1 gives without ASLR.
#include "kernel_mm/vma.h"

#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace memsim::kernel;
using memsim::kernel::kernel_arch;

namespace {

constexpr int anon_private = map_private | map_anonymous;
constexpr int anon_shared = map_shared | map_anonymous;
constexpr int rw = prot_read | prot_write;
// VM_READ|VM_WRITE|VM_MAY{READ,WRITE,EXEC}|VM_ACCOUNT: private writable anonymous memory.
constexpr vm_flags_t rw_private = 0x100073;
constexpr vm_flags_t r_private = 0x71;      // PROT_READ from mmap: never charged
constexpr vm_flags_t r_charged = 0x100071;  // made read-only after being writable

// "start-end flags pgoff" per area, in address order.
std::vector<std::string> areas_of(const mm_areas& mm) {
    std::vector<std::string> out;
    for (const auto& [start, vma] : mm.areas())
        out.push_back(
            fmt::format("{:x}-{:x} {:#x} {:#x}", vma.vm_start, vma.vm_end, vma.vm_flags, vma.vm_pgoff));
    return out;
}

using lines = std::vector<std::string>;

mm_areas x86_64_mm() { return mm_areas(mm_layout_for(kernel_arch::x86_64)); }

}  // namespace

TEST_CASE("vma layout: TASK_SIZE, mmap_base and the legacy base as arch/x86/mm/mmap.c computes them") {
    const mm_layout x64 = mm_layout_for(kernel_arch::x86_64);
    CHECK(x64.task_size == 0x7ffffffff000);
    CHECK(x64.stack_top == 0x7ffffffff000);
    CHECK(x64.mmap_base == 0x7ffff7fff000);  // 8 MiB + 1 MiB gap clamped up to 128 MiB
    CHECK(x64.mmap_legacy_base == 0x2aaaaaaab000);
    CHECK(x64.stack_guard_gap == 0x100000);
    const mm_layout i386 = mm_layout_for(kernel_arch::i386);
    CHECK(i386.task_size == 0xc0000000);
    CHECK(i386.mmap_base == 0xb8000000);
    CHECK(i386.mmap_legacy_base == 0x40000000);
    // A 1 GiB stack limit: the gap is 1 GiB + the guard gap.
    CHECK(mm_layout_for(kernel_arch::x86_64, 1ull << 30).mmap_base == 0x7fffbfeff000);
    // RLIM_INFINITY: the pad would overflow, so the gap is the limit, clamped to 5/6 of TASK_SIZE.
    CHECK(mm_layout_for(kernel_arch::i386, ~0ull).mmap_base == 0x20000000);
}

TEST_CASE("vma mmap places top-down below mmap_base and merges adjacent private areas") {
    mm_areas mm = x86_64_mm();
    CHECK(mm.mmap(0, 1, rw, anon_private) == 0x7ffff7ffe000);
    CHECK(mm.mmap(0, 0x2000, rw, anon_private) == 0x7ffff7ffc000);
    CHECK(areas_of(mm) == lines{"7ffff7ffc000-7ffff7fff000 0x100073 0x7ffff7ffc"});
    // A one-page hole is the highest fit for one page; two pages go below everything.
    CHECK(mm.munmap(0x7ffff7ffd000, 0x1000) == 0);
    CHECK(mm.mmap(0, 0x1000, prot_read, anon_private) == 0x7ffff7ffd000);
    CHECK(mm.mmap(0, 0x2000, rw, anon_private) == 0x7ffff7ffa000);
    CHECK(areas_of(mm) == lines{"7ffff7ffa000-7ffff7ffd000 0x100073 0x7ffff7ffa",
                                "7ffff7ffd000-7ffff7ffe000 0x71 0x7ffff7ffd",
                                "7ffff7ffe000-7ffff7fff000 0x100073 0x7ffff7ffe"});
    CHECK(mm.check_invariants().empty());

    mm_areas i386(mm_layout_for(kernel_arch::i386));
    CHECK(i386.mmap(0, 0x1000, rw, anon_private) == 0xb7fff000);
}

TEST_CASE("vma shared anonymous mappings are separate files and never merge with each other") {
    mm_areas mm = x86_64_mm();
    CHECK(mm.mmap(0, 0x1000, rw, anon_shared) == 0x7ffff7ffe000);
    CHECK(mm.mmap(0, 0x3000, rw, anon_shared) == 0x7ffff7ffb000);
    CHECK(mm.map_count() == 2);
    CHECK(mm.find_vma(0x7ffff7ffb000)->vm_file != mm.find_vma(0x7ffff7ffe000)->vm_file);
    // Pieces of one shared mapping keep their file offsets and merge back.
    CHECK(mm.mprotect(0x7ffff7ffc000, 0x1000, prot_read) == 0);
    CHECK(areas_of(mm) == lines{"7ffff7ffb000-7ffff7ffc000 0xfb 0x0", "7ffff7ffc000-7ffff7ffd000 0xf9 0x1",
                                "7ffff7ffd000-7ffff7ffe000 0xfb 0x2", "7ffff7ffe000-7ffff7fff000 0xfb 0x0"});
    CHECK(mm.mprotect(0x7ffff7ffc000, 0x1000, rw) == 0);
    CHECK(areas_of(mm) == lines{"7ffff7ffb000-7ffff7ffe000 0xfb 0x0", "7ffff7ffe000-7ffff7fff000 0xfb 0x0"});
}

TEST_CASE("vma mmap errors in do_mmap's order") {
    mm_areas mm = x86_64_mm();
    CHECK(mm.mmap(0, 0x1000, rw, map_private) == -ebadf);  // a file mapping of fd -1
    CHECK(mm.mmap(0, 0, rw, anon_private) == -einval);
    CHECK(mm.mmap(0, ~0ull, rw, anon_private) == -enomem);           // PAGE_ALIGN wraps
    CHECK(mm.mmap(0, 0x800000000000, rw, anon_private) == -enomem);  // > TASK_SIZE
    CHECK(mm.mmap(0x10000800, 0x1000, rw, anon_private | map_fixed) == -einval);
    CHECK(mm.mmap(0x8000, 0x1000, rw, anon_private | map_fixed) == -eperm);           // below mmap_min_addr
    CHECK(mm.mmap(0x7fffffffe000, 0x2000, rw, anon_private | map_fixed) == -enomem);  // past TASK_SIZE
    CHECK(mm.mmap(0, 0x1000, rw, map_anonymous) == -einval);  // neither shared nor private
    CHECK(mm.mmap(0, 0x1000, rw, anon_shared | map_growsdown) == -einval);
    CHECK(mm.map_count() == 0);
}

TEST_CASE("vma mmap honours a free hint and searches when it is not free") {
    mm_areas mm = x86_64_mm();
    CHECK(mm.mmap(0x10000000, 0x1000, rw, anon_private) == 0x10000000);
    CHECK(mm.mmap(0x10000000, 0x1000, rw, anon_private) == 0x7ffff7ffe000);      // taken: top-down
    CHECK(mm.mmap(0x20000123, 0x1000, rw, anon_private) == 0x20000000);          // rounded down
    CHECK(mm.mmap(0x1000, 0x1000, rw, anon_private) == 0x10000);                 // raised to mmap_min_addr
    CHECK(mm.mmap(0x7ffffffff000, 0x1000, rw, anon_private) == 0x7ffff7ffd000);  // past TASK_SIZE
}

TEST_CASE("vma placement keeps the guard gap below a MAP_GROWSDOWN area") {
    mm_areas mm = x86_64_mm();
    CHECK(mm.mmap(0x7ffff7ffe000, 0x1000, rw, anon_private | map_fixed | map_growsdown) == 0x7ffff7ffe000);
    CHECK(mm.find_vma(0x7ffff7ffe000)->vm_flags == (rw_private | VM_GROWSDOWN));
    CHECK(mm.mmap(0, 0x1000, rw, anon_private) == 0x7ffff7efd000);
    // A hint ending inside the gap is refused; the search continues below.
    CHECK(mm.mmap(0x7ffff7efe000, 0x1000, rw, anon_private) == 0x7ffff7efc000);
}

TEST_CASE("vma placement falls back to bottom-up from the legacy base when top-down fails") {
    mm_layout layout = mm_layout_for(kernel_arch::x86_64);
    layout.mmap_base = 0x20000;
    mm_areas mm(layout);
    CHECK(mm.mmap(0, 0x10000, rw, anon_private) == 0x10000);
    CHECK(mm.mmap(0, 0x10000, rw, anon_private) == 0x2aaaaaaab000);
}

TEST_CASE("vma MAP_FIXED over an existing mapping splits it, and the same protection merges back") {
    mm_areas mm = x86_64_mm();
    CHECK(mm.mmap(0x10000000, 0x4000, rw, anon_private | map_fixed) == 0x10000000);
    CHECK(mm.mmap(0x10001000, 0x1000, prot_read, anon_private | map_fixed) == 0x10001000);
    CHECK(areas_of(mm) == lines{"10000000-10001000 0x100073 0x10000", "10001000-10002000 0x71 0x10001",
                                "10002000-10004000 0x100073 0x10002"});
    CHECK(mm.mmap(0x10001000, 0x1000, rw, anon_private | map_fixed) == 0x10001000);
    CHECK(areas_of(mm) == lines{"10000000-10004000 0x100073 0x10000"});
}

TEST_CASE("vma MAP_FIXED_NOREPLACE fails with EEXIST on any overlap, succeeds adjacent") {
    mm_areas mm = x86_64_mm();
    const int noreplace = anon_private | map_fixed_noreplace;
    CHECK(mm.mmap(0x10002000, 0x2000, rw, noreplace) == 0x10002000);
    CHECK(mm.mmap(0x10002000, 0x2000, rw, noreplace) == -eexist);  // exact
    CHECK(mm.mmap(0x10003000, 0x1000, rw, noreplace) == -eexist);  // contained
    CHECK(mm.mmap(0x10001000, 0x2000, rw, noreplace) == -eexist);  // head overlap
    CHECK(mm.mmap(0x10003000, 0x2000, rw, noreplace) == -eexist);  // tail overlap
    CHECK(mm.mmap(0x10000000, 0x8000, rw, noreplace) == -eexist);  // containing
    CHECK(areas_of(mm) == lines{"10002000-10004000 0x100073 0x10002"});
    CHECK(mm.mmap(0x10001000, 0x1000, rw, noreplace) == 0x10001000);  // adjacent below
    CHECK(mm.mmap(0x10004000, 0x1000, rw, noreplace) == 0x10004000);  // adjacent above
    CHECK(areas_of(mm) == lines{"10001000-10005000 0x100073 0x10001"});
    CHECK(mm.mmap(0x10000800, 0x1000, rw, noreplace) == -einval);  // unaligned, as MAP_FIXED
}

TEST_CASE("vma munmap in the middle splits into two; errors and empty ranges") {
    mm_areas mm = x86_64_mm();
    CHECK(mm.mmap(0x60000000, 0x4000, rw, anon_private | map_fixed) == 0x60000000);
    CHECK(mm.munmap(0x60001000, 0x2000) == 0);
    CHECK(areas_of(mm) == lines{"60000000-60001000 0x100073 0x60000", "60003000-60004000 0x100073 0x60003"});
    CHECK(mm.find_vma(0x60001000)->vm_start == 0x60003000);
    CHECK(mm.find_vma_intersection(0x60001000, 0x60003000) == nullptr);
    CHECK(mm.munmap(0x60000001, 0x1000) == -einval);
    CHECK(mm.munmap(0x60000000, 0) == -einval);
    CHECK(mm.munmap(0x7ffffffff000, 0x1000) == -einval);  // beyond TASK_SIZE
    CHECK(mm.munmap(0x70000000, 0x1000) == 0);            // nothing there
    CHECK(mm.munmap(0x5ffff000, 0x5001) == 0);            // both areas and the hole, length rounded up
    CHECK(mm.map_count() == 0);
}

TEST_CASE("vma mprotect of the middle splits into three and merges back into one") {
    mm_areas mm = x86_64_mm();
    CHECK(mm.mmap(0x20000000, 0x3000, rw, anon_private | map_fixed) == 0x20000000);
    CHECK(mm.mprotect(0x20001000, 0x1000, prot_read) == 0);
    CHECK(areas_of(mm) == lines{"20000000-20001000 0x100073 0x20000", "20001000-20002000 0x100071 0x20001",
                                "20002000-20003000 0x100073 0x20002"});
    CHECK(mm.mprotect(0x20001000, 0x1000, rw) == 0);
    CHECK(areas_of(mm) == lines{"20000000-20003000 0x100073 0x20000"});
    // Head and tail changes join the neighbour with the same protection.
    CHECK(mm.mprotect(0x20000000, 0x1000, prot_read) == 0);
    CHECK(mm.mprotect(0x20001000, 0x1000, prot_read) == 0);
    CHECK(areas_of(mm) == lines{"20000000-20002000 0x100071 0x20000", "20002000-20003000 0x100073 0x20002"});
    CHECK(mm.mprotect(0x20000000, 0x3000, rw) == 0);
    CHECK(areas_of(mm) == lines{"20000000-20003000 0x100073 0x20000"});
    CHECK(mm.mprotect(0x20000000, 0, prot_none) == 0);
    CHECK(mm.mprotect(0x20000800, 0x1000, prot_none) == -einval);
    CHECK(mm.mprotect(0x20000000, 0x1000, 0x10) == -einval);  // not a PROT_ bit
    CHECK(mm.mprotect(0x20000000, 0x1000, prot_read | prot_growsup) == -einval);
    CHECK(mm.mprotect(0x20000000, 0x1000, prot_read | prot_growsdown) == -einval);  // not a stack
}

TEST_CASE("vma mprotect over a hole fails with ENOMEM after changing what comes before it") {
    mm_areas mm = x86_64_mm();
    CHECK(mm.mmap(0x30000000, 0x2000, rw, anon_private | map_fixed) == 0x30000000);
    CHECK(mm.mmap(0x30003000, 0x1000, rw, anon_private | map_fixed) == 0x30003000);
    CHECK(mm.mprotect(0x30000000, 0x4000, prot_read) == -enomem);
    CHECK(areas_of(mm) == lines{"30000000-30002000 0x100071 0x30000", "30003000-30004000 0x100073 0x30003"});
    CHECK(mm.mprotect(0x30002000, 0x1000, prot_read) == -enomem);  // starts in the hole
    CHECK(mm.mprotect(0x40000000, 0x1000, prot_read) == -enomem);  // nothing above
}

TEST_CASE("vma mprotect charges private memory made writable and checks the VM_MAY bits") {
    mm_areas mm = x86_64_mm();
    CHECK(mm.mmap(0x40000000, 0x1000, prot_read, anon_private | map_fixed) == 0x40000000);
    CHECK(mm.mmap(0x40001000, 0x1000, prot_read, anon_private | map_fixed) == 0x40001000);
    CHECK(areas_of(mm) == lines{"40000000-40002000 0x71 0x40000"});
    CHECK(mm.mprotect(0x40000000, 0x1000, rw) == 0);
    CHECK(areas_of(mm) == lines{"40000000-40001000 0x100073 0x40000", "40001000-40002000 0x71 0x40001"});
    CHECK(mm.mprotect(0x40001000, 0x1000, rw) == 0);
    CHECK(areas_of(mm) == lines{"40000000-40002000 0x100073 0x40000"});

    // A special mapping without VM_MAYWRITE, as the vdso is installed.
    vm_area_struct vdso;
    vdso.vm_start = 0x50000000;
    vdso.vm_end = 0x50002000;
    vdso.vm_flags = VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYEXEC | VM_DONTEXPAND;
    vdso.name = "[vdso]";
    CHECK(mm.insert_vm_struct(vdso) == 0);
    CHECK(mm.insert_vm_struct(vdso) == -enomem);
    CHECK(mm.mprotect(0x50000000, 0x1000, rw) == -eacces);
    CHECK(mm.mprotect(0x50000000, 0x2000, prot_read) == 0);
    CHECK(mm.find_vma(0x50000000)->vm_flags == 0x40051);
}

TEST_CASE("vma max_map_count refuses the splits that would pass it") {
    mm_layout layout = mm_layout_for(kernel_arch::x86_64);
    layout.max_map_count = 1;
    mm_areas mm(layout);
    CHECK(mm.mmap(0x20000000, 0x3000, rw, anon_private | map_fixed) == 0x20000000);
    CHECK(mm.munmap(0x20001000, 0x1000) == -enomem);  // would leave two
    CHECK(mm.mprotect(0x20001000, 0x1000, prot_read) == -enomem);
    CHECK(mm.munmap(0x20000000, 0x1000) == 0);  // the head: no area added
    CHECK(areas_of(mm) == lines{"20001000-20003000 0x100073 0x20001"});
}

TEST_CASE("vma brk grows, shrinks, and returns the old break on failure") {
    mm_areas mm = x86_64_mm();
    mm.set_brk_base(0x602000);
    CHECK(mm.brk(0) == 0x602000);
    CHECK(mm.brk(0x612345) == 0x612345);
    CHECK(areas_of(mm) == lines{"602000-613000 0x100073 0x602"});
    CHECK(mm.brk(0x623000) == 0x623000);  // the brk area grows in place
    CHECK(areas_of(mm) == lines{"602000-623000 0x100073 0x602"});
    CHECK(mm.brk(0x610000) == 0x610000);
    CHECK(areas_of(mm) == lines{"602000-610000 0x100073 0x602"});
    CHECK(mm.brk(0x601000) == 0x610000);  // below start_brk
    // Growing needs one page to spare below the next mapping.
    CHECK(mm.mmap(0x700000, 0x1000, rw, anon_private | map_fixed) == 0x700000);
    CHECK(mm.brk(0x6ff000) == 0x6ff000);
    CHECK(mm.brk(0x6ff001) == 0x6ff000);
    CHECK(mm.brk(0x800000) == 0x6ff000);
    CHECK(mm.current_brk() == 0x6ff000);
    CHECK(mm.brk(0x602000) == 0x602000);
    CHECK(areas_of(mm) == lines{"700000-701000 0x100073 0x700"});
    CHECK(mm.check_invariants().empty());
}

TEST_CASE("vma brk starts a new area when the old one cannot grow in place") {
    mm_areas mm = x86_64_mm();
    mm.set_brk_base(0x602000);
    CHECK(mm.mmap(0x600000, 0x2000, rw, anon_private | map_fixed) == 0x600000);  // the "bss"
    CHECK(mm.brk(0x603000) == 0x603000);
    CHECK(areas_of(mm) == lines{"600000-602000 0x100073 0x600", "602000-603000 0x100073 0x602"});
    CHECK(mm.mprotect(0x602000, 0x1000, prot_read) == 0);
    CHECK(mm.brk(0x604000) == 0x604000);
    CHECK(areas_of(mm) == lines{"600000-602000 0x100073 0x600", "602000-603000 0x100071 0x602",
                                "603000-604000 0x100073 0x603"});
}

TEST_CASE("vma stack grows down within RLIMIT_STACK and the guard gap") {
    mm_areas mm = x86_64_mm();
    CHECK(mm.setup_stack() == 0);
    CHECK(areas_of(mm) == lines{"7ffffffde000-7ffffffff000 0x100173 0x7ffffffde"});
    CHECK(mm.expand_stack(0x7ffffffdf000) == 0);  // already mapped
    CHECK(mm.expand_stack(0x7ffffff00010) == 0);
    CHECK(areas_of(mm) == lines{"7ffffff00000-7ffffffff000 0x100173 0x7ffffff00"});
    CHECK(mm.expand_stack(0x7fffff7ff000) == 0);  // exactly 8 MiB
    CHECK(mm.expand_stack(0x7fffff7fefff) == -enomem);
    CHECK(mm.find_vma(0x7fffff7fefff)->vm_start == 0x7fffff7ff000);
    CHECK(mm.expand_stack(0x7ffffffff000) == -efault);  // nothing above
    CHECK(mm.mmap(0x20000000, 0x1000, rw, anon_private | map_fixed) == 0x20000000);
    CHECK(mm.expand_stack(0x1fff0000) == -efault);  // the area above is no stack
    // PROT_GROWSDOWN applies from the stack's bottom.
    CHECK(mm.mprotect(0x7fffff800000, 0x1000, prot_read | prot_growsdown) == 0);
    CHECK(mm.find_vma(0x7fffff7ff000)->vm_end == 0x7fffff801000);
    CHECK(mm.find_vma(0x7fffff7ff000)->vm_flags == 0x100171);
}

TEST_CASE("vma stack growth keeps stack_guard_gap from an accessible area below") {
    mm_areas mm = x86_64_mm();
    CHECK(mm.setup_stack() == 0);
    CHECK(mm.mmap(0x7fffffddd000, 0x1000, rw, anon_private | map_fixed) == 0x7fffffddd000);
    CHECK(mm.expand_stack(0x7fffffedd000) == -enomem);  // 0xff000 above it
    CHECK(mm.expand_stack(0x7fffffede000) == 0);        // exactly the gap
    CHECK(mm.mprotect(0x7fffffddd000, 0x1000, prot_none) == 0);
    CHECK(mm.expand_stack(0x7fffffdde000) == 0);  // no gap from an inaccessible area
    CHECK(mm.find_vma(0x7fffffdde000)->vm_start == 0x7fffffdde000);

    mm_layout small = mm_layout_for(kernel_arch::x86_64, 64 * 1024);
    mm_areas tiny(small);
    CHECK(tiny.setup_stack() == 0);
    CHECK(areas_of(tiny) == lines{"7ffffffef000-7ffffffff000 0x100173 0x7ffffffef"});
}

TEST_CASE("vma maps text as /proc/PID/maps prints it") {
    mm_areas mm = x86_64_mm();
    mm.set_brk_base(0x602000);
    CHECK(mm.brk(0x623000) == 0x623000);
    CHECK(mm.mmap(0, 0x1000, rw, anon_private) == 0x7ffff7ffe000);
    CHECK(mm.mmap(0, 0x1000, rw, anon_shared) == 0x7ffff7ffd000);
    vm_area_struct vdso;
    vdso.vm_start = 0x7ffff7fc1000;
    vdso.vm_end = 0x7ffff7fc3000;
    vdso.vm_flags = VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYEXEC | VM_DONTEXPAND;
    vdso.name = "[vdso]";
    CHECK(mm.insert_vm_struct(vdso) == 0);
    CHECK(mm.setup_stack() == 0);
    CHECK(mm.maps() ==
          "00602000-00623000 rw-p 00000000 00:00 0                                  [heap]\n"
          "7ffff7fc1000-7ffff7fc3000 r-xp 00000000 00:00 0                          [vdso]\n"
          "7ffff7ffd000-7ffff7ffe000 rw-s 00000000 00:01 1                          /dev/zero (deleted)\n"
          "7ffff7ffe000-7ffff7fff000 rw-p 00000000 00:00 0 \n"
          "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]\n");

    mm_areas i386(mm_layout_for(kernel_arch::i386));
    CHECK(i386.setup_stack() == 0);
    CHECK(i386.mmap(0, 0x1000, rw, anon_private) == 0xb7fff000);
    CHECK(i386.maps() ==
          "b7fff000-b8000000 rw-p 00000000 00:00 0 \n"
          "bffdf000-c0000000 rw-p 00000000 00:00 0          [stack]\n");
}

TEST_CASE("vma random MAP_FIXED, munmap and mprotect agree with a page-by-page model") {
    // Each page's flags as Linux derives them: mmap sets them from prot (VM_ACCOUNT when
    // writable), mprotect changes the access bits of mapped pages up to the first hole and
    // charges a page made writable. Areas must be exactly the maximal runs of pages that
    // vma_merge joins.
    mm_areas mm = x86_64_mm();
    constexpr std::uint64_t base = 0x10000000;
    constexpr std::uint64_t npages = 64;
    std::vector<vm_flags_t> shadow(npages, 0);  // 0: unmapped
    const int prots[] = {prot_none, prot_read, rw, prot_read | prot_exec};
    std::uint64_t seed = 12345;
    auto next_random = [&seed](std::uint64_t bound) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        return (seed >> 33) % bound;
    };
    for (int step = 0; step < 3000; ++step) {
        const std::uint64_t first = next_random(npages);
        const std::uint64_t count = 1 + next_random(std::min<std::uint64_t>(8, npages - first));
        const int prot = prots[next_random(4)];
        const std::uint64_t addr = base + first * vm_page_size;
        const std::uint64_t len = count * vm_page_size;
        const vm_flags_t access = (prot & prot_read ? VM_READ : 0) | (prot & prot_write ? VM_WRITE : 0) |
                                  (prot & prot_exec ? VM_EXEC : 0);
        switch (next_random(3)) {
            case 0:
                REQUIRE(mm.mmap(addr, len, prot, anon_private | map_fixed) ==
                        static_cast<std::int64_t>(addr));
                for (std::uint64_t p = first; p < first + count; ++p)
                    shadow[p] =
                        VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | access | (access & VM_WRITE ? VM_ACCOUNT : 0);
                break;
            case 1:
                REQUIRE(mm.munmap(addr, len) == 0);
                for (std::uint64_t p = first; p < first + count; ++p) shadow[p] = 0;
                break;
            default: {
                std::uint64_t p = first;
                for (; p < first + count && shadow[p] != 0; ++p) {
                    const vm_flags_t old = shadow[p];
                    const vm_flags_t changed = (old & ~VM_ACCESS_FLAGS) | access;
                    if (changed == old) continue;
                    const bool charge = (access & VM_WRITE) && !(old & (VM_ACCOUNT | VM_WRITE));
                    shadow[p] = changed | (charge ? VM_ACCOUNT : 0);
                }
                REQUIRE(mm.mprotect(addr, len, prot) == (p == first + count ? 0 : -enomem));
            }
        }
        REQUIRE(mm.check_invariants().empty());
        std::vector<std::string> expected;
        for (std::uint64_t p = 0; p < npages;) {
            std::uint64_t q = p + 1;
            while (q < npages && shadow[p] != 0 && shadow[q] == shadow[p]) ++q;
            if (shadow[p] != 0) {
                const std::uint64_t start = base + p * vm_page_size;
                expected.push_back(fmt::format("{:x}-{:x} {:#x} {:#x}", start, base + q * vm_page_size,
                                               shadow[p], start / vm_page_size));
            }
            p = q;
        }
        REQUIRE(areas_of(mm) == expected);
    }
}
