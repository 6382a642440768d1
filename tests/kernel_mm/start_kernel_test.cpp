// Booting the kernel's memory manager on a fake machine: the order of mode switches, the boot
// log's lines with the numbers Linux's formulas give, the direct map as real page tables, and
// the reservations behind the "reserved" count.
#include <doctest/doctest.h>

#include <algorithm>

#include "kernel_mm/start_kernel.h"
#include "tests/kernel_mm/booted_kernel.h"

namespace memsim::kernel {
namespace {

constexpr std::uint64_t MiB = 1 << 20;
constexpr std::uint64_t GiB = 1ull << 30;

using testing::pc_map;

std::vector<std::string> lines_from(const printk_buffer& log, std::string_view first, std::size_t count) {
    std::vector<std::string> all = log.lines();
    auto at =
        std::find_if(all.begin(), all.end(), [&](const std::string& l) { return l.starts_with(first); });
    if (at == all.end()) return {};
    return {at,
            at + static_cast<long>(std::min<std::size_t>(count, static_cast<std::size_t>(all.end() - at)))};
}

}  // namespace

TEST_CASE("x86_64 boot: protected mode, long mode with early tables, then swapper_pg_dir") {
    kernel_config config = testing::pc_config(kernel_arch::x86_64, 4 * GiB);
    testing::booted_kernel b(config);
    CHECK(b.machine.a20);
    using mmu::cr0::pe, mmu::cr0::pg, mmu::cr0::wp;
    auto& w = b.machine.control_writes;
    REQUIRE(w.size() == 7);
    CHECK(w[0] == std::pair{control_register::cr0, pe});
    CHECK(w[1] == std::pair{control_register::cr4, mmu::cr4::pae | mmu::cr4::pge});
    CHECK(w[2] == std::pair{control_register::efer, mmu::efer::lme | mmu::efer::nxe});
    CHECK(w[3].first == control_register::cr3);
    // The early tables live in the image's bss.
    CHECK(w[3].second == config.image.bss_start());
    CHECK(w[4] == std::pair{control_register::cr0, pe | wp | pg});
    CHECK(w[5] == std::pair{control_register::cr3, b.kernel->cr3()});
    // setup_pcid: processes get PCIDs.
    CHECK(w[6] == std::pair{control_register::cr4, mmu::cr4::pae | mmu::cr4::pge | mmu::cr4::pcide});
    CHECK(b.machine.full_flushes == 1);
}

TEST_CASE("x86_64 boot log: the e820 map, zone ranges and the Memory: line") {
    kernel_config config = testing::pc_config(kernel_arch::x86_64, 4 * GiB);
    testing::booted_kernel b(config);
    CHECK(lines_from(b.log, "BIOS-provided", 8) ==
          std::vector<std::string>{"BIOS-provided physical RAM map:",
                                   "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
                                   "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
                                   "BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved",
                                   "BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable",
                                   "BIOS-e820: [mem 0x00000000bffe0000-0x00000000bfffffff] reserved",
                                   "BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved",
                                   "BIOS-e820: [mem 0x0000000100000000-0x000000013fffffff] usable"});
    CHECK(lines_from(b.log, "last_pfn", 2) ==
          std::vector<std::string>{"last_pfn = 0x140000 max_arch_pfn = 0x400000000",
                                   "last_pfn = 0xbffe0 max_arch_pfn = 0x400000000"});
    CHECK(lines_from(b.log, "init_memory_mapping", 3) ==
          std::vector<std::string>{"init_memory_mapping: [mem 0x00000000-0x000fffff]",
                                   "init_memory_mapping: [mem 0x00100000-0xbffdffff]",
                                   "init_memory_mapping: [mem 0x100000000-0x13fffffff]"});
    CHECK(lines_from(b.log, "Zone ranges:", 5) ==
          std::vector<std::string>{"Zone ranges:", "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]",
                                   "  DMA32    [mem 0x0000000001000000-0x00000000ffffffff]",
                                   "  Normal   [mem 0x0000000100000000-0x000000013fffffff]",
                                   "  Device   empty"});
    // memmap_init's holes: pfn 0 and 0x9f..0xff before DMA's ranges; 0xbffe0..0xc0000 (the rest
    // of the hole below 4 GiB is in absent sections) is reported against Normal, whose range
    // it precedes.
    CHECK(lines_from(b.log, "On node", 4) ==
          std::vector<std::string>{"On node 0, zone DMA: 1 pages in unavailable ranges",
                                   "On node 0, zone DMA: 97 pages in unavailable ranges",
                                   "On node 0, zone Normal: 32 pages in unavailable ranges",
                                   // v6.1's estimate: present less the memory map's pages,
                                   // (3998 - 64) + (782304 - 12224) + (262144 - 4096).
                                   "Built 1 zonelists, mobility grouping on.  Total pages: 1032062"});
    // present: 3998 + 782304 + 262144 = 1048446 pages = 4193784K. Reserved:
    //   the first 1 MiB's memory, pfn 1..0x9e:                              158 pages
    //   the image, 0x1000000 + code 3586 + rodata 2257 + data 592 + init 732 + bss 1359 pages: 8526
    //   direct-map tables: PML4, PDPT, PD 0-1G, PT 0-2M, PD 2-3G, PT 0xbfe00000-0xc0000000: 6
    //   mem_map: 32 present 128 MiB sections (24 below 3 GiB, 8 from 4 GiB) x 2 MiB:   16384
    //   swiotlb (RAM reaches above 4 GiB): the 64 MiB pool 16384, its 32768 24-byte slots 192,
    //   its area array's page 1:                                                       16577
    // = 41651 pages = 166604K; available = 1048446 - 41651 = 1006795 pages = 4027180K.
    CHECK(b.log.lines("Memory:") ==
          std::vector<std::string>{
              "Memory: 4027180K/4193784K available (14342K kernel code, 2365K rwdata, 9028K rodata, "
              "2928K init, 5436K bss, 166604K reserved, 0K cma-reserved)"});
    CHECK(b.log.lines("Freeing unused") ==
          std::vector<std::string>{"Freeing unused kernel image (initmem) memory: 2928K"});
    CHECK(b.kernel->pages().totalram_pages() == 1006795 + 732);
    CHECK(b.kernel->pages().check_invariants() == "");
}

TEST_CASE("the direct map is real page tables the software walk follows") {
    kernel_config config = testing::pc_config(kernel_arch::x86_64, 4 * GiB);
    testing::booted_kernel b(config);
    page_table& pgd = b.kernel->swapper_pg_dir();
    const std::uint64_t base = 0xffff888000000000;
    CHECK(pgd.translate(base + 0x12345678) == 0x12345678);
    CHECK(pgd.translate(base + 0x9f123) == 0x9f123);
    CHECK(pgd.translate(base + 0xbffdf000) == 0xbffdf000);
    CHECK(pgd.translate(base + 4 * GiB + 5) == 4 * GiB + 5);
    // The PCI hole and the firmware's top 128 KiB are not RAM: not mapped.
    CHECK(pgd.translate(base + 0xbffe0000) == std::nullopt);
    CHECK(pgd.translate(base + 0xd0000000) == std::nullopt);
    CHECK(pgd.translate(0x1000000) == std::nullopt);  // no identity map after boot
    CHECK(pgd.tables() == 6);
}

TEST_CASE("i386 boot: 2-level paging with PSE, low memory mapped, HighMem in the Memory: line") {
    kernel_config config = testing::pc_config(kernel_arch::i386, 2 * GiB);
    testing::booted_kernel b(config);
    CHECK(b.machine.control_writes[1] == std::pair{control_register::cr4, mmu::cr4::pse | mmu::cr4::pge});
    // 0x7ffe0 - 0x36ffe = 298978 pages of HighMem = 1167 MiB; 0x36ffe pages of low memory = 879 MiB.
    CHECK(b.log.lines("", kern_level::notice) ==
          std::vector<std::string>{"1167MB HIGHMEM available.", "879MB LOWMEM available."});
    CHECK(lines_from(b.log, "Zone ranges:", 4) ==
          std::vector<std::string>{"Zone ranges:", "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]",
                                   "  Normal   [mem 0x0000000001000000-0x0000000036ffdfff]",
                                   "  HighMem  [mem 0x0000000036ffe000-0x000000007ffdffff]"});
    std::vector<std::string> memory = b.log.lines("Memory:");
    REQUIRE(memory.size() == 1);
    // HighMem is never reserved: all of it is managed, 298978 pages = 1195912K.
    CHECK(memory[0].ends_with(", 1195912K highmem)"));
    page_table& pgd = b.kernel->swapper_pg_dir();
    CHECK(pgd.translate(0xc0000000 + 0x123456) == 0x123456);
    CHECK(pgd.translate(0xc0000000 + 0x36ffd000) == 0x36ffd000);
    CHECK(pgd.translate(0xc0000000 + 0x36ffe000) == std::nullopt);  // HighMem has no direct map
    CHECK(b.kernel->pages().check_invariants() == "");
}

TEST_CASE("i386 without PAE leaves RAM above 4 GiB out of memblock, as e820__memblock_setup does") {
    kernel_config config = testing::pc_config(kernel_arch::i386, 4 * GiB);
    testing::booted_kernel b(config);
    CHECK(b.kernel->blocks().end_of_dram() == 0xbffe0000);
    CHECK(lines_from(b.log, "last_pfn", 1) ==
          std::vector<std::string>{"last_pfn = 0xbffe0 max_arch_pfn = 0x100000"});
}

TEST_CASE("i386-pae and 5-level x86_64 boot into their paging modes") {
    SUBCASE("pae") {
        kernel_config config = testing::pc_config(kernel_arch::i386, 8 * GiB, true, false);
        testing::booted_kernel b(config);
        CHECK(b.machine.control_writes[1] == std::pair{control_register::cr4, mmu::cr4::pae | mmu::cr4::pge});
        CHECK(b.machine.control_writes[2] == std::pair{control_register::efer, mmu::efer::nxe});
        CHECK(b.kernel->swapper_pg_dir().translate(0xc0000000 + 0x2345678) == 0x2345678);
        CHECK(b.kernel->pages().pfn_to_page((5 * GiB) >> 12) != nullptr);
        CHECK(b.kernel->pages().check_invariants() == "");
    }
    SUBCASE("la57") {
        kernel_config config = testing::pc_config(kernel_arch::x86_64, 2 * GiB, false, true);
        testing::booted_kernel b(config);
        CHECK(b.machine.control_writes[1] ==
              std::pair{control_register::cr4, mmu::cr4::pae | mmu::cr4::pge | mmu::cr4::la57});
        CHECK(b.kernel->swapper_pg_dir().translate(0xff11000000000000 + 0x7654321) == 0x7654321);
    }
}

}  // namespace memsim::kernel

namespace memsim::kernel {

TEST_CASE("NUMA: nodes from SRAT-like ranges, their zones, and zonelists nearest first") {
    kernel_config config = testing::pc_config(kernel_arch::x86_64, 8 * GiB);
    config.numa_memblks = {{0, 4 * GiB, 0}, {4 * GiB, 9 * GiB, 1}};
    config.numa_distance = {{10, 21}, {21, 10}};
    testing::booted_kernel b(config);
    CHECK(b.log.lines("NUMA:") == std::vector<std::string>{"NUMA: Initialized distance table, cnt=2"});
    CHECK(lines_from(b.log, "Early memory node ranges", 6) ==
          std::vector<std::string>{"Early memory node ranges",
                                   "  node   0: [mem 0x0000000000001000-0x000000000009efff]",
                                   "  node   0: [mem 0x0000000000100000-0x00000000bffdffff]",
                                   "  node   1: [mem 0x0000000100000000-0x000000023fffffff]",
                                   "Initmem setup node 0 [mem 0x0000000000001000-0x00000000bffdffff]",
                                   "Initmem setup node 1 [mem 0x0000000100000000-0x000000023fffffff]"});
    const auto& nodes = b.kernel->pages().nodes();
    REQUIRE(nodes.size() == 2);
    // Node 0 has DMA and DMA32 (all below 4 GiB), node 1 only Normal.
    auto types = [](const std::vector<zone*>& list) {
        std::vector<std::pair<int, zone_type>> out;
        for (const zone* z : list) out.emplace_back(z->node, z->type);
        return out;
    };
    using P = std::pair<int, zone_type>;
    CHECK(types(nodes[0].zonelist) ==
          std::vector<P>{{0, zone_type::dma32}, {0, zone_type::dma}, {1, zone_type::normal}});
    CHECK(types(nodes[1].zonelist) ==
          std::vector<P>{{1, zone_type::normal}, {0, zone_type::dma32}, {0, zone_type::dma}});
    CHECK(types(nodes[1].zonelist_nofallback) == std::vector<P>{{1, zone_type::normal}});
    // GFP_KERNEL on node 0 has no Normal there and takes DMA32 before reaching node 1.
    page* p = b.kernel->pages().alloc_pages_node(0, GFP_KERNEL, 0);
    REQUIRE(p);
    CHECK(b.kernel->pages().page_zone(p).type == zone_type::dma32);
    CHECK(b.kernel->pages().check_invariants() == "");
}

TEST_CASE("without NUMA ranges x86_64 fakes one node, as dummy_numa_init says") {
    kernel_config config = testing::pc_config(kernel_arch::x86_64, 4 * GiB);
    testing::booted_kernel b(config);
    CHECK(lines_from(b.kernel->log(), "No NUMA", 2) ==
          std::vector<std::string>{"No NUMA configuration found",
                                   "Faking a node at [mem 0x0000000000000000-0x000000013fffffff]"});
}

}  // namespace memsim::kernel

namespace memsim::kernel {
namespace {

// The lines from the first that starts with `from` up to (not including) the first that starts
// with `to`.
std::vector<std::string> lines_between(const printk_buffer& log, std::string_view from, std::string_view to) {
    std::vector<std::string> all = log.lines();
    auto first =
        std::find_if(all.begin(), all.end(), [&](const std::string& l) { return l.starts_with(from); });
    auto last = std::find_if(first, all.end(), [&](const std::string& l) { return l.starts_with(to); });
    return {first, last};
}

std::uint64_t managed(const kernel_state& k, zone_type type) {
    for (const zone& z : k.pages().nodes().front().zones)
        if (z.type == type) return z.managed_pages;
    return 0;
}

}  // namespace

TEST_CASE("swiotlb: RAM above 4 GiB reserves the pool in mem_init, below 4 GiB and before the buddy") {
    testing::booted_kernel b(kernel_arch::x86_64, 4 * GiB);
    const io_tlb_mem* pool = b.kernel->swiotlb();
    REQUIRE(pool);
    CHECK_FALSE(b.kernel->swiotlb_force());
    // memblock_alloc_low: top-down from the end of RAM below 4 GiB, 0xbffe0000, 64 MiB.
    CHECK(pool->start() == 0xbbfe0000);
    CHECK(pool->end() == 0xbffe0000);
    CHECK(pool->nslabs() == 32768);
    CHECK(b.kernel->blocks().is_region_reserved(0xbbfe0000, 64 * MiB));
    // The slot array (32768 x 24 bytes = 768 KiB) and the 16-byte area array come from the top
    // of RAM, below the direct map's tables (0x13fffa000..) and above the memory map, so the area
    // array, 64-byte aligned, takes the page below the slot array.
    CHECK(b.kernel->blocks().is_region_reserved(0x13ff3a000, 768 * 1024));
    CHECK(b.kernel->blocks().is_region_reserved(0x13ff39fc0, 16));
    CHECK_FALSE(b.kernel->blocks().is_region_reserved(0x13ff39000, 0xfc0));
    CHECK(lines_between(b.log, "Built 1 zonelists", "Memory:") ==
          std::vector<std::string>{"Built 1 zonelists, mobility grouping on.  Total pages: 1032062",
                                   "software IO TLB: area num 1."});
    CHECK(lines_between(b.log, "Memory:", "Freeing unused").size() == 3);
    CHECK(lines_from(b.log, "PCI-DMA", 2) ==
          std::vector<std::string>{
              "PCI-DMA: Using software bounce buffering for IO (SWIOTLB)",
              "software IO TLB: mapped [mem 0x00000000bbfe0000-0x00000000bffe0000] (64MB)"});
    // 16384 pool pages in DMA32 and 192 + 1 array pages in Normal more than without the pool:
    // DMA32 782304 present - 8526 image + 732 initmem freed = 774510 - 16384; Normal 262144 - 6
    // tables - 16384 memory map = 245754 - 193.
    CHECK(managed(*b.kernel, zone_type::dma32) == 758126);
    CHECK(managed(*b.kernel, zone_type::normal) == 245561);
    // 25074 + 16577 = 41651 pages reserved = 166604K; 1023372 - 16577 = 1006795 pages available.
    CHECK(b.log.lines("Memory:") ==
          std::vector<std::string>{
              "Memory: 4027180K/4193784K available (14342K kernel code, 2365K rwdata, 9028K rodata, "
              "2928K init, 5436K bss, 166604K reserved, 0K cma-reserved)"});
    CHECK(b.kernel->pages().check_invariants() == "");
}

TEST_CASE("swiotlb: auto reserves nothing when all RAM is below 4 GiB; force does, silently") {
    SUBCASE("auto") {
        testing::booted_kernel b(kernel_arch::x86_64, 2 * GiB);
        CHECK(b.kernel->swiotlb() == nullptr);
        CHECK(b.log.lines("software IO TLB").empty());
        CHECK(b.log.lines("PCI-DMA").empty());
    }
    SUBCASE("force") {
        kernel_config config = testing::pc_config(kernel_arch::x86_64, 2 * GiB);
        config.swiotlb = swiotlb_mode::force;
        testing::booted_kernel b(config);
        REQUIRE(b.kernel->swiotlb());
        CHECK(b.kernel->swiotlb_force());
        // All RAM is below 4 GiB, so the pool goes below what took the top of it first: the
        // direct map's tables, then the 32 MiB memory map at 0x7de00000 (2 MiB aligned).
        CHECK(b.kernel->swiotlb()->start() == 0x7de00000 - 64 * MiB);
        // pci_iommu_init prints nothing: x86_swiotlb_enable is false, swiotlb_exit keeps the pool.
        CHECK(b.log.lines("software IO TLB") == std::vector<std::string>{"software IO TLB: area num 1."});
        CHECK(b.log.lines("PCI-DMA").empty());
    }
    SUBCASE("i386 without PAE never has RAM above 4 GiB") {
        testing::booted_kernel b(kernel_arch::i386, 4 * GiB);
        CHECK(b.kernel->swiotlb() == nullptr);
    }
}

TEST_CASE("swiotlb: off leaves RAM above 4 GiB without a pool, and pci_iommu_init says so") {
    kernel_config config = testing::pc_config(kernel_arch::x86_64, 4 * GiB);
    config.swiotlb = swiotlb_mode::off;
    testing::booted_kernel b(config);
    CHECK(b.kernel->swiotlb() == nullptr);
    CHECK(lines_between(b.log, "Memory:", "Freeing unused") ==
          std::vector<std::string>{
              "Memory: 4093488K/4193784K available (14342K kernel code, 2365K rwdata, 9028K rodata, "
              "2928K init, 5436K bss, 100296K reserved, 0K cma-reserved)",
              "PCI-DMA: Using software bounce buffering for IO (SWIOTLB)", "software IO TLB: No low mem"});
    CHECK(b.log.lines("software IO TLB", kern_level::warning) ==
          std::vector<std::string>{"software IO TLB: No low mem"});
}

TEST_CASE("swiotlb: the size rounds up to a power of two; the area array counts the CPUs") {
    kernel_config config = testing::pc_config(kernel_arch::x86_64, 4 * GiB);
    config.swiotlb_size = 96 * MiB;
    config.cpus = 3;
    testing::booted_kernel b(config);
    REQUIRE(b.kernel->swiotlb());
    CHECK(b.kernel->swiotlb()->nslabs() == 65536);
    CHECK(b.kernel->swiotlb()->start() == 0xbffe0000 - 128 * MiB);
    CHECK(b.log.lines("software IO TLB") ==
          std::vector<std::string>{
              "software IO TLB: area num 4.", "software IO TLB: SWIOTLB bounce buffer size roundup to 128MB",
              "software IO TLB: mapped [mem 0x00000000b7fe0000-0x00000000bffe0000] (128MB)"});
    // 65536 slots x 24 bytes = 1.5 MiB of slots, then 4 areas x 16 bytes below them.
    phys_addr_t slots = 0x13fffa000 - 1536 * 1024;
    CHECK(b.kernel->blocks().is_region_reserved(slots, 1536 * 1024));
    CHECK(b.kernel->blocks().is_region_reserved(slots - 64, 64));
}

TEST_CASE("swiotlb on i386-pae: in low memory; a pool that does not fit is warned about") {
    SUBCASE("8 GiB: below max_low_pfn") {
        testing::booted_kernel b(testing::pc_config(kernel_arch::i386, 8 * GiB, true));
        REQUIRE(b.kernel->swiotlb());
        CHECK(b.kernel->swiotlb()->end() <= 0x36ffe000);
        // PAE's phys_addr_t is 64-bit: %pa prints 16 digits.
        CHECK(b.log.lines("software IO TLB: mapped")
                  .front()
                  .starts_with("software IO TLB: mapped [mem 0x00000000"));
        CHECK(b.kernel->pages().check_invariants() == "");
    }
    SUBCASE("1 GiB does not fit in 879 MiB of low memory") {
        kernel_config config = testing::pc_config(kernel_arch::i386, 8 * GiB, true);
        config.swiotlb_size = 1024 * MiB;
        testing::booted_kernel b(config);
        CHECK(b.kernel->swiotlb() == nullptr);
        CHECK(
            b.log.lines("software IO TLB") ==
            std::vector<std::string>{"software IO TLB: area num 1.",
                                     "software IO TLB: swiotlb_init_remap: failed to allocate tlb structure",
                                     "software IO TLB: No low mem"});
    }
}

}  // namespace memsim::kernel
