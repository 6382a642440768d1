// DMA end to end, on the whole machine: the workload's driver calls go through the kernel's DMA
// API and the memsim-dma driver to the engine's registers over the bus; the engine (its own
// SystemC thread and bus port, its reach enforced by the bus) moves the bytes and interrupts;
// the handler runs in interrupt context. Each case is one simulation, in its own process.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include <systemc>

#include "platform/assembly.h"
#include "platform/kernel_services.h"
#include "traces/workload.h"

namespace memsim::platform {
namespace {

constexpr std::uint64_t GiB = 1ull << 30;

// The default machine with 16 GiB (RAM far above 4 GiB, so a swiotlb) and `sets`, running the
// workload `text` on its kernel.
struct dma_run {
    machine_config config;
    traces::workload work;
    assembly m;
    kernel_machine host;
    kernel_services services;

    dma_run(const std::string& text, std::vector<std::string> sets = {})
        : config(configured(std::move(sets))),
          work(traces::parse_text(text, "w.txt")),
          m(config),
          host(m.cpu, m.board, config),
          services(host, m.traps, work) {
        m.cpu.load(work);
        m.cpu.set_firmware(&host);
        m.cpu.set_trap_handler(&services);
        sc_core::sc_start();
        REQUIRE(m.cpu.finished());
    }
    static machine_config configured(std::vector<std::string> sets) {
        sets.insert(sets.begin(), "ram.size=16 GiB");
        return load_config_text(default_config_text(), default_config_name, sets);
    }

    std::uint64_t phys(const std::string& handle) const {
        auto at = std::find(work.handles.begin(), work.handles.end(), handle);
        REQUIRE(at != work.handles.end());
        return services.handle_address(static_cast<std::int32_t>(at - work.handles.begin())) -
               host.kernel()->page_offset();
    }
    const unsigned char* bytes(std::uint64_t physical, std::size_t length) {
        const unsigned char* p = m.board.host_address(physical, length);
        REQUIRE(p != nullptr);
        return p;
    }
    const kernel::memsim_dma& pci() const { return *host.dma_drivers().at(1); }
    std::uint64_t counter(std::string_view name) const {
        const std::optional<std::uint64_t> v = m.stats.value(name);
        REQUIRE(v);
        return *v;
    }
    bool logged(std::string_view text) const { return host.log().dmesg().find(text) != std::string::npos; }
};

TEST_CASE(
    "a 32-bit engine's transfer between buffers above 4 GiB: bounced both ways, the bytes arrive at unmap") {
    dma_run r(R"(memsim workload 1
dma_set_mask pci_dma 32
alloc_pages src 0 GFP_KERNEL
alloc_pages dst 0 GFP_KERNEL
write src 8 0x1122334455667788
write src+4088 8 0x99aabbccddeeff00
dma_map pci_dma out src 4K to_device
dma_map pci_dma in dst 4K from_device
dma_transfer pci_dma out in 4K
dma_unmap pci_dma in
dma_unmap pci_dma out
)");
    REQUIRE(r.phys("src") >= 4 * GiB);
    REQUIRE(r.phys("dst") >= 4 * GiB);
    CHECK(std::memcmp(r.bytes(r.phys("dst"), 4096), r.bytes(r.phys("src"), 4096), 4096) == 0);
    std::uint64_t head = 0, tail = 0;
    std::memcpy(&head, r.bytes(r.phys("dst"), 8), 8);
    std::memcpy(&tail, r.bytes(r.phys("dst") + 4088, 8), 8);
    CHECK(head == 0x1122334455667788);
    CHECK(tail == 0x99aabbccddeeff00);
    const kernel::dma_device_stats& s = r.pci().dev().dma_stats;
    CHECK(s.bounced_maps == 2);
    CHECK(s.bounced_to_device_bytes == 8192);  // every direction copies in
    CHECK(s.bounced_from_device_bytes == 4096);
    CHECK(r.pci().stats().completed == 1);
    CHECK(r.pci().stats().interrupts == 1);
    CHECK(r.counter("bus.initiator.pci_dma.overreach") == 0);
    CHECK(r.counter("dma.pci_dma.bytes") == 4096);
    CHECK(r.pci().dev().dma_stats.errors(kernel::dma_debug_error::device_access_unmapped) == 0);
}

TEST_CASE("nowait: the CPU goes on and takes the completion interrupt later, in interrupt context") {
    dma_run r(R"(memsim workload 1
dma_alloc_coherent pci_dma a 4K
dma_alloc_coherent pci_dma b 4K
dma_transfer pci_dma a b 4K nowait irq_gfp=GFP_ATOMIC
compute 2000000
dma_transfer pci_dma b a 4K irq_gfp=GFP_KERNEL
)");
    CHECK(r.pci().stats().completed == 2);
    CHECK(r.pci().stats().interrupts == 2);
    CHECK(r.counter("cpu.interrupts") == 2);
    // The first interrupt came during the 1 ms of compute: only the second transfer halted the core.
    CHECK(r.counter("cpu.halted_ps") > 0);
    CHECK(r.counter("cpu.halted_ps") < r.pci().stats().busy_ps);
    CHECK(r.logged("BUG: sleeping function called from invalid context"));
}

TEST_CASE("a raw transfer past a 32-bit reach on a truncating bus lands 4 GiB lower, and is reported") {
    dma_run r(R"(memsim workload 1
poke 0x1000ff8 8 0x0123456789abcdef
dma_transfer_phys pci_dma 0x1000000 0x100200000 4K
)",
              {"bus.on_overreach=truncate"});
    // The engine read the kernel's first 4 KiB (at 16 MiB, marked at its end) and wrote them where its 32
    // address lines end: 0x200000, in ZONE_DMA, instead of 4 GiB + 2 MiB.
    CHECK(std::memcmp(r.bytes(0x200000, 4096), r.bytes(0x1000000, 4096), 4096) == 0);
    std::uint64_t mark = 0;
    std::memcpy(&mark, r.bytes(0x200ff8, 8), 8);
    CHECK(mark == 0x0123456789abcdef);
    CHECK(std::memcmp(r.bytes(0x100200000, 4096), r.bytes(0x1000000, 4096), 4096) != 0);
    CHECK(r.counter("bus.initiator.pci_dma.overreach") == 64);  // one per 64-byte burst written
    CHECK(r.counter("bus.initiator.pci_dma.overreach_first_address") == 0x100200000);
    CHECK(r.counter("bus.initiator.pci_dma.overreach_first_landed") == 0x200000);
    CHECK(r.pci().stats().completed == 1);  // silent, as far as the driver can tell
    CHECK(r.pci().dev().dma_stats.errors(kernel::dma_debug_error::device_access_unmapped) == 2);
}

TEST_CASE("an engine error right after a completed transfer still interrupts, and is reported") {
    dma_run r(R"(memsim workload 1
dma_alloc_coherent pci_dma a 4K
dma_alloc_coherent pci_dma b 4K
dma_transfer pci_dma a b 4K
dma_transfer pci_dma a b 32M
dma_transfer pci_dma b a 4K
)");
    CHECK(r.pci().stats().completed == 2);
    CHECK(r.pci().stats().failed == 1);
    CHECK(r.pci().stats().timeouts == 0);
    CHECK(r.logged("memsim-dma pci_dma: transfer of 33554432 bytes failed: bad length (status 0x204)"));
}

}  // namespace
}  // namespace memsim::platform
