// The boot of the kernel's memory manager in Linux's order (init/main.c start_kernel,
// arch/x86/kernel/setup.c setup_arch, DESIGN.md §3): real mode and the firmware map, protected
// mode, early page tables and paging (long mode on x86_64), memblock, the direct map built as
// real page tables, mem_map, zones, memblock retired into the buddy allocator.
#pragma once

#include <cstdint>
#include <memory>

#include "kernel_mm/dma/swiotlb.h"
#include "kernel_mm/e820.h"
#include "kernel_mm/machine_ops.h"
#include "kernel_mm/memblock.h"
#include "kernel_mm/page_alloc.h"
#include "kernel_mm/pgtable.h"
#include "kernel_mm/printk.h"

namespace memsim::kernel {

// The kernel image's sections in physical memory, in vmlinux.lds order: text, rodata, data,
// init, bss, each page aligned. The sizes default to those of a Debian 6.1 kernel.
struct kernel_image {
    phys_addr_t text = 0x1000000;  // CONFIG_PHYSICAL_START, KASLR off
    std::uint64_t code = 14342 * 1024;
    std::uint64_t rodata = 9028 * 1024;
    std::uint64_t rwdata = 2365 * 1024;
    std::uint64_t init = 2928 * 1024;
    std::uint64_t bss = 5436 * 1024;

    static kernel_image debian_686_pae();

    phys_addr_t rodata_start() const;
    phys_addr_t data_start() const;
    phys_addr_t init_start() const;
    phys_addr_t bss_start() const;
    // empty_zero_page: a page of the bss that stays zero, mapped read-only wherever a process
    // reads memory it never wrote (the last page, clear of the early page tables at its start).
    phys_addr_t empty_zero_page() const { return end() - 4096; }
    phys_addr_t end() const;  // _end
};

// What it costs beyond the memory accesses each step makes, in CPU cycles.
struct boot_costs {
    std::uint64_t mode_switch = 200;
    std::uint64_t memmap_init_per_page = 20;  // __init_single_page of each present frame
};

// A range of memory and its node, as an ACPI SRAT memory-affinity entry gives it.
struct numa_memblk {
    phys_addr_t start = 0, end = 0;  // end exclusive
    int nid = 0;
};

// swiotlb= (kernel/dma/swiotlb.c setup_io_tlb_npages): automatic reserves the bounce-buffer pool
// when RAM reaches above 4 GiB (arch/x86/kernel/pci-dma.c pci_swiotlb_detect), force always
// ("swiotlb=force", which also bounces every mapping), off never ("swiotlb=noforce").
enum class swiotlb_mode { automatic, force, off };

struct kernel_config {
    kernel_arch arch = kernel_arch::x86_64;
    bool pae = false;     // i386 only: 3-level PAE paging with NX
    bool la57 = false;    // x86_64 only: 5-level paging
    bool gbpages = true;  // the direct map may use 1 GiB pages (x86_64)
    bool pcid = true;     // x86_64: CR4.PCIDE on, processes tagged by PCID ("nopcid": false)
    e820_table firmware_map;
    unsigned cpus = 1;
    // NUMA (x86_64): node ranges and the SLIT distance table; with no ranges the kernel finds no
    // NUMA configuration and fakes one node over all memory (dummy_numa_init).
    std::vector<numa_memblk> numa_memblks;
    std::vector<std::vector<unsigned>> numa_distance;
    std::uint64_t min_free_kbytes = 0;  // 0: computed
    std::uint64_t watermark_scale_factor = 10;
    bool panic_on_bug = false;
    swiotlb_mode swiotlb = swiotlb_mode::automatic;
    // The pool's size (swiotlb=<slabs>): a positive multiple of IO_TLB_SEGSIZE slots; Linux 6.1
    // rounds it up to a power of two (swiotlb_adjust_nareas).
    std::uint64_t swiotlb_size = io_tlb_default_size;
    kernel_image image;
    boot_costs costs;
    page_alloc_costs alloc_costs;
};

// The kernel after boot: its log, firmware map, memblock (kept for /proc/iomem and the
// numbers), page allocator, kernel page tables (swapper_pg_dir) and swiotlb pool.
class kernel_state {
public:
    // Boots: every step of the sequence above, in order.
    // The log lives with the caller, so that what was printed survives a panic.
    kernel_state(machine_ops& machine, const kernel_config& config, printk_buffer& log);
    kernel_state(const kernel_state&) = delete;
    kernel_state& operator=(const kernel_state&) = delete;

    const kernel_config& config() const { return m_config; }
    printk_buffer& log() { return m_log; }
    const printk_buffer& log() const { return m_log; }
    const e820_table& e820() const { return m_e820; }
    const memblock& blocks() const { return m_memblock; }
    page_allocator& pages() { return *m_pages; }
    const page_allocator& pages() const { return *m_pages; }
    page_table& swapper_pg_dir() { return *m_swapper; }
    const page_table& swapper_pg_dir() const { return *m_swapper; }
    std::uint64_t page_offset() const;
    // The kernel's page tables as CR3 holds them.
    phys_addr_t cr3() const { return m_swapper->root(); }
    // The default swiotlb pool (io_tlb_default_mem), or nullptr when boot reserved none.
    io_tlb_mem* swiotlb() { return m_swiotlb.get(); }
    const io_tlb_mem* swiotlb() const { return m_swiotlb.get(); }
    // swiotlb=force: every streaming mapping bounces (swiotlb_force_bounce).
    bool swiotlb_force() const { return m_config.swiotlb == swiotlb_mode::force; }

private:
    void print(std::string text, kern_level level = kern_level::info);
    void setup_memory_map();
    void enter_protected_mode();
    void enable_paging();
    void setup_memblock();
    void numa_init();
    void init_mem_mapping();
    void sparse_init();
    void reserve_memmap(std::uint64_t size, phys_addr_t align, phys_addr_t min, int nid, bool exact);
    void report_unavailable_ranges();
    void build_all_zonelists();
    void mem_init();
    void pci_iommu_alloc();
    void swiotlb_init_remap();
    void pci_iommu_init();
    void free_initmem();
    phys_addr_t alloc_table();
    mmu::paging_mode paging_mode() const;

    kernel_config m_config;
    machine_ops& m_machine;
    printk_buffer& m_log;
    e820_table m_e820;
    memblock m_memblock;
    std::unique_ptr<page_table> m_early;
    std::unique_ptr<page_table> m_swapper;
    std::unique_ptr<page_allocator> m_pages;
    bool m_x86_swiotlb_enable = false;  // pci_swiotlb_detect's verdict
    std::unique_ptr<io_tlb_mem> m_swiotlb;
};

// Boots the kernel on the machine; the machine's CPU ends in the profile's paging mode with
// CR3 on swapper_pg_dir. Throws kernel_panic when memory does not suffice to boot.
std::unique_ptr<kernel_state> start_kernel(machine_ops& machine, const kernel_config& config,
                                           printk_buffer& log);

}  // namespace memsim::kernel
