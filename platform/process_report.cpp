#include "platform/process_report.h"

#include <fmt/format.h>

namespace memsim::platform {
namespace {

using kernel::fault_kind;

struct fates {
    std::uint64_t segv = 0, killed = 0, exited = 0, running = 0;
};

fates fates_of(const kernel::process_table& procs) {
    fates f;
    for (const auto& [pid, task] : procs.tasks()) {
        if (!task.exited)
            ++f.running;
        else if (task.exit_signal == 11)
            ++f.segv;
        else if (task.exit_signal)
            ++f.killed;
        else
            ++f.exited;
    }
    return f;
}

std::string zone_label(const kernel::zone_free& z) {
    return fmt::format("{}.{}", z.node, kernel::zone_name(z.type));
}

// kernel.zones.node0.dma32: stats names are lower case.
std::string zone_stat_name(const kernel::zone_free& z) {
    return fmt::format("zones.node{}.{}", z.node, stats::lower_case(kernel::zone_name(z.type)));
}

std::string fault_row(std::string_view name, const stats::histogram& h, picoseconds cycle) {
    double mean = h.samples() ? double(h.sum()) / h.samples() : 0.0;
    return fmt::format("  {:<20}{:>10}{:>14.1f}{:>12.1f}\n", name, h.samples(), mean, mean * cycle / 1000.0);
}

}  // namespace

std::string describe_processes(const kernel_machine& host) {
    const kernel::process_table* procs = host.processes();
    if (!procs || procs->tasks().empty()) return {};
    const kernel::mm_services& s = procs->services();
    fates f = fates_of(*procs);
    std::string text = fmt::format(
        "processes: {} ({} exited, {} killed by SIGSEGV, {} by the OOM killer, {} still running); {} context "
        "switches; pgfault {}\n",
        procs->tasks().size(), f.exited, f.segv, f.killed, f.running, procs->context_switches(),
        host.kernel()->pages().events().pgfault);
    text += fmt::format("  {:<20}{:>10}{:>14}{:>12}   (Linux: ~1 us for a minor anonymous fault)\n", "fault",
                        "count", "mean cycles", "mean ns");
    for (unsigned k = 0; k < kernel::fault_kind_count; ++k)
        if (s.faults.latency[k].samples())
            text += fault_row(kernel::to_string(static_cast<fault_kind>(k)), s.faults.latency[k], s.cycle);
    if (s.faults.page_table_latency.samples())
        text += fault_row("(with page tables)", s.faults.page_table_latency, s.cycle);
    std::vector<kernel::zone_free> after = kernel::zone_free_pages(host.kernel()->pages());
    text += "  free pages by zone, before the first process and at the end:";
    for (std::size_t i = 0; i < after.size() && i < procs->free_before().size(); ++i)
        text +=
            fmt::format(" {} {} -> {}", zone_label(after[i]), procs->free_before()[i].pages, after[i].pages);
    return text + "\n";
}

void add_process_stats(stats::registry& stats, const kernel_machine& host) {
    const kernel::process_table* procs = host.processes();
    if (!procs) return;
    stats::scope k = stats.under("kernel");
    k.add_counter("pgfault", "Page faults the handler took (vmstat pgfault)").value =
        host.kernel()->pages().events().pgfault;
    const kernel::mm_services& s = procs->services();
    for (unsigned i = 0; i < kernel::fault_kind_count; ++i) {
        const char* name = kernel::to_string(static_cast<fault_kind>(i));
        k.add_histogram(fmt::format("faults.{}.cycles", name),
                        fmt::format("Simulated cycles from #PF to the retry, {} faults", name)) =
            s.faults.latency[i];
    }
    k.add_histogram("faults.page_tables.cycles",
                    "Simulated cycles of the faults that allocated page tables") =
        s.faults.page_table_latency;
    k.add_counter("tlb.local_flush_one", "INVLPGs for the running process's unmapped or changed pages")
        .value = s.tlb_local_flush_one;
    k.add_counter("tlb.local_flush_all",
                  "Flushes of the running process's PCID (ranges above 33 pages, fork)")
        .value = s.tlb_local_flush_all;
    fates f = fates_of(*procs);
    k.add_counter("processes.created", "Processes created (new pids and forks)").value =
        procs->tasks().size();
    k.add_counter("processes.segfaults", "Processes killed by SIGSEGV").value = f.segv;
    k.add_counter("processes.oom_kills", "Processes killed for want of memory").value = f.killed;
    k.add_counter("processes.context_switches", "Switches between processes").value =
        procs->context_switches();
    for (const auto& [pid, task] : procs->tasks()) {
        std::string p = fmt::format("processes.{}.", pid);
        k.add_counter(p + "min_flt", "Minor faults of the process").value =
            task.mm ? task.mm->min_flt() : task.min_flt;
        k.add_counter(p + "rss_pages", "Resident pages at the end (0 once exited)").value =
            task.mm ? task.mm->rss() : 0;
        k.add_counter(p + "exit_signal", "The signal that ended it (11: SIGSEGV), 0 if none").value =
            static_cast<std::uint64_t>(task.exit_signal);
        if (task.segv != kernel::segv_code::none) {
            k.add_counter(p + "segv_addr", "The address of its SIGSEGV").value = task.segv_addr;
            k.add_counter(p + "segv_code", "Its si_code: 1 SEGV_MAPERR, 2 SEGV_ACCERR").value =
                static_cast<std::uint64_t>(task.segv);
        }
    }
    for (const auto& [name, calls] : procs->syscalls()) {
        k.add_counter(fmt::format("syscalls.{}.calls", name), "System calls made").value = calls.calls;
        k.add_counter(fmt::format("syscalls.{}.errors", name), "System calls that returned an errno").value =
            calls.errors;
    }
    std::vector<kernel::zone_free> after = kernel::zone_free_pages(host.kernel()->pages());
    for (std::size_t i = 0; i < after.size() && i < procs->free_before().size(); ++i) {
        std::string z = zone_stat_name(after[i]);
        k.add_counter(z + ".free_before", "Free pages (per-CPU lists included) before the first process")
            .value = procs->free_before()[i].pages;
        k.add_counter(z + ".free_after", "Free pages (per-CPU lists included) at the end").value =
            after[i].pages;
    }
}

}  // namespace memsim::platform
