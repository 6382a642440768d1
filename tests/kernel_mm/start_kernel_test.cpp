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
    // = 25074 pages = 100296K; available = 1048446 - 25074 = 1023372 pages = 4093488K.
    CHECK(b.log.lines("Memory:") ==
          std::vector<std::string>{
              "Memory: 4093488K/4193784K available (14342K kernel code, 2365K rwdata, 9028K rodata, "
              "2928K init, 5436K bss, 100296K reserved, 0K cma-reserved)"});
    CHECK(b.log.lines("Freeing unused") ==
          std::vector<std::string>{"Freeing unused kernel image (initmem) memory: 2928K"});
    CHECK(b.kernel->pages().totalram_pages() == 1023372 + 732);
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
