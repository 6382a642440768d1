// The memsim DMA engine's driver: probe, MMIO programming, the completion interrupt.
#include "kernel_mm/drivers/memsim_dma.h"

#include <fmt/format.h>

#include "kernel_mm/page_alloc.h"

namespace memsim::kernel {
namespace {

// The status register's error code (bits 15:8), as the datasheet names them.
const char* error_name(std::uint64_t status) {
    switch ((status >> 8) & 0xff) {
        case 1:
            return "write to a read-only register";
        case 2:
            return "bad length";
        case 3:
            return "busy";
        case 4:
            return "bus error";
        default:
            return "unknown error";
    }
}

}  // namespace

memsim_dma::memsim_dma(dma_api& api, const memsim_dma_resource& resource)
    : m_api(api), m_machine(api.machine()), m_resource(resource) {
    m_dev.name = resource.name;
    m_dev.driver = driver_name;
    m_dev.bus = resource.isa ? "isa" : "pci";
    std::uint64_t mask = DMA_BIT_MASK(resource.isa ? 24 : 32);
    m_dev.dma_mask = mask;
    m_dev.coherent_dma_mask = mask;
    m_dev.bus_dma_limit = resource.bus_dma_limit;
}

std::uint64_t memsim_dma::read_register(std::uint64_t offset) {
    std::uint64_t value = 0;
    m_machine.read_phys(m_resource.mmio_base + offset, &value, sizeof value);
    return value;
}

void memsim_dma::write_register(std::uint64_t offset, std::uint64_t value) {
    m_machine.write_phys(m_resource.mmio_base + offset, &value, sizeof value);
}

int memsim_dma::set_mask(unsigned bits, dma_mask_kind kind) {
    std::uint64_t mask = DMA_BIT_MASK(bits);
    int err = kind == dma_mask_kind::both        ? m_api.dma_set_mask_and_coherent(m_dev, mask)
              : kind == dma_mask_kind::streaming ? m_api.dma_set_mask(m_dev, mask)
                                                 : m_api.dma_set_coherent_mask(m_dev, mask);
    ++m_stats.mask_calls;
    // drivers/base/isa.c points an ISA device's dma_mask at its coherent_dma_mask: one mask.
    if (m_resource.isa && !err) {
        if (kind == dma_mask_kind::streaming) m_dev.coherent_dma_mask = mask;
        if (kind == dma_mask_kind::coherent) m_dev.dma_mask = mask;
    }
    if (err) {
        ++m_stats.mask_failures;
        m_api.kernel().log().print(
            m_machine.now(), kern_level::err,
            fmt::format("{}{}-bit DMA mask: No suitable DMA available", dev_printk_prefix(m_dev), bits));
    }
    return err;
}

std::uint64_t memsim_dma::alloc_coherent(std::uint64_t size, gfp_t gfp, dma_addr_t* handle) {
    std::uint64_t cpu_addr = m_api.dma_alloc_coherent(m_dev, size, handle, gfp);
    if (cpu_addr) {
        page_allocator& pages = m_api.kernel().pages();
        const zone& z = pages.page_zone(pages.pfn_to_page(*handle >> page_shift));
        ++m_stats.coherent_by_zone[static_cast<unsigned>(z.type)];
    }
    return cpu_addr;
}

void memsim_dma::free_coherent(std::uint64_t size, std::uint64_t cpu_addr, dma_addr_t handle) {
    m_api.dma_free_coherent(m_dev, size, cpu_addr, handle);
}

dma_addr_t memsim_dma::map_single(std::uint64_t cpu_addr, std::uint64_t size, dma_data_direction dir) {
    picoseconds began = m_machine.now();
    std::uint64_t bounced = m_dev.dma_stats.bounced_maps;
    dma_addr_t addr = m_api.dma_map_single(m_dev, cpu_addr, size, dir);
    if (m_api.dma_mapping_error(m_dev, addr)) return DMA_MAPPING_ERROR;
    charge(m_dev.dma_stats.bounced_maps != bounced ? m_stats.map_bounced : m_stats.map_direct, began);
    return addr;
}

void memsim_dma::unmap_single(dma_addr_t addr, std::uint64_t size, dma_data_direction dir) {
    picoseconds began = m_machine.now();
    const io_tlb_mem* pool = m_api.swiotlb();
    std::uint64_t released = pool ? pool->stats().unmaps : 0;
    std::uint64_t errors = m_dev.dma_stats.debug_error_count;
    m_api.dma_unmap_single(m_dev, addr, size, dir);
    // Only an unmap that gave a mapping back counts: a bounce buffer released, or an in-place
    // mapping dma-debug found nothing wrong with.
    if (pool && pool->stats().unmaps != released)
        charge(m_stats.unmap_bounced, began);
    else if (m_dev.dma_stats.debug_error_count == errors && addr != DMA_MAPPING_ERROR)
        charge(m_stats.unmap_direct, began);
}

void memsim_dma::sync_single(dma_addr_t addr, std::uint64_t size, dma_data_direction dir, bool for_cpu) {
    picoseconds began = m_machine.now();
    if (for_cpu)
        m_api.dma_sync_single_for_cpu(m_dev, addr, size, dir);
    else
        m_api.dma_sync_single_for_device(m_dev, addr, size, dir);
    charge(m_stats.sync, began);
}

void memsim_dma::charge(dma_call_time& t, picoseconds began) {
    ++t.calls;
    t.ps += m_machine.now() - began;
}

void memsim_dma::start(dma_addr_t src, dma_addr_t dst, std::uint64_t len, std::optional<gfp_t> refill_gfp) {
    wait();
    // The DMA API's promise, checked where an IOMMU would fault: the device may only read what
    // is mapped for it to read and write what is mapped for it to write.
    bool readable = m_api.debug().check_device_access(m_dev, src, len, false);
    bool writable = m_api.debug().check_device_access(m_dev, dst, len, true);
    if (!readable || !writable) ++m_stats.flagged;
    ++m_stats.transfers;
    m_in_flight = true;
    m_len = len;
    m_refill_gfp = refill_gfp;
    write_register(memsim_dma_reg::src, src);
    write_register(memsim_dma_reg::dst, dst);
    write_register(memsim_dma_reg::len, len);
    m_started = m_machine.now();
    write_register(memsim_dma_reg::ctrl, memsim_dma_reg::ctrl_start | memsim_dma_reg::ctrl_irq_enable);
}

// As wait_for_completion_timeout: the driver gives up when the machine says no interrupt can
// come any more (the engine was never started, or never raised its line).
void memsim_dma::wait() {
    while (m_in_flight) {
        if (m_machine.wait_for_interrupt()) continue;
        ++m_stats.timeouts;
        m_in_flight = false;
        m_api.kernel().log().print(m_machine.now(), kern_level::err,
                                   fmt::format("{}transfer of {} bytes timed out: no completion interrupt",
                                               dev_printk_prefix(m_dev), m_len));
    }
}

// The handler reads the status, acknowledges (which drops the line) and completes the transfer;
// an interrupt with nothing in flight is left alone for whoever else shares the line.
bool memsim_dma::handle_irq() {
    if (!m_in_flight) {
        ++m_stats.spurious;
        return false;
    }
    std::uint64_t status = read_register(memsim_dma_reg::status);
    if (!(status & (memsim_dma_reg::status_done | memsim_dma_reg::status_error))) {
        ++m_stats.spurious;
        return false;
    }
    write_register(memsim_dma_reg::ctrl, memsim_dma_reg::ctrl_ack | memsim_dma_reg::ctrl_irq_enable);
    ++m_stats.interrupts;
    m_in_flight = false;
    m_stats.busy_ps += m_machine.now() - m_started;
    if (status & memsim_dma_reg::status_error) {
        ++m_stats.failed;
        m_api.kernel().log().print(m_machine.now(), kern_level::err,
                                   fmt::format("{}transfer of {} bytes failed: {} (status {:#x})",
                                               dev_printk_prefix(m_dev), m_len, error_name(status), status));
    } else {
        ++m_stats.completed;
        m_stats.bytes += m_len;
    }
    if (m_refill_gfp) refill(*m_refill_gfp);
    return true;
}

// A page for the next receive, as a network driver's interrupt handler refills its ring:
// GFP_ATOMIC there, since the handler must not sleep (might_alloc reports anything else).
void memsim_dma::refill(gfp_t gfp) {
    page_allocator& pages = m_api.kernel().pages();
    page* p = pages.alloc_pages(gfp, 0);
    if (!p) {
        ++m_stats.refill_failures;
        return;
    }
    pages.__free_pages(p, 0);
}

}  // namespace memsim::kernel
