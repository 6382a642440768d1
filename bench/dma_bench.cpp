// The streaming DMA API's cost, in two parts.
//   1. dma_map_single + dma_unmap_single pairs of 4 KiB (Google Benchmark) on a booted 8 GiB
//      x86_64 kernel on the tests' fake machine, whose swiotlb is the boot-time 64 MiB pool: a
//      buffer below 4 GiB mapped in place, and buffers above 4 GiB bounced (DMA_TO_DEVICE copies
//      in at map, DMA_FROM_DEVICE copies back at unmap), each in host nanoseconds and in the
//      simulated cycles the kernel charged (the counter sim_cycles_per_pair), beside a plain
//      memcpy of 4 KiB between host buffers in the same run (what a bounce's copy costs the host
//      at least). The fake machine does not time memory copies: its cycles are those of the DMA
//      API's and the swiotlb's code alone; the platform's figures come from part 2.
//   2. `memsim run` in child processes (SystemC allows one elaboration per process) of a 16 GiB
//      x86_64 PC with one 32-bit PCI DMA engine (experiments/2-bounce-buffers/config.yaml): two
//      64 KiB buffers, then N rounds of map src to_device, map dst from_device, a 64 KiB
//      transfer, unmap dst, unmap src; N = 16384 (1 GiB) or with `--quick` 1024 (64 MiB). Buffers
//      from GFP_KERNEL land above 4 GiB (every mapping bounced), from GFP_DMA32 below (mapped in
//      place). A run of the same workload without the rounds is the boot and output every run
//      pays, taken off both the simulated and the host time.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <systemc>

#include "base/units.h"
#include "bench/memsim_run.h"
#include "kernel_mm/dma/mapping.h"
#include "kernel_mm/gfp.h"
#include "platform/run.h"
#include "tests/kernel_mm/booted_kernel.h"
#include "traces/workload.h"

namespace {

using namespace memsim;
namespace fs = std::filesystem;
using traces::op_kind;

constexpr std::uint64_t buffer_bytes = 4096;

// ---- Part 1: map/unmap pairs on the fake machine -------------------------------------------

// A booted 8 GiB PC (RAM above 4 GiB, so the kernel sets up its 64 MiB swiotlb), the DMA API
// over it as the platform builds it, and a PCI device with the default 32-bit masks.
struct dma_machine : kernel::testing::booted_kernel {
    kernel::dma_api dma;
    kernel::device dev;

    dma_machine() : booted_kernel(kernel::kernel_arch::x86_64, 8 * GiB), dma(*kernel, machine) {
        dma.set_swiotlb(kernel->swiotlb());
        dev.name = "0000:00:03.0";
        dev.driver = "bench";
        dev.bus = "pci";
    }
};

void host_memcpy_4k(benchmark::State& state) {
    std::vector<unsigned char> from(buffer_bytes, 1), to(buffer_bytes);
    for (auto _ : state) {
        benchmark::DoNotOptimize(from.data());
        std::memcpy(to.data(), from.data(), buffer_bytes);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buffer_bytes));
}
BENCHMARK(host_memcpy_4k);

// dma_map_single + dma_unmap_single of one 4 KiB page, below 4 GiB (in place) or above (bounced).
void dma_map_unmap_4k(benchmark::State& state, bool above_4g, kernel::dma_data_direction dir) {
    dma_machine m;
    if (!m.dma.swiotlb()) {
        state.SkipWithError("the kernel set up no swiotlb");
        return;
    }
    kernel::page_allocator& pages = m.kernel->pages();
    kernel::page* p =
        pages.alloc_pages(above_4g ? kernel::GFP_KERNEL : kernel::GFP_KERNEL | kernel::GFP_DMA32, 0);
    if (!p || (pages.page_to_phys(p) >= 4 * GiB) != above_4g) {
        state.SkipWithError(above_4g ? "no page above 4 GiB" : "no page below 4 GiB");
        return;
    }
    std::uint64_t cpu_addr = pages.page_address(p);
    const kernel::dma_device_stats& s = m.dev.dma_stats;
    std::uint64_t cycles_before = m.machine.cpu.cycles;
    std::uint64_t copied_before = s.bounced_to_device_bytes + s.bounced_from_device_bytes;
    std::uint64_t bounced_before = s.bounced_maps;
    for (auto _ : state) {
        kernel::dma_addr_t addr = m.dma.dma_map_single(m.dev, cpu_addr, buffer_bytes, dir);
        benchmark::DoNotOptimize(addr);
        m.dma.dma_unmap_single(m.dev, addr, buffer_bytes, dir);
    }
    auto pairs = static_cast<double>(state.iterations());
    std::uint64_t bounced = s.bounced_maps - bounced_before;
    if (s.mapping_errors || bounced != (above_4g ? static_cast<std::uint64_t>(state.iterations()) : 0)) {
        state.SkipWithError(fmt::format("{} of {} mappings bounced, {} mapping errors", bounced,
                                        state.iterations(), s.mapping_errors)
                                .c_str());
        return;
    }
    state.counters["sim_cycles_per_pair"] = double(m.machine.cpu.cycles - cycles_before) / pairs;
    state.counters["copied_bytes_per_pair"] =
        double(s.bounced_to_device_bytes + s.bounced_from_device_bytes - copied_before) / pairs;
}
BENCHMARK_CAPTURE(dma_map_unmap_4k, in_place_to_device, false, kernel::DMA_TO_DEVICE);
BENCHMARK_CAPTURE(dma_map_unmap_4k, in_place_from_device, false, kernel::DMA_FROM_DEVICE);
BENCHMARK_CAPTURE(dma_map_unmap_4k, bounced_to_device, true, kernel::DMA_TO_DEVICE);
BENCHMARK_CAPTURE(dma_map_unmap_4k, bounced_from_device, true, kernel::DMA_FROM_DEVICE);

// ---- Part 2: a 32-bit device streaming through `memsim run` ----------------------------------

constexpr std::uint64_t chunk_bytes = 64 * KiB;
constexpr unsigned chunk_order = 4;                     // 2^4 pages
constexpr std::uint8_t to_device = 1, from_device = 2;  // enum dma_data_direction

// The machine of experiments/2-bounce-buffers: a 16 GiB PC with a 32-bit PCI-like engine.
const fs::path machine_config = fs::path(MEMSIM_SOURCE_DIR) / "experiments/2-bounce-buffers/config.yaml";

// The workload, built in memory and written in the binary form (much faster to load than text):
// `dma_set_mask pci_dma 32`, `alloc_pages src 4 GFP`, `alloc_pages dst 4 GFP`, then `rounds` of
// map src, map dst, transfer 64 KiB, unmap dst, unmap src.
traces::workload streaming_workload(kernel::gfp_t gfp, std::uint64_t rounds) {
    traces::workload w;
    w.name = fmt::format("stream x{}", rounds);
    w.devices = {"pci_dma"};
    w.handles = {"src", "dst", "out", "in"};
    constexpr std::int32_t src = 0, dst = 1, out = 2, in = 3;
    w.ops.push_back({.kind = op_kind::dma_set_mask, .size = 0, .value = 32});
    for (std::int32_t h : {src, dst})
        w.ops.push_back({.kind = op_kind::alloc_pages, .size = chunk_order, .value = gfp, .handle = h});
    auto map = [&](std::int32_t mapping, std::int32_t buffer, std::uint8_t dir) {
        w.ops.push_back({.kind = op_kind::dma_map,
                         .size = dir,
                         .address = 0,
                         .value = chunk_bytes,
                         .handle = mapping,
                         .flags = static_cast<std::uint32_t>(buffer)});
    };
    for (std::uint64_t i = 0; i < rounds; ++i) {
        map(out, src, to_device);
        map(in, dst, from_device);
        w.ops.push_back({.kind = op_kind::dma_transfer,
                         .size = 0,
                         .value = static_cast<std::uint64_t>(in),
                         .handle = out,
                         .flags = static_cast<std::uint32_t>(chunk_bytes)});
        w.ops.push_back({.kind = op_kind::dma_unmap, .handle = in});
        w.ops.push_back({.kind = op_kind::dma_unmap, .handle = out});
    }
    return w;
}

void save(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
    if (!out) {
        fmt::print(stderr, "dma_bench: cannot write {}\n", path.string());
        std::exit(1);
    }
}

// What one `memsim run` gave: its host time and the stats the benchmark reads.
struct run_result {
    double seconds = 0;
    std::uint64_t time_ps = 0;
    std::uint64_t transfers = 0, transfer_bytes = 0, transfer_busy_ps = 0, failed = 0;
    std::uint64_t streaming_maps = 0, bounced_maps = 0, mapping_errors = 0, debug_errors = 0;
    std::uint64_t bounced_to_device_bytes = 0, bounced_from_device_bytes = 0;
    std::uint64_t map_direct_ps = 0, map_bounced_ps = 0, unmap_direct_ps = 0, unmap_bounced_ps = 0;
    long max_rss_kib = 0;
};

// `memsim run` of the workload at `path` in a child process, its summary to /dev/null.
run_result simulate(const fs::path& config, const fs::path& path, const fs::path& out) {
    platform::run_options options;
    options.config_path = config.string();
    options.workload_path = path.string();
    options.out_dir = out.string();
    return bench::run_in_child<run_result>(
        options,
        [&](double seconds, bench::stats_map stats) {
            auto dev = [&](const char* name) { return stats[std::string("kernel.dma.pci_dma.") + name]; };
            run_result r;
            r.seconds = seconds;
            r.time_ps = stats["sim.time_ps"];
            r.transfers = dev("transfers");
            r.transfer_bytes = dev("transfer_bytes");
            r.transfer_busy_ps = dev("transfer_busy_ps");
            r.failed = dev("transfers_failed");
            r.streaming_maps = dev("streaming_maps");
            r.bounced_maps = dev("bounced_maps");
            r.mapping_errors = dev("mapping_errors");
            r.debug_errors = dev("debug_errors");
            r.bounced_to_device_bytes = dev("bounced_to_device_bytes");
            r.bounced_from_device_bytes = dev("bounced_from_device_bytes");
            r.map_direct_ps = dev("map_direct_ps");
            r.map_bounced_ps = dev("map_bounced_ps");
            r.unmap_direct_ps = dev("unmap_direct_ps");
            r.unmap_bounced_ps = dev("unmap_bounced_ps");
            r.max_rss_kib = bench::max_rss_kib();
            return r;
        },
        fmt::format("dma_bench: `memsim run` of {} failed", path.string()));
}

// One variant's figures: its streaming run less the same buffers' run without the rounds.
struct variant {
    const char* name;
    run_result base, run;
    std::uint64_t rounds;

    double sim_seconds() const { return double(run.time_ps - base.time_ps) * 1e-12; }
    double host_seconds() const { return run.seconds - base.seconds; }
    std::uint64_t bytes() const { return run.transfer_bytes - base.transfer_bytes; }
    double us_per_round() const { return sim_seconds() * 1e6 / double(rounds); }
    double us_per_transfer() const {
        std::uint64_t n = run.transfers - base.transfers;
        return n ? double(run.transfer_busy_ps - base.transfer_busy_ps) / double(n) * 1e-6 : 0.0;
    }
    // Each round's two maps and two unmaps, in microseconds of simulated time.
    double us_mapping_per_round() const {
        std::uint64_t ps =
            run.map_direct_ps + run.map_bounced_ps + run.unmap_direct_ps + run.unmap_bounced_ps;
        return double(ps) * 1e-6 / double(rounds);
    }
    bool bounced() const { return run.bounced_maps != 0; }
};

void check(const variant& v, bool expect_bounced) {
    std::uint64_t maps = 2 * v.rounds;
    if (v.run.transfers != v.rounds || v.bytes() != v.rounds * chunk_bytes || v.run.failed ||
        v.run.streaming_maps != maps || v.run.bounced_maps != (expect_bounced ? maps : 0) ||
        v.run.mapping_errors || v.run.debug_errors)
        fmt::print(
            "  {}: unexpected stats: {} transfers ({} failed), {} bytes, {} maps ({} bounced), {} mapping "
            "errors, {} dma-debug errors (expected {} transfers, {} maps, {} bounced)\n",
            v.name, v.run.transfers, v.run.failed, v.bytes(), v.run.streaming_maps, v.run.bounced_maps,
            v.run.mapping_errors, v.run.debug_errors, v.rounds, maps, expect_bounced ? maps : 0);
}

void print_variant(const variant& v) {
    double gbps = double(v.bytes()) / v.sim_seconds() / 1e9;
    fmt::print("{:<28} {:>9.3f} {:>10.3f} {:>10.2f} {:>10.2f} {:>10.2f} {:>10.3f} {:>10.3g}\n", v.name,
               v.sim_seconds() * 1e3, gbps, v.us_per_round(), v.us_per_transfer(), v.us_mapping_per_round(),
               v.host_seconds(), double(v.bytes()) / v.host_seconds());
}

int streaming(bool quick) {
    std::uint64_t rounds = quick ? 1024 : 16384;
    std::string dir_template = (fs::temp_directory_path() / "memsim-dma-bench-XXXXXX").string();
    if (!mkdtemp(dir_template.data())) {
        fmt::print(stderr, "dma_bench: cannot make a temporary directory\n");
        return 1;
    }
    fs::path dir = dir_template;
    const fs::path& config = machine_config;
    // Each run's best (least disturbed) host time of `tries`; the simulated figures are the same.
    int tries = quick ? 1 : 3;
    auto run = [&](const char* name, kernel::gfp_t gfp, std::uint64_t n) {
        fs::path path = dir / (std::string(name) + ".bin");
        save(path, traces::to_binary(streaming_workload(gfp, n)));
        run_result best;
        for (int i = 0; i < tries; ++i) {
            run_result r = simulate(config, path, dir / name);
            if (i == 0 || r.seconds < best.seconds) best = r;
        }
        return best;
    };
    auto began = std::chrono::steady_clock::now();
    variant bounced{"bounced (GFP_KERNEL, > 4 GiB)", run("high0", kernel::GFP_KERNEL, 0),
                    run("high", kernel::GFP_KERNEL, rounds), rounds};
    variant direct{"in place (GFP_DMA32, < 4 GiB)", run("low0", kernel::GFP_KERNEL | kernel::GFP_DMA32, 0),
                   run("low", kernel::GFP_KERNEL | kernel::GFP_DMA32, rounds), rounds};
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - began;
    fs::remove_all(dir);

    fmt::print(
        "\n`memsim run` of a 16 GiB x86_64 PC, a 32-bit PCI DMA engine (64-byte bursts at 133 MHz): {} "
        "rounds of\nmap src to_device, map dst from_device, a {} transfer, unmap dst, unmap src ({} "
        "moved);\n  each run's best host time of {}, {:.1f} host s in all\n",
        rounds, format_size(chunk_bytes), format_size(rounds * chunk_bytes), tries, took.count());
    fmt::print(
        "  boot and output (the runs without the rounds): {:.3f} host s, {:.3f} simulated ms; peak RSS of "
        "the bounced run {} MiB\n",
        bounced.base.seconds, double(bounced.base.time_ps) * 1e-9, bounced.run.max_rss_kib / 1024);
    check(bounced, true);
    check(direct, false);
    fmt::print("\n{:<28} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n", "buffers", "sim ms", "sim GB/s",
               "us/round", "us/xfer", "us/maps", "host s", "sim B/s");
    print_variant(bounced);
    print_variant(direct);
    fmt::print(
        "\nbounce overhead: {:.2f} us more per 64 KiB round ({:.2f}x the time, {:.0f}% of the in-place "
        "throughput);\n  bounce copies {} to the device and {} back\n",
        bounced.us_per_round() - direct.us_per_round(), bounced.us_per_round() / direct.us_per_round(),
        100.0 * direct.sim_seconds() / bounced.sim_seconds(),
        format_size(bounced.run.bounced_to_device_bytes), format_size(bounced.run.bounced_from_device_bytes));
    if (bounced.run.bounced_maps && direct.run.streaming_maps) {
        double maps = double(bounced.run.bounced_maps), direct_maps = double(direct.run.streaming_maps);
        double copied = double(bounced.run.bounced_to_device_bytes + bounced.run.bounced_from_device_bytes);
        double bounce_ps = double(bounced.run.map_bounced_ps + bounced.run.unmap_bounced_ps);
        fmt::print(
            "  a 64 KiB mapping's dma_map_single + dma_unmap_single: {:.2f} + {:.2f} us bounced, {:.3f} + "
            "{:.3f} us in place;\n  the bounced calls copy {:.2f} GB per simulated second they take\n",
            double(bounced.run.map_bounced_ps) / maps * 1e-6,
            double(bounced.run.unmap_bounced_ps) / maps * 1e-6,
            double(direct.run.map_direct_ps) / direct_maps * 1e-6,
            double(direct.run.unmap_direct_ps) / direct_maps * 1e-6, copied / (bounce_ps * 1e-12) / 1e9);
    }
    fmt::print(
        "sim ms, sim GB/s: simulated time of the rounds (the run's less the run without them) and bytes "
        "moved\n"
        "  per simulated second (GB = 1e9 B). us/round: simulated time per 64 KiB round; us/xfer: a "
        "transfer\n  from its start to its interrupt's handler; us/maps: the round's two dma_map_single and "
        "two\n  dma_unmap_single calls (bounce copies included). host s: host time of the rounds; sim B/s: "
        "bytes\n  moved per host second.\n");
    return 0;
}

}  // namespace

int sc_main(int argc, char** argv) {
    bool quick = argc > 1 && std::string_view(argv[1]) == "--quick";
    return streaming(quick);
}

int main(int argc, char** argv) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    // `--quick` is ours (part 2's sizes); the rest go to Google Benchmark.
    bool quick = false;
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (i > 0 && std::string_view(argv[i]) == "--quick")
            quick = true;
        else
            args.push_back(argv[i]);
    }
    int bench_argc = static_cast<int>(args.size());
    benchmark::Initialize(&bench_argc, args.data());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    fmt::print(
        "\nThe fake machine does not time memory copies: sim_cycles_per_pair is the DMA API's and the "
        "swiotlb's\ncode alone (its costs), not the bounce copy, which the host does pay (compare "
        "host_memcpy_4k).\nThe platform's figures, copies timed through the bus and RAM, follow.\n");
    std::vector<char*> sc_args = {argv[0]};
    static char quick_flag[] = "--quick";
    if (quick) sc_args.push_back(quick_flag);
    return sc_core::sc_elab_and_sim(static_cast<int>(sc_args.size()), sc_args.data());
}
