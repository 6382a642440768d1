#include "kernel_mm/start_kernel.h"

#include <algorithm>
#include <bit>
#include <map>
#include <set>

#include <fmt/format.h>

namespace memsim::kernel {
namespace {

constexpr std::uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
constexpr phys_addr_t isa_end = 0x100000;  // ISA_END_ADDRESS: the first 1 MiB
constexpr std::uint64_t page_size = 4096;

// arch/x86/include/asm/page_64_types.h and page_32_types.h.
constexpr std::uint64_t page_offset_l4 = 0xffff888000000000;
constexpr std::uint64_t page_offset_l5 = 0xff11000000000000;
constexpr std::uint64_t page_offset_32 = 0xc0000000;
constexpr std::uint64_t vmemmap_l4 = 0xffffea0000000000;
constexpr std::uint64_t vmemmap_l5 = 0xffd4000000000000;

std::uint64_t round_up(std::uint64_t x, std::uint64_t to) { return (x + to - 1) / to * to; }
std::uint64_t kbytes(std::uint64_t pages) { return pages * 4; }

// arch/x86/include/asm/sparsemem.h SECTION_SIZE_BITS: 27 on x86_64, 29 with PAE, 26 without.
unsigned section_bits(const kernel_config& c) {
    if (c.arch == kernel_arch::x86_64) return 27;
    return c.pae ? 29 : 26;
}

// sizeof(struct page): 64 bytes on x86_64, 32 on i386 (LINUX-FACTS.md).
std::uint64_t struct_page_bytes(const kernel_config& c) { return c.arch == kernel_arch::x86_64 ? 64 : 32; }

// sizeof(struct io_tlb_slot) {phys_addr_t, size_t, unsigned int} and sizeof(struct io_tlb_area)
// {unsigned long, unsigned int, spinlock_t} (kernel/dma/swiotlb.c): 24 and 16 bytes on x86_64; on
// i386 a slot is 16 bytes with PAE's 64-bit phys_addr_t (a u64 aligns to 4 there), 12 without, and
// an area 12.
std::uint64_t io_tlb_slot_bytes(const kernel_config& c) {
    if (c.arch == kernel_arch::x86_64) return 24;
    return c.pae ? 16 : 12;
}
std::uint64_t io_tlb_area_bytes(const kernel_config& c) { return c.arch == kernel_arch::x86_64 ? 16 : 12; }

}  // namespace

kernel_image kernel_image::debian_686_pae() {
    kernel_image image;
    image.code = 9446 * KiB;
    image.rodata = 3384 * KiB;
    image.rwdata = 1190 * KiB;
    image.init = 772 * KiB;
    image.bss = 1044 * KiB;
    return image;
}

phys_addr_t kernel_image::rodata_start() const { return round_up(text + code, page_size); }
phys_addr_t kernel_image::data_start() const { return round_up(rodata_start() + rodata, page_size); }
phys_addr_t kernel_image::init_start() const { return round_up(data_start() + rwdata, page_size); }
phys_addr_t kernel_image::bss_start() const { return round_up(init_start() + init, page_size); }
phys_addr_t kernel_image::end() const { return round_up(bss_start() + bss, page_size); }

kernel_state::kernel_state(machine_ops& machine, const kernel_config& config, printk_buffer& log)
    : m_config(config),
      m_machine(machine),
      m_log(log),
      m_e820(config.firmware_map),
      m_memblock([&machine](phys_addr_t base, phys_addr_t size) { machine.fill_phys(base, 0, size); }) {
    enter_protected_mode();
    enable_paging();
    setup_memory_map();
    setup_memblock();
    init_mem_mapping();
    sparse_init();
    mem_init();
    pci_iommu_init();
    free_initmem();
}

std::uint64_t kernel_state::page_offset() const {
    if (m_config.arch != kernel_arch::x86_64) return page_offset_32;
    return m_config.la57 ? page_offset_l5 : page_offset_l4;
}

mmu::paging_mode kernel_state::paging_mode() const {
    if (m_config.arch == kernel_arch::x86_64)
        return m_config.la57 ? mmu::paging_mode::ia32e_5 : mmu::paging_mode::ia32e_4;
    return m_config.pae ? mmu::paging_mode::pae : mmu::paging_mode::bits32;
}

void kernel_state::print(std::string text, kern_level level) {
    m_log.print(m_machine.now(), level, std::move(text));
}

// The map the real-mode setup code had from the firmware (int 0x15, e820), as setup_arch prints
// it and trims what the BIOS owns (arch/x86/kernel/e820.c, setup.c trim_bios_range).
void kernel_state::setup_memory_map() {
    print("BIOS-provided physical RAM map:");
    for (const std::string& line : m_e820.boot_lines()) print(line);
    if (m_config.arch == kernel_arch::x86_64 || m_config.pae)
        print("NX (Execute Disable) protection: active");
    print("e820: update [mem 0x00000000-0x00000fff] usable ==> reserved", kern_level::debug);
    print("e820: remove [mem 0x000a0000-0x000fffff] usable", kern_level::debug);
    trim_bios_range(m_e820);
}

// The real-mode setup code opens A20 and switches to protected mode (arch/x86/boot/pm.c
// go_to_protected_mode).
void kernel_state::enter_protected_mode() {
    m_machine.enable_a20();
    m_machine.context().cycles += m_config.costs.mode_switch;
    m_machine.write_control(control_register::cr0, mmu::cr0::pe);
}

// Early page tables (head_64.S / head_32.S): the kernel image identity-mapped and at PAGE_OFFSET,
// in pages of the image's bss; then paging on, in long mode on x86_64.
void kernel_state::enable_paging() {
    phys_addr_t next = m_config.image.bss_start();
    phys_addr_t bss_end = m_config.image.end();
    auto from_bss = [&]() -> phys_addr_t {
        if (next + page_size > bss_end) return 0;
        m_machine.fill_phys(next, 0, page_size);
        next += page_size;
        return next - page_size;
    };
    m_early = std::make_unique<page_table>(paging_mode(), m_machine, from_bss);
    mmu::page_size large =
        paging_mode() == mmu::paging_mode::bits32 ? mmu::page_size::size_4m : mmu::page_size::size_2m;
    std::uint64_t span = round_up(m_config.image.end(), 4 * MiB);
    if (!m_early->map_range(0, 0, span, pte::page_kernel, large) ||
        !m_early->map_range(page_offset(), 0, span, pte::page_kernel, large))
        throw kernel_panic("the early page tables do not fit in the kernel image's bss");
    m_machine.context().cycles += m_config.costs.mode_switch;
    using namespace mmu;
    if (m_config.arch == kernel_arch::x86_64) {
        m_machine.write_control(control_register::cr4, cr4::pae | cr4::pge | (m_config.la57 ? cr4::la57 : 0));
        m_machine.write_control(control_register::efer, efer::lme | efer::nxe);
    } else if (m_config.pae) {
        m_machine.write_control(control_register::cr4, cr4::pae | cr4::pge);
        m_machine.write_control(control_register::efer, efer::nxe);
    } else {
        m_machine.write_control(control_register::cr4, cr4::pse | cr4::pge);
    }
    m_machine.write_control(control_register::cr3, m_early->root());
    m_machine.write_control(control_register::cr0, cr0::pe | cr0::wp | cr0::pg);
}

// e820__memblock_setup and early reservations: the first 1 MiB (x86 since 5.13) and the image.
void kernel_state::setup_memblock() {
    add_to_memblock(m_e820, m_memblock, m_config.arch == kernel_arch::i386 && !m_config.pae ? 32 : 64);
    if (m_config.arch == kernel_arch::x86_64) numa_init();
    m_memblock.reserve(0, isa_end);
    m_memblock.reserve(m_config.image.text, m_config.image.end() - m_config.image.text);
    pfn_limits limits = pfn_limits_of(m_config.arch, m_memblock);
    // e820__end_of_ram_pfn: max_arch_pfn is 2^(MAX_PHYSMEM_BITS - PAGE_SHIFT).
    unsigned physmem_bits =
        m_config.arch == kernel_arch::x86_64 ? (m_config.la57 ? 52 : 46) : (m_config.pae ? 36 : 32);
    std::uint64_t max_arch_pfn = 1ull << (physmem_bits - page_shift);
    print(fmt::format("last_pfn = {:#x} max_arch_pfn = {:#x}", limits.max_pfn, max_arch_pfn));
    if (m_config.arch == kernel_arch::x86_64) {
        pfn_t low = 0;
        for (const memblock_region& r : m_memblock.memory().regions())
            if (r.base < 4 * GiB) low = std::min(r.end(), 4 * GiB) >> page_shift;
        if (low != limits.max_pfn)
            print(fmt::format("last_pfn = {:#x} max_arch_pfn = {:#x}", low, max_arch_pfn));
    } else {
        // arch/x86/mm/init_32.c: the kernel's own line, then memblock is limited to low memory.
        if (limits.max_pfn > limits.max_low_pfn)
            print(fmt::format("{}MB HIGHMEM available.", (limits.max_pfn - limits.max_low_pfn) >> 8),
                  kern_level::notice);
        print(fmt::format("{}MB LOWMEM available.", limits.max_low_pfn >> 8), kern_level::notice);
        m_memblock.set_current_limit(limits.max_low_pfn << page_shift);
    }
}

// arch/x86/mm/numa.c: the configured nodes' ranges (numa_memblks), or one node faked over all
// memory when there are none (dummy_numa_init, as Debian's CONFIG_NUMA kernels print it).
void kernel_state::numa_init() {
    if (m_config.numa_memblks.empty()) {
        print("No NUMA configuration found");
        print(fmt::format("Faking a node at [mem {:#018x}-{:#018x}]", 0, m_memblock.end_of_dram() - 1));
        m_memblock.set_node(0, m_memblock.end_of_dram(), 0);
        return;
    }
    print(fmt::format("NUMA: Initialized distance table, cnt={}", m_config.numa_distance.size()));
    for (const numa_memblk& mb : m_config.numa_memblks) {
        print(fmt::format("ACPI: SRAT: Node {} PXM {} [mem {:#010x}-{:#010x}]", mb.nid, mb.nid, mb.start,
                          mb.end - 1));
        m_memblock.set_node(mb.start, mb.end - mb.start, mb.nid);
    }
}

// alloc_low_pages: page-table pages for the direct map come from memblock, zeroed.
phys_addr_t kernel_state::alloc_table() {
    return m_memblock.alloc_try_nid(page_size, page_size, 0, MEMBLOCK_ALLOC_ACCESSIBLE, NUMA_NO_NODE);
}

// init_mem_mapping: the direct map of RAM at PAGE_OFFSET (all of it on x86_64, low memory on
// i386) with the largest pages alignment allows, in swapper_pg_dir; then CR3 moves there.
// The kernel-image mapping at __START_KERNEL_map is not built: no kernel code is fetched.
void kernel_state::init_mem_mapping() {
    m_swapper = std::make_unique<page_table>(paging_mode(), m_machine, [this] { return alloc_table(); });
    pfn_limits limits = pfn_limits_of(m_config.arch, m_memblock);
    bool nx = m_config.arch == kernel_arch::x86_64 || m_config.pae;
    std::uint64_t flags = pte::page_kernel | (nx ? pte::nx : 0);
    mmu::page_size largest = m_config.arch == kernel_arch::x86_64
                                 ? (m_config.gbpages ? mmu::page_size::size_1g : mmu::page_size::size_2m)
                                 : (m_config.pae ? mmu::page_size::size_2m : mmu::page_size::size_4m);
    auto map = [&](phys_addr_t start, phys_addr_t end, mmu::page_size size) {
        print(fmt::format("init_memory_mapping: [mem {:#010x}-{:#010x}]", start, end - 1));
        if (!m_swapper->map_range(page_offset() + start, start, end - start, flags, size))
            throw kernel_panic("Out of memory while building the direct map");
    };
    map(0, isa_end, mmu::page_size::size_4k);
    phys_addr_t low_end = limits.max_low_pfn << page_shift;
    std::vector<std::pair<phys_addr_t, phys_addr_t>> ranges;
    for (const memblock_region& r : m_memblock.memory().regions()) {
        phys_addr_t start = std::max(r.base, isa_end), end = std::min(r.end(), low_end);
        start = round_up(start, page_size);
        end &= ~(page_size - 1);
        if (end > start) ranges.emplace_back(start, end);
    }
    for (auto [start, end] : ranges) map(start, end, largest);
    m_machine.write_control(control_register::cr3, m_swapper->root());
    m_machine.flush_tlb_all();
    // setup_pcid (arch/x86/kernel/cpu/common.c): a 64-bit kernel on a CPU with PCIDs turns
    // CR4.PCIDE on; "nopcid" (kernel.pcid: false) leaves it off.
    if (m_config.arch == kernel_arch::x86_64 && m_config.pcid)
        m_machine.write_control(control_register::cr4, mmu::cr4::pae | mmu::cr4::pge | mmu::cr4::pcide |
                                                           (m_config.la57 ? mmu::cr4::la57 : 0));
}

// The memory map's footprint: x86_64 (SPARSEMEM_VMEMMAP, sparse_init) takes one chunk per node
// for its present sections, 2 MiB aligned per section, from memblock above 16 MiB; i386 (FLATMEM,
// alloc_node_mem_map) one array over the node's span rounded to MAX_ORDER_NR_PAGES, in low
// memory. The struct pages live in host memory; this reservation is their cost in the machine.
void kernel_state::sparse_init() {
    if (m_config.arch != kernel_arch::x86_64) {
        constexpr std::uint64_t max_order_pages = 1024;
        pfn_t start = (m_memblock.start_of_dram() >> page_shift) & ~(max_order_pages - 1);
        pfn_t end = round_up(m_memblock.end_of_dram() >> page_shift, max_order_pages);
        reserve_memmap((end - start) * struct_page_bytes(m_config), SMP_CACHE_BYTES, 0, NUMA_NO_NODE, false);
        return;
    }
    unsigned bits = section_bits(m_config);
    std::uint64_t per_section = round_up(struct_page_bytes(m_config) << (bits - page_shift), 2 * MiB);
    std::map<int, std::set<std::uint64_t>> sections;
    for (const memblock_region& r : m_memblock.memory().regions())
        for (std::uint64_t s = r.base >> bits; s <= (r.end() - 1) >> bits; ++s) sections[r.nid].insert(s);
    for (const auto& [nid, present] : sections)
        reserve_memmap(present.size() * per_section, 2 * MiB, 16 * MiB, nid, true);
}

void kernel_state::reserve_memmap(std::uint64_t size, phys_addr_t align, phys_addr_t min, int nid,
                                  bool exact) {
    if (!m_memblock.alloc_try_nid_raw(size, align, min, MEMBLOCK_ALLOC_ACCESSIBLE, nid, exact))
        throw kernel_panic(fmt::format("Cannot allocate {} bytes for the memory map", size));
}

// memmap_init (mm/mm_init.c): the frames between memory ranges get a struct page too, and each
// stretch of them is reported against the zone being initialised. With SPARSEMEM only frames
// in present sections count, and the last section is filled to its end.
void kernel_state::report_unavailable_ranges() {
    bool sparse = m_config.arch == kernel_arch::x86_64;
    unsigned bits = section_bits(m_config) - page_shift;
    auto valid = [&](pfn_t pfn) {
        return !sparse ||
               m_memblock.memory().overlaps((pfn >> bits) << bits << page_shift, 1ull << bits << page_shift);
    };
    auto report = [&](pfn_t from, pfn_t to, const zone& z) {
        std::uint64_t pages = 0;
        for (pfn_t pfn = from; pfn < to; ++pfn) pages += valid(pfn) ? 1 : 0;
        if (pages)
            print(fmt::format("On node {}, zone {}: {} pages in unavailable ranges", z.node,
                              zone_name(z.type), pages));
    };
    pfn_t hole = 0, last_end = 0;
    const zone* last = nullptr;
    for (const memblock_region& r : m_memblock.memory().regions()) {
        pfn_t start_pfn = (r.base + page_size - 1) >> page_shift, end_pfn = r.end() >> page_shift;
        last_end = end_pfn;
        for (const pglist_data& node : m_pages->nodes()) {
            for (const zone& z : node.zones) {
                if (!z.populated() || (r.nid != MAX_NUMNODES && r.nid != z.node)) continue;
                pfn_t start = std::clamp(start_pfn, z.zone_start_pfn, z.zone_end_pfn());
                pfn_t end = std::clamp(end_pfn, z.zone_start_pfn, z.zone_end_pfn());
                if (start >= end) continue;
                if (hole < start) report(hole, start, z);
                hole = end;
                last = &z;
            }
        }
    }
    pfn_t end = sparse ? round_up(last_end, pfn_t{1} << bits) : last_end;
    if (last && hole < end) report(hole, end, *last);
}

// build_all_zonelists' line (v6.1): the pages every zone up to Movable would have, as
// free_area_init estimated them (present less the memory map's pages in low memory), since
// no watermark is set yet; grouping by mobility needs a pageblock per migratetype at least.
void kernel_state::build_all_zonelists() {
    std::uint64_t total = 0;
    for (const pglist_data& node : m_pages->nodes())
        for (const zone& z : node.zones) {
            if (z.type == zone_type::device) continue;
            std::uint64_t pages = z.spanned_pages > z.present_pages + (z.present_pages >> 4)
                                      ? z.present_pages
                                      : z.spanned_pages;
            std::uint64_t memmap = round_up(pages * struct_page_bytes(m_config), page_size) >> page_shift;
            bool high = z.type == zone_type::highmem;
            total += high || z.present_pages < memmap ? z.present_pages : z.present_pages - memmap;
        }
    std::uint64_t pageblock = std::uint64_t{1} << m_pages->config().pageblock_order;
    print(fmt::format("Built {} zonelists, mobility grouping {}.  Total pages: {}", m_pages->nodes().size(),
                      total < pageblock * MIGRATE_TYPES ? "off" : "on", total));
    if (m_pages->nodes().size() > 1) print("Policy zone: Normal");
}

// mem_init: memblock's free ranges go to the buddy allocator; mem_init_print_info.
void kernel_state::mem_init() {
    page_alloc_config config;
    config.arch = m_config.arch;
    config.pageblock_order = m_config.arch == kernel_arch::i386 && !m_config.pae ? 10 : 9;
    config.cpus = m_config.cpus;
    config.min_free_kbytes = m_config.min_free_kbytes;
    config.watermark_scale_factor = m_config.watermark_scale_factor;
    config.page_offset = page_offset();
    config.vmemmap_base =
        m_config.arch == kernel_arch::x86_64 ? (m_config.la57 ? vmemmap_l5 : vmemmap_l4) : page_offset();
    config.struct_page_bytes = struct_page_bytes(m_config);
    config.panic_on_bug = m_config.panic_on_bug;
    config.costs = m_config.alloc_costs;
    config.node_distance = m_config.numa_distance;
    m_pages = std::make_unique<page_allocator>(config, m_memblock, m_machine, m_log);
    for (const std::string& line : zone_range_lines(m_config.arch, m_memblock)) print(line);
    report_unavailable_ranges();
    build_all_zonelists();
    std::uint64_t present = 0;
    for (const pglist_data& node : m_pages->nodes()) present += node.node_present_pages;
    m_machine.context().cycles += present * m_config.costs.memmap_init_per_page;
    pci_iommu_alloc();
    m_pages->memblock_free_all(m_memblock);

    const kernel_image& image = m_config.image;
    std::uint64_t reserved = present - m_pages->totalram_pages();
    std::string line = fmt::format(
        "Memory: {}K/{}K available ({}K kernel code, {}K rwdata, {}K rodata, {}K init, {}K bss, {}K "
        "reserved, "
        "0K cma-reserved",
        kbytes(m_pages->nr_free_pages()), kbytes(present), image.code / KiB, image.rwdata / KiB,
        image.rodata / KiB, image.init / KiB, image.bss / KiB, kbytes(reserved));
    if (m_config.arch == kernel_arch::i386) {
        std::uint64_t high = 0;
        for (const pglist_data& node : m_pages->nodes())
            for (const zone& z : node.zones)
                if (z.type == zone_type::highmem) high += z.managed_pages;
        line += fmt::format(", {}K highmem", kbytes(high));
    }
    print(line + ")");
}

// arch/x86/kernel/pci-dma.c pci_iommu_alloc, first thing in mem_init (arch/x86/mm/init_64.c,
// init_32.c): pci_swiotlb_detect wants the pool when RAM reaches above 4 GiB (max_possible_pfn >
// MAX_DMA32_PFN, on i386 too, where only PAE gets there and SWIOTLB is built when INTEL_IOMMU
// selects it); swiotlb_init then reserves it unless swiotlb=noforce, and with swiotlb=force
// also where nothing needs it (kernel/dma/swiotlb.c swiotlb_init_remap).
void kernel_state::pci_iommu_alloc() {
    m_x86_swiotlb_enable = pfn_limits_of(m_config.arch, m_memblock).max_pfn > max_dma32_pfn;
    if (!m_x86_swiotlb_enable && m_config.swiotlb != swiotlb_mode::force) return;
    if (m_config.swiotlb == swiotlb_mode::off) return;
    swiotlb_init_remap();
}

// kernel/dma/swiotlb.c (v6.1) swiotlb_init_remap: one area per possible CPU (a power of two) and
// a power-of-two number of slots (swiotlb_adjust_nareas); the pool from memblock_alloc_low, top
// down below 4 GiB and memblock's limit (low memory on i386), zeroed there and again by
// swiotlb_init_io_tlb_mem; then the slot and area arrays from memblock_alloc, anywhere. All of it
// stays reserved: memblock_free_all never gives it to the buddy allocator.
void kernel_state::swiotlb_init_remap() {
    unsigned nareas = std::bit_ceil(std::max(m_config.cpus, 1u));
    print(fmt::format("software IO TLB: area num {}.", nareas));
    std::uint64_t nslabs = m_config.swiotlb_size >> IO_TLB_SHIFT;
    if (!std::has_single_bit(nslabs)) {
        nslabs = std::bit_ceil(nslabs);
        print(fmt::format("software IO TLB: SWIOTLB bounce buffer size roundup to {}MB",
                          (nslabs << IO_TLB_SHIFT) >> 20));
    }
    std::uint64_t bytes = round_up(nslabs << IO_TLB_SHIFT, page_size);
    phys_addr_t tlb = m_memblock.alloc_low(bytes, page_size);
    if (!tlb) {
        print("software IO TLB: swiotlb_init_remap: failed to allocate tlb structure", kern_level::warning);
        return;
    }
    std::uint64_t slots = round_up(nslabs * io_tlb_slot_bytes(m_config), page_size);
    if (!m_memblock.alloc(slots, page_size))
        throw kernel_panic(
            fmt::format("swiotlb_init_remap: Failed to allocate {} bytes align={:#x}", slots, page_size));
    if (!m_memblock.alloc(nareas * io_tlb_area_bytes(m_config), SMP_CACHE_BYTES))
        throw kernel_panic("swiotlb_init_remap: Failed to allocate mem->areas.");
    m_swiotlb = std::make_unique<io_tlb_mem>(tlb, nslabs, m_machine, m_log);
}

// arch/x86/kernel/pci-dma.c pci_iommu_init (a rootfs_initcall, so after the Memory: line): with no
// hardware IOMMU, SWIOTLB stays on when pci_swiotlb_detect wanted it, and swiotlb_print_info says
// where the pool is, or "No low mem" when there is none (swiotlb=noforce, or no room). Otherwise
// swiotlb_exit keeps a forced pool, silently.
void kernel_state::pci_iommu_init() {
    if (!m_x86_swiotlb_enable) return;
    print("PCI-DMA: Using software bounce buffering for IO (SWIOTLB)");
    if (!m_swiotlb) {
        print("software IO TLB: No low mem", kern_level::warning);
        return;
    }
    // %pa: phys_addr_t's width, 32 bits on i386 without PAE.
    bool wide = m_config.arch == kernel_arch::x86_64 || m_config.pae;
    m_swiotlb->swiotlb_print_info(wide ? 16 : 8);
}

// free_initmem: the init sections are given back once boot is done.
void kernel_state::free_initmem() {
    const kernel_image& image = m_config.image;
    pfn_t start = image.init_start() >> page_shift, end = image.bss_start() >> page_shift;
    std::uint64_t freed = m_pages->free_reserved_area(start, end);
    print(fmt::format("Freeing unused kernel image (initmem) memory: {}K", kbytes(freed)));
}

std::unique_ptr<kernel_state> start_kernel(machine_ops& machine, const kernel_config& config,
                                           printk_buffer& log) {
    return std::make_unique<kernel_state>(machine, config, log);
}

}  // namespace memsim::kernel
