#include "platform/run.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "base/error.h"
#include "base/log.h"
#include "base/stats.h"
#include "hw/sim_time.h"
#include "platform/assembly.h"
#include "platform/config.h"
#include "platform/dma_report.h"
#include "platform/kernel_machine.h"
#include "platform/kernel_report.h"
#include "platform/kernel_services.h"
#include "platform/machine.h"
#include "platform/output.h"
#include "platform/proc_files.h"
#include "platform/process_report.h"
#include "platform/trap_report.h"
#include "traces/workload.h"

namespace memsim::platform {
namespace {

namespace fs = std::filesystem;

machine_config load(const run_options& o) {
    if (o.config_path) return load_config_file(*o.config_path, o.sets);
    return load_config_text(default_config_text(), default_config_name, o.sets);
}

// Made before the simulation starts, so a bad --out fails fast and writes nothing.
fs::path prepare_out_dir(const std::string& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir))
        throw user_error(source_location{dir},
                         fmt::format("cannot create output directory: {}", ec.message()));
    return dir;
}

std::string describe_machine(const machine_config& c) {
    std::string text =
        fmt::format("machine: {}, {} RAM, bus {} x {} B, quantum {}, seed {}\n", to_string(c.profile),
                    format_size(c.ram.size), format_frequency(c.bus.frequency_hz), c.bus.width_bytes,
                    format_time(c.sim.quantum), c.sim.seed);
    for (const ram_region& r : c.ram.regions)
        text += fmt::format("  ram      {:#018x}-{:#018x}  {}\n", r.base, r.base + r.size - 1,
                            format_size(r.size));
    for (const dma_engine_config& d : c.dma_engines)
        text += fmt::format("  {:<8} {:#018x}-{:#018x}  dma_engine, {}-bit reach, irq {}\n", d.name, d.base,
                            d.base + d.size - 1, d.reach_bits, d.irq);
    return text;
}

std::uint64_t counter(const stats::registry& stats, std::string_view name) {
    return stats.value(name).value_or(0);
}

double percent(std::uint64_t part, std::uint64_t whole) { return whole ? 100.0 * part / whole : 0.0; }

// What the workload did, and what the TLBs and the walker made of it.
std::string describe_cpu_run(const traces::workload& work, const hw::cpu_core& cpu, const trap_report& traps,
                             const machine_config& c, const stats::registry& stats) {
    std::string text = fmt::format("workload {}: {} of {} operations{}\n", work.name, cpu.ops_done(),
                                   work.ops.size(), cpu.finished() ? "" : ", stopped");
    if (traps.ending()) text += fmt::format("  stopped by a {}\n", *traps.ending());
    text += fmt::format("  {:<10}{:>12}{:>12}{:>12}{:>9}\n", "tlb", "lookups", "hits", "misses", "hit %");
    for (const mmu::tlb_level_config& level : c.mmu.tlbs.levels) {
        for (const mmu::tlb_array_config& a : level.arrays) {
            std::string prefix = "cpu.tlb." + a.name + ".";
            std::uint64_t lookups = counter(stats, prefix + "lookups"),
                          hits = counter(stats, prefix + "hits");
            text += fmt::format("  {:<10}{:>12}{:>12}{:>12}{:>8.2f}%\n", a.name, lookups, hits,
                                counter(stats, prefix + "misses"), percent(hits, lookups));
        }
    }
    const stats::histogram* cycles = stats.find_histogram("cpu.walk_cycles");
    std::uint64_t walks = counter(stats, "cpu.walker.walks");
    text += fmt::format(
        "  walks {}, {:.2f} memory references and {:.1f} cycles each; page faults {}\n", walks,
        walks ? double(counter(stats, "cpu.walker.reads") + counter(stats, "cpu.walker.writes")) / walks
              : 0.0,
        cycles && cycles->samples() ? double(cycles->sum()) / cycles->samples() : 0.0,
        counter(stats, "cpu.page_faults"));
    return text;
}

}  // namespace

int run_machine(const run_options& options) {
    machine_config config = load(options);
    // Without a workload: the built-in one (processes, then a driver's DMA).
    traces::workload work = options.workload_path ? traces::load_workload(*options.workload_path)
                                                  : traces::parse_text(std::string(default_workload_text()),
                                                                       default_workload_name);

    std::vector<std::string> devices;
    for (const dma_engine_config& e : config.dma_engines) devices.push_back(e.name);
    traces::check_devices(work, devices);

    assembly m(config);
    // A workload of memory operations owns the machine from reset (its own page tables and mode
    // switches); one with kernel operations runs on the booted kernel.
    std::unique_ptr<kernel_machine> host;
    std::unique_ptr<kernel_services> services;
    m.cpu.load(work);
    if (work.needs_kernel()) {
        host = std::make_unique<kernel_machine>(m.cpu, m.board, config);
        m.cpu.set_firmware(host.get());
        services = std::make_unique<kernel_services>(*host, m.traps, work);
        m.cpu.set_trap_handler(services.get());
    }
    // Only once the machine stands, so a config it cannot build leaves nothing behind.
    std::optional<fs::path> out;
    if (options.out_dir) out = prepare_out_dir(*options.out_dir);

    auto host_began = std::chrono::steady_clock::now();
    sc_core::sc_start();
    std::chrono::duration<double> host_time = std::chrono::steady_clock::now() - host_began;
    m.stats.add_counter("sim.time_ps", "Simulated time at the end of the run (ps)").value =
        sc_core::sc_time_stamp().value();
    if (host) {
        add_kernel_stats(m.stats, *host);
        add_process_stats(m.stats, *host);
        add_dma_stats(m.stats, *host);
    }

    fmt::print("{}{}{}{}{}", describe_machine(config), host ? describe_kernel(*host) : "",
               describe_cpu_run(work, m.cpu, m.traps, config, m.stats), host ? describe_processes(*host) : "",
               host ? describe_dma(*host, m.stats) : "");
    fmt::print(
        "simulated {} in {:.3f} s of host time; bus: {} transactions, {} bytes, {} waiting; overreach: {}\n",
        format_duration(sc_core::sc_time_stamp().value()), host_time.count(),
        counter(m.stats, "bus.transactions"), counter(m.stats, "bus.bytes"),
        format_duration(counter(m.stats, "bus.wait_ps")), counter(m.stats, "bus.overreach"));
    if (out) {
        m.write_outputs(*out, config, host.get());
        fmt::print("outputs: {}/{{stats.json, stats.txt, dmesg.log, config.yaml{}}}\n", out->string(),
                   host && host->kernel() ? ", proc/" : "");
    }
    return host && host->panic() ? 1 : 0;
}

int boot_machine(const run_options& options, const std::optional<std::string>& proc) {
    machine_config config = load(options);
    if (proc) check_proc_name(*proc);
    assembly m(config);
    kernel_machine host(m.cpu, m.board, config);
    m.cpu.set_firmware(&host);
    std::optional<fs::path> out;
    if (options.out_dir) out = prepare_out_dir(*options.out_dir);

    sc_core::sc_start();
    add_kernel_stats(m.stats, host);
    fmt::print("{}", proc && host.kernel() ? proc_file(host, config, *proc) : host.log().dmesg());
    if (out) m.write_outputs(*out, config, &host);
    if (!host.panic()) return 0;
    fmt::print(stderr, "memsim: kernel panic: {}\n", *host.panic());
    return 1;
}

}  // namespace memsim::platform
