#include "platform/kernel_services.h"

#include <algorithm>

#include <fmt/format.h>

namespace memsim::platform {

// The workload names devices as the config does (traces::check_devices has matched them).
kernel_services::kernel_services(kernel_machine& host, trap_report& traps, const traces::workload& work)
    : m_host(host), m_traps(traps), m_names(work.handles), m_handles(work.handles.size()) {
    const std::vector<kernel::memsim_dma_resource>& engines = host.dma_resources();
    for (const std::string& name : work.devices) {
        auto named = [&](const kernel::memsim_dma_resource& r) { return r.name == name; };
        m_engines.push_back(
            static_cast<std::size_t>(std::find_if(engines.begin(), engines.end(), named) - engines.begin()));
    }
}

// The trap enters ring 0; IRET returns to the process (arch/x86/entry). A #GP in user mode is
// SIGSEGV (do_general_protection), as is a page fault the handler refuses.
bool kernel_services::fault(hw::cpu_core& cpu, const hw::fault_report& report) {
    kernel::process_table* procs = m_host.processes();
    if (procs && procs->current() && cpu.user_mode() && (report.vector == 14 || report.vector == 13)) {
        run_as(cpu, false);
        kernel::fault_outcome outcome = report.vector == 14 ? procs->page_fault(report.cr2, report.error_code)
                                                            : procs->general_protection(report.cause);
        m_host.settle();
        if (outcome == kernel::fault_outcome::retry) {
            run_as(cpu, true);
            return true;
        }
        cpu.abandon_process();
        return false;
    }
    if (kernel::kernel_state* k = m_host.kernel(); k && report.vector == 14)
        k->log().print(m_host.now(), kernel::kern_level::alert,
                       fmt::format("BUG: unable to handle page fault for address: {:016x}", report.cr2));
    return m_traps.refuse(fmt::format("{} in operation {} ({}): a kernel oops", describe(report),
                                      report.op_index + 1, traces::to_text(report.op)));
}

std::uint64_t kernel_services::handle_address(std::int32_t handle) const {
    return m_handles[static_cast<std::size_t>(handle)].address;
}

// A kernel operation runs in ring 0 (a system call's entry) and returns to the running
// process, if any, in ring 3.
bool kernel_services::service(hw::cpu_core& cpu, const traces::op& o) {
    if (!m_host.kernel()) return m_traps.service(cpu, o);  // the boot panicked
    run_as(cpu, false);
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
            if (!slab_op(o) && !process_op(cpu, o) && !dma_op(o))
                return m_traps.refuse(
                    fmt::format("kernel operation '{}' this kernel does not serve yet", traces::to_text(o)));
    }
    kernel::process_table* procs = m_host.processes();
    procs->sync_kernel_mappings();
    m_host.settle();
    run_as(cpu, procs->current() != nullptr);
    return true;
}

// Processes run in user mode (CPL 3), the kernel alone in ring 0.
void kernel_services::run_as(hw::cpu_core& cpu, bool user) {
    traces::op cpl;
    cpl.kind = traces::op_kind::cpl;
    cpl.value = user ? 3 : 0;
    cpu.perform(cpl);
}

// A system call's errno is the process's answer, counted in the kernel's statistics; a process
// that cannot be created or run (no memory, or it exited) has its operations skipped.
bool kernel_services::process_op(hw::cpu_core& cpu, const traces::op& o) {
    using traces::op_kind;
    kernel::process_table& procs = *m_host.processes();
    const int value = static_cast<int>(o.value);
    switch (o.kind) {
        case op_kind::process:
            if (!procs.switch_to(value)) {
                m_host.kernel()->log().print(
                    m_host.now(), kernel::kern_level::warning,
                    fmt::format("memsim: process {} cannot run: it exited or no memory "
                                "was left to create it; its operations are skipped",
                                value));
                cpu.abandon_process();
            }
            return true;
        case op_kind::mmap: {
            const kernel::task_struct* caller = procs.current();
            at(o.handle) = {
                static_cast<std::uint64_t>(procs.mmap(o.address, o.value, o.size, static_cast<int>(o.flags))),
                nullptr, 0, nullptr};
            if (caller && !procs.current()) cpu.abandon_process();  // MAP_POPULATE's OOM kill
            return true;
        }
        case op_kind::munmap:
            procs.munmap(address_of(o), o.value);
            return true;
        case op_kind::mprotect:
            procs.mprotect(address_of(o), o.value, o.size);
            return true;
        case op_kind::brk:
            procs.brk(address_of(o));
            return true;
        case op_kind::fork:
            procs.fork(value);
            return true;
        case op_kind::exit:
            // What follows until the next `process` was the exited process's: skipped.
            procs.exit(value);
            cpu.abandon_process();
            return true;
        default:
            return false;
    }
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

// The slab allocator's operations; false for an operation that is none of them.
bool kernel_services::slab_op(const traces::op& o) {
    using traces::op_kind;
    kernel::slab_allocator& slab = *m_host.slab();
    auto gfp = [](std::uint64_t v) { return static_cast<kernel::gfp_t>(v); };
    switch (o.kind) {
        case op_kind::kmalloc:
            at(o.handle) = {slab.kmalloc(o.address, gfp(o.value)), nullptr, 0, nullptr};
            return true;
        case op_kind::kfree:
            slab.kfree(at(o.handle).address);
            return true;
        case op_kind::kmem_cache_create: {
            unsigned align = o.size ? 1u << (o.size - 1) : 0;
            kernel::kmem_cache* cache = slab.kmem_cache_create(m_names[static_cast<std::size_t>(o.handle)],
                                                               static_cast<unsigned>(o.address), align,
                                                               static_cast<kernel::slab_flags_t>(o.value));
            at(o.handle) = {0, nullptr, 0, cache};
            return true;
        }
        case op_kind::kmem_cache_alloc: {
            kernel::kmem_cache* cache = at(static_cast<std::int32_t>(o.value)).cache;
            at(o.handle) = {cache ? slab.kmem_cache_alloc(cache, gfp(o.address)) : 0, nullptr, 0, nullptr};
            return true;
        }
        case op_kind::kmem_cache_free:
            if (kernel::kmem_cache* cache = at(static_cast<std::int32_t>(o.value)).cache)
                slab.kmem_cache_free(cache, at(o.handle).address);
            return true;
        case op_kind::kmem_cache_destroy:
            if (kernel::kmem_cache* cache = at(o.handle).cache) slab.kmem_cache_destroy(cache);
            at(o.handle).cache = nullptr;
            return true;
        default:
            return false;
    }
}

void kernel_services::kunmap(const traces::op& o) {
    kernel::page* block = at(o.handle).block;
    if (block && m_host.highmem()) m_host.highmem()->kunmap(block);
}
}  // namespace memsim::platform
