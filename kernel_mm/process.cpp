#include "kernel_mm/process.h"

#include <fmt/format.h>

namespace memsim::kernel {
namespace {

// The break a small non-PIE program starts with: text at the ELF base (0x400000, 0x08048000),
// its data a page above.
std::uint64_t start_brk_for(kernel_arch arch) { return arch == kernel_arch::x86_64 ? 0x601000 : 0x0804a000; }

// arch/x86/include/asm/page_{32,64}_types.h THREAD_SIZE_ORDER: 16 KiB on x86_64, 8 KiB on i386.
unsigned thread_size_order(kernel_arch arch) { return arch == kernel_arch::x86_64 ? 2 : 1; }

constexpr int sigsegv = 11;
constexpr int sigkill = 9;
constexpr int eagain = 11;
constexpr int esrch = 3;

}  // namespace

process_table::process_table(kernel_state& kernel, machine_ops& machine, const mm_costs& costs,
                             picoseconds cycle)
    : m_kernel(kernel), m_machine(machine), m_services(machine, kernel.pages(), kernel.swapper_pg_dir()) {
    const kernel_config& c = kernel.config();
    m_services.zero_page = c.image.empty_zero_page();
    m_services.layout = mm_layout_for(c.arch);
    m_services.layout.overcommit_pages = kernel.pages().totalram_pages();  // no swap
    m_services.nx = c.arch == kernel_arch::x86_64 || c.pae;
    m_services.costs = costs;
    m_services.cycle = cycle;
    m_machine.fill_phys(m_services.zero_page, 0, vm_page_size);
    m_kernel_tables = kernel.swapper_pg_dir().tables();
}

// The machine powers off with the tasks still running: nothing is given back to it.
process_table::~process_table() { m_services.powering_off = true; }

void process_table::count(const char* name, bool failed) {
    syscall_stats& s = m_syscalls[name];
    ++s.calls;
    s.errors += failed;
    m_machine.context().cycles += m_services.costs.syscall;
}

// alloc_thread_stack_node: THREADINFO_GFP (GFP_KERNEL_ACCOUNT | __GFP_ZERO) pages of
// THREAD_SIZE, counted in NR_KERNEL_STACK_KB. (Debian's x86_64 kernels vmap their stacks from
// order-0 pages; the page count is the same.)
page* process_table::alloc_thread_stack() {
    const unsigned order = thread_size_order(m_kernel.config().arch);
    page* stack = m_kernel.pages().alloc_pages(GFP_KERNEL_ACCOUNT | __GFP_ZERO, order);
    if (stack) m_kernel.pages().node_state().nr_kernel_stack_kb += (vm_page_size << order) / 1024;
    return stack;
}

void process_table::free_thread_stack(task_struct& task) {
    if (!task.stack) return;
    const unsigned order = thread_size_order(m_kernel.config().arch);
    m_kernel.pages().node_state().nr_kernel_stack_kb -= (vm_page_size << order) / 1024;
    m_kernel.pages().__free_pages(task.stack, order);
    task.stack = nullptr;
}

std::vector<zone_free> zone_free_pages(const page_allocator& pages) {
    std::vector<zone_free> zones;
    for (const pglist_data& node : pages.nodes())
        for (const zone& z : node.zones) {
            if (!z.present_pages) continue;
            std::uint64_t free = z.counters.nr_free_pages;
            for (const per_cpu_pages& pcp : z.pcp) free += pcp.count;
            zones.push_back({z.node, z.type, free});
        }
    return zones;
}

task_struct* process_table::create(int pid) {
    if (m_tasks.empty()) m_free_before = zone_free_pages(m_kernel.pages());
    std::unique_ptr<mm_struct> mm = mm_struct::create(m_services);
    if (!mm) return nullptr;
    if (mm->areas().setup_stack() != 0) return nullptr;
    mm->areas().set_brk_base(start_brk_for(m_kernel.config().arch));
    page* stack = alloc_thread_stack();
    if (!stack) return nullptr;
    task_struct& task = m_tasks[pid];
    task.pid = pid;
    task.comm = fmt::format("task{}", pid);
    task.mm = std::move(mm);
    task.stack = stack;
    return &task;
}

bool process_table::switch_to(int pid) {
    if (pid == 0) {
        switch_mm(nullptr);
        set_current(nullptr);
        return true;
    }
    auto it = m_tasks.find(pid);
    task_struct* next = it != m_tasks.end() ? &it->second : create(pid);
    if (!next || next->exited) return false;
    if (next != m_current) {
        ++m_switches;
        m_machine.context().cycles += m_services.costs.context_switch;
    }
    set_current(next);
    switch_mm(next->mm.get());
    return true;
}

// `current`, and the name the allocator's reports give it ("swapper/0" when no task runs).
void process_table::set_current(task_struct* task) {
    m_current = task;
    m_kernel.pages().set_current_comm(task ? task->comm : "swapper/0", task != nullptr, task ? task->pid : 0);
}

// switch_mm_irqs_off (arch/x86/mm/tlb.c): with PCIDs, choose_new_asid keeps an mm's ASID while
// one of the TLB_NR_DYN_ASIDS slots still holds it and its TLB generation is current (CR3 with
// the no-flush bit); otherwise the next slot in turn, flushed. Without PCIDs CR3 flushes.
void process_table::switch_mm(mm_struct* next) {
    mm_services& s = m_services;
    if (next == s.loaded) return;
    s.loaded = next;
    if (!next) {
        s.loaded_asid = 0;
        s.loaded_pcid = 0;
        m_machine.write_control(control_register::cr3, m_kernel.cr3());
        return;
    }
    const bool pcid = m_kernel.config().arch == kernel_arch::x86_64 && m_kernel.config().pcid;
    if (!pcid) {
        m_machine.write_control(control_register::cr3, next->pgd().root());
        return;
    }
    bool flush = true;
    unsigned asid = 0;
    for (; asid < s.asids.size(); ++asid)
        if (s.asids[asid].ctx_id == next->ctx_id()) {
            flush = s.asids[asid].tlb_gen < next->tlb_gen();
            break;
        }
    if (asid == s.asids.size()) {
        asid = s.next_asid++;
        if (asid >= s.asids.size()) {
            asid = 0;
            s.next_asid = 1;
        }
    }
    s.asids[asid] = {next->ctx_id(), next->tlb_gen()};
    s.loaded_asid = asid;
    s.loaded_pcid = static_cast<std::uint16_t>(asid + 1);  // kern_pcid: PCID 0 is not an ASID's
    constexpr std::uint64_t noflush = 1ull << 63;          // CR3_NOFLUSH
    m_machine.write_control(control_register::cr3,
                            next->pgd().root() | s.loaded_pcid | (flush ? 0 : noflush));
}

std::int64_t process_table::mmap(std::uint64_t addr, std::uint64_t len, int prot, int flags) {
    std::int64_t r = m_current ? m_current->mm->mmap(addr, len, prot, flags) : -esrch;
    count("mmap", r < 0);
    // MAP_POPULATE that ran out of memory: the OOM killer takes the task.
    if (m_current && m_current->mm->take_oom()) oom_kill(*m_current);
    return r;
}

int process_table::munmap(std::uint64_t addr, std::uint64_t len) {
    int r = m_current ? m_current->mm->munmap(addr, len) : -esrch;
    count("munmap", r < 0);
    return r;
}

int process_table::mprotect(std::uint64_t addr, std::uint64_t len, int prot) {
    int r = m_current ? m_current->mm->mprotect(addr, len, prot) : -esrch;
    count("mprotect", r < 0);
    return r;
}

std::uint64_t process_table::brk(std::uint64_t addr) {
    if (!m_current) {
        count("brk", true);
        return 0;
    }
    const std::uint64_t r = m_current->mm->brk(addr);
    count("brk", addr != 0 && r != addr);
    return r;
}

int process_table::fork(int child) {
    int r = child;
    if (!m_current)
        r = -esrch;
    else if (child <= 0 || child >= pid_max_limit || m_tasks.count(child))
        r = -eagain;
    count("fork", r < 0);
    if (r < 0) return r;
    std::unique_ptr<mm_struct> mm = m_current->mm->dup();
    page* stack = mm ? alloc_thread_stack() : nullptr;
    if (!stack) {
        m_syscalls["fork"].errors++;
        return -enomem;
    }
    task_struct& task = m_tasks[child];
    task.pid = child;
    task.comm = m_current->comm;
    task.mm = std::move(mm);
    task.stack = stack;
    return child;
}

void process_table::exit(int code) {
    count("exit", false);
    if (!m_current) return;
    m_current->exit_code = code;
    do_exit(*m_current);
}

// do_exit: the address space goes (exit_mm; the CPU leaves its tables first), then the stack.
void process_table::do_exit(task_struct& task) {
    if (m_current == &task) {
        switch_mm(nullptr);
        set_current(nullptr);
    }
    if (task.mm) {
        task.min_flt = task.mm->min_flt();
        task.mm.reset();
    }
    free_thread_stack(task);
    task.exited = true;
}

fault_outcome process_table::page_fault(std::uint64_t addr, std::uint32_t error_code) {
    if (!m_current || !(error_code & pf::user) || (error_code & pf::rsvd)) return fault_outcome::kernel_oops;
    task_struct& task = *m_current;
    fault_result r = task.mm->handle_fault(addr, error_code);
    if (r.resolved) return fault_outcome::retry;
    if (r.oom) return oom_kill(task);
    show_signal_msg(task, addr, error_code);
    return kill_with_segv(task, addr, r.segv);
}

// pagefault_out_of_memory / out_of_memory: the OOM killer's victim is the task whose fault or
// system call ran out (Linux would pick the largest task; with one running, it is this one).
fault_outcome process_table::oom_kill(task_struct& task) {
    ++m_oom_kills;
    m_kernel.log().print(
        m_machine.now(), kern_level::err,
        fmt::format("Out of memory: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB", task.pid, task.comm,
                    task.mm->areas().total_vm() * 4, task.mm->anon_pages() * 4));
    task.exit_signal = sigkill;
    do_exit(task);
    return fault_outcome::signalled;
}

// The default action of SIGSEGV: the task dies and gives everything back.
fault_outcome process_table::kill_with_segv(task_struct& task, std::uint64_t addr, segv_code code) {
    ++m_segfaults;
    task.exit_signal = sigsegv;
    task.segv_addr = addr;
    task.segv = code;
    do_exit(task);
    return fault_outcome::signalled;
}

// arch/x86/kernel/traps.c show_signal, under the same limit as the page-fault messages.
fault_outcome process_table::general_protection(const char* what) {
    if (!m_current) return fault_outcome::kernel_oops;
    task_struct& task = *m_current;
    if (m_segv_shown++ < 10)
        m_kernel.log().print(m_machine.now(), kern_level::info,
                             fmt::format("traps: {}[{}] general protection fault ip:0 sp:{:x} error:0 ({})",
                                         task.comm, task.pid, task.mm->areas().start_stack(), what));
    return kill_with_segv(task, 0, segv_code::kernel);
}

// show_signal_msg (arch/x86/mm/fault.c), under printk_ratelimit (10 messages): no instruction
// or stack pointer is modelled, so ip is 0 and sp the stack's start. A kernel address reads as a
// protection fault (sanitize_error_code).
void process_table::show_signal_msg(const task_struct& task, std::uint64_t addr, std::uint32_t error_code) {
    if (m_segv_shown++ >= 10) return;
    if (addr >= m_services.layout.task_size) error_code |= pf::prot;
    const unsigned width = m_kernel.config().arch == kernel_arch::x86_64 ? 16 : 8;
    m_kernel.log().print(
        m_machine.now(), task.pid > 1 ? kern_level::info : kern_level::emerg,
        fmt::format("{}[{}]: segfault at {:x} ip {:0{}x} sp {:0{}x} error {:x}", task.comm, task.pid, addr, 0,
                    width, task.mm->areas().start_stack(), width, error_code));
}

void process_table::sync_kernel_mappings() {
    page_table& kernel = m_kernel.swapper_pg_dir();
    if (kernel.mode() != mmu::paging_mode::bits32 || kernel.tables() == m_kernel_tables) return;
    m_kernel_tables = kernel.tables();
    for (auto& [pid, task] : m_tasks)
        if (task.mm) task.mm->clone_kernel_half();
}

}  // namespace memsim::kernel
