#include "platform/kernel_services.h"

#include <fmt/format.h>

namespace memsim::platform {

kernel_services::kernel_services(kernel_machine& host, trap_report& traps, const traces::workload& work)
    : m_host(host), m_traps(traps), m_handles(work.handles.size()) {}

bool kernel_services::fault(hw::cpu_core&, const hw::fault_report& report) {
    if (kernel::kernel_state* k = m_host.kernel(); k && report.vector == 14)
        k->log().print(m_host.now(), kernel::kern_level::alert,
                       fmt::format("BUG: unable to handle page fault for address: {:016x}", report.cr2));
    return m_traps.refuse(fmt::format("{} in operation {} ({}): a kernel oops", describe(report),
                                      report.op_index + 1, traces::to_text(report.op)));
}

std::uint64_t kernel_services::handle_address(std::int32_t handle) const {
    return m_handles[static_cast<std::size_t>(handle)].address;
}

bool kernel_services::service(hw::cpu_core& cpu, const traces::op& o) {
    if (!m_host.kernel()) return m_traps.service(cpu, o);  // the boot panicked
    using traces::op_kind;
    switch (o.kind) {
        case op_kind::alloc_pages:
            alloc_pages(o);
            break;
        case op_kind::free_pages:
            free_pages(o);
            break;
        case op_kind::vmalloc:
            at(o.handle) = {m_host.vmalloc()->vmalloc(o.address), nullptr, 0};
            break;
        case op_kind::vfree:
            m_host.vmalloc()->vfree(at(o.handle).address);
            break;
        case op_kind::kmap:
            kmap(o);
            break;
        case op_kind::kunmap:
            kunmap(o);
            break;
        default:
            return m_traps.refuse(
                fmt::format("kernel operation '{}' this kernel does not serve yet", traces::to_text(o)));
    }
    m_host.settle();
    return true;
}

// A failed allocation is the kernel's answer, not the workload's end: the handle is NULL, and
// an access through it faults as a driver's would.
void kernel_services::alloc_pages(const traces::op& o) {
    kernel::page_allocator& pages = m_host.kernel()->pages();
    kernel::page* block = pages.alloc_pages(static_cast<kernel::gfp_t>(o.value), o.size);
    bool high = block && pages.page_zone(block).type == kernel::zone_type::highmem;
    at(o.handle) = {block && !high ? pages.page_address(block) : 0, block, o.size};
}

void kernel_services::free_pages(const traces::op& o) {
    handle& h = at(o.handle);
    if (h.block) m_host.kernel()->pages().__free_pages(h.block, h.order);
}

// kmap of the block's first page: a pkmap address for a HighMem page on i386, the direct-map
// address otherwise (x86_64 has no high memory: kmap is page_address).
void kernel_services::kmap(const traces::op& o) {
    kernel::page* block = at(static_cast<std::int32_t>(o.value)).block;
    std::uint64_t address = 0;
    if (block)
        address =
            m_host.highmem() ? m_host.highmem()->kmap(block) : m_host.kernel()->pages().page_address(block);
    at(o.handle) = {address, block, 0};
}

void kernel_services::kunmap(const traces::op& o) {
    kernel::page* block = at(o.handle).block;
    if (block && m_host.highmem()) m_host.highmem()->kunmap(block);
}
}  // namespace memsim::platform
