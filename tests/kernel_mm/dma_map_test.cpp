// The streaming DMA API on booted kernels: memory a device reaches mapped in place, memory it
// does not bounced through the swiotlb with the copies each direction makes on map, unmap and
// sync, "DMA addr ... overflow" without a pool and "swiotlb addr ... overflow" with one the
// device cannot reach either, swiotlb=force, scatterlists (one entry bounced, a failure
// unwound), and dma-debug's reports on bad unmaps, which never corrupt the pool.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "kernel_mm/dma/mapping.h"
#include "tests/kernel_mm/booted_kernel.h"

namespace memsim::kernel {
namespace {

constexpr std::uint64_t KiB = 1024, MiB = 1 << 20, GiB = 1ull << 30;
constexpr const char* prefix = "e1000 0000:00:03.0: ";

dma_debug_config all_errors() {
    dma_debug_config config;
    config.all_errors = true;
    return config;
}

// A booted PC with the DMA API, a PCI network card with a 32-bit mask, and (when asked) a
// swiotlb in a block taken from the page allocator.
struct map_machine : testing::booted_kernel {
    dma_api dma;
    device dev;
    std::unique_ptr<io_tlb_mem> pool;
    std::size_t boot_lines;

    map_machine(kernel_arch arch, std::uint64_t ram, bool pae = false)
        : booted_kernel(arch, ram, pae),
          dma(*kernel, machine, all_errors()),
          boot_lines(log.records().size()) {
        dev.name = "0000:00:03.0";
        dev.driver = "e1000";
        dev.bus = "pci";
    }

    page_allocator& pages() { return kernel->pages(); }
    phys_addr_t phys(page* p) { return pages().page_to_phys(p); }
    std::uint64_t direct(phys_addr_t phys) const { return kernel->page_offset() + phys; }

    // A pool of 2^order pages from `gfp`'s zone, set as the DMA API's swiotlb.
    io_tlb_mem& make_pool(gfp_t gfp, unsigned order) {
        page* p = pages().alloc_pages(gfp, order);
        REQUIRE(p != nullptr);
        pool =
            std::make_unique<io_tlb_mem>(phys(p), (std::uint64_t{4096} << order) / IO_TLB_SIZE, machine, log);
        dma.set_swiotlb(pool.get());
        return *pool;
    }
    bool in_pool(dma_addr_t addr, std::uint64_t size) const {
        return pool && addr >= pool->start() && addr + size <= pool->end();
    }

    // A page of `gfp`, checked to be at or above `low` and below `high`.
    page* page_between(gfp_t gfp, unsigned order, phys_addr_t low, phys_addr_t high) {
        page* p = pages().alloc_pages(gfp, order);
        REQUIRE(p != nullptr);
        REQUIRE(phys(p) >= low);
        REQUIRE(phys(p) + (std::uint64_t{4096} << order) <= high);
        return p;
    }

    void pattern(phys_addr_t addr, std::size_t size, std::uint8_t seed) { machine.pattern(addr, size, seed); }
    bool holds(phys_addr_t addr, std::size_t size, std::uint8_t seed) {
        return machine.holds(addr, size, seed);
    }

    std::vector<std::string> printed(kern_level level, std::string_view start = {}) const {
        std::vector<std::string> out;
        for (std::size_t i = boot_lines; i < log.records().size(); ++i) {
            const printk_record& r = log.records()[i];
            if (r.level <= level && std::string_view(r.text).starts_with(start)) out.push_back(r.text);
        }
        return out;
    }
    std::vector<std::string> errors_printed() const { return printed(kern_level::err); }
    std::vector<std::string> warnings() const { return printed(kern_level::warning); }
    std::vector<std::string> dma_api_lines() const { return printed(kern_level::warning, "DMA-API: "); }
    std::uint64_t errors(dma_debug_error e) const { return dev.dma_stats.errors(e); }
};

}  // namespace

TEST_CASE("a 32-bit device maps memory below 4 GiB in place, with or without a pool") {
    map_machine m(kernel_arch::x86_64, 16 * GiB);
    m.make_pool(GFP_DMA32, 10);
    page* p = m.page_between(GFP_DMA32, 0, 16 * MiB, 4 * GiB);
    const phys_addr_t buf = m.phys(p) + 0x80;
    m.pattern(buf, 512, 1);

    dma_addr_t addr = m.dma.dma_map_single(m.dev, m.direct(buf), 512, DMA_BIDIRECTIONAL);
    CHECK(addr == buf);
    CHECK_FALSE(m.dma.dma_mapping_error(m.dev, addr));
    CHECK(m.dev.dma_debug.entries.size() == 1);
    CHECK(m.dev.dma_debug.entries.begin()->second.phys() == buf);
    // No bounce buffer: a sync copies nothing, and the device's writes land in place.
    m.pattern(addr, 512, 9);
    m.dma.dma_sync_single_for_cpu(m.dev, addr, 512, DMA_BIDIRECTIONAL);
    m.dma.dma_unmap_single(m.dev, addr, 512, DMA_BIDIRECTIONAL);
    CHECK(m.holds(buf, 512, 9));

    CHECK(m.dev.dma_stats.streaming_maps == 1);
    CHECK(m.dev.dma_stats.streaming_unmaps == 1);
    CHECK(m.dev.dma_stats.bounced_maps == 0);
    CHECK(m.dev.dma_stats.bounced_to_device_bytes == 0);
    CHECK(m.dev.dma_stats.bounced_from_device_bytes == 0);
    CHECK(m.dev.dma_stats.mapping_errors == 0);
    CHECK(m.pool->stats().maps == 0);
    CHECK(m.dev.dma_debug.entries.empty());
    CHECK(m.dma.debug().error_count() == 0);
    CHECK(m.warnings().empty());

    // dma_map_page of the same page gives the same address; a 64-bit device reaches anything.
    addr = m.dma.dma_map_page(m.dev, p, 0x80, 512, DMA_TO_DEVICE);
    CHECK(addr == buf);
    CHECK_FALSE(m.dma.dma_mapping_error(m.dev, addr));
    m.dma.dma_unmap_page(m.dev, addr, 512, DMA_TO_DEVICE);
    REQUIRE(m.dma.dma_set_mask(m.dev, DMA_BIT_MASK(64)) == 0);
    page* high = m.page_between(GFP_KERNEL, 0, 4 * GiB, 17 * GiB);
    addr = m.dma.dma_map_page(m.dev, high, 0, 4096, DMA_FROM_DEVICE);
    CHECK(addr == m.phys(high));
    CHECK_FALSE(m.dma.dma_mapping_error(m.dev, addr));
    m.dma.dma_unmap_page(m.dev, addr, 4096, DMA_FROM_DEVICE);
    CHECK(m.dev.dma_stats.bounced_maps == 0);
    CHECK(m.dma.debug().error_count() == 0);
}

TEST_CASE(
    "memory above 4 GiB bounces for a 32-bit device: copied in always, back only when the device wrote") {
    const dma_data_direction dirs[] = {DMA_TO_DEVICE, DMA_FROM_DEVICE, DMA_BIDIRECTIONAL};
    for (dma_data_direction dir : dirs) {
        CAPTURE(dir);
        map_machine m(kernel_arch::x86_64, 16 * GiB);
        io_tlb_mem& pool = m.make_pool(GFP_DMA32, 10);
        page* p = m.page_between(GFP_KERNEL, 0, 4 * GiB, 17 * GiB);
        const phys_addr_t buf = m.phys(p) + 0x100;
        m.pattern(buf, 256, 3);

        dma_addr_t addr = m.dma.dma_map_page(m.dev, p, 0x100, 256, dir);
        REQUIRE_FALSE(m.dma.dma_mapping_error(m.dev, addr));
        CHECK(addr == pool.start());  // the first slot of an empty pool, no min_align_mask
        CHECK(m.in_pool(addr, 256));
        CHECK(addr + 255 <= DMA_BIT_MASK(32));
        CHECK(m.holds(addr, 256, 3));  // copied in whatever the direction
        CHECK(pool.used() == 1);
        // dma-debug records the CPU side's page and the bounce address.
        REQUIRE(m.dev.dma_debug.entries.size() == 1);
        CHECK(m.dev.dma_debug.entries.begin()->first == addr);
        CHECK(m.dev.dma_debug.entries.begin()->second.phys() == buf);

        m.pattern(addr, 256, 77);  // the device writes the bounce buffer
        m.dma.dma_unmap_page(m.dev, addr, 256, dir);
        const bool back = dir != DMA_TO_DEVICE;
        CHECK(m.holds(buf, 256, back ? 77 : 3));
        CHECK(pool.used() == 0);
        CHECK(pool.check_invariants() == "");

        CHECK(m.dev.dma_stats.streaming_maps == 1);
        CHECK(m.dev.dma_stats.bounced_maps == 1);
        CHECK(m.dev.dma_stats.bounced_to_device_bytes == 256);
        CHECK(m.dev.dma_stats.bounced_from_device_bytes == (back ? 256u : 0u));
        CHECK(m.dev.dma_stats.mapping_errors == 0);
        CHECK(m.dev.dma_debug.entries.empty());
        CHECK(m.dma.debug().error_count() == 0);
        CHECK(m.warnings().empty());
    }
}

TEST_CASE("syncs of a bounced mapping copy as the direction says, and a direct one copies nothing") {
    map_machine m(kernel_arch::x86_64, 16 * GiB);
    io_tlb_mem& pool = m.make_pool(GFP_DMA32, 10);

    SUBCASE("DMA_FROM_DEVICE: for_cpu copies back, for_device copies nothing") {
        page* p = m.page_between(GFP_KERNEL, 0, 4 * GiB, 17 * GiB);
        const phys_addr_t buf = m.phys(p);
        m.pattern(buf, 1024, 1);
        dma_addr_t addr = m.dma.dma_map_single(m.dev, m.direct(buf), 1024, DMA_FROM_DEVICE);
        REQUIRE_FALSE(m.dma.dma_mapping_error(m.dev, addr));
        REQUIRE(m.in_pool(addr, 1024));
        m.pattern(addr, 1024, 20);  // the device's first packet
        m.dma.dma_sync_single_for_cpu(m.dev, addr, 1024, DMA_FROM_DEVICE);
        CHECK(m.holds(buf, 1024, 20));
        m.pattern(buf, 1024, 30);  // the CPU scribbles on its copy
        m.dma.dma_sync_single_for_device(m.dev, addr, 1024, DMA_FROM_DEVICE);
        CHECK(m.holds(addr, 1024, 20));  // the bounce buffer keeps the device's data
        m.pattern(addr, 1024, 40);       // the device's second packet
        m.dma.dma_unmap_single(m.dev, addr, 1024, DMA_FROM_DEVICE);
        CHECK(m.holds(buf, 1024, 40));
        CHECK(m.dev.dma_stats.bounced_to_device_bytes == 1024);
        CHECK(m.dev.dma_stats.bounced_from_device_bytes == 2048);
    }
    SUBCASE("DMA_TO_DEVICE: for_device copies in, for_cpu copies nothing") {
        page* p = m.page_between(GFP_KERNEL, 0, 4 * GiB, 17 * GiB);
        const phys_addr_t buf = m.phys(p) + 0x40;
        m.pattern(buf, 100, 1);
        dma_addr_t addr = m.dma.dma_map_page(m.dev, p, 0x40, 100, DMA_TO_DEVICE);
        REQUIRE_FALSE(m.dma.dma_mapping_error(m.dev, addr));
        REQUIRE(m.in_pool(addr, 100));
        m.pattern(buf, 100, 2);  // the CPU fills in the next frame
        CHECK(m.holds(addr, 100, 1));
        m.dma.dma_sync_single_for_device(m.dev, addr, 100, DMA_TO_DEVICE);
        CHECK(m.holds(addr, 100, 2));
        m.pattern(addr, 100, 3);  // a device writing what it may only read
        m.dma.dma_sync_single_for_cpu(m.dev, addr, 100, DMA_TO_DEVICE);
        CHECK(m.holds(buf, 100, 2));
        m.dma.dma_unmap_page(m.dev, addr, 100, DMA_TO_DEVICE);
        CHECK(m.holds(buf, 100, 2));
        CHECK(m.dev.dma_stats.bounced_to_device_bytes == 200);
        CHECK(m.dev.dma_stats.bounced_from_device_bytes == 0);
    }
    SUBCASE("a partial sync inside the mapping copies just that range") {
        page* p = m.page_between(GFP_KERNEL, 0, 4 * GiB, 17 * GiB);
        const phys_addr_t buf = m.phys(p);
        m.pattern(buf, 4096, 1);
        dma_addr_t addr = m.dma.dma_map_page(m.dev, p, 0, 4096, DMA_BIDIRECTIONAL);
        REQUIRE_FALSE(m.dma.dma_mapping_error(m.dev, addr));
        m.pattern(addr + 1000, 200, 50);
        m.dma.dma_sync_single_for_cpu(m.dev, addr + 1000, 200, DMA_BIDIRECTIONAL);
        CHECK(m.holds(buf + 1000, 200, 50));
        CHECK(m.holds(buf, 1000, 1));
        CHECK(m.dev.dma_stats.bounced_from_device_bytes == 200);
        m.dma.dma_unmap_page(m.dev, addr, 4096, DMA_BIDIRECTIONAL);
    }
    SUBCASE("a direct mapping's syncs copy nothing") {
        page* p = m.page_between(GFP_DMA32, 0, 16 * MiB, 4 * GiB);
        dma_addr_t addr = m.dma.dma_map_page(m.dev, p, 0, 4096, DMA_BIDIRECTIONAL);
        REQUIRE(addr == m.phys(p));
        REQUIRE_FALSE(m.dma.dma_mapping_error(m.dev, addr));
        m.dma.dma_sync_single_for_cpu(m.dev, addr, 4096, DMA_BIDIRECTIONAL);
        m.dma.dma_sync_single_for_device(m.dev, addr, 4096, DMA_BIDIRECTIONAL);
        m.dma.dma_unmap_page(m.dev, addr, 4096, DMA_BIDIRECTIONAL);
        CHECK(m.dev.dma_stats.bounced_to_device_bytes == 0);
        CHECK(m.dev.dma_stats.bounced_from_device_bytes == 0);
    }
    CHECK(pool.used() == 0);
    CHECK(pool.check_invariants() == "");
    CHECK(m.dma.debug().error_count() == 0);
    CHECK(m.dev.dma_debug.entries.empty());
}

TEST_CASE("without a swiotlb, memory out of reach fails with the overflow line, printed once per device") {
    map_machine m(kernel_arch::x86_64, 16 * GiB);
    page* p = m.pages().pfn_to_page(0x300000);  // 12 GiB: any page will do, the map does not care
    dma_addr_t addr = m.dma.dma_map_page(m.dev, p, 0x100, 256, DMA_TO_DEVICE);
    CHECK(addr == DMA_MAPPING_ERROR);
    CHECK(m.dma.dma_mapping_error(m.dev, addr));
    CHECK(m.errors_printed() ==
          std::vector<std::string>{std::string(prefix) +
                                   "DMA addr 0x0000000300000100+256 overflow (mask ffffffff, bus limit 0)."});
    // Again, and with a bus limit: counted, not printed.
    m.dev.bus_dma_limit = DMA_BIT_MASK(31);
    CHECK(m.dma.dma_map_single(m.dev, m.direct(0x80000000), 16, DMA_FROM_DEVICE) == DMA_MAPPING_ERROR);
    CHECK(m.errors_printed().size() == 1);
    CHECK(m.dev.dma_stats.mapping_errors == 2);
    CHECK(m.dev.dma_stats.streaming_maps == 0);
    CHECK(m.dev.dma_debug.entries.empty());  // a failed mapping is not recorded
    CHECK(m.dma.debug().error_count() == 0);

    // Another device prints its own line; the bus limit shows.
    device other;
    other.name = "0000:00:04.0";
    other.driver = "8139too";
    other.bus = "pci";
    other.bus_dma_limit = DMA_BIT_MASK(31);
    CHECK(m.dma.dma_map_page(other, m.pages().pfn_to_page(0x80000), 0, 4096, DMA_BIDIRECTIONAL) ==
          DMA_MAPPING_ERROR);
    CHECK(m.errors_printed().back() ==
          "8139too 0000:00:04.0: DMA addr 0x0000000080000000+4096 overflow (mask ffffffff, bus limit "
          "7fffffff).");

    // Unmapping the error handle is a dma-debug report and nothing else.
    m.dma.dma_unmap_page(m.dev, DMA_MAPPING_ERROR, 256, DMA_TO_DEVICE);
    CHECK(m.errors(dma_debug_error::free_invalid_address) == 1);
}

TEST_CASE("a 24-bit ISA-like device bounces through a pool below 16 MiB, and fails with one above") {
    map_machine m(kernel_arch::x86_64, 4 * GiB);
    REQUIRE(m.dma.dma_set_mask(m.dev, DMA_BIT_MASK(24)) == 0);
    page* p = m.page_between(GFP_DMA32, 0, 16 * MiB, 4 * GiB);
    const phys_addr_t buf = m.phys(p);
    m.pattern(buf, 512, 5);

    SUBCASE("the pool in ZONE_DMA") {
        io_tlb_mem& pool = m.make_pool(GFP_DMA, 6);
        REQUIRE(pool.end() <= 16 * MiB);
        dma_addr_t addr = m.dma.dma_map_page(m.dev, p, 0, 512, DMA_BIDIRECTIONAL);
        REQUIRE_FALSE(m.dma.dma_mapping_error(m.dev, addr));
        CHECK(addr == pool.start());
        CHECK(addr + 511 <= DMA_BIT_MASK(24));
        CHECK(m.holds(addr, 512, 5));
        m.pattern(addr, 512, 6);
        m.dma.dma_unmap_page(m.dev, addr, 512, DMA_BIDIRECTIONAL);
        CHECK(m.holds(buf, 512, 6));
        CHECK(m.dev.dma_stats.bounced_maps == 1);
        CHECK(m.errors_printed().empty());
    }
    SUBCASE("the pool above 16 MiB: the bounce buffer is out of reach too") {
        io_tlb_mem& pool = m.make_pool(GFP_DMA32, 6);
        REQUIRE(pool.start() >= 16 * MiB);
        dma_addr_t addr = m.dma.dma_map_page(m.dev, p, 0, 512, DMA_BIDIRECTIONAL);
        CHECK(addr == DMA_MAPPING_ERROR);
        CHECK(m.dma.dma_mapping_error(m.dev, addr));
        CHECK(m.errors_printed() ==
              std::vector<std::string>{
                  std::string(prefix) +
                  fmt::format("swiotlb addr 0x{:016x}+512 overflow (mask ffffff, bus limit 0).",
                              pool.start())});
        // The slot went back without a copy out; the original is untouched.
        CHECK(pool.used() == 0);
        CHECK(pool.stats().maps == 1);
        CHECK(pool.stats().unmaps == 1);
        CHECK(pool.stats().bounced_from_device == 0);
        CHECK(pool.check_invariants() == "");
        CHECK(m.holds(buf, 512, 5));
        CHECK(m.dev.dma_stats.mapping_errors == 1);
        CHECK(m.dev.dma_stats.bounced_maps == 0);
        CHECK(m.dev.dma_debug.entries.empty());
        // Once per device.
        CHECK(m.dma.dma_map_page(m.dev, p, 0, 512, DMA_BIDIRECTIONAL) == DMA_MAPPING_ERROR);
        CHECK(m.errors_printed().size() == 1);
        CHECK(m.dev.dma_stats.mapping_errors == 2);
    }
    // A buffer in ZONE_DMA needs no bounce either way.
    page* low = m.page_between(GFP_DMA, 0, 0, 16 * MiB);
    dma_addr_t addr = m.dma.dma_map_page(m.dev, low, 0, 4096, DMA_TO_DEVICE);
    CHECK(addr == m.phys(low));
    CHECK_FALSE(m.dma.dma_mapping_error(m.dev, addr));
    m.dma.dma_unmap_page(m.dev, addr, 4096, DMA_TO_DEVICE);
    CHECK(m.dma.debug().error_count() == 0);
}

TEST_CASE("swiotlb=force bounces memory the device reaches, keeping its min_align_mask bits") {
    map_machine m(kernel_arch::x86_64, 16 * GiB);
    page* p = m.page_between(GFP_DMA32, 0, 16 * MiB, 4 * GiB);
    const phys_addr_t buf = m.phys(p) + 0x234;
    m.pattern(buf, 64, 8);

    // No pool: nothing to bounce through, mapped in place.
    m.dma.swiotlb_force_bounce = true;
    dma_addr_t addr = m.dma.dma_map_page(m.dev, p, 0x234, 64, DMA_TO_DEVICE);
    CHECK(addr == buf);
    CHECK_FALSE(m.dma.dma_mapping_error(m.dev, addr));
    m.dma.dma_unmap_page(m.dev, addr, 64, DMA_TO_DEVICE);

    io_tlb_mem& pool = m.make_pool(GFP_DMA32, 10);
    addr = m.dma.dma_map_page(m.dev, p, 0x234, 64, DMA_TO_DEVICE);
    CHECK(addr == pool.start());
    CHECK(m.holds(addr, 64, 8));
    CHECK_FALSE(m.dma.dma_mapping_error(m.dev, addr));
    m.dma.dma_unmap_page(m.dev, addr, 64, DMA_TO_DEVICE);

    // An NVMe-like device keeps the address's low 12 bits in the bounce buffer.
    m.dev.min_align_mask = 0xfff;
    addr = m.dma.dma_map_page(m.dev, p, 0x234, 64, DMA_FROM_DEVICE);
    REQUIRE_FALSE(m.dma.dma_mapping_error(m.dev, addr));
    CHECK(m.in_pool(addr, 64));
    CHECK((addr & 0xfff) == 0x234);
    m.pattern(addr, 64, 9);
    m.dma.dma_unmap_page(m.dev, addr, 64, DMA_FROM_DEVICE);
    CHECK(m.holds(buf, 64, 9));

    CHECK(m.dev.dma_stats.streaming_maps == 3);
    CHECK(m.dev.dma_stats.bounced_maps == 2);
    CHECK(m.dev.dma_stats.bounced_to_device_bytes == 128);
    CHECK(m.dev.dma_stats.bounced_from_device_bytes == 64);
    CHECK(pool.used() == 0);
    CHECK(pool.check_invariants() == "");
    CHECK(m.dma.debug().error_count() == 0);
}

TEST_CASE("a scatterlist of three entries, the middle one out of reach, maps, syncs and unmaps") {
    map_machine m(kernel_arch::x86_64, 16 * GiB);
    io_tlb_mem& pool = m.make_pool(GFP_DMA32, 10);
    page* a = m.page_between(GFP_DMA32, 0, 16 * MiB, 4 * GiB);
    page* b = m.page_between(GFP_KERNEL, 1, 4 * GiB, 17 * GiB);
    page* c = m.page_between(GFP_DMA32, 0, 16 * MiB, 4 * GiB);
    std::vector<scatterlist> sgl(3);
    sg_init_table(sgl);
    sg_set_page(sgl[0], a, 1500, 0);
    sg_set_page(sgl[1], b, 6000, 0x100);  // runs into b's second page
    sg_set_page(sgl[2], c, 4096, 0);
    m.pattern(m.phys(b) + 0x100, 6000, 11);

    CHECK(m.dma.dma_map_sg(m.dev, sgl, 3, DMA_FROM_DEVICE) == 3);
    CHECK(sg_dma_address(sgl[0]) == m.phys(a));
    CHECK(sg_dma_address(sgl[1]) == pool.start());
    CHECK(sg_dma_address(sgl[2]) == m.phys(c));
    CHECK(sg_dma_len(sgl[0]) == 1500);
    CHECK(sg_dma_len(sgl[1]) == 6000);
    CHECK(sg_dma_len(sgl[2]) == 4096);
    CHECK(m.holds(sgl[1].dma_address, 6000, 11));
    CHECK(pool.used() == 3);  // 6000 bytes: three 2 KiB slots
    REQUIRE(m.dev.dma_debug.entries.size() == 3);
    for (const auto& [addr, e] : m.dev.dma_debug.entries) {
        CHECK(e.type == dma_debug_type::sg);
        CHECK(e.sg_call_ents == 3);
        CHECK(e.sg_mapped_ents == 3);
    }

    m.pattern(sgl[1].dma_address, 6000, 12);
    m.pattern(sgl[0].dma_address, 1500, 13);
    m.dma.dma_sync_sg_for_cpu(m.dev, sgl, 3, DMA_FROM_DEVICE);
    CHECK(m.holds(m.phys(b) + 0x100, 6000, 12));
    CHECK(m.holds(m.phys(a), 1500, 13));
    m.dma.dma_sync_sg_for_device(m.dev, sgl, 3, DMA_FROM_DEVICE);
    m.pattern(sgl[1].dma_address, 6000, 14);
    m.dma.dma_unmap_sg(m.dev, sgl, 3, DMA_FROM_DEVICE);
    CHECK(m.holds(m.phys(b) + 0x100, 6000, 14));

    CHECK(pool.used() == 0);
    CHECK(pool.check_invariants() == "");
    CHECK(m.dev.dma_stats.streaming_maps == 3);
    CHECK(m.dev.dma_stats.streaming_unmaps == 3);
    CHECK(m.dev.dma_stats.bounced_maps == 1);
    CHECK(m.dev.dma_stats.bounced_to_device_bytes == 6000);
    CHECK(m.dev.dma_stats.bounced_from_device_bytes == 12000);
    CHECK(m.dev.dma_debug.entries.empty());
    CHECK(m.dma.debug().error_count() == 0);
    CHECK(m.warnings().empty());
}

TEST_CASE("dma_map_sg unwinds the entries it mapped when a later one does not fit the pool") {
    map_machine m(kernel_arch::x86_64, 16 * GiB);
    io_tlb_mem& pool = m.make_pool(GFP_DMA32, 6);  // 128 slots, one segment
    page* a = m.page_between(GFP_KERNEL, 1, 4 * GiB, 17 * GiB);
    page* b = m.page_between(GFP_KERNEL, 6, 4 * GiB, 17 * GiB);
    page* c = m.page_between(GFP_DMA32, 0, 16 * MiB, 4 * GiB);
    std::vector<scatterlist> sgl(3);
    sg_set_page(sgl[0], a, 8 * KiB, 0);
    sg_set_page(sgl[1], b, 256 * KiB, 0);  // 128 slots, with 4 already taken
    sg_set_page(sgl[2], c, 4096, 0);
    m.pattern(m.phys(a), 8 * KiB, 21);

    CHECK(m.dma.dma_map_sg(m.dev, sgl, 3, DMA_BIDIRECTIONAL) == 0);
    CHECK(m.warnings() == std::vector<std::string>{std::string(prefix) +
                                                   "swiotlb buffer is full (sz: 262144 bytes), total 128 "
                                                   "(slots), used 4 (slots)"});
    CHECK(pool.used() == 0);
    CHECK(pool.check_invariants() == "");
    CHECK(pool.stats().maps == 1);
    CHECK(pool.stats().unmaps == 1);
    CHECK(pool.stats().bounced_from_device == 0);  // unwound without a copy back
    CHECK(m.holds(m.phys(a), 8 * KiB, 21));
    CHECK(m.dev.dma_stats.mapping_errors == 1);
    CHECK(m.dev.dma_stats.bounced_maps == 1);
    CHECK(m.dev.dma_stats.bounced_to_device_bytes == 8 * KiB);
    CHECK(m.dev.dma_stats.bounced_from_device_bytes == 0);
    CHECK(m.dev.dma_debug.entries.empty());  // nothing recorded for a failed list
    CHECK(m.dma.debug().error_count() == 0);

    // The pool is whole: a list that fits maps.
    sg_set_page(sgl[1], b, 64 * KiB, 0);
    CHECK(m.dma.dma_map_sg(m.dev, sgl, 3, DMA_BIDIRECTIONAL) == 3);
    CHECK(pool.used() == 36);
    m.dma.dma_unmap_sg(m.dev, sgl, 3, DMA_BIDIRECTIONAL);
    CHECK(pool.used() == 0);
    CHECK(m.dma.debug().error_count() == 0);
}

TEST_CASE("dma-debug: an unmap with the wrong size is reported and still releases the bounce buffer") {
    map_machine m(kernel_arch::x86_64, 16 * GiB);
    io_tlb_mem& pool = m.make_pool(GFP_DMA32, 10);
    page* p = m.page_between(GFP_KERNEL, 0, 4 * GiB, 17 * GiB);
    m.pattern(m.phys(p), 256, 1);
    dma_addr_t addr = m.dma.dma_map_page(m.dev, p, 0, 256, DMA_FROM_DEVICE);
    REQUIRE_FALSE(m.dma.dma_mapping_error(m.dev, addr));
    m.pattern(addr, 256, 2);
    m.dma.dma_unmap_page(m.dev, addr, 128, DMA_FROM_DEVICE);
    CHECK(m.dma_api_lines() == std::vector<std::string>{fmt::format(
                                   "DMA-API: {}device driver frees DMA memory with different size "
                                   "[device address=0x{:016x}] [map size=256 bytes] [unmap size=128 "
                                   "bytes]",
                                   prefix, addr)});
    CHECK(m.errors(dma_debug_error::different_size) == 1);
    // Linux copies back what the driver said, and frees the slots the mapping holds.
    CHECK(m.holds(m.phys(p), 128, 2));
    CHECK(m.holds(m.phys(p) + 128, 128, 1 + 128 * 7 % 256));
    CHECK(m.dev.dma_stats.bounced_from_device_bytes == 128);
    CHECK(pool.used() == 0);
    CHECK(pool.stats().unmaps == 1);
    CHECK(pool.check_invariants() == "");
    CHECK(m.dev.dma_debug.entries.empty());
}

TEST_CASE("dma-debug: a double unmap of a bounced mapping is reported and leaves the pool alone") {
    map_machine m(kernel_arch::x86_64, 16 * GiB);
    io_tlb_mem& pool = m.make_pool(GFP_DMA32, 10);
    page* p = m.page_between(GFP_KERNEL, 0, 4 * GiB, 17 * GiB);
    dma_addr_t addr = m.dma.dma_map_page(m.dev, p, 0, 256, DMA_TO_DEVICE);
    REQUIRE_FALSE(m.dma.dma_mapping_error(m.dev, addr));
    m.dma.dma_unmap_page(m.dev, addr, 256, DMA_TO_DEVICE);
    CHECK(pool.used() == 0);

    SUBCASE("the slot still free") {
        m.dma.dma_unmap_page(m.dev, addr, 256, DMA_TO_DEVICE);
        CHECK(pool.used() == 0);
    }
    SUBCASE("the slot bounced again for another device: its mapping survives") {
        device other;
        other.name = "0000:00:04.0";
        other.driver = "8139too";
        other.bus = "pci";
        // Wrap the search back to slot 0: fill the pool's 2048 slots once over.
        std::vector<dma_addr_t> fill;
        for (int i = 0; i < 2047; ++i) {
            fill.push_back(m.dma.dma_map_page(other, p, 0, 2048, DMA_TO_DEVICE));
            REQUIRE_FALSE(m.dma.dma_mapping_error(other, fill.back()));
        }
        for (dma_addr_t f : fill) m.dma.dma_unmap_page(other, f, 2048, DMA_TO_DEVICE);
        dma_addr_t again = m.dma.dma_map_page(other, p, 0, 256, DMA_TO_DEVICE);
        REQUIRE_FALSE(m.dma.dma_mapping_error(other, again));
        REQUIRE(again == addr);
        m.dma.dma_unmap_page(m.dev, addr, 256, DMA_TO_DEVICE);  // the first driver's stale handle
        CHECK(pool.used() == 1);
        m.dma.dma_unmap_page(other, again, 256, DMA_TO_DEVICE);
        CHECK(pool.used() == 0);
        CHECK(other.dma_stats.errors(dma_debug_error::free_not_allocated) == 0);
    }
    CHECK(m.dma_api_lines() ==
          std::vector<std::string>{fmt::format("DMA-API: {}device driver tries to free DMA memory it has not "
                                               "allocated [device address=0x{:016x}] [size=256 bytes]",
                                               prefix, addr)});
    CHECK(m.errors(dma_debug_error::free_not_allocated) == 1);
    CHECK(pool.check_invariants() == "");
    CHECK(pool.stats().bad_calls == 0);
    CHECK(m.dev.dma_stats.streaming_unmaps == 2);
}

TEST_CASE("i386: a HighMem page maps at its physical address; vmalloc-like addresses are rejected") {
    map_machine m(kernel_arch::i386, 2 * GiB);
    CHECK(m.dma.dma_addr_digits() == 8);
    page* p = m.page_between(GFP_HIGHUSER, 0, 0x36ffe000, 2 * GiB);
    dma_addr_t addr = m.dma.dma_map_page(m.dev, p, 0x10, 100, DMA_TO_DEVICE);
    CHECK(addr == m.phys(p) + 0x10);
    CHECK_FALSE(m.dma.dma_mapping_error(m.dev, addr));
    m.dma.dma_unmap_page(m.dev, addr, 100, DMA_TO_DEVICE);

    // A 24-bit device without a pool: the overflow line with i386's 8-digit dma_addr_t.
    REQUIRE(m.dma.dma_set_mask(m.dev, DMA_BIT_MASK(24)) == 0);
    CHECK(m.dma.dma_map_page(m.dev, p, 0x10, 100, DMA_TO_DEVICE) == DMA_MAPPING_ERROR);
    CHECK(m.errors_printed() ==
          std::vector<std::string>{std::string(prefix) +
                                   fmt::format("DMA addr 0x{:08x}+100 overflow (mask ffffff, "
                                               "bus limit 0).",
                                               m.phys(p) + 0x10)});

    // dma_map_single of an address outside the direct map (0xf8000000: vmalloc space).
    CHECK(m.dma.dma_map_single(m.dev, 0xf8000000, 64, DMA_TO_DEVICE) == DMA_MAPPING_ERROR);
    CHECK(m.warnings().back() ==
          "WARNING: CPU: 0 PID: 0 at include/linux/dma-mapping.h dma_map_single_attrs");
    CHECK(m.dma.debug().error_count() == 0);
    CHECK(m.dev.dma_stats.mapping_errors == 2);
}

TEST_CASE("dma-debug: dma_map_single of an address outside the direct map and vmalloc (NULL) is refused") {
    map_machine m(kernel_arch::x86_64, 4 * GiB);
    CHECK(m.dma.dma_map_single(m.dev, 0, 64, DMA_TO_DEVICE) == DMA_MAPPING_ERROR);
    CHECK(m.dev.dma_stats.errors(dma_debug_error::map_invalid_area) == 1);
    std::vector<std::string> warned = m.warnings();
    CHECK(std::find(warned.begin(), warned.end(),
                    "DMA-API: e1000 0000:00:03.0: device driver maps memory from invalid area "
                    "[addr=0000000000000000] [len=64]") != warned.end());
    CHECK(m.dev.dma_stats.mapping_errors == 1);
}

}  // namespace memsim::kernel
