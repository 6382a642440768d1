// A process's address space (include/linux/mm_types.h mm_struct): its areas, its own page
// tables in simulated RAM with the kernel half shared from swapper_pg_dir, its RSS counters, and
// the operations that change them: mmap, munmap, mprotect, brk with their PTE and TLB effects
// (mm/mmap.c, mm/mprotect.c), the page-fault handler (mm/memory.c), fork's copy and exit's
// teardown.
//
// Invariants: every present user PTE maps either the shared zero page (read-only, no reference
// taken) or a page whose refcount counts each PTE mapping it plus, for a shmem page, its file;
// its mapcount counts the PTEs. RSS counters count the pages the PTEs map, the zero page aside.
// A user page table exists only below an area or between areas that munmap has not yet freed.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/stats.h"
#include "kernel_mm/machine_ops.h"
#include "kernel_mm/page_alloc.h"
#include "kernel_mm/pgtable.h"
#include "kernel_mm/vma.h"

namespace memsim::kernel {

// What a process's kernel work costs in cycles beyond its timed memory accesses.
struct mm_costs {
    std::uint64_t exception = 250;        // #PF delivery, entry and the return with IRET
    std::uint64_t handle_mm_fault = 400;  // find_vma, the checks, the PTE update's code
    std::uint64_t syscall = 150;          // a system call's entry and exit
    std::uint64_t context_switch = 1000;  // __schedule and switch_mm, beyond the CR3 write
};

// The kinds of fault the handler resolves (mm/memory.c), each with its own latency histogram.
enum class fault_kind : std::uint8_t {
    zero_page,  // do_anonymous_page, read: the shared zero page mapped read-only
    anonymous,  // do_anonymous_page, write: a fresh zeroed page
    cow_copy,   // wp_page_copy: a copy (from the zero page: a zeroed page)
    cow_reuse,  // do_wp_page reusing an exclusively owned page
    shmem,      // shmem_fault: the shared anonymous mapping's page
    spurious,   // the PTE already allows the access (a stale TLB entry)
};
inline constexpr unsigned fault_kind_count = 6;
const char* to_string(fault_kind kind);

// include/uapi/asm-generic/siginfo.h: SIGSEGV's si_code.
// SI_KERNEL (0x80) is what a #GP's SIGSEGV carries.
enum class segv_code : std::uint8_t { none = 0, maperr = 1, accerr = 2, kernel = 0x80 };

// arch/x86/include/asm/trap_pf.h: the page-fault error code's bits.
namespace pf {
inline constexpr std::uint32_t prot = 1 << 0;
inline constexpr std::uint32_t write = 1 << 1;
inline constexpr std::uint32_t user = 1 << 2;
inline constexpr std::uint32_t rsvd = 1 << 3;
inline constexpr std::uint32_t instr = 1 << 4;
}  // namespace pf

// What one fault came to.
struct fault_result {
    bool resolved = false;  // retry the access
    fault_kind kind = fault_kind::spurious;
    bool page_tables = false;  // tables were allocated on the way (__pte_alloc and above)
    segv_code segv = segv_code::none;
    bool oom = false;  // VM_FAULT_OOM: no page for the fault
};

// Fault latencies in cycles by kind, and of the faults that allocated page tables.
struct fault_stats {
    std::array<stats::histogram, fault_kind_count> latency;
    stats::histogram page_table_latency;
};

// A shared anonymous mapping's file (mm/shmem.c): its pages by offset, each holding one
// reference for the file; the file lives while an area maps it.
struct shmem_file {
    std::map<std::uint64_t, page*> pages;  // by page offset
    unsigned mappings = 0;                 // areas mapping it
};

class mm_struct;

// What every address space shares: the machine, the page allocator, the kernel's tables, the
// zero page, the ids Linux takes from global counters, the shmem files, and which address space
// the CPU has loaded (for TLB flushes).
struct mm_services {
    mm_services(machine_ops& m, page_allocator& p, page_table& kernel)
        : machine(m), pages(p), kernel_tables(kernel) {}

    machine_ops& machine;
    page_allocator& pages;
    page_table& kernel_tables;  // swapper_pg_dir
    phys_addr_t zero_page = 0;  // empty_zero_page
    mm_layout layout;
    bool nx = true;  // PTEs can say NX (x86_64, PAE)
    mm_costs costs;
    picoseconds cycle = 500;  // the CPU's clock period, for latencies in cycles
    fault_stats faults;
    std::uint64_t next_id = 1;  // get_next_ino, anon_vma and mm context ids
    std::map<std::uint64_t, shmem_file> shmem;
    // arch/x86/mm/tlb.c cpu_tlbstate: the mm in CR3 (null: init_mm), its ASID and PCID, and
    // which mm each of the TLB_NR_DYN_ASIDS dynamic ASIDs last held at which generation.
    struct asid_slot {
        std::uint64_t ctx_id = 0;
        std::uint64_t tlb_gen = 0;
    };
    mm_struct* loaded = nullptr;
    unsigned loaded_asid = 0;
    std::uint16_t loaded_pcid = 0;
    std::array<asid_slot, 6> asids{};
    unsigned next_asid = 1;
    // The TLB shootdowns of the running address space (CONFIG_DEBUG_TLBFLUSH's
    // nr_tlb_local_flush_one and nr_tlb_local_flush_all): INVLPGs, and PCID-wide flushes.
    std::uint64_t tlb_local_flush_one = 0;
    std::uint64_t tlb_local_flush_all = 0;
    // The machine is going away: address spaces vanish without touching it.
    bool powering_off = false;
};

class mm_struct {
public:
    // mm_alloc + pgd_alloc: an empty address space (no areas) whose top-level table shares the
    // kernel half; nullptr when no page is left for it.
    static std::unique_ptr<mm_struct> create(mm_services& services);
    // exit_mmap + pgd_free: every page, table and file reference given back.
    ~mm_struct();
    mm_struct(const mm_struct&) = delete;
    mm_struct& operator=(const mm_struct&) = delete;

    // dup_mm (kernel/fork.c): the areas and the PTEs of areas with an anon_vma, private
    // writable PTEs write-protected in both; nullptr when memory ran out.
    std::unique_ptr<mm_struct> dup();

    const mm_areas& areas() const { return m_areas; }
    mm_areas& areas() { return m_areas; }
    page_table& pgd() { return m_pgd; }
    std::uint64_t ctx_id() const { return m_ctx_id; }      // mm->context.ctx_id
    std::uint64_t tlb_gen() const { return m_tlb_gen; }    // mm->context.tlb_gen
    std::uint64_t anon_pages() const { return m_anon; }    // MM_ANONPAGES
    std::uint64_t shmem_pages() const { return m_shmem; }  // MM_SHMEMPAGES
    std::uint64_t pgtables_bytes() const { return m_pgtables * vm_page_size; }
    std::uint64_t rss() const { return m_anon + m_shmem; }
    // Minor faults resolved in this address space (task_struct.min_flt of its one thread).
    std::uint64_t min_flt() const { return m_min_flt; }
    // Whether MAP_POPULATE ran out of memory since the last call (the caller's OOM kill).
    bool take_oom() { return std::exchange(m_oom, false); }

    // The system calls, with Linux's results (an address or a negative errno).
    std::int64_t mmap(std::uint64_t addr, std::uint64_t len, int prot, int flags);
    int munmap(std::uint64_t addr, std::uint64_t len);
    int mprotect(std::uint64_t addr, std::uint64_t len, int prot);
    std::uint64_t brk(std::uint64_t new_brk);

    // do_user_addr_fault (arch/x86/mm/fault.c) then handle_mm_fault for a fault at `addr` with
    // the hardware's error code. Timed on the machine; the latency lands in services.faults.
    fault_result handle_fault(std::uint64_t addr, std::uint32_t error_code);

    // clone_pgd_range: the top level's kernel half copied from swapper_pg_dir again.
    void clone_kernel_half();

    // The entry mapping `addr`, if its tables exist: 0 when none.
    std::uint64_t pte_of(std::uint64_t addr);
    // Empty when the invariants above hold for this address space alone, else what is wrong.
    std::string check_invariants();

private:
    mm_struct(mm_services& services, mm_areas areas);
    static std::unique_ptr<mm_struct> create(mm_services& services, mm_areas areas);

    // mm/memory.c and mm/mprotect.c over the user half (memory.cpp).
    static bool pte_present(std::uint64_t entry);  // pte_present: P, or a PROT_NONE mapping
    phys_addr_t pte_frame(std::uint64_t entry) const;
    void read_entries(phys_addr_t table, std::size_t first, std::size_t count, unsigned bytes,
                      std::uint64_t* out);
    template <class Visit>
    void walk_ptes(std::uint64_t start, std::uint64_t end, Visit&& visit);
    void note_flush(std::uint64_t linear);
    void zap_page_range(std::uint64_t start, std::uint64_t end);
    void unmap_page(std::uint64_t entry);
    bool free_pgtables(std::uint64_t start, std::uint64_t end, std::uint64_t floor, std::uint64_t ceiling);
    bool free_table_range(phys_addr_t table, std::size_t depth, std::uint64_t base, std::uint64_t start,
                          std::uint64_t end, std::uint64_t floor, std::uint64_t ceiling);
    bool copy_page_range(mm_struct& child, const vm_area_struct& vma);
    void change_protection(const vm_area_struct& vma, std::uint64_t start, std::uint64_t end);
    void unmap_region(std::uint64_t start, std::uint64_t end);
    void populate(std::uint64_t start, std::uint64_t end);

    // The fault path (fault.cpp).
    fault_result user_addr_fault(std::uint64_t addr, std::uint32_t error_code);
    fault_result handle_mm_fault(const vm_area_struct& vma, std::uint64_t addr, std::uint32_t error_code);
    fault_result do_anonymous_page(const vm_area_struct& vma, std::uint64_t addr, bool write, phys_addr_t at);
    fault_result do_wp_page(const vm_area_struct& vma, std::uint64_t addr, phys_addr_t at,
                            std::uint64_t entry);
    fault_result do_shmem_fault(const vm_area_struct& vma, std::uint64_t addr, bool write, phys_addr_t at);
    void add_new_anon_page(page* p, const vm_area_struct& vma, std::uint64_t addr);
    std::uint64_t vm_page_prot(vm_flags_t flags) const;
    std::uint64_t mk_pte(phys_addr_t frame, vm_flags_t flags, bool writable) const;
    page* alloc_user_page(bool zero);
    phys_addr_t alloc_table();
    phys_addr_t alloc_pgd();
    bool preallocate_pmds();
    void free_table(phys_addr_t table);

    // TLB maintenance for this address space (arch/x86/mm/tlb.c flush_tlb_mm_range); end 0 is
    // the whole address space.
    void flush_tlb_range(std::uint64_t start, std::uint64_t end);

    // Shared anonymous areas' files (mm.cpp).
    shmem_file& shmem_of(const vm_area_struct& vma);
    void hold_files();
    void release_shmem(std::uint64_t file);

    mm_services& m_services;
    machine_ops& m_machine;
    page_allocator& m_pages;
    // Counters first: the top-level table is allocated while m_pgd is built.
    std::uint64_t m_anon = 0;
    std::uint64_t m_shmem = 0;
    std::uint64_t m_pgtables = 0;  // table pages below the top level
    std::uint64_t m_min_flt = 0;
    bool m_oom = false;
    std::uint64_t m_tlb_gen = 0;
    int m_pgd_order = -1;  // PGD_ALLOCATION_ORDER once the top level is allocated
    mm_areas m_areas;
    page_table m_pgd;
    std::uint64_t m_ctx_id;
    std::size_t m_user_entries = 0;   // top-level entries below the kernel half
    std::set<std::uint64_t> m_files;  // the shmem files the areas map
    // The range of PTEs the current operation changed, for its TLB flush.
    std::uint64_t m_flush_start = ~0ull;
    std::uint64_t m_flush_end = 0;
};

}  // namespace memsim::kernel
