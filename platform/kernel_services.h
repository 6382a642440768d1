// The workload's kernel operations served by the booted kernel, as a driver's calls would be:
// each handle names what an operation gave it (a block of pages, an object, an area, a
// mapping), and `h+offset` accesses reach it through the kernel's page tables. Faults and
// interrupts go on to the trap report.
#pragma once

#include <cstdint>
#include <vector>

#include "hw/cpu_core.h"
#include "platform/kernel_machine.h"
#include "platform/trap_report.h"
#include "traces/workload.h"

namespace memsim::platform {

class kernel_services final : public hw::trap_handler {
public:
    kernel_services(kernel_machine& host, trap_report& traps, const traces::workload& work);
    kernel_services(const kernel_services&) = delete;
    kernel_services& operator=(const kernel_services&) = delete;

    // A user-mode page fault goes to the kernel's fault handler: resolved, the access is retried;
    // a SIGSEGV ends the process and the run goes on. A fault in kernel mode is a kernel oops:
    // logged as Linux logs it, and the run ends.
    bool fault(hw::cpu_core& cpu, const hw::fault_report& report) override;
    // A device's interrupt goes to its driver's handler, in interrupt context and ring 0; one no
    // driver claims goes on to the trap report.
    void interrupt(hw::cpu_core& cpu, unsigned line) override;
    bool service(hw::cpu_core& cpu, const traces::op& o) override;
    std::uint64_t handle_address(std::int32_t handle) const override;

private:
    // A coherent buffer or streaming mapping's device side.
    struct dma_handle {
        kernel::dma_addr_t addr = kernel::DMA_MAPPING_ERROR;
        std::uint64_t size = 0;
        kernel::dma_data_direction dir = kernel::DMA_NONE;
    };
    // What a handle stands for: its kernel virtual address, for a block of pages the block
    // itself (HighMem pages have no address until kmapped), and for DMA its device side.
    struct handle {
        std::uint64_t address = 0;
        kernel::page* block = nullptr;
        unsigned order = 0;
        kernel::kmem_cache* cache = nullptr;  // kmem_cache_create's
        dma_handle dma = {};
    };
    handle& at(std::int32_t id) { return m_handles[static_cast<std::size_t>(id)]; }
    void alloc_pages(const traces::op& o);
    void free_pages(const traces::op& o);
    void kmap(const traces::op& o);
    void kunmap(const traces::op& o);
    bool slab_op(const traces::op& o);
    // The process operations; false for an operation that is none of them.
    bool process_op(hw::cpu_core& cpu, const traces::op& o);
    // The DMA operations, through the device's driver; false for an operation that is none.
    bool dma_op(const traces::op& o);
    void dma_transfer(kernel::memsim_dma& driver, const traces::op& o);
    void run_as(hw::cpu_core& cpu, bool user);
    std::uint64_t address_of(const traces::op& o) const {
        return o.address + (o.handle >= 0 ? handle_address(o.handle) : 0);
    }

    kernel_machine& m_host;
    trap_report& m_traps;
    const std::vector<std::string>& m_names;  // the workload's handle names: a cache's name
    std::vector<handle> m_handles;
    std::vector<std::size_t> m_engines;  // the engine each of workload::devices names
};

}  // namespace memsim::platform
