// Processes on a booted kernel, driven by a user-mode test CPU (user_access.h) that walks their
// page tables as the hardware does: the fault kinds of mm/memory.c with the exact PTEs, refcounts
// and mapcounts Linux leaves, copy-on-write across fork as tools/testing/selftests/mm/cow.c
// checks it, shared anonymous memory, MAP_FIXED_NOREPLACE, VMA split and merge with their PTEs,
// SIGSEGV's si_code for each protection, stack growth, MAP_POPULATE, brk, kernel stacks, TLB
// flushes, and the conservation of every page once all processes have exited.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "kernel_mm/process.h"
#include "tests/kernel_mm/booted_kernel.h"
#include "tests/kernel_mm/user_access.h"

namespace memsim::kernel {

using testing::booted_kernel;
using testing::user_cpu;

namespace {

constexpr std::uint64_t MiB = 1ull << 20;
constexpr std::uint64_t page_size = vm_page_size;

// PTE bits by Linux's names.
constexpr std::uint64_t P = pte::present;
constexpr std::uint64_t RW = pte::rw;
constexpr std::uint64_t U = pte::user;
constexpr std::uint64_t A = pte::accessed;
constexpr std::uint64_t D = pte::dirty;
constexpr std::uint64_t SPECIAL = pte::special;  // _PAGE_SPECIAL, bit 9

// The page-fault error codes a user access raises (arch/x86/include/asm/trap_pf.h).
constexpr std::uint32_t read_not_present = pf::user;                         // 0x4
constexpr std::uint32_t write_not_present = pf::user | pf::write;            // 0x6
constexpr std::uint32_t write_protection = pf::user | pf::write | pf::prot;  // 0x7
constexpr std::uint32_t read_protection = pf::user | pf::prot;               // 0x5
constexpr std::uint32_t fetch_not_present = pf::user | pf::instr;            // 0x14
constexpr std::uint32_t fetch_protection = pf::user | pf::instr | pf::prot;  // 0x15
using codes = std::vector<std::uint32_t>;

constexpr int anon_private = map_private | map_anonymous;
constexpr int anon_shared = map_shared | map_anonymous;
constexpr int rw = prot_read | prot_write;
constexpr int sigsegv = 11;

// A booted kernel with 256 MiB, its process table and a CPU running the current task.
struct os {
    booted_kernel k;
    process_table procs;
    user_cpu cpu;

    explicit os(kernel_arch arch = kernel_arch::x86_64, bool pae = false, std::uint64_t ram = 256 * MiB,
                bool la57 = false)
        : k(arch, ram, pae, la57), procs(*k.kernel, k.machine, mm_costs{}, 500), cpu(k, procs) {}

    mm_struct& mm() { return *procs.current()->mm; }
    mm_struct& mm_of(int pid) { return *procs.tasks().at(pid).mm; }
    const task_struct& task(int pid) const { return procs.tasks().at(pid); }
    std::uint64_t pte(std::uint64_t addr) { return mm().pte_of(addr); }
    phys_addr_t frame(std::uint64_t addr) {
        return page_table::table_of(pte(addr), mm().pgd().entry_bytes());
    }
    page& page_at(std::uint64_t addr) { return *k.kernel->pages().pfn_to_page(frame(addr) >> 12); }
    page& page_of(phys_addr_t frame) { return *k.kernel->pages().pfn_to_page(frame >> 12); }
    std::uint64_t nx() const { return procs.services().nx ? pte::nx : 0; }
    phys_addr_t zero_page() const { return procs.services().zero_page; }
    std::uint64_t faults(fault_kind kind) const {
        return procs.services().faults.latency[static_cast<unsigned>(kind)].samples();
    }
    node_page_state& node() { return k.kernel->pages().node_state(); }
    std::uint64_t map(std::uint64_t len, int prot = rw, int flags = anon_private, std::uint64_t addr = 0) {
        std::int64_t r = procs.mmap(addr, len, prot, flags);
        REQUIRE(r > 0);
        return static_cast<std::uint64_t>(r);
    }
};

// Comparisons go through strings, which doctest prints when they differ (a StringMaker for
// std::vector here would clash with the other test files' instantiations).
std::string text(const std::vector<std::string>& lines) {
    std::string out;
    for (const std::string& line : lines) out += line + "\n";
    return out;
}
template <class T>
std::string hex(const std::vector<T>& values) {
    std::string out = "{";
    for (T v : values) out += fmt::format("{}{:#x}", out.size() > 1 ? ", " : "", v);
    return out + "}";
}
using lines = std::vector<std::string>;
using addresses = std::vector<std::uint64_t>;
using pcids = std::vector<std::uint16_t>;

// "start-end flags" per area, in address order, a line each.
std::string areas_of(const mm_struct& mm) {
    std::vector<std::string> out;
    for (const auto& [start, vma] : mm.areas().areas())
        out.push_back(fmt::format("{:x}-{:x} {:#x}", vma.vm_start, vma.vm_end, vma.vm_flags));
    return text(out);
}

// VM_READ|VM_WRITE|VM_MAY{READ,WRITE,EXEC}|VM_ACCOUNT, and that read-only.
constexpr vm_flags_t rw_private = 0x100073;
constexpr vm_flags_t r_charged = 0x100071;
// VM_STACK_FLAGS: VM_GROWSDOWN with the data flags and VM_ACCOUNT.
constexpr vm_flags_t stack_flags = 0x100173;

std::string arch_name(kernel_arch arch, bool pae) {
    return arch == kernel_arch::x86_64 ? "x86_64" : pae ? "i386 PAE" : "i386 2-level";
}

}  // namespace

// ---- 1. the fault kinds ------------------------------------------------------------------------

namespace {

// do_anonymous_page (read: the zero page; write: a fresh page), wp_page_copy from the zero page,
// fork's write protection, wp_page_copy of a shared page and do_wp_page's reuse of a page whose
// last other user has gone, with the PTE, _refcount and _mapcount each leaves.
void check_fault_kinds(kernel_arch arch, bool pae, bool la57 = false) {
    INFO(arch_name(arch, pae), la57 ? " LA57" : "");
    os s(arch, pae, 256 * MiB, la57);
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t nx = s.nx();
    CHECK(nx == (arch == kernel_arch::x86_64 || pae ? pte::nx : 0));
    page& zero = s.page_of(s.zero_page());
    const std::int32_t zero_refcount = zero.refcount;
    const std::int32_t zero_mapcount = zero.mapcount();
    const std::uint64_t a = s.map(4 * page_size);
    CHECK(a == s.mm().areas().layout().mmap_base - 4 * page_size);
    CHECK(s.pte(a) == 0);

    // Read of an untouched page: the zero page, read-only, special, no reference taken.
    std::uint64_t v = 1;
    CHECK(s.cpu.read(a, v));
    CHECK(v == 0);
    CHECK(hex(s.cpu.errors()) == hex(codes{read_not_present}));
    CHECK(s.pte(a) == (s.zero_page() | P | U | A | SPECIAL | nx));
    CHECK(s.cpu.last_physical() == s.zero_page());
    CHECK(zero.refcount == zero_refcount);
    CHECK(zero.mapcount() == zero_mapcount);
    CHECK(s.mm().anon_pages() == 0);
    CHECK(s.faults(fault_kind::zero_page) == 1);

    // Write of an untouched page: a fresh zeroed page, writable and dirty, exclusive.
    const std::uint64_t anon_before = s.node().nr_anon_mapped;
    CHECK(s.cpu.write(a + page_size, 0x1111));
    CHECK(hex(s.cpu.errors()) == hex(codes{write_not_present}));
    const phys_addr_t fresh = s.frame(a + page_size);
    CHECK(fresh != s.zero_page());
    CHECK(s.pte(a + page_size) == (fresh | P | RW | U | A | D | nx));
    CHECK(s.cpu.last_physical() == fresh);
    page& p = s.page_of(fresh);
    CHECK(p.refcount == 1);
    CHECK(p.mapcount() == 0);
    CHECK(p.test(PG_anon_exclusive));
    CHECK(p.test(PG_swapbacked));
    CHECK((p.mapping & PAGE_MAPPING_ANON) != 0);
    // vm_pgoff + the page's offset in the area, in struct page's 32-bit index here.
    CHECK(p.index == static_cast<std::uint32_t>((a + page_size) >> 12));
    CHECK(s.mm().anon_pages() == 1);
    CHECK(s.node().nr_anon_mapped == anon_before + 1);
    CHECK(s.faults(fault_kind::anonymous) == 1);

    // Write after read: the zero page's PTE is write-protected; the copy is a zeroed page.
    CHECK(s.cpu.write(a + 8, 0x2222));
    CHECK(hex(s.cpu.errors()) == hex(codes{write_protection}));
    const phys_addr_t copied = s.frame(a);
    CHECK(copied != s.zero_page());
    CHECK(copied != fresh);
    CHECK(s.pte(a) == (copied | P | RW | U | A | D | nx));
    CHECK(s.page_of(copied).refcount == 1);
    CHECK(s.page_of(copied).mapcount() == 0);
    CHECK(s.page_of(copied).test(PG_anon_exclusive));
    CHECK(s.cpu.load(a) == 0);
    CHECK(s.cpu.load(a + 8) == 0x2222);
    CHECK(s.cpu.load(a + page_size - 8) == 0);
    CHECK(zero.refcount == zero_refcount);
    CHECK(s.mm().anon_pages() == 2);
    CHECK(s.faults(fault_kind::cow_copy) == 1);
    CHECK(s.mm().check_invariants() == "");

    // fork: both PTEs lose RW; the child's is old (A clear); one more reference and mapping.
    REQUIRE(s.procs.fork(2) == 2);
    CHECK(s.pte(a + page_size) == (fresh | P | U | A | D | nx));
    CHECK(p.refcount == 2);
    CHECK(p.mapcount() == 1);
    CHECK_FALSE(p.test(PG_anon_exclusive));
    // The zero page's PTE is copied as it is, without a reference.
    CHECK(s.mm_of(2).pte_of(a + 2 * page_size) == 0);
    CHECK(zero.refcount == zero_refcount);
    REQUIRE(s.procs.switch_to(2));
    CHECK(s.pte(a + page_size) == (fresh | P | U | D | nx));
    CHECK(s.mm().anon_pages() == 2);
    CHECK(s.mm().check_invariants() == "");
    CHECK(s.mm_of(1).check_invariants() == "");

    // The child writes: a copy; the parent's page keeps one reference and one mapping.
    CHECK(s.cpu.write(a + page_size + 16, 0x3333));
    CHECK(hex(s.cpu.errors()) == hex(codes{write_protection}));
    const phys_addr_t child_copy = s.frame(a + page_size);
    CHECK(child_copy != fresh);
    CHECK(s.pte(a + page_size) == (child_copy | P | RW | U | A | D | nx));
    CHECK(s.page_of(child_copy).refcount == 1);
    CHECK(s.page_of(child_copy).mapcount() == 0);
    CHECK(s.page_of(child_copy).test(PG_anon_exclusive));
    CHECK(p.refcount == 1);
    CHECK(p.mapcount() == 0);
    CHECK(s.cpu.load(a + page_size) == 0x1111);  // copied from the parent's page
    CHECK(s.cpu.load(a + page_size + 16) == 0x3333);
    CHECK(s.faults(fault_kind::cow_copy) == 2);
    CHECK(s.mm().check_invariants() == "");

    // The parent writes: its page has no other user left, so it is reused in place.
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t free_before = s.k.free_pages();
    CHECK(s.cpu.write(a + page_size + 24, 0x4444));
    CHECK(hex(s.cpu.errors()) == hex(codes{write_protection}));
    CHECK(s.k.free_pages() == free_before);
    CHECK(s.frame(a + page_size) == fresh);
    CHECK(s.pte(a + page_size) == (fresh | P | RW | U | A | D | nx));
    CHECK(p.refcount == 1);
    CHECK(p.mapcount() == 0);
    CHECK(p.test(PG_anon_exclusive));
    CHECK(s.cpu.load(a + page_size + 16) == 0);  // the child's write stayed in the child
    CHECK(s.faults(fault_kind::cow_reuse) == 1);

    // Every fault kind counted once per fault; none spurious, none shmem.
    CHECK(s.faults(fault_kind::zero_page) == 1);
    CHECK(s.faults(fault_kind::anonymous) == 1);
    CHECK(s.faults(fault_kind::cow_copy) == 2);
    CHECK(s.faults(fault_kind::shmem) == 0);
    CHECK(s.faults(fault_kind::spurious) == 0);
    CHECK(s.mm().min_flt() == 4);      // zero page, anonymous, cow_copy, cow_reuse
    CHECK(s.mm_of(2).min_flt() == 1);  // its cow_copy
    CHECK(s.mm().check_invariants() == "");
    CHECK(s.mm_of(2).check_invariants() == "");
}

}  // namespace

TEST_CASE("process fault kinds on x86_64: zero page, anonymous, COW copy and reuse with exact PTEs") {
    check_fault_kinds(kernel_arch::x86_64, false);
}

TEST_CASE("process fault kinds on i386 2-level paging (no NX)") {
    check_fault_kinds(kernel_arch::i386, false);
}

TEST_CASE("process fault kinds on i386 PAE (NX)") { check_fault_kinds(kernel_arch::i386, true); }

TEST_CASE("process fault kinds on x86_64 with 5-level paging") {
    check_fault_kinds(kernel_arch::x86_64, false, true);
}

TEST_CASE("process CR3 holds the running task's top-level table with its PCID (x86_64)") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    // choose_new_asid: the first dynamic ASID is 1, its PCID kern_pcid(1) = 2.
    CHECK(s.cpu.registers().cr3 == (s.mm().pgd().root() | 2));
    REQUIRE(s.procs.switch_to(2));
    CHECK(s.cpu.registers().cr3 == (s.mm().pgd().root() | 3));
    REQUIRE(s.procs.switch_to(1));
    CHECK(s.cpu.registers().cr3 == (s.mm().pgd().root() | 2));
    REQUIRE(s.procs.switch_to(0));
    CHECK(s.cpu.registers().cr3 == s.k.kernel->cr3());
}

// ---- 2. copy-on-write as cow.c sees it ---------------------------------------------------------

namespace {

void check_cow_isolation(kernel_arch arch, bool pae) {
    INFO(arch_name(arch, pae));
    os s(arch, pae);
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t a = s.map(8 * page_size);
    auto at = [&](unsigned page) { return a + page * page_size + 0x100; };

    // Before fork: page 0 written; page 1 read (the zero page); page 2 untouched; page 3 written
    // then made read-only and writable again (its exclusive page gets RW back at once); pages 4
    // and 5 written, to go through the same round trip after fork in the parent and the child.
    CHECK(s.cpu.write(at(0), 0x1000));
    CHECK(s.cpu.load(at(1)) == 0);
    CHECK(s.cpu.write(at(3), 0x3000));
    CHECK(s.procs.mprotect(a + 3 * page_size, page_size, prot_read) == 0);
    CHECK((s.pte(at(3)) & RW) == 0);
    CHECK(s.procs.mprotect(a + 3 * page_size, page_size, rw) == 0);
    CHECK((s.pte(at(3)) & RW) == RW);  // can_change_pte_writable: PageAnonExclusive
    CHECK(s.cpu.write(at(4), 0x4000));
    CHECK(s.cpu.write(at(5), 0x5000));
    CHECK(s.mm().areas().map_count() == 2);  // merged back into one area, and the stack

    REQUIRE(s.procs.fork(2) == 2);

    // The parent writes everything after fork, page 4 after a read-only round trip.
    CHECK(s.cpu.write(at(0), 0x1111));
    CHECK(s.cpu.write(at(1), 0x1112));
    CHECK(s.cpu.write(at(2), 0x1113));
    CHECK(s.cpu.write(at(3), 0x1114));
    CHECK(s.procs.mprotect(a + 4 * page_size, page_size, prot_read) == 0);
    CHECK(s.procs.mprotect(a + 4 * page_size, page_size, rw) == 0);
    CHECK((s.pte(at(4)) & RW) == 0);  // shared with the child: stays write-protected
    CHECK(s.cpu.write(at(4), 0x1115));

    // The child sees what was there at fork, then writes its own, page 5 after a round trip.
    REQUIRE(s.procs.switch_to(2));
    CHECK(s.cpu.load(at(0)) == 0x1000);
    CHECK(s.cpu.load(at(1)) == 0);
    CHECK(s.cpu.load(at(2)) == 0);
    CHECK(s.cpu.load(at(3)) == 0x3000);
    CHECK(s.cpu.load(at(4)) == 0x4000);
    CHECK(s.cpu.load(at(5)) == 0x5000);
    CHECK(s.procs.mprotect(a + 5 * page_size, page_size, prot_read) == 0);
    CHECK(s.procs.mprotect(a + 5 * page_size, page_size, rw) == 0);
    CHECK((s.pte(at(5)) & RW) == 0);
    CHECK(s.cpu.write(at(0), 0x2221));
    CHECK(s.cpu.write(at(1), 0x2222));
    CHECK(s.cpu.write(at(2), 0x2223));
    CHECK(s.cpu.write(at(3), 0x2224));
    CHECK(s.cpu.write(at(4), 0x2225));
    CHECK(s.cpu.write(at(5), 0x2226));
    CHECK(s.mm().check_invariants() == "");

    // Neither sees the other's writes.
    REQUIRE(s.procs.switch_to(1));
    CHECK(s.cpu.load(at(0)) == 0x1111);
    CHECK(s.cpu.load(at(1)) == 0x1112);
    CHECK(s.cpu.load(at(2)) == 0x1113);
    CHECK(s.cpu.load(at(3)) == 0x1114);
    CHECK(s.cpu.load(at(4)) == 0x1115);
    CHECK(s.cpu.load(at(5)) == 0x5000);
    CHECK(s.cpu.write(at(5), 0x1116));  // the child copied: the parent's page is its own again
    CHECK(s.mm().check_invariants() == "");
    REQUIRE(s.procs.switch_to(2));
    CHECK(s.cpu.load(at(0)) == 0x2221);
    CHECK(s.cpu.load(at(1)) == 0x2222);
    CHECK(s.cpu.load(at(2)) == 0x2223);
    CHECK(s.cpu.load(at(3)) == 0x2224);
    CHECK(s.cpu.load(at(4)) == 0x2225);
    CHECK(s.cpu.load(at(5)) == 0x2226);
    // Every page each maps is its own now: refcount 1, mapcount 0.
    for (unsigned i = 0; i < 6; ++i) {
        CHECK(s.page_at(at(i)).refcount == 1);
        CHECK(s.page_at(at(i)).mapcount() == 0);
        CHECK(s.mm_of(1).pte_of(at(i)) != s.pte(at(i)));
    }
    CHECK(s.mm().check_invariants() == "");
}

}  // namespace

TEST_CASE("process COW isolation after fork (cow.c): touched, untouched, zero-page and mprotected pages") {
    check_cow_isolation(kernel_arch::x86_64, false);
}

TEST_CASE("process COW isolation after fork on i386 2-level and PAE") {
    check_cow_isolation(kernel_arch::i386, false);
    check_cow_isolation(kernel_arch::i386, true);
}

// ---- 3. shared anonymous memory ----------------------------------------------------------------

TEST_CASE("process MAP_SHARED|MAP_ANONYMOUS: parent and child see each other's writes") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t nr_shmem = s.node().nr_shmem;
    const std::uint64_t a = s.map(2 * page_size, rw, anon_shared);
    CHECK(s.cpu.write(a, 0xaaaa));
    CHECK(s.faults(fault_kind::shmem) == 1);
    // PAGE_SHARED: writable from the first fault; one reference for the file, one for the PTE.
    const phys_addr_t shared = s.frame(a);
    CHECK((s.pte(a) & ~D) == (shared | P | RW | U | A | s.nx()));
    CHECK(s.page_at(a).refcount == 2);
    CHECK(s.page_at(a).mapcount() == 0);
    CHECK(s.mm().shmem_pages() == 1);
    CHECK(s.node().nr_shmem == nr_shmem + 1);

    REQUIRE(s.procs.fork(2) == 2);
    // No anon_vma: fork copies no PTE, the child faults the file's page in.
    REQUIRE(s.procs.switch_to(2));
    CHECK(s.pte(a) == 0);
    CHECK(s.cpu.load(a) == 0xaaaa);
    CHECK(s.frame(a) == shared);
    CHECK(s.page_at(a).refcount == 3);
    CHECK(s.page_at(a).mapcount() == 1);
    CHECK(s.cpu.write(a + page_size, 0xbbbb));
    CHECK(s.node().nr_shmem == nr_shmem + 2);
    REQUIRE(s.procs.switch_to(1));
    CHECK(s.cpu.load(a + page_size) == 0xbbbb);
    CHECK(s.cpu.write(a + 8, 0xcccc));
    REQUIRE(s.procs.switch_to(2));
    CHECK(s.cpu.load(a + 8) == 0xcccc);
    CHECK(s.mm().check_invariants() == "");
    CHECK(s.mm_of(1).check_invariants() == "");
    CHECK(s.faults(fault_kind::shmem) == 4);
    CHECK(s.faults(fault_kind::cow_copy) == 0);

    // The file outlives the parent's exit while the child maps it.
    REQUIRE(s.procs.switch_to(1));
    s.procs.exit(0);
    REQUIRE(s.procs.switch_to(2));
    CHECK(s.cpu.load(a + page_size) == 0xbbbb);
    CHECK(s.node().nr_shmem == nr_shmem + 2);
    s.procs.exit(0);
    CHECK(s.node().nr_shmem == nr_shmem);
}

// ---- 4. MAP_FIXED_NOREPLACE --------------------------------------------------------------------

TEST_CASE("process MAP_FIXED_NOREPLACE: any overlap is -EEXIST and leaves the mapping; neighbours map") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    constexpr int noreplace = anon_private | map_fixed_noreplace;
    const std::uint64_t base = 0x10000000;
    REQUIRE(s.procs.mmap(base, 4 * page_size, rw, noreplace) == static_cast<std::int64_t>(base));
    CHECK(s.cpu.write(base, 0x5a5a));
    CHECK(s.cpu.write(base + 3 * page_size, 0xa5a5));
    const std::uint64_t free_before = s.k.free_pages();

    CHECK(s.procs.mmap(base, 4 * page_size, rw, noreplace) == -eexist);                     // exact
    CHECK(s.procs.mmap(base + page_size, page_size, rw, noreplace) == -eexist);             // contained
    CHECK(s.procs.mmap(base - page_size, 2 * page_size, rw, noreplace) == -eexist);         // head
    CHECK(s.procs.mmap(base + 3 * page_size, 2 * page_size, rw, noreplace) == -eexist);     // tail
    CHECK(s.procs.mmap(base - page_size, 6 * page_size, rw, noreplace) == -eexist);         // around
    CHECK(s.procs.mmap(base, 4 * page_size, prot_read, noreplace | map_fixed) == -eexist);  // with MAP_FIXED
    CHECK(s.k.free_pages() == free_before);
    CHECK(s.cpu.load(base) == 0x5a5a);
    CHECK(s.cpu.load(base + 3 * page_size) == 0xa5a5);
    CHECK((s.pte(base) & RW) == RW);

    CHECK(s.procs.mmap(base - 2 * page_size, 2 * page_size, rw, noreplace) ==
          static_cast<std::int64_t>(base - 2 * page_size));  // adjacent below
    CHECK(s.procs.mmap(base + 4 * page_size, page_size, rw, noreplace) ==
          static_cast<std::int64_t>(base + 4 * page_size));  // adjacent above
    CHECK(areas_of(s.mm()) ==
          text(lines{fmt::format("{:x}-{:x} {:#x}", base - 2 * page_size, base + 5 * page_size, rw_private),
                     fmt::format("7ffffffde000-7ffffffff000 {:#x}", stack_flags)}));
    CHECK(s.cpu.load(base) == 0x5a5a);
    CHECK(s.procs.syscalls().at("mmap").calls == 9);
    CHECK(s.procs.syscalls().at("mmap").errors == 6);
}

// ---- 5. split and merge with their PTEs --------------------------------------------------------

TEST_CASE("process mprotect of a populated area's middle splits it and back merges; munmap frees the page") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t nx = s.nx();
    const std::uint64_t a = s.map(3 * page_size);
    REQUIRE(a == 0x7ffff7ffc000);
    std::vector<phys_addr_t> frames;
    for (unsigned i = 0; i < 3; ++i) {
        REQUIRE(s.cpu.write(a + i * page_size, 0x100 + i));
        frames.push_back(s.frame(a + i * page_size));
    }
    const std::string stack = fmt::format("7ffffffde000-7ffffffff000 {:#x}", stack_flags);
    s.k.machine.flushed_pages.clear();

    CHECK(s.procs.mprotect(a + page_size, page_size, prot_read) == 0);
    CHECK(areas_of(s.mm()) == text(lines{fmt::format("7ffff7ffc000-7ffff7ffd000 {:#x}", rw_private),
                                         fmt::format("7ffff7ffd000-7ffff7ffe000 {:#x}", r_charged),
                                         fmt::format("7ffff7ffe000-7ffff7fff000 {:#x}", rw_private), stack}));
    CHECK(s.pte(a + page_size) == (frames[1] | P | U | A | D | nx));  // pte_modify keeps A and D
    CHECK(s.pte(a) == (frames[0] | P | RW | U | A | D | nx));
    CHECK(s.pte(a + 2 * page_size) == (frames[2] | P | RW | U | A | D | nx));
    CHECK(hex(s.k.machine.flushed_pages) == hex(addresses{a + page_size}));
    CHECK(s.cpu.load(a + page_size) == 0x101);
    CHECK(s.mm().check_invariants() == "");

    CHECK(s.procs.mprotect(a + page_size, page_size, rw) == 0);
    CHECK(areas_of(s.mm()) == text(lines{fmt::format("7ffff7ffc000-7ffff7fff000 {:#x}", rw_private), stack}));
    CHECK(s.pte(a + page_size) == (frames[1] | P | RW | U | A | D | nx));
    CHECK(hex(s.k.machine.flushed_pages) == hex(addresses{a + page_size, a + page_size}));
    CHECK(s.cpu.write(a + page_size + 8, 0x111));
    CHECK(s.cpu.errors().empty());  // writable at once: no fault

    const std::uint64_t free_before = s.k.free_pages();
    const std::uint64_t anon_mapped = s.node().nr_anon_mapped;
    CHECK(s.procs.munmap(a + page_size, page_size) == 0);
    CHECK(areas_of(s.mm()) == text(lines{fmt::format("7ffff7ffc000-7ffff7ffd000 {:#x}", rw_private),
                                         fmt::format("7ffff7ffe000-7ffff7fff000 {:#x}", rw_private), stack}));
    CHECK(s.pte(a + page_size) == 0);
    CHECK(s.page_of(frames[1]).refcount == 0);
    CHECK(s.page_of(frames[1]).mapcount() == -1);
    CHECK(s.k.free_pages() == free_before + 1);  // the page; the PTE table still serves both sides
    CHECK(s.node().nr_anon_mapped == anon_mapped - 1);
    CHECK(s.mm().anon_pages() == 2);
    CHECK(s.k.machine.flushed_pages.back() == a + page_size);
    CHECK(s.cpu.load(a) == 0x100);
    CHECK(s.cpu.load(a + 2 * page_size) == 0x102);
    CHECK(s.mm().check_invariants() == "");
    CHECK(s.k.kernel->pages().check_invariants() == "");

    // The hole is no longer mapped.
    CHECK_FALSE(s.cpu.write(a + page_size, 1));
    CHECK(s.task(1).segv == segv_code::maperr);
    CHECK(s.task(1).segv_addr == a + page_size);
}

// ---- 6. SIGSEGV --------------------------------------------------------------------------------

TEST_CASE("process SIGSEGV: si_code and address for each kind of bad access (x86_64)") {
    os s;
    const std::uint64_t free0 = s.k.free_pages();
    int pid = 1;
    // One access in a fresh process; the task must die of it.
    auto segv = [&](auto&& setup, mmu::access_kind kind, codes errors) -> const task_struct& {
        const int me = pid++;
        REQUIRE(s.procs.switch_to(me));
        const std::uint64_t addr = setup();
        std::uint64_t v = 7;
        CHECK_FALSE(s.cpu.access(addr, kind, &v));
        CHECK(hex(s.cpu.errors()) == hex(errors));
        const task_struct& t = s.task(me);
        CHECK(t.exited);
        CHECK(t.exit_signal == sigsegv);
        CHECK(t.segv_addr == addr);
        CHECK(t.mm == nullptr);
        CHECK(t.stack == nullptr);
        CHECK(s.procs.current() == nullptr);
        CHECK(s.k.free_pages() == free0);
        return t;
    };
    // Outside every area.
    CHECK(segv([&] { return std::uint64_t{0x20000000}; }, mmu::access_kind::read, codes{read_not_present})
              .segv == segv_code::maperr);
    // A write to a PROT_READ area, untouched and then mapped (the zero page).
    CHECK(segv([&] { return s.map(page_size, prot_read); }, mmu::access_kind::write, codes{write_not_present})
              .segv == segv_code::accerr);
    CHECK(segv(
              [&] {
                  std::uint64_t a = s.map(page_size, prot_read);
                  CHECK(s.cpu.load(a) == 0);
                  return a;
              },
              mmu::access_kind::write, codes{write_protection})
              .segv == segv_code::accerr);
    // A read of PROT_NONE.
    CHECK(segv([&] { return s.map(page_size, prot_none); }, mmu::access_kind::read, codes{read_not_present})
              .segv == segv_code::accerr);
    // A fetch from a readable, non-executable area: the read fault maps the zero page with NX,
    // the retried fetch is a protection fault.
    CHECK(segv([&] { return s.map(page_size, rw); }, mmu::access_kind::fetch,
               codes{fetch_not_present, fetch_protection})
              .segv == segv_code::accerr);
    // A user access to the kernel's direct map: present but supervisor-only, reported as MAPERR.
    CHECK(segv([&] { return s.k.kernel->page_offset() + 0x1000000; }, mmu::access_kind::read,
               codes{read_protection})
              .segv == segv_code::maperr);
    CHECK(s.procs.segfaults() == 6);
    // show_signal_msg: the first one as the log has it (no ip modelled; sp the stack's start).
    CHECK(text(s.k.log.lines("task1[1]")) ==
          text(lines{"task1[1]: segfault at 20000000 ip 0000000000000000 sp 00007fffffffe000 error 4"}));
    // sanitize_error_code: a kernel address reads as a protection fault.
    CHECK(text(s.k.log.lines("task6[6]")) ==
          text(lines{
              "task6[6]: segfault at ffff888001000000 ip 0000000000000000 sp 00007fffffffe000 error 5"}));
    // A dead task cannot run again.
    CHECK_FALSE(s.procs.switch_to(1));
    CHECK(s.k.kernel->pages().check_invariants() == "");
    CHECK(s.k.kernel->pages().bugs() == 0);
}

TEST_CASE("process SIGSEGV frees the task's memory; another process runs on") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t a = s.map(4 * page_size);
    for (unsigned i = 0; i < 4; ++i) REQUIRE(s.cpu.write(a + i * page_size, 0x10 + i));
    const std::uint64_t free1 = s.k.free_pages();
    const node_page_state node1 = s.node();

    REQUIRE(s.procs.switch_to(2));
    const std::uint64_t b = s.map(8 * page_size);
    for (unsigned i = 0; i < 8; ++i) REQUIRE(s.cpu.write(b + i * page_size, 0x20 + i));
    CHECK(s.cpu.load(a) == 0x24);  // process 1's address, inside process 2's own area
    CHECK(s.node().nr_kernel_stack_kb == node1.nr_kernel_stack_kb + 16);
    CHECK_FALSE(s.cpu.write(0x30000000, 1));
    CHECK(s.task(2).exit_signal == sigsegv);
    CHECK(s.task(2).segv == segv_code::maperr);
    CHECK(s.task(2).min_flt == 8);  // the 8 anonymous faults; the SIGSEGV resolved nothing
    CHECK(s.k.free_pages() == free1);
    CHECK(s.node().nr_anon_mapped == node1.nr_anon_mapped);
    CHECK(s.node().nr_pagetable == node1.nr_pagetable);
    CHECK(s.node().nr_kernel_stack_kb == node1.nr_kernel_stack_kb);
    CHECK_FALSE(s.procs.switch_to(2));

    REQUIRE(s.procs.switch_to(1));
    for (unsigned i = 0; i < 4; ++i) CHECK(s.cpu.load(a + i * page_size) == 0x10 + i);
    CHECK(s.mm().check_invariants() == "");
}

namespace {

// The protection matrix: PROT_NONE, R, RW, RX, RWX against a read, a write and a fetch, each in
// a fresh process, as "read/write/fetch" outcomes per protection.
std::string protection_matrix(kernel_arch arch, bool pae) {
    os s(arch, pae);
    const std::uint64_t free0 = s.k.free_pages();
    int pid = 1;
    std::vector<std::string> rows;
    for (int prot : {prot_none, prot_read, rw, prot_read | prot_exec, rw | prot_exec}) {
        std::string row;
        for (mmu::access_kind kind :
             {mmu::access_kind::read, mmu::access_kind::write, mmu::access_kind::fetch}) {
            const int me = pid++;
            REQUIRE(s.procs.switch_to(me));
            const std::uint64_t a = s.map(page_size, prot);
            std::uint64_t v = 0;
            std::string outcome;
            if (s.cpu.access(a, kind, &v)) {
                outcome = "ok";
                s.procs.exit(0);
            } else {
                const task_struct& t = s.task(me);
                CHECK(t.exit_signal == sigsegv);
                CHECK(t.segv_addr == a);
                outcome = t.segv == segv_code::maperr   ? "maperr"
                          : t.segv == segv_code::accerr ? "accerr"
                                                        : "none";
            }
            row += row.empty() ? outcome : "/" + outcome;
        }
        rows.push_back(row);
    }
    CHECK(s.k.free_pages() == free0);
    return text(rows);
}

}  // namespace

TEST_CASE("process protection matrix on x86_64 and i386 PAE (NX): fetch needs PROT_EXEC") {
    const std::string nx = text({
        "accerr/accerr/accerr",  // PROT_NONE
        "ok/accerr/accerr",      // PROT_READ
        "ok/ok/accerr",          // PROT_READ|PROT_WRITE
        "ok/accerr/ok",          // PROT_READ|PROT_EXEC
        "ok/ok/ok",              // PROT_READ|PROT_WRITE|PROT_EXEC
    });
    CHECK(protection_matrix(kernel_arch::x86_64, false) == nx);
    CHECK(protection_matrix(kernel_arch::i386, true) == nx);
}

TEST_CASE("process SIGSEGV on i386: the kernel's direct map above 0xc0000000 is SEGV_MAPERR") {
    for (bool pae : {false, true}) {
        os s(kernel_arch::i386, pae);
        REQUIRE(s.procs.switch_to(1));
        CHECK_FALSE(s.cpu.access(0xc0100000, mmu::access_kind::read));
        CHECK(hex(s.cpu.errors()) == hex(codes{read_protection}));
        CHECK(s.task(1).segv == segv_code::maperr);
        CHECK(s.task(1).segv_addr == 0xc0100000);
        CHECK(text(s.k.log.lines("task1[1]")) ==
              text(lines{"task1[1]: segfault at c0100000 ip 00000000 sp bffff000 error 5"}));
    }
}

TEST_CASE("process protection matrix on i386 2-level paging: no NX, every readable page executes") {
    CHECK(protection_matrix(kernel_arch::i386, false) == text({
                                                             "accerr/accerr/accerr",
                                                             "ok/accerr/ok",
                                                             "ok/ok/ok",
                                                             "ok/accerr/ok",
                                                             "ok/ok/ok",
                                                         }));
}

// ---- 7. stack growth ---------------------------------------------------------------------------

TEST_CASE("process stack growth: a page below [stack] grows it; beyond RLIMIT_STACK is SEGV_MAPERR") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t top = 0x7ffffffff000;
    // setup_arg_pages: one page of arguments and 128 KiB below it.
    CHECK(areas_of(s.mm()) == text(lines{fmt::format("7ffffffde000-7ffffffff000 {:#x}", stack_flags)}));
    CHECK(s.cpu.write(top - 8, 0x57ac));
    CHECK(s.cpu.write(0x7ffffffde000 - 8, 0x1));
    CHECK(hex(s.cpu.errors()) == hex(codes{write_not_present}));
    CHECK(areas_of(s.mm()) == text(lines{fmt::format("7ffffffdd000-7ffffffff000 {:#x}", stack_flags)}));
    CHECK(s.mm().areas().maps() ==
          "7ffffffdd000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]\n");
    // Down to exactly RLIMIT_STACK (8 MiB) below the top.
    CHECK(s.cpu.write(top - 8 * MiB, 0x2));
    CHECK(areas_of(s.mm()) == text(lines{fmt::format("7fffff7ff000-7ffffffff000 {:#x}", stack_flags)}));
    CHECK(s.cpu.load(top - 8) == 0x57ac);
    CHECK(s.mm().check_invariants() == "");
    // One more page would pass the limit.
    CHECK_FALSE(s.cpu.write(top - 8 * MiB - 8, 0x3));
    CHECK(s.task(1).segv == segv_code::maperr);
    CHECK(s.task(1).segv_addr == top - 8 * MiB - 8);
}

TEST_CASE("process stack growth on i386: below 0xc0000000") {
    os s(kernel_arch::i386);
    REQUIRE(s.procs.switch_to(1));
    CHECK(areas_of(s.mm()) == text(lines{fmt::format("bffdf000-c0000000 {:#x}", stack_flags)}));
    CHECK(s.cpu.write(0xbffdf000 - 4 * page_size, 0x1));
    CHECK(areas_of(s.mm()) == text(lines{fmt::format("bffdb000-c0000000 {:#x}", stack_flags)}));
    CHECK_FALSE(s.cpu.access(0xc0000000 - 8 * MiB - page_size, mmu::access_kind::read));
    CHECK(s.task(1).segv == segv_code::maperr);
}

// ---- 8. MAP_POPULATE ---------------------------------------------------------------------------

TEST_CASE("process MAP_POPULATE: private writable pages present and writable, read-only the zero page") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t nx = s.nx();
    const std::uint64_t free0 = s.k.free_pages();
    const std::uint64_t tables0 = s.node().nr_pagetable;
    const std::uint64_t a = s.map(16 * page_size, rw, anon_private | map_populate);
    CHECK(a == 0x7ffff7fef000);
    std::vector<phys_addr_t> frames;
    for (unsigned i = 0; i < 16; ++i) {
        const std::uint64_t entry = s.pte(a + i * page_size);
        const phys_addr_t f = s.frame(a + i * page_size);
        CHECK(entry == (f | P | RW | U | A | D | nx));
        CHECK(f != s.zero_page());
        CHECK(s.page_of(f).refcount == 1);
        frames.push_back(f);
    }
    std::sort(frames.begin(), frames.end());
    CHECK(std::unique(frames.begin(), frames.end()) == frames.end());
    CHECK(s.mm().anon_pages() == 16);
    CHECK(s.mm().min_flt() == 16);
    // 16 pages and the PDPT, PD and PT above them.
    CHECK(s.node().nr_pagetable == tables0 + 3);
    CHECK(s.k.free_pages() == free0 - 16 - 3);
    // Already there: no fault on the write.
    CHECK(s.cpu.write(a + 15 * page_size, 1));
    CHECK(s.cpu.errors().empty());

    const std::uint64_t b = s.map(16 * page_size, prot_read, anon_private | map_populate);
    CHECK(b == 0x7ffff7fdf000);
    for (unsigned i = 0; i < 16; ++i)
        CHECK(s.pte(b + i * page_size) == (s.zero_page() | P | U | A | SPECIAL | nx));
    CHECK(s.mm().anon_pages() == 16);
    CHECK(s.k.free_pages() == free0 - 16 - 3);

    // Shared: the file's pages, read in (PAGE_SHARED, clean).
    const std::uint64_t nr_shmem = s.node().nr_shmem;
    const std::uint64_t c = s.map(16 * page_size, rw, anon_shared | map_populate);
    for (unsigned i = 0; i < 16; ++i)
        CHECK(s.pte(c + i * page_size) == (s.frame(c + i * page_size) | P | RW | U | A | nx));
    CHECK(s.node().nr_shmem == nr_shmem + 16);
    CHECK(s.mm().shmem_pages() == 16);
    // PROT_NONE: nothing to fault in.
    const std::uint64_t d = s.map(16 * page_size, prot_none, anon_private | map_populate);
    CHECK(s.pte(d) == 0);
    CHECK(s.mm().check_invariants() == "");
}

// ---- 9. brk ------------------------------------------------------------------------------------

TEST_CASE("process brk: grow, touch, shrink frees the pages and tables; failure returns the old break") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t start = 0x601000;
    CHECK(s.procs.brk(0) == start);
    const std::uint64_t free0 = s.k.free_pages();
    const std::uint64_t tables0 = s.node().nr_pagetable;
    CHECK(s.procs.brk(start + 8 * page_size) == start + 8 * page_size);
    CHECK(s.mm().areas().maps() ==
          "00601000-00609000 rw-p 00000000 00:00 0                                  [heap]\n"
          "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]\n");
    for (unsigned i = 0; i < 8; ++i) CHECK(s.cpu.write(start + i * page_size, i + 1));
    CHECK(s.mm().anon_pages() == 8);
    CHECK(s.node().nr_pagetable == tables0 + 3);  // PDPT, PD, PT under PML4 entry 0
    CHECK(s.k.free_pages() == free0 - 8 - 3);

    // Shrink to 2 pages: 6 pages back; the PT still serves the heap.
    CHECK(s.procs.brk(start + 2 * page_size) == start + 2 * page_size);
    CHECK(s.mm().anon_pages() == 2);
    CHECK(s.pte(start + 2 * page_size) == 0);
    CHECK(s.k.free_pages() == free0 - 2 - 3);
    CHECK(s.cpu.load(start + page_size) == 2);

    // Growing into a mapping fails and returns the old break.
    REQUIRE(s.procs.mmap(start + 16 * page_size, page_size, rw, anon_private | map_fixed_noreplace) ==
            static_cast<std::int64_t>(start + 16 * page_size));
    CHECK(s.procs.brk(start + 32 * page_size) == start + 2 * page_size);
    // Below start_brk: refused, the break as it was.
    CHECK(s.procs.brk(start - page_size) == start + 2 * page_size);
    CHECK(s.procs.syscalls().at("brk").errors == 2);
    REQUIRE(s.procs.munmap(start + 16 * page_size, page_size) == 0);

    // Back to nothing: the pages and every table below PML4 entry 0.
    CHECK(s.procs.brk(start) == start);
    CHECK(s.mm().anon_pages() == 0);
    CHECK(s.node().nr_pagetable == tables0);
    CHECK(s.k.free_pages() == free0);
    CHECK(s.mm().check_invariants() == "");
    // The freed heap is gone.
    CHECK_FALSE(s.cpu.access(start, mmu::access_kind::read));
    CHECK(s.task(1).segv == segv_code::maperr);
}

// ---- 10. conservation --------------------------------------------------------------------------

namespace {

void check_conservation(kernel_arch arch, bool pae, std::uint64_t ram = 256 * MiB, bool la57 = false) {
    INFO(arch_name(arch, pae), " ", ram / MiB, " MiB", la57 ? " LA57" : "");
    os s(arch, pae, ram, la57);
    const std::uint64_t free0 = s.k.free_pages();
    const node_page_state node0 = s.node();
    std::mt19937_64 rng(20240601);
    // What each process should read, slot by slot (8-byte aligned addresses); unwritten is 0.
    std::map<int, std::map<std::uint64_t, std::uint64_t>> model;
    auto check_all = [&](int pid) {
        REQUIRE(s.procs.switch_to(pid));
        for (const auto& [addr, value] : model[pid]) {
            std::uint64_t got = 0;
            REQUIRE(s.cpu.read(addr, got));
            CHECK(got == value);
        }
    };
    auto invariants = [&] {
        for (const auto& [pid, task] : s.procs.tasks())
            if (task.mm) CHECK(task.mm->check_invariants() == "");
        CHECK(s.k.kernel->pages().check_invariants() == "");
    };
    auto touch = [&](int pid, std::uint64_t base, unsigned pages, unsigned count) {
        for (unsigned i = 0; i < count; ++i) {
            const std::uint64_t r = rng();
            const std::uint64_t addr = base + (r % pages) * page_size + ((r >> 20) % 512) * 8;
            if ((r >> 40) & 1) {
                const std::uint64_t value = rng();
                REQUIRE(s.cpu.write(addr, value));
                model[pid][addr] = value;
            } else {
                std::uint64_t got = 0;
                REQUIRE(s.cpu.read(addr, got));
                auto it = model[pid].find(addr);
                CHECK(got == (it == model[pid].end() ? 0 : it->second));
            }
        }
    };

    // Process 1: 64 pages written in order, then random accesses; a shared area.
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t a1 = s.map(64 * page_size);
    for (unsigned i = 0; i < 64; ++i) {
        REQUIRE(s.cpu.write(a1 + i * page_size, a1 + i));
        model[1][a1 + i * page_size] = a1 + i;
    }
    // On i386 with HighMem, user pages come from ZONE_HIGHMEM first (GFP_HIGHUSER_MOVABLE).
    if (arch == kernel_arch::i386 && ram > 896 * MiB)
        CHECK(s.k.kernel->pages().page_zone(&s.page_at(a1)).type == zone_type::highmem);
    touch(1, a1, 64, 300);
    const std::uint64_t shared = s.map(8 * page_size, rw, anon_shared);
    for (unsigned i = 0; i < 8; i += 2) {
        REQUIRE(s.cpu.write(shared + i * page_size, 0x5000 + i));
        model[1][shared + i * page_size] = 0x5000 + i;
    }
    const std::uint64_t heap = s.procs.brk(0);
    REQUIRE(s.procs.brk(heap + 4 * page_size) == heap + 4 * page_size);
    touch(1, heap, 4, 20);
    // The stack: its top page, and a page below the area, which grows it.
    const std::uint64_t top = s.mm().areas().layout().stack_top;
    const std::uint64_t stack_start = s.mm().areas().find_vma(top - 1)->vm_start;
    REQUIRE(s.cpu.write(top - 8, 0x70b));
    REQUIRE(s.cpu.write(stack_start - 8, 0x5ac));
    model[1][top - 8] = 0x70b;
    model[1][stack_start - 8] = 0x5ac;

    // Process 2: its own memory, random, and its stack.
    REQUIRE(s.procs.switch_to(2));
    const std::uint64_t a2 = s.map(32 * page_size);
    touch(2, a2, 32, 200);
    REQUIRE(s.cpu.write(top - 16, 0x2222));
    model[2][top - 16] = 0x2222;
    invariants();

    // Process 1 forks 3; both write copy-on-write pages and the shared area.
    REQUIRE(s.procs.switch_to(1));
    REQUIRE(s.procs.fork(3) == 3);
    model[3] = model[1];
    invariants();
    REQUIRE(s.procs.switch_to(3));
    touch(3, a1, 64, 300);
    REQUIRE(s.cpu.write(shared + page_size, 0x3333));
    model[3][shared + page_size] = model[1][shared + page_size] = 0x3333;
    REQUIRE(s.procs.munmap(a1 + 8 * page_size, 8 * page_size) == 0);
    for (auto it = model[3].begin(); it != model[3].end();)
        it = it->first >= a1 + 8 * page_size && it->first < a1 + 16 * page_size ? model[3].erase(it)
                                                                                : std::next(it);
    REQUIRE(s.procs.mprotect(a1 + 32 * page_size, 4 * page_size, prot_read) == 0);
    invariants();
    REQUIRE(s.procs.switch_to(1));
    touch(1, a1, 64, 300);
    REQUIRE(s.cpu.write(shared + 3 * page_size, 0x1111));
    model[1][shared + 3 * page_size] = model[3][shared + 3 * page_size] = 0x1111;
    REQUIRE(s.procs.mprotect(a1, 16 * page_size, prot_none) == 0);
    REQUIRE(s.procs.mprotect(a1, 16 * page_size, rw) == 0);
    REQUIRE(s.procs.munmap(a1 + 60 * page_size, 8 * page_size) == 0);
    for (auto it = model[1].begin(); it != model[1].end();)
        it = it->first >= a1 + 60 * page_size && it->first < a1 + 64 * page_size ? model[1].erase(it)
                                                                                 : std::next(it);
    invariants();
    check_all(1);
    check_all(3);
    check_all(2);

    // Process 2 dies of SIGSEGV; 1 and 3 exit.
    REQUIRE(s.procs.switch_to(2));
    CHECK_FALSE(s.cpu.write(0x20000000, 1));
    invariants();
    REQUIRE(s.procs.switch_to(1));
    s.procs.exit(0);
    check_all(3);
    invariants();
    s.procs.exit(0);

    CHECK(s.k.free_pages() == free0);
    CHECK(s.k.kernel->pages().check_invariants() == "");
    CHECK(s.k.kernel->pages().bugs() == 0);
    CHECK(s.node().nr_anon_mapped == node0.nr_anon_mapped);
    CHECK(s.node().nr_pagetable == node0.nr_pagetable);
    CHECK(s.node().nr_kernel_stack_kb == node0.nr_kernel_stack_kb);
    CHECK(s.node().nr_shmem == node0.nr_shmem);
    CHECK(node0.nr_anon_mapped == 0);
    CHECK(node0.nr_kernel_stack_kb == 0);
    CHECK(node0.nr_shmem == 0);
    CHECK(node0.nr_pagetable == 0);  // the kernel's own tables are not NR_PAGETABLE's
    CHECK(s.procs.services().shmem.empty());
    // The zones' counts as process_table recorded them before the first process.
    const std::vector<zone_free> after = zone_free_pages(s.k.kernel->pages());
    REQUIRE(after.size() == s.procs.free_before().size());
    for (std::size_t i = 0; i < after.size(); ++i) CHECK(after[i].pages == s.procs.free_before()[i].pages);
}

}  // namespace

TEST_CASE("process conservation on x86_64: every page back after fork, COW, shared, munmap, SIGSEGV, exit") {
    check_conservation(kernel_arch::x86_64, false);
}

TEST_CASE("process conservation on i386 2-level and PAE") {
    check_conservation(kernel_arch::i386, false);
    check_conservation(kernel_arch::i386, true);
}

TEST_CASE(
    "process conservation with HighMem user pages (i386, 1 GiB) and with 5-level paging (x86_64 LA57)") {
    check_conservation(kernel_arch::i386, false, 1024 * MiB);
    check_conservation(kernel_arch::i386, true, 1024 * MiB);
    check_conservation(kernel_arch::x86_64, false, 256 * MiB, true);
}

// ---- 11. kernel stacks -------------------------------------------------------------------------

TEST_CASE("process kernel stacks: THREAD_SIZE of 16 KiB on x86_64, 8 KiB on i386") {
    {
        os s;
        const std::uint64_t free0 = s.k.free_pages();
        REQUIRE(s.procs.switch_to(1));
        CHECK(s.node().nr_kernel_stack_kb == 16);
        CHECK(s.task(1).stack != nullptr);
        // The stack (order 2) and the PGD (PGD_ALLOCATION_ORDER 1: CONFIG_PAGE_TABLE_ISOLATION).
        CHECK(s.k.free_pages() == free0 - 4 - 2);
        REQUIRE(s.procs.fork(2) == 2);
        CHECK(s.node().nr_kernel_stack_kb == 32);
        CHECK(s.k.free_pages() == free0 - 2 * 6);
        s.procs.exit(0);
        CHECK(s.node().nr_kernel_stack_kb == 16);
        REQUIRE(s.procs.switch_to(2));
        s.procs.exit(0);
        CHECK(s.node().nr_kernel_stack_kb == 0);
        CHECK(s.k.free_pages() == free0);
    }
    {
        os s(kernel_arch::i386);
        const std::uint64_t free0 = s.k.free_pages();
        REQUIRE(s.procs.switch_to(1));
        CHECK(s.node().nr_kernel_stack_kb == 8);
        CHECK(s.k.free_pages() == free0 - 2 - 1);
        s.procs.exit(0);
        CHECK(s.node().nr_kernel_stack_kb == 0);
        CHECK(s.k.free_pages() == free0);
    }
    {
        os s(kernel_arch::i386, true);
        const std::uint64_t free0 = s.k.free_pages();
        REQUIRE(s.procs.switch_to(1));
        CHECK(s.node().nr_kernel_stack_kb == 8);
        CHECK(s.k.free_pages() == free0 - 2 - 1 - 3);  // and the three user PMDs pgd_alloc links
        s.procs.exit(0);
        CHECK(s.k.free_pages() == free0);
    }
}

// ---- 12. TLB flushes ---------------------------------------------------------------------------

TEST_CASE("process TLB flushes: munmap of 4 pages is 4 INVLPGs, of 64 pages one PCID flush") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t a = s.map(4 * page_size, rw, anon_private | map_populate);
    s.k.machine.flushed_pages.clear();
    s.k.machine.flushed_pcids.clear();
    const std::uint64_t gen = s.mm().tlb_gen();
    const std::uint64_t one = s.procs.services().tlb_local_flush_one;
    const std::uint64_t all = s.procs.services().tlb_local_flush_all;
    CHECK(s.procs.munmap(a, 4 * page_size) == 0);
    CHECK(s.procs.services().tlb_local_flush_one == one + 4);
    CHECK(s.procs.services().tlb_local_flush_all == all);
    CHECK(hex(s.k.machine.flushed_pages) ==
          hex(addresses{a, a + page_size, a + 2 * page_size, a + 3 * page_size}));
    CHECK(s.k.machine.flushed_pcids.empty());
    CHECK(s.mm().tlb_gen() == gen + 1);

    const std::uint64_t b = s.map(64 * page_size, rw, anon_private | map_populate);
    s.k.machine.flushed_pages.clear();
    CHECK(s.procs.munmap(b, 64 * page_size) == 0);
    CHECK(s.k.machine.flushed_pages.empty());
    CHECK(hex(s.k.machine.flushed_pcids) == hex(pcids{2}));  // 64 > 33: the whole PCID
    CHECK(s.procs.services().tlb_local_flush_all == all + 1);

    // Nothing mapped, no table freed: no flush at all.
    const std::uint64_t untouched = s.map(8 * page_size);
    s.k.machine.flushed_pages.clear();
    s.k.machine.flushed_pcids.clear();
    CHECK(s.procs.munmap(untouched, 8 * page_size) == 0);
    CHECK(s.k.machine.flushed_pages.empty());
    CHECK(s.k.machine.flushed_pcids.empty());

    // mprotect of 64 populated pages: their PTEs change, one PCID flush.
    const std::uint64_t e = s.map(64 * page_size, rw, anon_private | map_populate);
    s.k.machine.flushed_pages.clear();
    s.k.machine.flushed_pcids.clear();
    CHECK(s.procs.mprotect(e, 64 * page_size, prot_read) == 0);
    CHECK(s.k.machine.flushed_pages.empty());
    CHECK(hex(s.k.machine.flushed_pcids) == hex(pcids{2}));
    CHECK(s.procs.munmap(e, 64 * page_size) == 0);

    // Exactly the ceiling: 33 pages still go one by one.
    const std::uint64_t c = s.map(33 * page_size, rw, anon_private | map_populate);
    s.k.machine.flushed_pages.clear();
    s.k.machine.flushed_pcids.clear();
    CHECK(s.procs.munmap(c, 33 * page_size) == 0);
    CHECK(s.k.machine.flushed_pages.size() == 33);
    CHECK(s.k.machine.flushed_pcids.empty());

    // fork write-protects the parent's PTEs: flush_tlb_mm, the whole PCID.
    const std::uint64_t d = s.map(page_size, rw, anon_private | map_populate);
    s.k.machine.flushed_pcids.clear();
    REQUIRE(s.procs.fork(2) == 2);
    CHECK(hex(s.k.machine.flushed_pcids) == hex(pcids{2}));
    // The COW copy clears the old PTE and flushes it (ptep_clear_flush) in the running process.
    s.k.machine.flushed_pages.clear();
    CHECK(s.cpu.write(d, 1));
    CHECK(hex(s.k.machine.flushed_pages) == hex(addresses{d}));
}

// ---- more of Linux's rules ----------------------------------------------------------------------

TEST_CASE("process MAP_FIXED over a populated mapping frees its pages; the new mapping reads zero") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t a = s.map(4 * page_size);
    for (unsigned i = 0; i < 4; ++i) REQUIRE(s.cpu.write(a + i * page_size, 0x77 + i));
    const std::uint64_t free_before = s.k.free_pages();
    CHECK(s.procs.mmap(a + page_size, 2 * page_size, prot_read, anon_private | map_fixed) ==
          static_cast<std::int64_t>(a + page_size));
    CHECK(s.k.free_pages() == free_before + 2);
    CHECK(s.pte(a + page_size) == 0);
    CHECK(s.cpu.load(a + page_size) == 0);
    CHECK(s.pte(a + page_size) == (s.zero_page() | P | U | A | SPECIAL | s.nx()));
    CHECK(s.cpu.load(a) == 0x77);
    CHECK(s.cpu.load(a + 3 * page_size) == 0x7a);
    CHECK(s.mm().anon_pages() == 2);
    CHECK(s.mm().check_invariants() == "");

    // Over a shared mapping: the file loses its last mapping and its pages.
    const std::uint64_t nr_shmem = s.node().nr_shmem;
    const std::uint64_t b = s.map(2 * page_size, rw, anon_shared);
    REQUIRE(s.cpu.write(b, 1));
    REQUIRE(s.cpu.write(b + page_size, 2));
    CHECK(s.node().nr_shmem == nr_shmem + 2);
    const std::uint64_t free_shared = s.k.free_pages();
    CHECK(s.procs.mmap(b, 2 * page_size, rw, anon_private | map_fixed) == static_cast<std::int64_t>(b));
    CHECK(s.node().nr_shmem == nr_shmem);
    CHECK(s.k.free_pages() == free_shared + 2);
    CHECK(s.procs.services().shmem.empty());
    CHECK(s.cpu.load(b) == 0);
    CHECK(s.mm().check_invariants() == "");
}

TEST_CASE("process fork, then the child exits: the parent's next write reuses its page (refcount 1)") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t a = s.map(page_size);
    REQUIRE(s.cpu.write(a, 0x1234));
    const phys_addr_t frame = s.frame(a);
    REQUIRE(s.procs.fork(2) == 2);
    CHECK(s.page_of(frame).refcount == 2);
    REQUIRE(s.procs.switch_to(2));
    CHECK(s.cpu.load(a) == 0x1234);
    s.procs.exit(0);
    REQUIRE(s.procs.switch_to(1));
    CHECK(s.page_of(frame).refcount == 1);
    CHECK(s.page_of(frame).mapcount() == 0);
    CHECK_FALSE(s.page_of(frame).test(PG_anon_exclusive));  // fork cleared it; nothing set it since
    const std::uint64_t free_before = s.k.free_pages();
    CHECK(s.cpu.write(a, 0x4321));
    CHECK(hex(s.cpu.errors()) == hex(codes{write_protection}));
    CHECK(s.faults(fault_kind::cow_reuse) == 1);
    CHECK(s.faults(fault_kind::cow_copy) == 0);
    CHECK(s.frame(a) == frame);
    CHECK(s.k.free_pages() == free_before);
    CHECK(s.page_of(frame).test(PG_anon_exclusive));
}

TEST_CASE("process PROT_NONE keeps the page: ACCERR while inaccessible, the data back after mprotect") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t a = s.map(2 * page_size);
    REQUIRE(s.cpu.write(a, 0xfeed));
    const phys_addr_t frame = s.frame(a);
    CHECK(s.procs.mprotect(a, page_size, prot_none) == 0);
    // _PAGE_PROTNONE in the G bit's place, P clear; the frame, A and D kept.
    CHECK(s.pte(a) == (frame | pte::protnone | A | D));
    CHECK(s.page_of(frame).refcount == 1);
    CHECK(s.mm().anon_pages() == 1);
    CHECK(s.mm().check_invariants() == "");
    CHECK(s.procs.mprotect(a, page_size, rw) == 0);
    CHECK(s.pte(a) == (frame | P | RW | U | A | D | s.nx()));
    CHECK(s.cpu.load(a) == 0xfeed);
    CHECK(s.procs.mprotect(a, page_size, prot_none) == 0);
    CHECK_FALSE(s.cpu.access(a, mmu::access_kind::read));
    CHECK(hex(s.cpu.errors()) == hex(codes{read_not_present}));
    CHECK(s.task(1).segv == segv_code::accerr);
}

TEST_CASE("process stack guard gap: an accessible area less than 1 MiB below the stack stops its growth") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t stack_start = 0x7ffffffde000;
    // MAP_FIXED may place an area inside the gap; the stack then cannot grow towards it.
    const std::uint64_t below = stack_start - 16 * page_size;
    REQUIRE(s.procs.mmap(below, page_size, rw, anon_private | map_fixed) == static_cast<std::int64_t>(below));
    CHECK_FALSE(s.cpu.write(stack_start - 8, 1));
    CHECK(s.task(1).segv == segv_code::maperr);
    CHECK(s.task(1).segv_addr == stack_start - 8);

    // A PROT_NONE area there does not count (vma_is_accessible).
    REQUIRE(s.procs.switch_to(2));
    REQUIRE(s.procs.mmap(below, page_size, prot_none, anon_private | map_fixed) ==
            static_cast<std::int64_t>(below));
    CHECK(s.cpu.write(stack_start - 8, 1));
    CHECK(s.mm().areas().find_vma(stack_start - 8)->vm_start == stack_start - page_size);
}

TEST_CASE("process brk: memory given back and grown again reads zero") {
    os s(kernel_arch::i386);
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t start = 0x0804a000;
    CHECK(s.procs.brk(0) == start);
    REQUIRE(s.procs.brk(start + 2 * page_size) == start + 2 * page_size);
    REQUIRE(s.cpu.write(start + page_size, 0xdead));
    // A break inside a page keeps that page.
    REQUIRE(s.procs.brk(start + page_size + 8) == start + page_size + 8);
    CHECK(s.cpu.load(start + page_size) == 0xdead);
    REQUIRE(s.procs.brk(start) == start);
    REQUIRE(s.procs.brk(start + 2 * page_size) == start + 2 * page_size);
    CHECK(s.cpu.load(start + page_size) == 0);
    CHECK(s.mm().check_invariants() == "");
}

TEST_CASE("process OOM: a task that touches more than RAM is killed and gives everything back") {
    os s;
    const std::uint64_t free0 = s.k.free_pages();
    REQUIRE(s.procs.switch_to(1));
    // MAP_NORESERVE: not charged against the overcommit heuristic.
    const std::uint64_t len = 320 * MiB;
    const std::uint64_t a = s.map(len, rw, anon_private | map_noreserve);
    std::uint64_t touched = 0;
    while (touched < len / page_size && s.cpu.write(a + touched * page_size, touched)) ++touched;
    REQUIRE(touched < len / page_size);
    const task_struct& t = s.task(1);
    CHECK(t.exited);
    CHECK(t.exit_signal == 9);  // SIGKILL
    CHECK(t.segv == segv_code::none);
    CHECK(s.procs.oom_kills() == 1);
    CHECK(s.procs.segfaults() == 0);
    // total-vm: the mapping and the 33 pages of stack, in kB; anon-rss: the pages it had.
    CHECK(text(s.k.log.lines("Out of memory: Killed")) ==
          text(lines{fmt::format("Out of memory: Killed process 1 (task1) total-vm:{}kB, anon-rss:{}kB",
                                 (len / page_size + 33) * 4, touched * 4)}));
    // out_of_memory's report names the task whose allocation failed (dump_header's current->comm).
    CHECK(text(s.k.log.lines("", kern_level::warning)).find("swapper/0 invoked oom-killer") ==
          std::string::npos);
    CHECK(text(s.k.log.lines("task1 invoked oom-killer")) ==
          text(lines{"task1 invoked oom-killer: gfp_mask=0x100dca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), order=0, "
                     "oom_score_adj=0"}));
    CHECK(s.k.free_pages() == free0);
    CHECK(s.k.kernel->pages().check_invariants() == "");
    CHECK(s.node().nr_anon_mapped == 0);
    CHECK(s.node().nr_kernel_stack_kb == 0);
    // Memory is there again for the next process.
    REQUIRE(s.procs.switch_to(2));
    const std::uint64_t b = s.map(16 * MiB);
    for (std::uint64_t i = 0; i < 16 * MiB / page_size; ++i) REQUIRE(s.cpu.write(b + i * page_size, i));
    s.procs.exit(0);
    CHECK(s.k.free_pages() == free0);
}

// mm/util.c __vm_enough_memory with OVERCOMMIT_GUESS (Linux 6.1): a charged mapping (private,
// writable, without MAP_NORESERVE) of more pages than totalram_pages + swap fails.
TEST_CASE("process mmap overcommit heuristic: a private writable mapping larger than RAM is -ENOMEM") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t ram = s.k.kernel->pages().totalram_pages() * page_size;
    CHECK(s.procs.mmap(0, ram + page_size, rw, anon_private) == -enomem);
    CHECK(s.procs.mmap(0, ram + page_size, rw, anon_private | map_noreserve) > 0);
    CHECK(s.procs.mmap(0, ram + page_size, prot_read, anon_private) > 0);  // not charged
    CHECK(s.procs.mmap(0, ram / 2, rw, anon_private) > 0);
}

TEST_CASE(
    "process overcommit: shared anonymous mappings are charged; fork charges the parent's areas again") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t ram = s.k.kernel->pages().totalram_pages() * page_size;
    // shmem_acct_size: the shmem file behind MAP_SHARED|MAP_ANONYMOUS is charged unless
    // MAP_NORESERVE.
    CHECK(s.procs.mmap(0, ram + page_size, rw, anon_shared) == -enomem);
    CHECK(s.procs.mmap(0, ram + page_size, rw, anon_shared | map_noreserve) > 0);
    // Two charged mappings that merge into one area larger than RAM: each was within the
    // limit, the merged area is not, and dup_mmap charges it whole.
    const std::uint64_t half = (ram / 2 + 16 * page_size) & ~(page_size - 1);
    const std::uint64_t a = s.map(half);
    REQUIRE(s.procs.mmap(a + half, half, rw, anon_private | map_fixed) ==
            static_cast<std::int64_t>(a + half));
    CHECK(s.procs.fork(2) == -enomem);
    CHECK(s.procs.tasks().count(2) == 0);
}

TEST_CASE("process MAP_FIXED that fails before mmap_region leaves the old mapping and its pages") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t a = s.map(16 * page_size);
    REQUIRE(s.cpu.write(a, 0x55));
    // No MAP_PRIVATE or MAP_SHARED: -EINVAL from do_mmap, nothing unmapped.
    CHECK(s.procs.mmap(a, page_size, prot_read, map_fixed | map_anonymous) == -einval);
    std::uint64_t value = 0;
    REQUIRE(s.cpu.read(a, value));
    CHECK(value == 0x55);
    // A MAP_FIXED that succeeds replaces it: the new page reads zero.
    CHECK(s.procs.mmap(a, page_size, rw, anon_private | map_fixed) == static_cast<std::int64_t>(a));
    REQUIRE(s.cpu.read(a, value));
    CHECK(value == 0);
    CHECK(s.mm().check_invariants() == "");
}

TEST_CASE("process MAP_POPULATE beyond memory: the OOM killer takes the task, everything comes back") {
    os s;
    const std::uint64_t free0 = s.k.free_pages();
    REQUIRE(s.procs.switch_to(1));
    const std::int64_t a = s.procs.mmap(0, 320 * MiB, rw, anon_private | map_noreserve | map_populate);
    CHECK(a > 0);
    CHECK(s.procs.current() == nullptr);
    CHECK(s.task(1).exit_signal == 9);
    CHECK(s.procs.oom_kills() == 1);
    // __get_user_pages stopped at the first failure: one oom-killer report, not one per page.
    CHECK(s.k.log.lines("task1 invoked oom-killer").size() == 1);
    CHECK(s.k.free_pages() == free0);
}

TEST_CASE("process PAE: munmap frees a PMD nothing else maps; the next fault links a new one") {
    os s(kernel_arch::i386, true);
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t tables = s.node().nr_pagetable;  // the three preallocated PMDs
    CHECK(tables == 3);
    const std::uint64_t a = s.map(page_size, rw, anon_private | map_fixed, 0x40000000);
    REQUIRE(s.cpu.write(a, 1));
    CHECK(s.node().nr_pagetable == tables + 1);  // a PTE table
    REQUIRE(s.procs.munmap(a, page_size) == 0);
    CHECK(s.node().nr_pagetable == tables - 1);  // the PTE table and the PMD of 0x40000000-0x7fffffff
    const std::uint64_t b = s.map(page_size, rw, anon_private | map_fixed, 0x40000000);
    REQUIRE(s.cpu.write(b, 2));
    CHECK(s.node().nr_pagetable == tables + 1);
    s.procs.exit(0);
    CHECK(s.node().nr_pagetable == 0);
}

TEST_CASE("process page_fault: no user task, a supervisor fault or RSVD is the kernel's (oops)") {
    os s;
    CHECK(s.procs.page_fault(0x1000, pf::user) == fault_outcome::kernel_oops);  // nothing runs
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t a = s.map(page_size);
    CHECK(s.procs.page_fault(a, pf::write) == fault_outcome::kernel_oops);
    CHECK(s.procs.page_fault(a, pf::user | pf::rsvd | pf::prot) == fault_outcome::kernel_oops);
    CHECK(s.procs.current() != nullptr);
    CHECK(s.procs.page_fault(a, pf::user | pf::write) == fault_outcome::retry);
    CHECK(s.procs.page_fault(a, pf::user | pf::write | pf::prot) == fault_outcome::retry);  // spurious now
    CHECK(s.faults(fault_kind::spurious) == 1);
}

TEST_CASE("process system calls: fork's pid rules, nothing running, counts") {
    os s;
    CHECK(s.procs.mmap(0, page_size, rw, anon_private) == -3);  // -ESRCH: no task
    CHECK(s.procs.fork(2) == -3);
    REQUIRE(s.procs.switch_to(1));
    CHECK(s.procs.fork(1) == -11);  // -EAGAIN: taken
    CHECK(s.procs.fork(0) == -11);
    CHECK(s.procs.fork(pid_max_limit) == -11);
    CHECK(s.procs.fork(pid_max_limit - 1) == pid_max_limit - 1);
    CHECK(s.procs.syscalls().at("fork").calls == 5);
    CHECK(s.procs.syscalls().at("fork").errors == 4);
    CHECK(s.procs.mmap(0, page_size, rw, map_private) == -ebadf);  // no MAP_ANONYMOUS: fd -1
    CHECK(s.procs.mmap(0, 0, rw, anon_private) == -einval);
    CHECK(s.procs.munmap(0x1001, page_size) == -einval);
    CHECK(s.procs.mprotect(0x10000000, page_size, prot_read) == -enomem);
    CHECK(s.procs.syscalls().at("mmap").errors == 3);
}

TEST_CASE("process segfault messages are rate limited to 10 (printk_ratelimit)") {
    os s;
    for (int pid = 1; pid <= 12; ++pid) {
        REQUIRE(s.procs.switch_to(pid));
        CHECK_FALSE(s.cpu.access(0x20000000 + pid * page_size, mmu::access_kind::write));
    }
    CHECK(s.procs.segfaults() == 12);
    const std::vector<std::string> shown = s.k.log.lines("task");
    REQUIRE(shown.size() == 10);
    CHECK(shown.front() == "task1[1]: segfault at 20001000 ip 0000000000000000 sp 00007fffffffe000 error 6");
    CHECK(shown.back() == "task10[10]: segfault at 2000a000 ip 0000000000000000 sp 00007fffffffe000 error 6");
}

TEST_CASE("process PCIDs: switching back keeps the TLB (CR3 no-flush) unless the mm flushed meanwhile") {
    os s;
    REQUIRE(s.procs.switch_to(1));
    const std::uint64_t a = s.map(page_size, rw, anon_private | map_populate);
    const phys_addr_t root1 = s.mm().pgd().root();
    REQUIRE(s.procs.switch_to(2));
    const phys_addr_t root2 = s.mm().pgd().root();
    CHECK(s.k.machine.control_writes.back().second == (root2 | 3));  // a new ASID: flushed
    REQUIRE(s.procs.switch_to(1));
    CHECK(s.k.machine.control_writes.back().second == (root1 | 2 | mmu::cr3::no_flush));
    // munmap in 1 flushes its TLB and moves tlb_gen on; the slot follows, so no flush at the next load.
    CHECK(s.procs.munmap(a, page_size) == 0);
    REQUIRE(s.procs.switch_to(2));
    REQUIRE(s.procs.switch_to(1));
    CHECK(s.k.machine.control_writes.back().second == (root1 | 2 | mmu::cr3::no_flush));
    // Six dynamic ASIDs (TLB_NR_DYN_ASIDS): 3, 4, 5 take slots 3 to 5, 6 wraps to slot 0 (PCID 1),
    // 7 takes slot 1, pid 1's (PCID 2).
    for (int pid = 3; pid <= 6; ++pid) REQUIRE(s.procs.switch_to(pid));
    CHECK((s.k.machine.control_writes.back().second & 0xfff) == 1);
    REQUIRE(s.procs.switch_to(7));
    CHECK((s.k.machine.control_writes.back().second & 0xfff) == 2);
    CHECK((s.k.machine.control_writes.back().second & mmu::cr3::no_flush) == 0);
    // 1 lost its slot: the next one (slot 2, PCID 3), flushed.
    REQUIRE(s.procs.switch_to(1));
    CHECK(s.k.machine.control_writes.back().second == (root1 | 3));
}

// ---- a random workload against a model ----------------------------------------------------------

namespace {

// What a process should see at a page: its protection, and its contents (8-byte slots, 0 when
// never written), shared between the processes that map a shared page.
struct model_page {
    int prot = prot_none;
    bool shared = false;
    bool stack = false;
    std::shared_ptr<std::map<std::uint64_t, std::uint64_t>> data;
};
using model_space = std::map<std::uint64_t, model_page>;  // by page address

void random_workload(kernel_arch arch, bool pae, std::uint64_t seed, unsigned steps) {
    INFO(arch_name(arch, pae), " seed ", seed);
    os s(arch, pae);
    const std::uint64_t free0 = s.k.free_pages();
    std::mt19937_64 rng(seed);
    auto pick = [&](std::uint64_t n) { return rng() % n; };
    std::map<int, model_space> model;
    int next_pid = 1;
    int current = 0;
    // A window where MAP_FIXED, munmap and mprotect split and merge areas; the kernel places
    // the other mappings below mmap_base.
    const std::uint64_t window = 0x10000000;
    const std::uint64_t window_pages = 256;
    const int prots[] = {prot_none, prot_read, rw, prot_read | prot_exec, rw | prot_exec};

    auto spawn = [&] {
        current = next_pid++;
        REQUIRE(s.procs.switch_to(current));
        model[current];
    };
    auto forget = [&](model_space& space, std::uint64_t start, std::uint64_t pages) {
        for (std::uint64_t i = 0; i < pages; ++i) space.erase(start + i * page_size);
    };
    spawn();
    for (unsigned step = 0; step < steps; ++step) {
        CAPTURE(step);
        model_space& space = model[current];
        const std::uint64_t op = pick(100);
        if (op < 8) {
            // mmap, placed by the kernel or MAP_FIXED in the window.
            const std::uint64_t pages = 1 + pick(16);
            const int prot = prots[pick(5)];
            const bool shared = pick(5) == 0;
            int flags = (shared ? anon_shared : anon_private) | (pick(5) == 0 ? map_populate : 0);
            std::uint64_t addr = 0;
            if (pick(2)) {
                addr = window + pick(window_pages - pages) * page_size;
                flags |= map_fixed;
            }
            const std::int64_t r = s.procs.mmap(addr, pages * page_size, prot, flags);
            REQUIRE(r > 0);
            const auto at = static_cast<std::uint64_t>(r);
            if (addr) REQUIRE(at == addr);
            // Each page its own contents; fork shares a shared page's, copies a private one's.
            for (std::uint64_t i = 0; i < pages; ++i)
                space[at + i * page_size] = {prot, shared, false,
                                             std::make_shared<std::map<std::uint64_t, std::uint64_t>>()};
        } else if (op < 13) {
            // munmap of a range of the window.
            const std::uint64_t pages = 1 + pick(32);
            const std::uint64_t at = window + pick(window_pages - pages) * page_size;
            REQUIRE(s.procs.munmap(at, pages * page_size) == 0);
            forget(space, at, pages);
        } else if (op < 20) {
            // mprotect of a range every page of which is mapped (no -ENOMEM).
            if (space.empty()) continue;
            auto it = std::next(space.begin(), static_cast<std::ptrdiff_t>(pick(space.size())));
            if (it->second.stack) continue;  // a read-only piece of [stack] would grow read-only
            std::uint64_t pages = 1;
            const std::uint64_t want = 1 + pick(8);
            while (pages < want && space.count(it->first + pages * page_size)) ++pages;
            const int prot = prots[pick(5)];
            REQUIRE(s.procs.mprotect(it->first, pages * page_size, prot) == 0);
            for (std::uint64_t i = 0; i < pages; ++i) space[it->first + i * page_size].prot = prot;
        } else if (op < 22 && model.size() < 6) {
            // fork: private pages copied, shared ones shared.
            const int child = next_pid++;
            REQUIRE(s.procs.fork(child) == child);
            model_space copy = space;
            for (auto& [addr, pg] : copy)
                if (!pg.shared) pg.data = std::make_shared<std::map<std::uint64_t, std::uint64_t>>(*pg.data);
            model[child] = std::move(copy);
        } else if (op < 26) {
            // Another process runs; now and then a new one.
            if (pick(4) == 0 || model.size() == 1) {
                spawn();
            } else {
                auto it = std::next(model.begin(), static_cast<std::ptrdiff_t>(pick(model.size())));
                current = it->first;
                REQUIRE(s.procs.switch_to(current));
            }
        } else if (op < 27 && model.size() > 1) {
            // exit, or death by SIGSEGV in the window's holes or a PROT_NONE page.
            if (pick(2)) {
                s.procs.exit(0);
            } else {
                std::uint64_t bad = 0;
                for (std::uint64_t i = 0; i < window_pages && !bad; ++i)
                    if (!space.count(window + i * page_size)) bad = window + i * page_size;
                if (!bad) {
                    s.procs.exit(0);
                } else {
                    CHECK_FALSE(s.cpu.write(bad, 1));
                    CHECK(s.task(current).segv == segv_code::maperr);
                }
            }
            model.erase(current);
            current = model.begin()->first;
            REQUIRE(s.procs.switch_to(current));
        } else if (op < 30) {
            // brk: grow or shrink the heap; pages past the new end go, new ones read zero.
            const std::uint64_t start = s.mm().areas().start_brk();
            const std::uint64_t old_end = (s.mm().areas().current_brk() + page_size - 1) & ~(page_size - 1);
            const std::uint64_t wanted = start + pick(64) * page_size + pick(2) * 100;
            REQUIRE(s.procs.brk(wanted) == wanted);
            const std::uint64_t new_end = (wanted + page_size - 1) & ~(page_size - 1);
            if (new_end < old_end) forget(space, new_end, (old_end - new_end) / page_size);
            for (std::uint64_t at = old_end; at < new_end; at += page_size)
                space[at] = {rw, false, false, std::make_shared<std::map<std::uint64_t, std::uint64_t>>()};
        } else if (op < 33) {
            // A write on the stack, up to 48 pages below its top: the [stack] area grows down.
            const std::uint64_t top = s.mm().areas().layout().stack_top;
            const std::uint64_t page = top - page_size * (1 + pick(48));
            const std::uint64_t slot = pick(512) * 8;
            auto it = space.find(page);
            if (it == space.end())
                it =
                    space
                        .emplace(page, model_page{rw, false, true,
                                                  std::make_shared<std::map<std::uint64_t, std::uint64_t>>()})
                        .first;
            const std::uint64_t value = rng();
            REQUIRE(s.cpu.write(page + slot, value));
            (*it->second.data)[slot] = value;
        } else {
            // An access to a mapped page the protection allows.
            if (space.empty()) continue;
            auto it = std::next(space.begin(), static_cast<std::ptrdiff_t>(pick(space.size())));
            model_page& pg = it->second;
            const std::uint64_t slot = pick(512) * 8;
            const std::uint64_t addr = it->first + slot;
            const bool exec_ok =
                (pg.prot & prot_exec) || (arch == kernel_arch::i386 && !pae && pg.prot != prot_none);
            if ((pg.prot & prot_write) && pick(2)) {
                const std::uint64_t value = rng();
                REQUIRE(s.cpu.write(addr, value));
                (*pg.data)[slot] = value;
            } else if (pg.prot != prot_none) {
                const bool fetch = exec_ok && pick(4) == 0;
                std::uint64_t got = 0;
                REQUIRE(s.cpu.access(addr, fetch ? mmu::access_kind::fetch : mmu::access_kind::read, &got));
                auto v = pg.data->find(slot);
                CHECK(got == (v == pg.data->end() ? 0 : v->second));
            }
        }
        if (step % 64 == 0) {
            for (const auto& [pid, task] : s.procs.tasks())
                if (task.mm) CHECK(task.mm->check_invariants() == "");
            CHECK(s.k.kernel->pages().check_invariants() == "");
        }
    }
    // Every process reads back all it wrote, then exits.
    for (auto& [pid, space] : model) {
        REQUIRE(s.procs.switch_to(pid));
        CHECK(s.mm().check_invariants() == "");
        for (auto& [page_addr, pg] : space) {
            if (pg.prot == prot_none) continue;
            for (const auto& [slot, value] : *pg.data) {
                std::uint64_t got = 0;
                REQUIRE(s.cpu.read(page_addr + slot, got));
                CHECK(got == value);
            }
        }
    }
    for (auto& [pid, space] : model) {
        REQUIRE(s.procs.switch_to(pid));
        s.procs.exit(0);
    }
    CHECK(s.k.free_pages() == free0);
    CHECK(s.k.kernel->pages().check_invariants() == "");
    CHECK(s.k.kernel->pages().bugs() == 0);
    CHECK(s.node().nr_anon_mapped == 0);
    CHECK(s.node().nr_shmem == 0);
    CHECK(s.node().nr_pagetable == 0);
    CHECK(s.node().nr_kernel_stack_kb == 0);
    CHECK(s.procs.services().shmem.empty());
}

}  // namespace

TEST_CASE(
    "process random workload against a model: mmap, MAP_FIXED, munmap, mprotect, brk, stack, fork, exit") {
    random_workload(kernel_arch::x86_64, false, 1, 4000);
    random_workload(kernel_arch::x86_64, false, 2, 4000);
    random_workload(kernel_arch::i386, false, 3, 4000);
    random_workload(kernel_arch::i386, true, 4, 4000);
}

}  // namespace memsim::kernel
