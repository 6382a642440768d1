// Processes (kernel/fork.c, kernel/exit.c, arch/x86/mm/tlb.c): tasks with their address space
// and kernel stack, the scheduler's switch between them (CR3 with a PCID from the per-CPU
// dynamic ASIDs), fork, exit, the system calls on the running task, and the page-fault entry
// that resolves a fault or delivers SIGSEGV.
//
// Invariants: at most one task runs; the CPU's CR3 holds the running task's top-level table,
// or swapper_pg_dir when none runs; a task that exited holds no memory.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernel_mm/mm.h"
#include "kernel_mm/printk.h"
#include "kernel_mm/start_kernel.h"

namespace memsim::kernel {

// include/linux/sched.h PID_MAX_LIMIT on 64-bit kernels.
inline constexpr int pid_max_limit = 4 * 1024 * 1024;

struct task_struct {
    int pid = 0;
    std::string comm;
    std::unique_ptr<mm_struct> mm;
    page* stack = nullptr;  // THREAD_SIZE of kernel stack
    // The signal that ended it: SIGSEGV (11) with its address and si_code, or 0.
    int exit_signal = 0;
    std::uint64_t segv_addr = 0;
    segv_code segv = segv_code::none;
    int exit_code = 0;
    bool exited = false;
    std::uint64_t min_flt = 0;  // the address space's count when it exited
};

// Free pages of each populated zone, the per-CPU lists' included: what every process's exit
// must give back.
struct zone_free {
    int node = 0;
    zone_type type = zone_type::normal;
    std::uint64_t pages = 0;
};
std::vector<zone_free> zone_free_pages(const page_allocator& pages);

// What the fault handler decided.
enum class fault_outcome {
    retry,        // resolved: run the access again
    signalled,    // the task got SIGSEGV (or was killed for want of memory) and is gone
    kernel_oops,  // not a user fault this handler can resolve
};

// Counts the system calls and their failures, by name.
struct syscall_stats {
    std::uint64_t calls = 0;
    std::uint64_t errors = 0;
};

class process_table {
public:
    process_table(kernel_state& kernel, machine_ops& machine, const mm_costs& costs, picoseconds cycle);
    ~process_table();
    process_table(const process_table&) = delete;
    process_table& operator=(const process_table&) = delete;

    // `process PID`: run that task from now on, creating it (an empty program: a stack and a
    // heap base) when it does not exist; 0 runs the kernel alone (swapper_pg_dir). False when a
    // new task found no memory or the pid belongs to a task that exited.
    bool switch_to(int pid);
    task_struct* current() { return m_current; }
    const std::map<int, task_struct>& tasks() const { return m_tasks; }

    // The system calls on the running task, with Linux's results.
    std::int64_t mmap(std::uint64_t addr, std::uint64_t len, int prot, int flags);
    int munmap(std::uint64_t addr, std::uint64_t len);
    int mprotect(std::uint64_t addr, std::uint64_t len, int prot);
    std::uint64_t brk(std::uint64_t addr);
    // fork: the child's pid, or -EAGAIN when the pid is taken, -ENOMEM when memory ran out.
    int fork(int child);
    // exit: the running task ends and frees everything; the kernel runs next.
    void exit(int code);

    // A page fault the running task's access raised.
    fault_outcome page_fault(std::uint64_t addr, std::uint32_t error_code);
    // A #GP the running task raised in user mode (a privileged instruction, a non-canonical
    // address): SIGSEGV with SI_KERNEL (do_general_protection). `what` says why, for the log.
    fault_outcome general_protection(const char* what);

    const mm_services& services() const { return m_services; }
    const std::map<std::string, syscall_stats>& syscalls() const { return m_syscalls; }
    std::uint64_t segfaults() const { return m_segfaults; }
    std::uint64_t context_switches() const { return m_switches; }
    std::uint64_t oom_kills() const { return m_oom_kills; }
    // The zones' free pages when the first process was created (empty before).
    const std::vector<zone_free>& free_before() const { return m_free_before; }
    // The kernel half of every task's top level again from swapper_pg_dir, where 2-level i386
    // added kernel tables since (arch_sync_kernel_mappings); a no-op elsewhere.
    void sync_kernel_mappings();

private:
    task_struct* create(int pid);
    page* alloc_thread_stack();
    void free_thread_stack(task_struct& task);
    void switch_mm(mm_struct* next);
    void set_current(task_struct* task);
    void do_exit(task_struct& task);
    void count(const char* name, bool failed);
    void show_signal_msg(const task_struct& task, std::uint64_t addr, std::uint32_t error_code);
    fault_outcome kill_with_segv(task_struct& task, std::uint64_t addr, segv_code code);
    fault_outcome oom_kill(task_struct& task);

    kernel_state& m_kernel;
    machine_ops& m_machine;
    mm_services m_services;
    std::map<int, task_struct> m_tasks;
    task_struct* m_current = nullptr;
    std::map<std::string, syscall_stats> m_syscalls;
    std::uint64_t m_segfaults = 0;
    std::uint64_t m_switches = 0;
    std::uint64_t m_oom_kills = 0;
    std::uint64_t m_kernel_tables = 0;  // swapper_pg_dir's tables at the last sync
    unsigned m_segv_shown = 0;
    std::vector<zone_free> m_free_before;
};

}  // namespace memsim::kernel
