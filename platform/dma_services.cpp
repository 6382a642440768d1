// The workload's DMA operations, each a call a driver makes (docs/workload-format.md "DMA
// operations"), and the devices' interrupts on their way to the drivers' handlers.
#include <fmt/format.h>

#include "hw/dma_engine.h"
#include "platform/kernel_services.h"

namespace memsim::platform {
namespace {

// The workload's three dma_set_mask forms are the driver's, numbered alike.
static_assert(std::uint8_t(traces::dma_mask_kind::coherent) ==
                  std::uint8_t(kernel::dma_mask_kind::coherent) &&
              std::uint8_t(traces::dma_mask_kind::streaming) ==
                  std::uint8_t(kernel::dma_mask_kind::streaming));

// The driver keeps its own copy of the engine's registers, as Linux drivers do; they must agree.
static_assert(kernel::memsim_dma_reg::src == hw::dma_reg::src &&
              kernel::memsim_dma_reg::dst == hw::dma_reg::dst &&
              kernel::memsim_dma_reg::len == hw::dma_reg::len &&
              kernel::memsim_dma_reg::ctrl == hw::dma_reg::ctrl &&
              kernel::memsim_dma_reg::status == hw::dma_reg::status);
static_assert(kernel::memsim_dma_reg::ctrl_start == hw::dma_reg::ctrl_start &&
              kernel::memsim_dma_reg::ctrl_irq_enable == hw::dma_reg::ctrl_irq_enable &&
              kernel::memsim_dma_reg::ctrl_ack == hw::dma_reg::ctrl_ack &&
              kernel::memsim_dma_reg::status_done == hw::dma_reg::status_done &&
              kernel::memsim_dma_reg::status_error == hw::dma_reg::status_error);

kernel::dma_data_direction direction_of(const traces::op& o) {
    return static_cast<kernel::dma_data_direction>(o.size);
}

}  // namespace

// A failed call is the kernel's answer, as for any kernel operation: the handle holds
// DMA_MAPPING_ERROR (or a NULL buffer), and a transfer on it goes wherever the driver sends it.
bool kernel_services::dma_op(const traces::op& o) {
    using traces::op_kind;
    if (!traces::is_dma_op(o.kind)) return false;
    kernel::memsim_dma& driver = m_host.dma_driver(m_engines.at(o.device));
    switch (o.kind) {
        case op_kind::dma_set_mask:
            driver.set_mask(static_cast<unsigned>(o.value), static_cast<kernel::dma_mask_kind>(o.size));
            break;
        case op_kind::dma_alloc_coherent: {
            m_host.note_dma_buffer();
            handle& h = at(o.handle);
            h = {};
            h.address = driver.alloc_coherent(o.address, static_cast<kernel::gfp_t>(o.value), &h.dma.addr);
            h.dma.size = o.address;
            h.dma.dir = kernel::DMA_BIDIRECTIONAL;
            break;
        }
        case op_kind::dma_free_coherent: {
            handle& h = at(o.handle);
            driver.free_coherent(h.dma.size, h.address, h.dma.addr);
            break;
        }
        case op_kind::dma_map: {
            m_host.note_dma_buffer();
            std::uint64_t buffer = at(static_cast<std::int32_t>(o.flags)).address + o.address;
            handle& h = at(o.handle);
            h = {};
            h.address = buffer;
            h.dma = {driver.map_single(buffer, o.value, direction_of(o)), o.value, direction_of(o)};
            break;
        }
        case op_kind::dma_unmap: {
            const dma_handle& d = at(o.handle).dma;
            driver.unmap_single(d.addr, d.size, d.dir);
            break;
        }
        case op_kind::dma_sync: {
            const dma_handle& d = at(o.handle).dma;
            driver.sync_single(d.addr, d.size, d.dir,
                               o.size == std::uint8_t(traces::dma_sync_target::for_cpu));
            break;
        }
        case op_kind::dma_transfer:
        case op_kind::dma_transfer_phys:
            dma_transfer(driver, o);
            break;
        default:  // dma_wait
            driver.wait();
    }
    return true;
}

// dma_transfer hands the engine the handles' device addresses through the DMA API's checks;
// dma_transfer_phys hands it raw addresses, as a driver that bypasses the API would.
void kernel_services::dma_transfer(kernel::memsim_dma& driver, const traces::op& o) {
    bool api = o.kind == traces::op_kind::dma_transfer;
    kernel::dma_addr_t src = api ? at(o.handle).dma.addr : o.address;
    kernel::dma_addr_t dst = api ? at(static_cast<std::int32_t>(o.value)).dma.addr : o.value;
    std::optional<kernel::gfp_t> refill;
    if (o.segment >= 0) refill = static_cast<kernel::gfp_t>(o.segment);
    driver.start(src, dst, o.flags, refill);
    if (!(o.size & traces::dma_transfer_nowait)) driver.wait();
}

// The interrupt enters ring 0 from whatever ran and returns to it, as IRET does; the handler
// runs in interrupt context (hardirq), where the kernel must not sleep.
void kernel_services::interrupt(hw::cpu_core& cpu, unsigned line) {
    kernel::memsim_dma* driver = m_host.kernel() ? m_host.driver_on_irq(line) : nullptr;
    if (!driver) return m_traps.interrupt(cpu, line);
    bool user = cpu.user_mode();
    if (user) run_as(cpu, false);
    kernel::cpu_context& context = m_host.context();
    bool nested = std::exchange(context.in_interrupt, true);
    context.cycles += m_host.mm_costs().exception;
    bool handled = driver->handle_irq();
    context.in_interrupt = nested;
    m_host.settle();
    if (user) run_as(cpu, true);
    if (!handled) m_traps.interrupt(cpu, line);
}

}  // namespace memsim::platform
