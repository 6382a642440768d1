// The kernel's driver for memsim's DMA engine (docs/configuration.md, "The DMA engine's
// registers"): probe makes the engine a device of the DMA API; a transfer is programmed by MMIO
// writes to the engine's registers; the completion interrupt is handled in interrupt context,
// as a Linux driver's probe, submit path and irq handler do.
//
// Invariants: the engine has one channel, so at most one transfer is in flight; in_flight()
// holds from the MMIO write that starts a transfer to the interrupt that completes it, and the
// handler touches the engine only then (an interrupt at any other time is not its own).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "kernel_mm/dma/mapping.h"
#include "kernel_mm/gfp.h"
#include "kernel_mm/mmzone.h"

namespace memsim::kernel {

// The engine's register file, the driver's own copy of the datasheet as a Linux driver keeps
// its device's registers in its own header.
namespace memsim_dma_reg {
inline constexpr std::uint64_t src = 0x00;
inline constexpr std::uint64_t dst = 0x08;
inline constexpr std::uint64_t len = 0x10;
inline constexpr std::uint64_t ctrl = 0x18;
inline constexpr std::uint64_t status = 0x20;

inline constexpr std::uint64_t ctrl_start = 1 << 0;
inline constexpr std::uint64_t ctrl_irq_enable = 1 << 1;
inline constexpr std::uint64_t ctrl_ack = 1 << 2;

inline constexpr std::uint64_t status_done = 1 << 1;
inline constexpr std::uint64_t status_error = 1 << 2;
}  // namespace memsim_dma_reg

// What the firmware tells the kernel of one engine, as PCI configuration space or an ISA
// resource would: its name, register window and interrupt line. The address lines the engine
// really has are not among them: the kernel learns them only from its driver (dma_set_mask).
struct memsim_dma_resource {
    std::string name;
    phys_addr_t mmio_base = 0;
    unsigned irq = 0;
    bool isa = false;                 // on an ISA-like bus: masks start at 24 bits, else at PCI's 32
    std::uint64_t bus_dma_limit = 0;  // the firmware's limit (dev->bus_dma_limit); 0: none
};

// Simulated time a kind of DMA API call took, in calls and picoseconds.
struct dma_call_time {
    std::uint64_t calls = 0;
    std::uint64_t ps = 0;

    double mean_ns() const { return calls ? double(ps) / double(calls) / 1000.0 : 0.0; }
};

// Which of dma_set_mask's three forms a driver calls.
enum class dma_mask_kind : std::uint8_t { both, streaming, coherent };

struct memsim_dma_stats {
    std::uint64_t transfers = 0;        // started
    std::uint64_t completed = 0;        // completed without an error status
    std::uint64_t failed = 0;           // completed with one (a bus error, a bad length)
    std::uint64_t bytes = 0;            // of completed transfers
    std::uint64_t busy_ps = 0;          // from each start to its interrupt's handler
    std::uint64_t interrupts = 0;       // handled (IRQ_HANDLED)
    std::uint64_t spurious = 0;         // on its line with nothing in flight (IRQ_NONE)
    std::uint64_t flagged = 0;          // transfers dma-debug found touching memory not mapped for them
    std::uint64_t refill_failures = 0;  // the handler's refill page not allocated
    std::uint64_t timeouts = 0;         // waits given up: no completion interrupt could come
    std::uint64_t mask_calls = 0;       // dma_set_mask calls of any form
    std::uint64_t mask_failures = 0;    // dma_set_mask calls answered -EIO
    // Coherent buffers by the zone they came from (enum zone_type order).
    std::array<std::uint64_t, MAX_NR_ZONES> coherent_by_zone{};
    // dma_map_single and dma_unmap_single in simulated time, those mapped in place apart from
    // those bounced through the swiotlb (the copy is the difference).
    dma_call_time map_direct, map_bounced, unmap_direct, unmap_bounced, sync;
};

class memsim_dma {
public:
    static constexpr const char* driver_name = "memsim-dma";

    // probe: a device with the bus's default masks (drivers/base/isa.c: 24 bits; drivers/pci/
    // probe.c pci_setup_device: 32), interrupts enabled.
    memsim_dma(dma_api& api, const memsim_dma_resource& resource);
    memsim_dma(const memsim_dma&) = delete;
    memsim_dma& operator=(const memsim_dma&) = delete;

    device& dev() { return m_dev; }
    const device& dev() const { return m_dev; }
    unsigned irq() const { return m_resource.irq; }
    bool in_flight() const { return m_in_flight; }
    const memsim_dma_stats& stats() const { return m_stats; }

    // The DMA API calls a driver makes, timed and counted: dma_set_mask's three forms (0 or
    // -EIO, with the driver's "No suitable DMA available" on failure), dma_alloc_coherent
    // (the CPU address or 0, the device address in *handle), dma_free_coherent,
    // dma_map_single checked with dma_mapping_error as a careful driver does (DMA_MAPPING_ERROR
    // on failure), dma_unmap_single and dma_sync_single_for_cpu / _for_device.
    int set_mask(unsigned bits, dma_mask_kind kind);
    std::uint64_t alloc_coherent(std::uint64_t size, gfp_t gfp, dma_addr_t* handle);
    void free_coherent(std::uint64_t size, std::uint64_t cpu_addr, dma_addr_t handle);
    dma_addr_t map_single(std::uint64_t cpu_addr, std::uint64_t size, dma_data_direction dir);
    void unmap_single(dma_addr_t addr, std::uint64_t size, dma_data_direction dir);
    void sync_single(dma_addr_t addr, std::uint64_t size, dma_data_direction dir, bool for_cpu);

    // Copies len bytes from device address src to dst: waits out a transfer still in flight,
    // then programs src, dst, len and ctrl. dma-debug first looks at both ranges, whether the
    // driver got them from the DMA API or not. The handler allocates one order-0 page with
    // refill_gfp, as a driver refilling its receive ring, and frees it.
    void start(dma_addr_t src, dma_addr_t dst, std::uint64_t len,
               std::optional<gfp_t> refill_gfp = std::nullopt);
    // Sleeps (HLT) until no transfer is in flight, or until no interrupt can come any more (then
    // reported as a timeout).
    void wait();
    // The interrupt handler, run in interrupt context: true (IRQ_HANDLED) when the interrupt
    // was this driver's.
    bool handle_irq();

private:
    std::uint64_t read_register(std::uint64_t offset);
    void write_register(std::uint64_t offset, std::uint64_t value);
    void refill(gfp_t gfp);
    // The simulated time since `began`, charged to `t`.
    void charge(dma_call_time& t, picoseconds began);

    dma_api& m_api;
    machine_ops& m_machine;
    memsim_dma_resource m_resource;
    device m_dev;
    memsim_dma_stats m_stats;
    bool m_in_flight = false;
    std::uint64_t m_len = 0;
    picoseconds m_started = 0;
    std::optional<gfp_t> m_refill_gfp;
};

}  // namespace memsim::kernel
