// The machine as the kernel sees it (kernel::machine_ops) on a CPU core: physical memory through
// the core's bus port, timed on the core's clock; control registers, A20 and TLB maintenance
// as operations of the core; the kernel's own cycles added to the core's local time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <systemc>

#include "hw/cpu_core.h"
#include "kernel_mm/dma/mapping.h"
#include "kernel_mm/drivers/memsim_dma.h"
#include "kernel_mm/highmem.h"
#include "kernel_mm/machine_ops.h"
#include "kernel_mm/process.h"
#include "kernel_mm/slab.h"
#include "kernel_mm/start_kernel.h"
#include "kernel_mm/vmalloc.h"
#include "platform/config.h"
#include "platform/machine.h"

namespace memsim::platform {

// The boot parameters a machine config gives the kernel: profile, firmware map, NUMA, knobs.
kernel::kernel_config kernel_config_of(const machine_config& config);

class kernel_machine final : public kernel::machine_ops, public hw::firmware {
public:
    kernel_machine(hw::cpu_core& cpu, machine& board, const machine_config& config);

    // hw::firmware: boots the kernel on the core's thread, before its workload.
    void boot(hw::cpu_core& cpu) override;

    // The booted kernel, or nullptr when the boot panicked (see panic()); its slab allocator,
    // vmalloc space, and on i386 its kmap windows (nullptr on x86_64).
    kernel::kernel_state* kernel() { return m_kernel.get(); }
    const kernel::kernel_state* kernel() const { return m_kernel.get(); }
    kernel::slab_allocator* slab() { return m_slab.get(); }
    const kernel::slab_allocator* slab() const { return m_slab.get(); }
    kernel::vmalloc_space* vmalloc() { return m_vmalloc.get(); }
    const kernel::vmalloc_space* vmalloc() const { return m_vmalloc.get(); }
    kernel::highmem* highmem() { return m_highmem.get(); }
    const kernel::highmem* highmem() const { return m_highmem.get(); }
    // The processes a workload's process operations run.
    kernel::process_table* processes() { return m_processes.get(); }
    const kernel::process_table* processes() const { return m_processes.get(); }
    // The DMA API and the driver of each configured DMA engine, in config order (none when the
    // boot panicked).
    kernel::dma_api* dma() { return m_dma.get(); }
    const kernel::dma_api* dma() const { return m_dma.get(); }
    const std::vector<kernel::memsim_dma_resource>& dma_resources() const { return m_dma_resources; }
    kernel::memsim_dma& dma_driver(std::size_t engine) { return *m_dma_drivers.at(engine); }
    const std::vector<std::unique_ptr<kernel::memsim_dma>>& dma_drivers() const { return m_dma_drivers; }
    // The driver on interrupt line `irq`, or nullptr.
    kernel::memsim_dma* driver_on_irq(unsigned irq);
    const kernel::mm_costs& mm_costs() const { return m_mm_costs; }
    // Free pages by zone once the kernel had booted (zone_free_pages).
    const std::vector<kernel::zone_free>& free_after_boot() const { return m_free_after_boot; }
    // And just before the first coherent buffer or streaming mapping a driver asked for (empty
    // until then): what the rest of the workload left the devices.
    const std::vector<kernel::zone_free>& free_at_first_dma_buffer() const { return m_free_at_first_dma; }
    void note_dma_buffer() {
        if (m_free_at_first_dma.empty()) m_free_at_first_dma = kernel::zone_free_pages(m_kernel->pages());
    }
    const std::optional<std::string>& panic() const { return m_panic; }
    // The kernel's log, up to the panic if it did not boot.
    const kernel::printk_buffer& log() const { return m_log; }

    void read_phys(kernel::phys_addr_t addr, void* data, std::size_t length) override;
    void write_phys(kernel::phys_addr_t addr, const void* data, std::size_t length) override;
    void fill_phys(kernel::phys_addr_t addr, std::uint8_t value, std::size_t length) override;
    void copy_phys(kernel::phys_addr_t to, kernel::phys_addr_t from, std::size_t length) override;
    unsigned char* direct(kernel::phys_addr_t addr, std::size_t length) override;
    kernel::cpu_context& context() override { return m_context; }
    picoseconds now() const override;
    void write_control(kernel::control_register reg, std::uint64_t value) override;
    void enable_a20() override;
    void flush_tlb_page(std::uint64_t linear) override;
    void flush_tlb_pcid(std::uint16_t pcid) override;
    void flush_tlb_all() override;
    unsigned cpu_count() const override { return 1; }
    bool wait_for_interrupt() override;

    // The kernel's pending cycles onto the core's clock: before anything else it does is timed,
    // and when it returns to the workload.
    void settle();

private:
    void transfer(tlm::tlm_command command, kernel::phys_addr_t addr, void* data, std::size_t length);
    void perform(const traces::op& o);
    // The kernel's DMA layer and drivers, once the page allocator stands (device_initcall).
    void probe_dma_engines();

    hw::cpu_core& m_cpu;
    machine& m_board;
    kernel::kernel_config m_config;
    kernel::mm_costs m_mm_costs;
    kernel::cpu_context m_context;
    sc_core::sc_time m_period;
    kernel::printk_buffer m_log;
    std::unique_ptr<kernel::kernel_state> m_kernel;
    std::unique_ptr<kernel::slab_allocator> m_slab;
    std::unique_ptr<kernel::vmalloc_space> m_vmalloc;
    std::unique_ptr<kernel::highmem> m_highmem;
    std::unique_ptr<kernel::process_table> m_processes;
    std::unique_ptr<kernel::dma_api> m_dma;
    std::vector<std::unique_ptr<kernel::memsim_dma>> m_dma_drivers;
    std::vector<kernel::memsim_dma_resource> m_dma_resources;
    std::vector<kernel::zone_free> m_free_after_boot;
    std::vector<kernel::zone_free> m_free_at_first_dma;
    std::optional<std::string> m_panic;
};

}  // namespace memsim::platform
