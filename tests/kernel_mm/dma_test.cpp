// The DMA API's coherent side on booted kernels: the zone each coherent mask gets on x86_64,
// i386 and PAE, the retry in lower zones when a block lands out of reach, dma_set_mask's
// verdicts, zeroed buffers, dma_pool's blocks and reports, and each dma-debug check with
// Linux's text and its counter.
#include <doctest/doctest.h>

#include <cerrno>

#include "kernel_mm/dma/pool.h"
#include "tests/kernel_mm/booted_kernel.h"

namespace memsim::kernel {
namespace {

constexpr std::uint64_t KiB = 1024, MiB = 1 << 20, GiB = 1ull << 30;

dma_debug_config all_errors() {
    dma_debug_config config;
    config.all_errors = true;
    return config;
}

// A booted PC with the DMA API and one PCI network card.
struct dma_machine : testing::booted_kernel {
    dma_api dma;
    device dev;

    std::size_t boot_lines;

    dma_machine(kernel_arch arch, std::uint64_t ram, bool pae = false,
                const dma_debug_config& debug = all_errors())
        : booted_kernel(arch, ram, pae), dma(*kernel, machine, debug), boot_lines(log.records().size()) {
        dev.name = "0000:00:03.0";
        dev.driver = "e1000";
        dev.bus = "pci";
    }

    page_allocator& pages() { return kernel->pages(); }
    zone_type zone_of(dma_addr_t handle) {
        return pages().page_zone(pages().pfn_to_page(handle >> page_shift)).type;
    }
    std::uint64_t direct(dma_addr_t handle) const { return kernel->page_offset() + handle; }
    // What the kernel printed since boot at `level` or worse, starting with `prefix`.
    std::vector<std::string> printed(kern_level level, std::string_view prefix = {}) const {
        std::vector<std::string> out;
        for (std::size_t i = boot_lines; i < log.records().size(); ++i) {
            const printk_record& r = log.records()[i];
            if (r.level <= level && std::string_view(r.text).starts_with(prefix)) out.push_back(r.text);
        }
        return out;
    }
    std::vector<std::string> warnings() const { return printed(kern_level::warning); }
    std::vector<std::string> errors_printed() const { return printed(kern_level::err); }
    std::vector<std::string> dma_api_lines() const { return printed(kern_level::warning, "DMA-API: "); }
    std::uint64_t errors(dma_debug_error e) const { return dev.dma_stats.errors(e); }

    // Takes every MAX_PAGE_ORDER block `gfp` gets from `zone`, then gives back those at or above
    // `limit`: afterwards the zone's 4 MiB blocks all lie above the limit, and the zone still has
    // enough free memory to pass its watermark.
    std::vector<page*> keep_blocks_below(gfp_t gfp, zone_type zone, phys_addr_t limit) {
        std::vector<page*> below;
        std::vector<page*> above;
        while (page* p = pages().alloc_pages(gfp | __GFP_NOWARN, MAX_PAGE_ORDER)) {
            if (pages().page_zone(p).type != zone) {
                pages().__free_pages(p, MAX_PAGE_ORDER);
                break;
            }
            (pages().page_to_phys(p) < limit ? below : above).push_back(p);
        }
        for (page* p : above) pages().__free_pages(p, MAX_PAGE_ORDER);
        return below;
    }
    void give_back(const std::vector<page*>& held) {
        for (page* p : held) pages().__free_pages(p, MAX_PAGE_ORDER);
    }
};

}  // namespace

TEST_CASE(
    "dma-direct's limits come from the machine: ZONE_DMA32 and a 64-bit dma_addr_t where Linux has them") {
    SUBCASE("x86_64") {
        dma_machine m(kernel_arch::x86_64, 4 * GiB);
        CHECK(m.dma.limits().zone_dma_limit == 0xffffff);
        CHECK(m.dma.limits().max_pfn == 0x140000);
        CHECK(m.dma.limits().zone_dma);
        CHECK(m.dma.limits().zone_dma32);
        CHECK(m.dma.limits().dma_addr_bits == 64);
        // (max_pfn - 1) << PAGE_SHIFT = 0x13ffff000 needs 33 bits.
        CHECK(m.dma.dma_get_required_mask(m.dev) == DMA_BIT_MASK(33));
    }
    SUBCASE("i386 without and with PAE") {
        for (bool pae : {false, true}) {
            CAPTURE(pae);
            dma_machine m(kernel_arch::i386, 2 * GiB, pae);
            CHECK_FALSE(m.dma.limits().zone_dma32);
            CHECK(m.dma.limits().dma_addr_bits == (pae ? 64u : 32u));
            CHECK(m.dma.dma_get_required_mask(m.dev) == DMA_BIT_MASK(31));
        }
    }
}

TEST_CASE("dma_direct_optimal_gfp_mask: DMA up to 16 MiB, DMA32 up to 4 GiB, else no zone modifier") {
    dma_direct_limits limits;
    limits.max_pfn = 0x140000;
    limits.zone_dma32 = true;
    device dev;
    std::uint64_t phys_limit = 0;
    CHECK(dma_direct_optimal_gfp_mask(dev, DMA_BIT_MASK(24), limits, &phys_limit) == GFP_DMA);
    CHECK(phys_limit == 0xffffff);
    CHECK(dma_direct_optimal_gfp_mask(dev, DMA_BIT_MASK(30), limits, &phys_limit) == GFP_DMA32);
    CHECK(dma_direct_optimal_gfp_mask(dev, DMA_BIT_MASK(32), limits, &phys_limit) == GFP_DMA32);
    CHECK(dma_direct_optimal_gfp_mask(dev, DMA_BIT_MASK(36), limits, &phys_limit) == 0);
    CHECK(phys_limit == DMA_BIT_MASK(36));
    CHECK(dma_direct_optimal_gfp_mask(dev, DMA_BIT_MASK(64), limits, &phys_limit) == 0);
    // The bus limit counts when it is the lower one (min_not_zero).
    dev.bus_dma_limit = DMA_BIT_MASK(32);
    CHECK(dma_direct_optimal_gfp_mask(dev, DMA_BIT_MASK(64), limits, &phys_limit) == GFP_DMA32);
    CHECK(phys_limit == DMA_BIT_MASK(32));
    CHECK(dma_direct_optimal_gfp_mask(dev, DMA_BIT_MASK(24), limits, &phys_limit) == GFP_DMA);
    // dma_coherent_ok and dma_capable against the same limits.
    dev.coherent_dma_mask = DMA_BIT_MASK(30);
    CHECK(dma_coherent_ok(dev, 0x3ffff000, 4096));
    CHECK_FALSE(dma_coherent_ok(dev, 0x3ffff000, 4097));
    CHECK(dma_capable(dev, 0xfffff000, 4096));
    CHECK_FALSE(dma_capable(dev, 0xfffff000, 4097));
    CHECK_FALSE(dma_capable(dev, DMA_MAPPING_ERROR, 1));
    dev.dma_mask = DMA_BIT_MASK(24);
    CHECK_FALSE(dma_capable(dev, 0x1000000, 1));
}

TEST_CASE("dma_set_mask: -EIO below the DMA zone's reach, 0 from 24 bits up") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    device& dev = m.dev;
    CHECK(m.dma.dma_set_mask(dev, DMA_BIT_MASK(20)) == -EIO);
    CHECK(*dev.dma_mask == DMA_BIT_MASK(32));  // unchanged
    CHECK(m.dma.dma_set_mask(dev, DMA_BIT_MASK(23)) == -EIO);
    CHECK(m.dma.dma_set_mask(dev, DMA_BIT_MASK(24)) == 0);
    CHECK(*dev.dma_mask == DMA_BIT_MASK(24));
    CHECK(m.dma.dma_set_mask(dev, DMA_BIT_MASK(32)) == 0);
    CHECK(m.dma.dma_set_mask(dev, DMA_BIT_MASK(64)) == 0);
    CHECK(*dev.dma_mask == DMA_BIT_MASK(64));
    CHECK(m.dma.dma_set_coherent_mask(dev, DMA_BIT_MASK(20)) == -EIO);
    CHECK(dev.coherent_dma_mask == DMA_BIT_MASK(32));
    CHECK(m.dma.dma_set_coherent_mask(dev, DMA_BIT_MASK(24)) == 0);
    CHECK(dev.coherent_dma_mask == DMA_BIT_MASK(24));
    // dma_set_mask_and_coherent: both or neither.
    CHECK(m.dma.dma_set_mask_and_coherent(dev, DMA_BIT_MASK(20)) == -EIO);
    CHECK(*dev.dma_mask == DMA_BIT_MASK(64));
    CHECK(dev.coherent_dma_mask == DMA_BIT_MASK(24));
    CHECK(m.dma.dma_set_mask_and_coherent(dev, DMA_BIT_MASK(40)) == 0);
    CHECK(*dev.dma_mask == DMA_BIT_MASK(40));
    CHECK(dev.coherent_dma_mask == DMA_BIT_MASK(40));
    // A device without a dma_mask pointer cannot set one; its coherent mask it can.
    device bare;
    bare.dma_mask.reset();
    CHECK(m.dma.dma_set_mask(bare, DMA_BIT_MASK(64)) == -EIO);
    CHECK(m.dma.dma_set_coherent_mask(bare, DMA_BIT_MASK(64)) == 0);
    CHECK(dma_get_mask(bare) == DMA_BIT_MASK(32));
}

TEST_CASE("dma_set_mask on i386: masks are cut to a 32-bit dma_addr_t without PAE") {
    for (bool pae : {false, true}) {
        CAPTURE(pae);
        dma_machine m(kernel_arch::i386, 2 * GiB, pae);
        CHECK(m.dma.dma_set_mask(m.dev, DMA_BIT_MASK(20)) == -EIO);
        CHECK(m.dma.dma_set_mask(m.dev, DMA_BIT_MASK(24)) == 0);
        CHECK(m.dma.dma_set_mask_and_coherent(m.dev, DMA_BIT_MASK(64)) == 0);
        CHECK(*m.dev.dma_mask == (pae ? DMA_BIT_MASK(64) : DMA_BIT_MASK(32)));
        CHECK(m.dev.coherent_dma_mask == (pae ? DMA_BIT_MASK(64) : DMA_BIT_MASK(32)));
    }
}

TEST_CASE("dma_alloc_coherent on x86_64: the zone follows the coherent mask") {
    struct expectation {
        unsigned bits;
        zone_type zone;
    };
    const expectation expected[] = {{24, zone_type::dma},
                                    {30, zone_type::dma32},
                                    {32, zone_type::dma32},
                                    {36, zone_type::normal},
                                    {64, zone_type::normal}};
    for (std::uint64_t ram : {4 * GiB, 16 * GiB}) {
        dma_machine m(kernel_arch::x86_64, ram);
        std::uint64_t free_before = m.free_pages();
        for (const expectation& e : expected) {
            CAPTURE(ram);
            CAPTURE(e.bits);
            REQUIRE(m.dma.dma_set_coherent_mask(m.dev, DMA_BIT_MASK(e.bits)) == 0);
            dma_addr_t handle = 0;
            std::uint64_t cpu = m.dma.dma_alloc_coherent(m.dev, 8 * KiB, &handle, GFP_KERNEL);
            REQUIRE(cpu != 0);
            CHECK(cpu == m.direct(handle));
            CHECK(handle % (8 * KiB) == 0);
            CHECK(m.zone_of(handle) == e.zone);
            CHECK(handle + 8 * KiB - 1 <= DMA_BIT_MASK(e.bits));
            CHECK(m.dma.debug().mapped_for_device(m.dev, handle, 8 * KiB));
            m.dma.dma_free_coherent(m.dev, 8 * KiB, cpu, handle);
        }
        CHECK(m.dev.dma_stats.coherent_allocs == 5);
        CHECK(m.dev.dma_stats.coherent_frees == 5);
        CHECK(m.dev.dma_stats.coherent_retries == 0);
        CHECK(m.dev.dma_stats.coherent_live == 0);
        CHECK(m.free_pages() == free_before);
        CHECK(m.dma.debug().error_count() == 0);
    }
}

TEST_CASE("dma_alloc_coherent ignores the caller's zone modifiers and honours the bus limit") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    REQUIRE(m.dma.dma_set_mask_and_coherent(m.dev, DMA_BIT_MASK(64)) == 0);
    dma_addr_t handle = 0;
    std::uint64_t cpu = m.dma.dma_alloc_coherent(m.dev, 4 * KiB, &handle, GFP_KERNEL | __GFP_DMA);
    CHECK(m.zone_of(handle) == zone_type::normal);
    m.dma.dma_free_coherent(m.dev, 4 * KiB, cpu, handle);
    m.dev.bus_dma_limit = DMA_BIT_MASK(32);
    cpu = m.dma.dma_alloc_coherent(m.dev, 4 * KiB, &handle, GFP_KERNEL);
    CHECK(m.zone_of(handle) == zone_type::dma32);
    m.dma.dma_free_coherent(m.dev, 4 * KiB, cpu, handle);
}

TEST_CASE("dma_alloc_coherent on i386: DMA or Normal, never HighMem") {
    struct expectation {
        unsigned bits;
        zone_type zone;
    };
    // GFP_DMA32 is Normal without ZONE_DMA32; a mask above 32 bits asks for no zone, which is
    // Normal too, since the caller's __GFP_HIGHMEM is dropped.
    const expectation expected[] = {{24, zone_type::dma},
                                    {30, zone_type::normal},
                                    {32, zone_type::normal},
                                    {36, zone_type::normal},
                                    {64, zone_type::normal}};
    for (bool pae : {false, true}) {
        std::uint64_t ram = pae ? 8 * GiB : 2 * GiB;
        dma_machine m(kernel_arch::i386, ram, pae);
        std::uint64_t free_before = m.free_pages();
        for (const expectation& e : expected) {
            CAPTURE(pae);
            CAPTURE(e.bits);
            REQUIRE(m.dma.dma_set_coherent_mask(m.dev, DMA_BIT_MASK(e.bits)) == 0);
            std::vector<std::pair<std::uint64_t, dma_addr_t>> buffers;
            for (int i = 0; i < 64; ++i) {
                dma_addr_t handle = 0;
                std::uint64_t cpu = m.dma.dma_alloc_coherent(m.dev, 64 * KiB, &handle, GFP_HIGHUSER);
                REQUIRE(cpu != 0);
                CHECK(cpu == m.direct(handle));
                CHECK(m.zone_of(handle) != zone_type::highmem);
                CHECK((handle >> page_shift) < i386_maxmem_pfn);
                buffers.emplace_back(cpu, handle);
            }
            CHECK(m.zone_of(buffers.front().second) == e.zone);
            for (auto [cpu, handle] : buffers) m.dma.dma_free_coherent(m.dev, 64 * KiB, cpu, handle);
        }
        CHECK(m.free_pages() == free_before);
        CHECK(m.pages().check_invariants() == "");
    }
}

TEST_CASE("the retry: a block out of reach goes back and the next zone down is tried") {
    SUBCASE("x86_64, 30-bit mask: DMA32 gives a block above 1 GiB, DMA serves") {
        dma_machine m(kernel_arch::x86_64, 4 * GiB);
        std::uint64_t free_before = m.free_pages();
        std::vector<page*> held = m.keep_blocks_below(GFP_DMA32, zone_type::dma32, 1 * GiB);
        REQUIRE(!held.empty());
        REQUIRE(m.dma.dma_set_coherent_mask(m.dev, DMA_BIT_MASK(30)) == 0);
        dma_addr_t handle = 0;
        std::uint64_t cpu = m.dma.dma_alloc_coherent(m.dev, 4 * MiB, &handle, GFP_KERNEL);
        REQUIRE(cpu != 0);
        CHECK(m.dev.dma_stats.coherent_retries == 1);
        CHECK(m.zone_of(handle) == zone_type::dma);
        CHECK(handle + 4 * MiB - 1 <= DMA_BIT_MASK(30));
        m.dma.dma_free_coherent(m.dev, 4 * MiB, cpu, handle);
        m.give_back(held);
        CHECK(m.free_pages() == free_before);
        CHECK(m.pages().check_invariants() == "");
    }
    SUBCASE("x86_64, 34-bit mask on 16 GiB: Normal gives a block above 16 GiB, DMA32 serves") {
        dma_machine m(kernel_arch::x86_64, 16 * GiB);
        std::vector<page*> held = m.keep_blocks_below(GFP_KERNEL, zone_type::normal, 16 * GiB);
        REQUIRE(m.dma.dma_set_coherent_mask(m.dev, DMA_BIT_MASK(34)) == 0);
        dma_addr_t handle = 0;
        std::uint64_t cpu = m.dma.dma_alloc_coherent(m.dev, 4 * MiB, &handle, GFP_KERNEL);
        REQUIRE(cpu != 0);
        CHECK(m.dev.dma_stats.coherent_retries == 1);
        CHECK(m.zone_of(handle) == zone_type::dma32);
        m.dma.dma_free_coherent(m.dev, 4 * MiB, cpu, handle);
        m.give_back(held);
    }
    SUBCASE("i386, 28-bit mask: Normal gives a block above 256 MiB, no DMA32 to try, DMA serves") {
        dma_machine m(kernel_arch::i386, 2 * GiB);
        std::uint64_t free_before = m.free_pages();
        std::vector<page*> held = m.keep_blocks_below(GFP_KERNEL, zone_type::normal, 256 * MiB);
        REQUIRE(m.dma.dma_set_coherent_mask(m.dev, DMA_BIT_MASK(28)) == 0);
        dma_addr_t handle = 0;
        std::uint64_t cpu = m.dma.dma_alloc_coherent(m.dev, 4 * MiB, &handle, GFP_KERNEL);
        REQUIRE(cpu != 0);
        CHECK(m.dev.dma_stats.coherent_retries == 1);
        CHECK(m.zone_of(handle) == zone_type::dma);
        m.dma.dma_free_coherent(m.dev, 4 * MiB, cpu, handle);
        m.give_back(held);
        CHECK(m.free_pages() == free_before);
    }
    SUBCASE("x86_64, 30-bit mask with the DMA zone's big blocks gone too: NULL after both tries") {
        dma_machine m(kernel_arch::x86_64, 4 * GiB);
        std::uint64_t free_before = m.free_pages();
        std::vector<page*> held = m.keep_blocks_below(GFP_DMA32, zone_type::dma32, 1 * GiB);
        std::vector<page*> dma_held = m.keep_blocks_below(GFP_DMA, zone_type::dma, 16 * MiB);
        REQUIRE(!dma_held.empty());
        REQUIRE(m.dma.dma_set_coherent_mask(m.dev, DMA_BIT_MASK(30)) == 0);
        dma_addr_t handle = 0;
        CHECK(m.dma.dma_alloc_coherent(m.dev, 4 * MiB, &handle, GFP_KERNEL | __GFP_NOWARN) == 0);
        CHECK(m.dev.dma_stats.coherent_retries == 1);
        CHECK(m.dev.dma_stats.coherent_failures == 1);
        m.give_back(dma_held);
        m.give_back(held);
        CHECK(m.free_pages() == free_before);
    }
}

TEST_CASE("coherent buffers are zeroed, whole pages of them, and freed by order") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    REQUIRE(m.dma.dma_set_mask_and_coherent(m.dev, DMA_BIT_MASK(24)) == 0);
    // Every free page of the DMA zone is left dirty: the buffer comes from one of them.
    for (pfn_t pfn = 1; pfn < max_dma_pfn; ++pfn)
        if (m.pages().is_free_buddy_page(pfn)) m.machine.fill_phys(pfn << page_shift, 0xaa, 4096);
    std::uint64_t free_before = m.free_pages();
    std::uint64_t filled = m.machine.filled;
    dma_addr_t handle = 0;
    std::uint64_t cpu = m.dma.dma_alloc_coherent(m.dev, 5000, &handle, GFP_KERNEL);
    REQUIRE(cpu != 0);
    CHECK(m.zone_of(handle) == zone_type::dma);
    CHECK(m.machine.filled == filled + 8 * KiB);
    for (std::uint64_t i = 0; i < 8 * KiB; ++i) {
        if (m.machine.byte(handle + i) != 0) FAIL("byte " << i << " not zeroed");
    }
    CHECK(m.free_pages() == free_before - 2);
    CHECK(m.dev.dma_stats.coherent_live == 1);
    CHECK(m.dev.dma_stats.coherent_live_bytes == 5000);
    m.dma.dma_free_coherent(m.dev, 5000, cpu, handle);
    CHECK(m.free_pages() == free_before);
    CHECK(m.dev.dma_stats.coherent_live_bytes == 0);
    // 12 KiB takes an order-2 block; Linux zeroes the 12 KiB it was asked for.
    filled = m.machine.filled;
    cpu = m.dma.dma_alloc_coherent(m.dev, 12 * KiB, &handle, GFP_KERNEL);
    CHECK(m.machine.filled == filled + 12 * KiB);
    CHECK(m.free_pages() == free_before - 4);
    m.dma.dma_free_coherent(m.dev, 12 * KiB, cpu, handle);
    CHECK(m.free_pages() == free_before);
    // Size 0 and an impossible size give NULL; freeing NULL does nothing.
    CHECK(m.dma.dma_alloc_coherent(m.dev, 0, &handle, GFP_KERNEL) == 0);
    CHECK(m.dma.dma_alloc_coherent(m.dev, 8 * MiB, &handle, GFP_KERNEL | __GFP_NOWARN) == 0);
    CHECK(m.dev.dma_stats.coherent_failures == 2);
    m.dma.dma_free_coherent(m.dev, 4096, 0, 0);
    CHECK(m.dma.debug().error_count() == 0);
}

TEST_CASE("a device without a coherent mask: WARN_ON_ONCE and nothing it can reach") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    m.dev.coherent_dma_mask = 0;
    dma_addr_t handle = 0;
    CHECK(m.dma.dma_alloc_coherent(m.dev, 4096, &handle, GFP_KERNEL) == 0);
    CHECK(m.dma.dma_alloc_coherent(m.dev, 4096, &handle, GFP_KERNEL) == 0);
    CHECK(m.warnings() ==
          std::vector<std::string>{"------------[ cut here ]------------",
                                   "WARNING: CPU: 0 PID: 0 at kernel/dma/mapping.c dma_alloc_attrs"});
}

TEST_CASE("dma-debug: freeing what was never allocated, and freeing twice") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    std::uint64_t free_before = m.free_pages();
    m.dma.dma_free_coherent(m.dev, 4096, m.direct(0x1234000), 0x1234000);
    CHECK(m.warnings() ==
          std::vector<std::string>{
              "------------[ cut here ]------------",
              "DMA-API: e1000 0000:00:03.0: device driver tries to free DMA memory it has not "
              "allocated [device address=0x0000000001234000] [size=4096 bytes]",
              "WARNING: CPU: 0 PID: 0 at kernel/dma/debug.c check_unmap"});
    CHECK(m.errors(dma_debug_error::free_not_allocated) == 1);
    CHECK(m.errors(dma_debug_error::double_free) == 0);
    CHECK(m.free_pages() == free_before);  // nothing freed
    dma_addr_t handle = 0;
    std::uint64_t cpu = m.dma.dma_alloc_coherent(m.dev, 4096, &handle, GFP_KERNEL);
    m.dma.dma_free_coherent(m.dev, 4096, cpu, handle);
    m.dma.dma_free_coherent(m.dev, 4096, cpu, handle);
    CHECK(m.dma_api_lines().back() ==
          fmt::format(
              "DMA-API: e1000 0000:00:03.0: device driver tries to free DMA memory it has not allocated "
              "[device address=0x{:016x}] [size=4096 bytes]",
              handle));
    CHECK(m.errors(dma_debug_error::free_not_allocated) == 2);
    CHECK(m.errors(dma_debug_error::double_free) == 1);
    CHECK(m.dma.debug().error_count() == 2);
    CHECK(m.free_pages() == free_before);
    CHECK(m.pages().check_invariants() == "");
}

TEST_CASE("dma-debug: a coherent free with a different size or CPU address") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    std::uint64_t free_before = m.free_pages();
    dma_addr_t handle = 0;
    std::uint64_t cpu = m.dma.dma_alloc_coherent(m.dev, 8192, &handle, GFP_KERNEL);
    m.dma.dma_free_coherent(m.dev, 4096, cpu, handle);
    CHECK(m.dma_api_lines() == std::vector<std::string>{fmt::format(
                                   "DMA-API: e1000 0000:00:03.0: device driver frees DMA memory with "
                                   "different size [device address=0x{:016x}] [map size=8192 bytes] "
                                   "[unmap size=4096 bytes]",
                                   handle)});
    CHECK(m.errors(dma_debug_error::different_size) == 1);
    // What was allocated goes back, whatever size the driver said.
    CHECK(m.free_pages() == free_before);

    cpu = m.dma.dma_alloc_coherent(m.dev, 4096, &handle, GFP_KERNEL);
    m.dma.dma_free_coherent(m.dev, 4096, cpu + 16, handle);
    CHECK(
        m.dma_api_lines().back() ==
        fmt::format("DMA-API: e1000 0000:00:03.0: device driver frees DMA memory with different CPU address "
                    "[device address=0x{:016x}] [size=4096 bytes] [cpu alloc address=0x{:016x}] "
                    "[cpu free address=0x{:016x}]",
                    handle, handle, handle + 16));
    CHECK(m.errors(dma_debug_error::different_cpu_address) == 1);
    CHECK(m.dma.debug().error_count() == 2);
    CHECK(m.free_pages() == free_before);
}

TEST_CASE("dma-debug: streaming entries, direction, map-error check, wrong function, invalid address") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    dma_debug& debug = m.dma.debug();
    const std::string prefix = "DMA-API: e1000 0000:00:03.0: ";
    dma_addr_t addr = 0x2000000;
    // Mapped to the device, checked, unmapped as if from it.
    debug.debug_dma_map_page(m.dev, addr >> page_shift, 0, 1500, DMA_TO_DEVICE, addr);
    CHECK(debug.mapped_for_device(m.dev, addr, 1500));
    CHECK_FALSE(debug.mapped_for_device(m.dev, addr, 1501));
    CHECK_FALSE(m.dma.dma_mapping_error(m.dev, addr));
    debug.debug_dma_unmap_page(m.dev, addr, 1500, DMA_FROM_DEVICE);
    CHECK(m.dma_api_lines() ==
          std::vector<std::string>{
              prefix + "device driver frees DMA memory with different direction [device "
                       "address=0x0000000002000000] [size=1500 bytes] [mapped with DMA_TO_DEVICE] "
                       "[unmapped with DMA_FROM_DEVICE]"});
    CHECK(m.errors(dma_debug_error::different_direction) == 1);
    CHECK_FALSE(debug.mapped_for_device(m.dev, addr, 1));
    // Mapped and never checked with dma_mapping_error.
    debug.debug_dma_map_page(m.dev, addr >> page_shift, 0x100, 64, DMA_FROM_DEVICE, addr + 0x100);
    debug.debug_dma_unmap_page(m.dev, addr + 0x100, 64, DMA_FROM_DEVICE);
    CHECK(m.dma_api_lines().back() == prefix +
                                          "device driver failed to check map error[device "
                                          "address=0x0000000002000100] [size=64 bytes] [mapped as single]");
    CHECK(m.errors(dma_debug_error::map_error_not_checked) == 1);
    // A streaming mapping given to dma_free_coherent: wrong function, and nothing is freed.
    std::uint64_t free_before = m.free_pages();
    debug.debug_dma_map_page(m.dev, addr >> page_shift, 0, 4096, DMA_BIDIRECTIONAL, addr);
    m.dma.dma_mapping_error(m.dev, addr);
    m.dma.dma_free_coherent(m.dev, 4096, m.direct(addr), addr);
    CHECK(m.dma_api_lines().back() == prefix +
                                          "device driver frees DMA memory with wrong function [device "
                                          "address=0x0000000002000000] [size=4096 bytes] [mapped as single] "
                                          "[unmapped as coherent]");
    CHECK(m.errors(dma_debug_error::wrong_function) == 1);
    CHECK(m.free_pages() == free_before);
    // Unmapping the error handle.
    debug.debug_dma_unmap_page(m.dev, DMA_MAPPING_ERROR, 4096, DMA_TO_DEVICE);
    CHECK(m.dma_api_lines().back() == prefix + "device driver tries to free an invalid DMA memory address");
    CHECK(m.errors(dma_debug_error::free_invalid_address) == 1);
    // A failed mapping is not recorded.
    debug.debug_dma_map_page(m.dev, 0, 0, 4096, DMA_TO_DEVICE, DMA_MAPPING_ERROR);
    CHECK(m.dev.dma_debug.entries.empty());
    CHECK(debug.error_count() == 4);
}

TEST_CASE("dma-debug: scatter-gather entries and their entry count") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    dma_debug& debug = m.dma.debug();
    const dma_debug_sg sg[] = {
        {0x3000, 0, 0x3000000, 4096}, {0x3005, 0x80, 0x3005080, 512}, {0x3009, 0, 0x3009000, 4096}};
    // Three segments given, two mapped (merged), as dma_map_sg may return.
    debug.debug_dma_map_sg(m.dev, std::span(sg, 2), 3, 2, DMA_FROM_DEVICE);
    CHECK(m.dev.dma_debug.entries.size() == 2);
    CHECK(debug.find_containing(m.dev, 0x3005100, 16)->type == dma_debug_type::sg);
    // Unmapped with two elements: each segment's count differs from the three it was mapped with.
    debug.debug_dma_unmap_sg(m.dev, std::span(sg, 2), DMA_FROM_DEVICE);
    CHECK(m.dma_api_lines() ==
          std::vector<std::string>(
              2,
              "DMA-API: e1000 0000:00:03.0: device driver frees DMA sg list with different "
              "entry count [map count=3] [unmap count=2]"));
    CHECK(m.errors(dma_debug_error::sg_entry_count) == 2);
    CHECK(m.dev.dma_debug.entries.empty());
    // Unmapped with the count it was mapped with: quiet, and only mapped_ents segments looked at.
    debug.debug_dma_map_sg(m.dev, std::span(sg, 3), 3, 2, DMA_FROM_DEVICE);
    debug.debug_dma_unmap_sg(m.dev, std::span(sg, 3), DMA_FROM_DEVICE);
    CHECK(m.dev.dma_debug.entries.empty());
    CHECK(debug.error_count() == 2);
    CHECK(std::string(dma_debug_type_name(dma_debug_type::sg)) == "scather-gather");
}

TEST_CASE("dma-debug: syncs against the containing mapping") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    dma_debug& debug = m.dma.debug();
    const std::string prefix = "DMA-API: e1000 0000:00:03.0: ";
    debug.debug_dma_map_page(m.dev, 0x4000, 0, 16 * KiB, DMA_TO_DEVICE, 0x4000000);
    debug.debug_dma_sync_single(m.dev, 0x4002000, 512, DMA_TO_DEVICE, false);
    CHECK(debug.error_count() == 0);
    debug.debug_dma_sync_single(m.dev, 0x4002000, 512, DMA_FROM_DEVICE, true);
    CHECK(m.dma_api_lines() ==
          std::vector<std::string>{
              prefix + "device driver syncs DMA memory with different direction [device "
                       "address=0x0000000004002000] [size=16384 bytes] [mapped with DMA_TO_DEVICE] "
                       "[synced with DMA_FROM_DEVICE]",
              prefix + "device driver syncs device read-only DMA memory for cpu [device "
                       "address=0x0000000004002000] [size=16384 bytes] [mapped with DMA_TO_DEVICE] "
                       "[synced with DMA_FROM_DEVICE]"});
    debug.debug_dma_sync_single(m.dev, 0x5000000, 64, DMA_TO_DEVICE, false);
    CHECK(m.dma_api_lines().back() ==
          prefix +
              "device driver tries to sync DMA memory it has not allocated [device "
              "address=0x0000000005000000] [size=64 bytes]");
    CHECK(m.errors(dma_debug_error::sync_different_direction) == 1);
    CHECK(m.errors(dma_debug_error::sync_read_only_for_cpu) == 1);
    CHECK(m.errors(dma_debug_error::sync_not_allocated) == 1);
}

TEST_CASE("dma-debug: two mappings a device may write, starting in one cacheline") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    dma_debug& debug = m.dma.debug();
    device nic2;
    nic2.name = "0000:00:04.0";
    nic2.driver = "e1000";
    // Devices that only read may share a cacheline.
    debug.debug_dma_map_page(m.dev, 0x6000, 0, 256, DMA_TO_DEVICE, 0x6000000);
    debug.debug_dma_map_page(nic2, 0x6000, 0, 256, DMA_TO_DEVICE, 0x6000000);
    CHECK(debug.error_count() == 0);
    // Offsets 0x40 and 0x60 start in the same 64-byte line, whichever device maps them.
    debug.debug_dma_map_page(m.dev, 0x6000, 0x40, 32, DMA_FROM_DEVICE, 0x6000040);
    debug.debug_dma_map_page(nic2, 0x6000, 0x60, 32, DMA_BIDIRECTIONAL, 0x6000060);
    CHECK(m.dma_api_lines() ==
          std::vector<std::string>{"DMA-API: e1000 0000:00:04.0: cacheline tracking EEXIST, "
                                   "overlapping mappings aren't supported"});
    CHECK(nic2.dma_stats.errors(dma_debug_error::overlapping_mapping) == 1);
    // DMA_ATTR_SKIP_CPU_SYNC: the driver syncs by hand, no report.
    debug.debug_dma_map_page(nic2, 0x6000, 0x50, 16, DMA_FROM_DEVICE, 0x6000050, DMA_ATTR_SKIP_CPU_SYNC);
    CHECK(debug.error_count() == 1);
    // Once every mapping of the line is gone, the line is free again.
    for (dma_addr_t a : {0x6000040ull, 0x6000060ull, 0x6000050ull})
        m.dma.dma_mapping_error(a == 0x6000040 ? m.dev : nic2, a);
    debug.debug_dma_unmap_page(m.dev, 0x6000040, 32, DMA_FROM_DEVICE);
    debug.debug_dma_unmap_page(nic2, 0x6000060, 32, DMA_BIDIRECTIONAL);
    debug.debug_dma_unmap_page(nic2, 0x6000050, 16, DMA_FROM_DEVICE);
    debug.debug_dma_map_page(nic2, 0x6000, 0x40, 32, DMA_FROM_DEVICE, 0x6000040);
    CHECK(debug.error_count() == 1);
}

TEST_CASE("dma-debug prints the first error only unless all_errors, and filters by driver") {
    SUBCASE("num_errors = 1, Linux's default") {
        dma_machine m(kernel_arch::x86_64, 4 * GiB, false, dma_debug_config{});
        for (int i = 0; i < 3; ++i) m.dma.dma_free_coherent(m.dev, 4096, m.direct(0x1000000), 0x1000000);
        CHECK(m.dma_api_lines().size() == 1);
        CHECK(m.dma.debug().error_count() == 3);
        CHECK(m.errors(dma_debug_error::free_not_allocated) == 3);
    }
    SUBCASE("a driver filter") {
        dma_debug_config config = all_errors();
        config.driver_filter = "ahci";
        dma_machine m(kernel_arch::x86_64, 4 * GiB, false, config);
        device disk;
        disk.name = "0000:00:1f.2";
        disk.driver = "ahci";
        m.dma.dma_free_coherent(m.dev, 4096, m.direct(0x1000000), 0x1000000);
        m.dma.dma_free_coherent(disk, 4096, m.direct(0x1000000), 0x1000000);
        CHECK(m.dma_api_lines() ==
              std::vector<std::string>{
                  "DMA-API: ahci 0000:00:1f.2: device driver tries to free DMA memory it has not "
                  "allocated [device address=0x0000000001000000] [size=4096 bytes]"});
        CHECK(m.dma.debug().error_count() == 2);
    }
}

TEST_CASE("mapped_for_device: a device may touch its own live buffers only") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    dma_addr_t handle = 0;
    std::uint64_t cpu = m.dma.dma_alloc_coherent(m.dev, 8 * KiB, &handle, GFP_KERNEL);
    const dma_debug& debug = m.dma.debug();
    CHECK(debug.mapped_for_device(m.dev, handle, 8 * KiB));
    CHECK(debug.mapped_for_device(m.dev, handle + 4 * KiB, 64));
    CHECK_FALSE(debug.mapped_for_device(m.dev, handle + 8 * KiB - 4, 8));
    CHECK_FALSE(debug.mapped_for_device(m.dev, handle - 1, 2));
    CHECK_FALSE(debug.mapped_for_device(m.dev, handle, 0));
    device other;
    CHECK_FALSE(debug.mapped_for_device(other, handle, 64));
    CHECK(debug.find_containing(m.dev, handle + 100, 100)->type == dma_debug_type::coherent);
    m.dma.dma_free_coherent(m.dev, 8 * KiB, cpu, handle);
    CHECK_FALSE(debug.mapped_for_device(m.dev, handle, 64));
}

TEST_CASE("dma_pool_create's rules") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    CHECK(dma_pool::create(m.dma, "p", m.dev, 64, 3, 0) == nullptr);     // align not a power of two
    CHECK(dma_pool::create(m.dma, "p", m.dev, 0, 8, 0) == nullptr);      // size 0
    CHECK(dma_pool::create(m.dma, "p", m.dev, 64, 8, 100) == nullptr);   // boundary not a power of two
    CHECK(dma_pool::create(m.dma, "p", m.dev, 100, 64, 64) == nullptr);  // boundary below the aligned size
    auto tiny = dma_pool::create(m.dma, "tiny", m.dev, 1, 0, 0);
    CHECK(tiny->size() == 4);
    CHECK(tiny->allocation() == 4096);
    CHECK(tiny->boundary() == 4096);
    auto odd = dma_pool::create(m.dma, "an-overly-long-pool-name-for-linux-32", m.dev, 10, 8, 0);
    CHECK(odd->size() == 16);
    CHECK(odd->name() == "an-overly-long-pool-name-for-li");
    auto big = dma_pool::create(m.dma, "big", m.dev, 5000, 0, 0);
    CHECK(big->allocation() == 5000);
    CHECK(big->boundary() == 5000);
    CHECK(m.dev.dma_pools == std::vector<const dma_pool*>{big.get(), odd.get(), tiny.get()});
    odd.reset();
    CHECK(m.dev.dma_pools == std::vector<const dma_pool*>{big.get(), tiny.get()});
}

TEST_CASE("dma_pool: blocks in order, aligned, 6.1's unused last block, reuse after free, zeroing") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    auto pool = dma_pool::create(m.dma, "e1000-desc", m.dev, 64, 64, 0);
    REQUIRE(pool);
    std::vector<std::pair<std::uint64_t, dma_addr_t>> blocks;
    for (int i = 0; i < 64; ++i) {
        dma_addr_t handle = 0;
        std::uint64_t vaddr = pool->alloc(GFP_KERNEL, &handle);
        REQUIRE(vaddr != 0);
        CHECK(vaddr == m.direct(handle));
        CHECK(handle % 64 == 0);
        blocks.emplace_back(vaddr, handle);
    }
    // One buffer holds 63 blocks: "next + size >= next_boundary" skips the last one.
    dma_addr_t first = blocks[0].second;
    CHECK(first % 4096 == 0);
    for (int i = 0; i < 63; ++i)
        CHECK(blocks[static_cast<std::size_t>(i)].second == first + 64u * static_cast<unsigned>(i));
    CHECK(blocks[63].second / 4096 != first / 4096);
    CHECK(pool->pages() == 2);
    CHECK(pool->blocks_in_use() == 64);
    CHECK(m.dev.dma_stats.coherent_live == 2);
    CHECK(m.dma.debug().mapped_for_device(m.dev, first, 4096));
    CHECK(show_pools(m.dev) == "poolinfo - 0.1\ne1000-desc         64  128   64  2\n");
    // A freed block is the next one handed out (LIFO), from the newest buffer that has room.
    pool->free(blocks[10].first, blocks[10].second);
    pool->free(blocks[20].first, blocks[20].second);
    dma_addr_t handle = 0;
    CHECK(pool->alloc(GFP_KERNEL, &handle) == blocks[63].first + 64);  // the newest buffer first
    CHECK(pool->alloc(GFP_KERNEL, &handle) == blocks[63].first + 128);
    for (int i = 2; i < 62; ++i) pool->alloc(GFP_KERNEL, &handle);  // fill the newest buffer
    CHECK(pool->alloc(GFP_KERNEL, &handle) == blocks[20].first);
    // zalloc: a scribbled block comes back zeroed.
    m.machine.fill_phys(blocks[10].second, 0x5a, 64);
    std::uint64_t z = pool->zalloc(GFP_KERNEL, &handle);
    CHECK(z == blocks[10].first);
    for (unsigned i = 0; i < 64; ++i) CHECK(m.machine.byte(handle + i) == 0);
    CHECK(pool->pages() == 2);
    CHECK(m.errors_printed().empty());
}

TEST_CASE("dma_pool: no block crosses the boundary") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    auto pool = dma_pool::create(m.dma, "ehci_qtd", m.dev, 96, 32, 1024);
    REQUIRE(pool);
    std::vector<dma_addr_t> offsets;
    for (int i = 0; i < 40; ++i) {
        dma_addr_t handle = 0;
        REQUIRE(pool->alloc(GFP_KERNEL, &handle) != 0);
        CHECK(handle / 1024 == (handle + 95) / 1024);
        CHECK(handle % 32 == 0);
        offsets.push_back(handle % 4096);
    }
    CHECK(pool->pages() == 1);
    // Ten blocks per KiB (0, 96, ..., 864), then the next KiB.
    for (std::size_t i = 0; i < 40; ++i) CHECK(offsets[i] == (i / 10) * 1024 + (i % 10) * 96);
    dma_addr_t handle = 0;
    pool->alloc(GFP_KERNEL, &handle);
    CHECK(pool->pages() == 2);
}

TEST_CASE("dma_pool_destroy: idle buffers go back, a busy one is reported and leaked") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    std::uint64_t free_before = m.free_pages();
    // 2 KiB blocks: 6.1 uses only the first of each page (2048 + 2048 >= the 4 KiB boundary).
    auto pool = dma_pool::create(m.dma, "rx", m.dev, 2048, 0, 0);
    dma_addr_t a = 0, b = 0, c = 0;
    std::uint64_t va = pool->alloc(GFP_KERNEL, &a);
    std::uint64_t vb = pool->alloc(GFP_KERNEL, &b);
    std::uint64_t vc = pool->alloc(GFP_KERNEL, &c);
    REQUIRE(pool->pages() == 3);
    CHECK(a % 4096 == 0);
    CHECK(b % 4096 == 0);
    pool->free(va, a);
    pool->free(vb, b);
    pool.reset();
    CHECK(m.errors_printed() ==
          std::vector<std::string>{fmt::format("e1000 0000:00:03.0: dma_pool_destroy rx, {:016x} busy", vc)});
    // The idle buffers were freed; the busy one stays with the device, still mapped for it.
    CHECK(m.free_pages() == free_before - 1);
    CHECK(m.dev.dma_stats.coherent_live == 1);
    CHECK(m.dma.debug().mapped_for_device(m.dev, c, 2048));
    CHECK(m.dev.dma_pools.empty());
}

TEST_CASE("dma_pool_free: a device address outside the pool, a CPU address outside the buffer") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    auto pool = dma_pool::create(m.dma, "cmd", m.dev, 32, 0, 0);
    dma_addr_t h = 0;
    std::uint64_t v = pool->alloc(GFP_KERNEL, &h);
    pool->free(v, 0x7000);
    pool->free(v + 8192, h);
    CHECK(m.errors_printed() ==
          std::vector<std::string>{
              fmt::format("e1000 0000:00:03.0: dma_pool_free cmd, {:016x}/0x0000000000007000 (bad dma)", v),
              fmt::format("e1000 0000:00:03.0: dma_pool_free cmd, {:016x} (bad vaddr)/0x{:016x}", v + 8192,
                          h)});
    CHECK(pool->blocks_in_use() == 1);
    pool->free(v, h);
    CHECK(pool->blocks_in_use() == 0);
}

TEST_CASE("dma_pool with DMAPOOL_DEBUG: poison, double free, corruption") {
    dma_machine m(kernel_arch::i386, 2 * GiB);
    auto pool = dma_pool::create(m.dma, "td", m.dev, 32, 16, 0, true);
    dma_addr_t h1 = 0, h2 = 0;
    std::uint64_t v1 = pool->alloc(GFP_KERNEL, &h1);
    std::uint64_t v2 = pool->alloc(GFP_KERNEL, &h2);
    CHECK(m.machine.byte(h1 + 31) == POOL_POISON_ALLOCATED);
    pool->free(v1, h1);
    CHECK(m.machine.byte(h1 + 31) == POOL_POISON_FREED);
    pool->free(v1, h1);
    pool->free(v2 + 4, h2);
    // The freed block is scribbled on after its link: the next allocation says so.
    m.machine.fill_phys(h1 + 8, 0x42, 2);
    dma_addr_t h3 = 0;
    std::uint64_t v3 = pool->alloc(GFP_KERNEL, &h3);
    CHECK(h3 == h1);
    const std::string prefix = "e1000 0000:00:03.0: ";
    CHECK(m.errors_printed() ==
          std::vector<std::string>{
              prefix + fmt::format("dma_pool_free td, dma 0x{:08x} already free", h1),
              prefix + fmt::format("dma_pool_free td, {:08x} (bad vaddr)/0x{:08x}", v2 + 4, h2),
              prefix + fmt::format("dma_pool_alloc td, {:08x} (corrupted)", v3),
              // The link (0x40: the free chain went on at offset 64), the poison, the scribble.
              "00000000: 40 00 00 00 a7 a7 a7 a7 42 42 a7 a7 a7 a7 a7 a7  @.......BB......",
              "00000010: a7 a7 a7 a7 a7 a7 a7 a7 a7 a7 a7 a7 a7 a7 a7 a7  ................"});
    CHECK(pool->blocks_in_use() == 2);
}

TEST_CASE("dma_pool: the free chain lives in the buffer, and a scribbled link cuts it") {
    dma_machine m(kernel_arch::x86_64, 4 * GiB);
    auto pool = dma_pool::create(m.dma, "desc", m.dev, 64, 0, 0);
    dma_addr_t h = 0;
    pool->alloc(GFP_KERNEL, &h);
    // The next free block (offset 64) links to 128, in the buffer itself.
    std::uint32_t link = 0;
    m.machine.read_phys(h + 64, &link, sizeof link);
    CHECK(link == 128);
    // A device scribbles an offset that is no block over the link.
    link = 100;
    m.machine.write_phys(h + 64, &link, sizeof link);
    dma_addr_t h2 = 0;
    pool->alloc(GFP_KERNEL, &h2);
    CHECK(h2 == h + 64);
    CHECK(pool->corrupted_links() == 1);
    dma_addr_t h3 = 0;
    pool->alloc(GFP_KERNEL, &h3);
    CHECK(h3 / 4096 != h / 4096);  // the first buffer counts as full
    CHECK(pool->pages() == 2);
}

}  // namespace memsim::kernel
