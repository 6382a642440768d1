// Simulated memory accesses per host second from one initiator through hw::bus to hw::ram,
// by DMI and by b_transport, each against a bare socket-to-array baseline measured in the same
// run (DESIGN.md §6). Prints the ratios and their targets; `--check` fails the run on a miss.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unistd.h>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <systemc>
#include <tlm>
#include <tlm_utils/tlm_quantumkeeper.h>

#include "base/log.h"
#include "base/stats.h"
#include "base/units.h"
#include "hw/bus.h"
#include "hw/ram.h"

namespace {

using namespace memsim;
using sc_core::sc_time;

// The walk every variant makes, so that only the path differs: 8-byte words 64 bytes apart
// (one per cache line) over 1 MiB, wrapping; even accesses write, odd ones read.
constexpr std::uint64_t region_bytes = 1 * MiB;
constexpr std::uint64_t stride_bytes = 64;
constexpr unsigned word_bytes = 8;

std::uint64_t address_of(std::uint64_t access) { return (access * stride_bytes) % region_bytes; }
bool is_write(std::uint64_t access) { return access % 2 == 0; }

// The default machine's timing (configs/default.yaml): DDR4 at 1600 MHz, 50 ns to first data;
// a 1 GHz bus, 32 bytes wide, 2 cycles to decode.
hw::ram_timing default_ram_timing() { return {sc_time(625, sc_core::SC_PS), 80, 16, 1, 4 * KiB}; }
hw::bus_timing default_bus_timing() { return {sc_time(1, sc_core::SC_NS), 32, 2}; }

// The baseline: the least a loosely-timed memory can do, an array behind a target socket.
// Its delays are set to what the bus path charges per access, so that both paths sync with
// the SystemC kernel equally often and the comparison measures only the code in between.
struct array_target : sc_core::sc_module, tlm::tlm_fw_transport_if<> {
    tlm::tlm_target_socket<> socket{"socket"};
    std::vector<unsigned char> store;
    sc_time access_delay;
    sc_time dmi_latency;

    array_target(sc_core::sc_module_name name, std::size_t size) : sc_module(name), store(size) {
        socket.bind(*this);
    }

    void b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) override {
        std::uint64_t address = trans.get_address();
        unsigned length = trans.get_data_length();
        if (address >= store.size() || length > store.size() - address) {
            trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
            return;
        }
        if (trans.is_read())
            std::memcpy(trans.get_data_ptr(), &store[address], length);
        else
            std::memcpy(&store[address], trans.get_data_ptr(), length);
        delay += access_delay;
        trans.set_response_status(tlm::TLM_OK_RESPONSE);
    }
    bool get_direct_mem_ptr(tlm::tlm_generic_payload&, tlm::tlm_dmi& dmi) override {
        dmi.set_dmi_ptr(store.data());
        dmi.set_start_address(0);
        dmi.set_end_address(store.size() - 1);
        dmi.allow_read_write();
        dmi.set_read_latency(dmi_latency);
        dmi.set_write_latency(dmi_latency);
        return true;
    }
    unsigned transport_dbg(tlm::tlm_generic_payload&) override { return 0; }
    tlm::tlm_sync_enum nb_transport_fw(tlm::tlm_generic_payload& trans, tlm::tlm_phase&, sc_time&) override {
        trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
        return tlm::TLM_COMPLETED;
    }
};

// Prints as the console reporter does, and keeps every run's accesses per second by name.
class rate_reporter : public benchmark::ConsoleReporter {
public:
    explicit rate_reporter(OutputOptions options) : ConsoleReporter(options) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& run : runs) {
            if (run.error_occurred || run.run_type != Run::RT_Iteration) continue;
            auto rate = run.counters.find("items_per_second");
            if (rate != run.counters.end()) m_rates[run.run_name.function_name].push_back(rate->second.value);
        }
        ConsoleReporter::ReportRuns(runs);
    }

    // The median over repetitions (--benchmark_repetitions), or nothing if it did not run.
    std::optional<double> rate(const std::string& name) const {
        auto found = m_rates.find(name);
        if (found == m_rates.end()) return std::nullopt;
        std::vector<double> rates = found->second;
        std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
        return rates[rates.size() / 2];
    }

private:
    std::map<std::string, std::vector<double>> m_rates;
};

// The initiator: one socket into the bus, one straight into the baseline array. Its thread
// runs Google Benchmark, since the bodies call b_transport and sync(), which may wait().
class driver : public sc_core::sc_module, public tlm::tlm_bw_transport_if<> {
public:
    tlm::tlm_initiator_socket<> bus_port{"bus_port"};
    tlm::tlm_initiator_socket<> bare_port{"bare_port"};

    driver(sc_core::sc_module_name name, std::vector<char*> args, array_target& baseline,
           rate_reporter& reporter)
        : sc_module(name), m_args(std::move(args)), m_baseline(baseline), m_reporter(reporter) {
        bus_port.bind(*this);
        bare_port.bind(*this);
        SC_HAS_PROCESS(driver);
        SC_THREAD(run);
        // Google Benchmark's runner nests deeply, past SystemC's default thread stack.
        set_stack_size(64 << 20);
    }

    bool args_ok() const { return m_args_ok; }

private:
    void run() {
        int argc = static_cast<int>(m_args.size());
        m_args.push_back(nullptr);
        benchmark::Initialize(&argc, m_args.data());
        if (benchmark::ReportUnrecognizedArguments(argc, m_args.data())) {
            m_args_ok = false;
            return;
        }
        tlm_utils::tlm_quantumkeeper::set_global_quantum(sc_time(1, sc_core::SC_US));
        m_keeper.reset();
        pace_baseline();
        register_benchmarks();
        benchmark::RunSpecifiedBenchmarks(&m_reporter);
    }

    void register_benchmarks() {
        benchmark::RegisterBenchmark("bare_dmi", [this](benchmark::State& s) { dmi_loop(s, m_bare_grant); });
        benchmark::RegisterBenchmark("bus_dmi", [this](benchmark::State& s) { dmi_loop(s, m_bus_grant); });
        benchmark::RegisterBenchmark("bare_b_transport",
                                     [this](benchmark::State& s) { b_transport_loop(s, bare_port); });
        benchmark::RegisterBenchmark("bus_b_transport",
                                     [this](benchmark::State& s) { b_transport_loop(s, bus_port); });
    }

    // Gives the baseline the bus path's per-access delay and DMI latency, measured with one
    // probe through the bus, then takes both DMI grants once for the whole run.
    void pace_baseline() {
        std::uint64_t word = 0;
        tlm::tlm_generic_payload trans;
        prepare(trans, word);
        trans.set_command(tlm::TLM_READ_COMMAND);
        trans.set_address(0);
        sc_time probe = sc_core::SC_ZERO_TIME;
        bus_port->b_transport(trans, probe);
        m_baseline.access_delay = probe;
        m_bus_grant = grant(bus_port);
        m_baseline.dmi_latency = m_bus_grant.get_read_latency();
        m_bare_grant = grant(bare_port);
    }

    static tlm::tlm_dmi grant(tlm::tlm_initiator_socket<>& port) {
        tlm::tlm_generic_payload trans;
        trans.set_command(tlm::TLM_READ_COMMAND);
        trans.set_address(0);
        tlm::tlm_dmi dmi;
        if (!port->get_direct_mem_ptr(trans, dmi)) dmi.init();
        return dmi;
    }

    static bool covers_region(const tlm::tlm_dmi& dmi) {
        return dmi.get_dmi_ptr() && dmi.is_read_write_allowed() && dmi.get_start_address() == 0 &&
               dmi.get_end_address() >= region_bytes - 1;
    }

    static void prepare(tlm::tlm_generic_payload& trans, std::uint64_t& word) {
        trans.set_data_ptr(reinterpret_cast<unsigned char*>(&word));
        trans.set_data_length(word_bytes);
        trans.set_streaming_width(word_bytes);
        trans.set_byte_enable_ptr(nullptr);
    }

    // What a CPU model does on a DMI hit: a host copy, and the latency charged to local time.
    void dmi_loop(benchmark::State& state, const tlm::tlm_dmi& dmi) {
        if (!covers_region(dmi)) {
            state.SkipWithError("no DMI grant over the region");
            return;
        }
        unsigned char* memory = dmi.get_dmi_ptr();
        std::uint64_t access = 0;
        std::uint64_t word = 0;
        for (auto _ : state) {
            unsigned char* cell = memory + address_of(access);
            if (is_write(access)) {
                word = access;
                std::memcpy(cell, &word, word_bytes);
                m_keeper.inc(dmi.get_write_latency());
            } else {
                std::memcpy(&word, cell, word_bytes);
                m_keeper.inc(dmi.get_read_latency());
            }
            benchmark::DoNotOptimize(word);
            if (m_keeper.need_sync()) m_keeper.sync();
            ++access;
        }
        finish(state);
    }

    // What a CPU model does without DMI: one reused payload, the keeper's local time as the
    // delay the target adds to.
    void b_transport_loop(benchmark::State& state, tlm::tlm_initiator_socket<>& port) {
        std::uint64_t word = 0;
        tlm::tlm_generic_payload trans;
        prepare(trans, word);
        std::uint64_t access = 0;
        for (auto _ : state) {
            if (is_write(access)) {
                word = access;
                trans.set_command(tlm::TLM_WRITE_COMMAND);
            } else {
                trans.set_command(tlm::TLM_READ_COMMAND);
            }
            trans.set_address(address_of(access));
            trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
            sc_time delay = m_keeper.get_local_time();
            port->b_transport(trans, delay);
            m_keeper.set(delay);
            if (m_keeper.need_sync()) m_keeper.sync();
            if (!trans.is_response_ok()) {
                state.SkipWithError("access failed");
                break;
            }
            benchmark::DoNotOptimize(word);
            ++access;
        }
        finish(state);
    }

    // Leaves no local time behind for the next benchmark, outside the timed loop.
    void finish(benchmark::State& state) {
        m_keeper.sync();
        state.SetItemsProcessed(state.iterations());
    }

    tlm::tlm_sync_enum nb_transport_bw(tlm::tlm_generic_payload&, tlm::tlm_phase&, sc_time&) override {
        return tlm::TLM_COMPLETED;
    }
    // Neither target ever takes a grant back.
    void invalidate_direct_mem_ptr(sc_dt::uint64, sc_dt::uint64) override {}

    std::vector<char*> m_args;
    bool m_args_ok = true;
    array_target& m_baseline;
    rate_reporter& m_reporter;
    tlm_utils::tlm_quantumkeeper m_keeper;
    tlm::tlm_dmi m_bus_grant;
    tlm::tlm_dmi m_bare_grant;
};

struct comparison {
    const char* path;
    const char* baseline;
    double target;  // the most times slower than the baseline the path may be
};

constexpr comparison comparisons[] = {
    {"bus_dmi", "bare_dmi", 1.25},
    {"bus_b_transport", "bare_b_transport", 2.5},
};

std::string rate_text(std::optional<double> rate) { return rate ? fmt::format("{:.2e}", *rate) : "-"; }

// Prints the ratio table; returns false if a target was missed. A pair that a filter left
// half run has no ratio and misses nothing.
bool print_ratios(const rate_reporter& reporter) {
    bool all_met = true;
    fmt::print("\n{:<18} {:<12} {:<17} {:<12} {:<7} {}\n", "path", "accesses/s", "baseline", "baseline/s",
               "ratio", "target");
    for (const comparison& c : comparisons) {
        std::optional<double> path = reporter.rate(c.path);
        std::optional<double> baseline = reporter.rate(c.baseline);
        std::string ratio = "-";
        std::string verdict = "not run";
        if (path && baseline && *path > 0) {
            ratio = fmt::format("{:.2f}x", *baseline / *path);
            bool met = *baseline / *path <= c.target;
            verdict = met ? "ok" : "MISSED";
            all_met = all_met && met;
        }
        fmt::print("{:<18} {:<12} {:<17} {:<12} {:<7} <= {:.2f}x  {}\n", c.path, rate_text(path), c.baseline,
                   rate_text(baseline), ratio, c.target, verdict);
    }
    return all_met;
}

// Takes our own flag out of the arguments; the rest go to Google Benchmark.
std::vector<char*> without_flag(int argc, char** argv, std::string_view flag, bool& found) {
    std::vector<char*> rest;
    found = false;
    for (int i = 0; i < argc; ++i) {
        if (i > 0 && argv[i] == flag)
            found = true;
        else
            rest.push_back(argv[i]);
    }
    return rest;
}

}  // namespace

int sc_main(int argc, char** argv) {
    bool check = false;
    std::vector<char*> args = without_flag(argc, argv, "--check", check);

    stats::registry stats;
    std::ostringstream log_text;
    logger log(log_text, log_level::warning);

    hw::ram mem("ram", region_bytes, default_ram_timing(), stats.under("ram"));
    hw::bus interconnect("bus", default_bus_timing(), hw::overreach_mode::error, stats.under("bus"), log);
    array_target baseline("baseline", region_bytes);
    rate_reporter reporter(isatty(STDOUT_FILENO) ? rate_reporter::OO_ColorTabular
                                                 : rate_reporter::OO_Tabular);
    driver cpu("cpu", std::move(args), baseline, reporter);

    interconnect.bind_initiator(cpu.bus_port, "cpu", 64);
    interconnect.map(interconnect.bind_target(mem.socket, "ram"), 0, region_bytes);
    cpu.bare_port.bind(baseline.socket);

    sc_core::sc_start();
    if (!cpu.args_ok()) return 2;
    bool met = print_ratios(reporter);
    return check && !met ? 1 : 0;
}

int main(int argc, char** argv) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    return sc_core::sc_elab_and_sim(argc, argv);
}
