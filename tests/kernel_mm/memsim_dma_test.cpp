// The DMA engine's driver on a booted kernel, against an engine the test plays on the fake
// machine's register window: probe's masks per bus, a transfer programmed by MMIO and completed
// by its interrupt, the bytes a device writes through a bounce buffer arriving after the unmap,
// dma-debug's view of what the device touches, the handler's allocations in interrupt context,
// failed transfers and spurious interrupts.
#include <doctest/doctest.h>

#include <cstring>

#include "kernel_mm/drivers/memsim_dma.h"
#include "kernel_mm/page_alloc.h"
#include "tests/kernel_mm/booted_kernel.h"

namespace memsim::kernel {
namespace {

constexpr std::uint64_t KiB = 1024, GiB = 1ull << 30;
constexpr phys_addr_t mmio_base = 0xfe001000;

// A booted PC with RAM above 4 GiB (so a swiotlb) and one engine whose datasheet the test
// plays: when the CPU halts, a started transfer has copied its bytes (the engine's reach cut to
// `reach_bits`, an address beyond it failing as the bus refuses it) and raised its interrupt,
// which the kernel takes in interrupt context.
struct engine_machine : testing::booted_kernel {
    dma_api dma;
    memsim_dma driver;
    unsigned reach_bits = 32;
    std::size_t boot_lines;

    explicit engine_machine(bool isa = false, std::uint64_t ram = 8 * GiB)
        : booted_kernel(kernel_arch::x86_64, ram),
          dma(*kernel, machine),
          driver(dma, {isa ? "isa_dma" : "pci_dma", mmio_base, isa ? 6u : 11u, isa}),
          boot_lines(log.records().size()) {
        dma.set_swiotlb(kernel->swiotlb());
        machine.on_halt = [this] { run_engine(); };
    }

    std::uint64_t reg(std::uint64_t offset) {
        std::uint64_t v;
        std::memcpy(&v, &machine.byte(mmio_base + offset), sizeof v);
        return v;
    }
    void set_reg(std::uint64_t offset, std::uint64_t v) {
        std::memcpy(&machine.byte(mmio_base + offset), &v, sizeof v);
    }

    void run_engine() {
        std::uint64_t ctrl = reg(memsim_dma_reg::ctrl);
        if (ctrl & memsim_dma_reg::ctrl_start) {
            std::uint64_t src = reg(memsim_dma_reg::src), dst = reg(memsim_dma_reg::dst),
                          len = reg(memsim_dma_reg::len);
            std::uint64_t limit = reach_bits >= 64 ? ~0ull : (1ull << reach_bits);
            bool reaches = src + len <= limit && dst + len <= limit;
            if (reaches) std::memmove(&machine.byte(dst), &machine.byte(src), len);
            set_reg(memsim_dma_reg::status,
                    reaches ? memsim_dma_reg::status_done : memsim_dma_reg::status_error | 4 << 8);
            set_reg(memsim_dma_reg::ctrl, ctrl & ~memsim_dma_reg::ctrl_start);
        }
        interrupt();
    }
    bool interrupt() {
        machine.cpu.in_interrupt = true;
        bool handled = driver.handle_irq();
        machine.cpu.in_interrupt = false;
        return handled;
    }

    page* high_page() {
        page* p = kernel->pages().alloc_pages(GFP_HIGHUSER_MOVABLE, 0);
        REQUIRE(p != nullptr);
        REQUIRE(kernel->pages().page_to_phys(p) >= 4 * GiB);
        return p;
    }
    phys_addr_t phys(page* p) { return kernel->pages().page_to_phys(p); }
    std::uint64_t virt(page* p) { return kernel->pages().page_address(p); }

    std::vector<std::string> printed(std::string_view start) const {
        std::vector<std::string> out;
        for (std::size_t i = boot_lines; i < log.records().size(); ++i)
            if (std::string_view(log.records()[i].text).starts_with(start))
                out.push_back(log.records()[i].text);
        return out;
    }
};

TEST_CASE("probe: an ISA engine starts with 24-bit masks, a PCI one with 32") {
    engine_machine isa(true), pci(false);
    CHECK(isa.driver.dev().bus == "isa");
    CHECK(*isa.driver.dev().dma_mask == 0xffffff);
    CHECK(isa.driver.dev().coherent_dma_mask == 0xffffff);
    CHECK(pci.driver.dev().bus == "pci");
    CHECK(*pci.driver.dev().dma_mask == 0xffffffff);
    CHECK(pci.driver.dev().driver == "memsim-dma");
}

TEST_CASE("a transfer is programmed by MMIO and completes at its interrupt") {
    engine_machine m;
    dma_addr_t src = 0, dst = 0;
    std::uint64_t a = m.driver.alloc_coherent(4 * KiB, GFP_KERNEL, &src);
    std::uint64_t b = m.driver.alloc_coherent(4 * KiB, GFP_KERNEL, &dst);
    REQUIRE((a && b));
    m.machine.pattern(src, 4 * KiB, 3);
    m.driver.start(src, dst, 4 * KiB);
    CHECK(m.driver.in_flight());
    CHECK(m.reg(memsim_dma_reg::src) == src);
    CHECK(m.reg(memsim_dma_reg::dst) == dst);
    CHECK(m.reg(memsim_dma_reg::len) == 4 * KiB);
    m.driver.wait();
    CHECK_FALSE(m.driver.in_flight());
    CHECK(m.machine.halts == 1);
    CHECK(m.machine.holds(dst, 4 * KiB, 3));
    // The handler acknowledged with interrupts left enabled.
    CHECK(m.reg(memsim_dma_reg::ctrl) == (memsim_dma_reg::ctrl_ack | memsim_dma_reg::ctrl_irq_enable));
    CHECK(m.driver.stats().completed == 1);
    CHECK(m.driver.stats().bytes == 4 * KiB);
    CHECK(m.driver.stats().coherent_by_zone[static_cast<unsigned>(zone_type::dma32)] == 2);
    CHECK(m.dma.debug().error_count() == 0);
}

TEST_CASE(
    "end to end: a 32-bit device writes a high buffer through a bounce buffer; the bytes arrive at unmap") {
    engine_machine m;
    REQUIRE(m.kernel->swiotlb() != nullptr);
    page* from = m.high_page();
    page* to = m.high_page();
    m.machine.pattern(m.phys(from), 4 * KiB, 9);
    dma_addr_t src = m.driver.map_single(m.virt(from), 4 * KiB, DMA_TO_DEVICE);
    dma_addr_t dst = m.driver.map_single(m.virt(to), 4 * KiB, DMA_FROM_DEVICE);
    REQUIRE(src != DMA_MAPPING_ERROR);
    REQUIRE(dst != DMA_MAPPING_ERROR);
    CHECK(m.kernel->swiotlb()->is_swiotlb_buffer(src));
    CHECK(m.kernel->swiotlb()->is_swiotlb_buffer(dst));
    m.driver.start(src, dst, 4 * KiB);
    m.driver.wait();
    CHECK_FALSE(m.machine.holds(m.phys(to), 4 * KiB, 9));  // still in the bounce buffer
    m.driver.unmap_single(dst, 4 * KiB, DMA_FROM_DEVICE);
    m.driver.unmap_single(src, 4 * KiB, DMA_TO_DEVICE);
    CHECK(m.machine.holds(m.phys(to), 4 * KiB, 9));
    const memsim_dma_stats& s = m.driver.stats();
    CHECK(s.map_bounced.calls == 2);
    CHECK(s.map_direct.calls == 0);
    CHECK(s.unmap_bounced.calls == 2);
    CHECK(s.map_bounced.ps > 0);
    CHECK(m.driver.dev().dma_stats.bounced_to_device_bytes == 8 * KiB);  // every direction copies in
    CHECK(m.driver.dev().dma_stats.bounced_from_device_bytes == 4 * KiB);
    CHECK(m.dma.debug().error_count() == 0);
}

TEST_CASE("dma-debug sees what the device touches: memory not mapped for it, and the wrong direction") {
    engine_machine m;
    page* buf = m.high_page();
    dma_addr_t dma = 0;
    REQUIRE(m.driver.alloc_coherent(4 * KiB, GFP_KERNEL, &dma));
    m.driver.start(dma, dma + 64 * KiB, 64);
    m.driver.wait();
    CHECK(m.driver.dev().dma_stats.errors(dma_debug_error::device_access_unmapped) == 1);
    CHECK(m.driver.stats().flagged == 1);
    CHECK(m.printed("DMA-API: memsim-dma pci_dma: device writes memory it has no mapping for") ==
          std::vector<std::string>{
              fmt::format("DMA-API: memsim-dma pci_dma: device writes memory it has no mapping "
                          "for [device address={:#018x}] [size=64 bytes]",
                          dma + 64 * KiB)});

    dma_addr_t out = m.driver.map_single(m.virt(buf), 4 * KiB, DMA_TO_DEVICE);
    REQUIRE(out != DMA_MAPPING_ERROR);
    m.driver.start(dma, out, 64);  // the device writes what was mapped for it to read
    m.driver.wait();
    CHECK(m.driver.dev().dma_stats.errors(dma_debug_error::device_access_direction) == 1);
    CHECK(m.driver.stats().flagged == 2);
    // The transfer itself went out: the bus, not dma-debug, decides what the device reaches.
    CHECK(m.driver.stats().completed == 2);
}

TEST_CASE("the completion handler allocates in interrupt context: GFP_ATOMIC quietly, GFP_KERNEL reported") {
    engine_machine m;
    dma_addr_t dma = 0;
    REQUIRE(m.driver.alloc_coherent(8 * KiB, GFP_KERNEL, &dma));
    std::uint64_t free_before = m.free_pages();
    m.driver.start(dma, dma + 4 * KiB, 64, GFP_ATOMIC);
    m.driver.wait();
    CHECK(m.printed("BUG: sleeping function").empty());
    m.driver.start(dma, dma + 4 * KiB, 64, GFP_KERNEL);
    m.driver.wait();
    CHECK(m.printed("BUG: sleeping function called from invalid context").size() == 1);
    CHECK(m.free_pages() == free_before);  // the refill page went back
}

TEST_CASE("a transfer the engine fails is reported; a spurious interrupt is left alone") {
    engine_machine m;
    m.reach_bits = 24;
    dma_addr_t dma = 0;
    REQUIRE(m.driver.alloc_coherent(4 * KiB, GFP_KERNEL, &dma));
    REQUIRE(dma >= (1u << 24));
    m.driver.start(dma, dma, 4 * KiB);
    m.driver.wait();
    CHECK(m.driver.stats().failed == 1);
    CHECK(m.driver.stats().completed == 0);
    CHECK(m.printed("memsim-dma pci_dma: transfer") ==
          std::vector<std::string>{
              "memsim-dma pci_dma: transfer of 4096 bytes failed: bus error (status 0x404)"});

    std::uint64_t ctrl = m.reg(memsim_dma_reg::ctrl);
    CHECK_FALSE(m.interrupt());
    CHECK(m.driver.stats().spurious == 1);
    CHECK(m.reg(memsim_dma_reg::ctrl) == ctrl);  // no MMIO when nothing is in flight
}

TEST_CASE("a wait no interrupt can end gives up as a timeout, and the driver can go on") {
    engine_machine m;
    dma_addr_t dma = 0;
    REQUIRE(m.driver.alloc_coherent(8 * KiB, GFP_KERNEL, &dma));
    m.machine.on_halt = nullptr;  // an engine that never interrupts
    m.driver.start(dma, dma + 4 * KiB, 64);
    m.driver.wait();
    CHECK_FALSE(m.driver.in_flight());
    CHECK(m.driver.stats().timeouts == 1);
    CHECK(m.printed("memsim-dma pci_dma: transfer") ==
          std::vector<std::string>{
              "memsim-dma pci_dma: transfer of 64 bytes timed out: no completion interrupt"});
    m.machine.on_halt = [&m] { m.run_engine(); };
    m.driver.start(dma, dma + 4 * KiB, 64);
    m.driver.wait();
    CHECK(m.driver.stats().completed == 1);
}

TEST_CASE("an ISA device has one mask: a streaming-only dma_set_mask moves the coherent one too") {
    engine_machine isa(true), pci(false);
    CHECK(isa.driver.set_mask(32, dma_mask_kind::streaming) == 0);
    CHECK(isa.driver.dev().coherent_dma_mask == 0xffffffff);
    CHECK(pci.driver.set_mask(64, dma_mask_kind::streaming) == 0);
    CHECK(pci.driver.dev().coherent_dma_mask == 0xffffffff);
}

TEST_CASE("the firmware's bus limit holds whatever mask the driver sets") {
    testing::booted_kernel k(kernel_arch::x86_64, 8 * GiB);
    dma_api dma(*k.kernel, k.machine);
    dma.set_swiotlb(k.kernel->swiotlb());
    memsim_dma driver(dma, {"pci_dma", mmio_base, 11, false, DMA_BIT_MASK(30)});
    CHECK(driver.dev().bus_dma_limit == DMA_BIT_MASK(30));
    REQUIRE(driver.set_mask(64, dma_mask_kind::both) == 0);
    dma_addr_t dma_handle = 0;
    REQUIRE(driver.alloc_coherent(64 * KiB, GFP_KERNEL, &dma_handle));
    CHECK(dma_handle + 64 * KiB <= (1ull << 30));
    page* high = k.kernel->pages().alloc_pages(GFP_KERNEL, 0);
    REQUIRE(k.kernel->pages().page_to_phys(high) >= 4 * GiB);
    // Out of the limit, and the swiotlb (below 4 GiB, above 1 GiB) is out of it too.
    CHECK(driver.map_single(k.kernel->pages().page_address(high), 4 * KiB, DMA_TO_DEVICE) ==
          DMA_MAPPING_ERROR);
}

TEST_CASE("dma_set_mask through the driver: -EIO below the DMA zone, with the driver's message") {
    engine_machine m(true);
    CHECK(m.driver.set_mask(20, dma_mask_kind::both) == -5);
    CHECK(m.printed("memsim-dma isa_dma:") ==
          std::vector<std::string>{"memsim-dma isa_dma: 20-bit DMA mask: No suitable DMA available"});
    CHECK(m.driver.stats().mask_failures == 1);
    CHECK(*m.driver.dev().dma_mask == 0xffffff);  // unchanged
    dma_addr_t dma = 0;
    REQUIRE(m.driver.alloc_coherent(4 * KiB, GFP_KERNEL, &dma));
    CHECK(dma + 4 * KiB <= (1u << 24));
    CHECK(m.driver.stats().coherent_by_zone[static_cast<unsigned>(zone_type::dma)] == 1);
}

}  // namespace
}  // namespace memsim::kernel
