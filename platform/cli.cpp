#include "platform/cli.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "base/error.h"
#include "platform/config.h"
#include "platform/output.h"
#include "platform/run.h"
#include "traces/workload.h"

namespace memsim::platform {
namespace {

constexpr const char* version_line = "memsim " MEMSIM_VERSION;

void add_set_option(CLI::App& command, std::vector<std::string>& sets) {
    command.add_option("--set", sets, "Override one config key, e.g. --set ram.size=8GiB (repeatable)")
        ->type_name("KEY.PATH=VALUE")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

// CLI11 would wrap a negative number into an unsigned one and saturate a huge one; a seed is
// exactly the integers from 0 to 2^64 - 1.
std::string unsigned_integer(const std::string& text) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (!text.empty() && ec == std::errc{} && end == text.data() + text.size()) return "";
    return fmt::format("'{}' is not an integer from 0 to {}", text, ~std::uint64_t{0});
}

void convert_workload(const std::string& in, const std::string& out) {
    traces::workload w = traces::load_workload(in);
    bool binary = std::filesystem::path(out).extension() == ".bin";
    write_file(out, binary ? traces::to_binary(w) : traces::to_text(w));
    fmt::print("{}: {} operations written as {}\n", out, w.ops.size(), binary ? "binary" : "text");
}

machine_config load_for_config_command(const std::string& path, const std::vector<std::string>& sets) {
    if (path.empty()) return load_config_text(default_config_text(), default_config_name, sets);
    return load_config_file(path, sets);
}

}  // namespace

int run_cli(int argc, char** argv) {
    CLI::App app{"memsim: a cycle-approximate x86 memory-system emulator with a Linux-like memory manager",
                 "memsim"};
    app.set_version_flag("--version", version_line);
    app.require_subcommand(1);

    run_options run;
    std::string config_path, workload_path, out_dir;
    std::uint64_t seed = 0;
    CLI::App* run_command = app.add_subcommand(
        "run", "Boot the machine and run the workload (with no options: the shipped default machine)");
    CLI::Option* config_option = run_command->add_option(
        "--config", config_path, "Machine config (YAML); default: configs/default.yaml");
    CLI::Option* workload_option = run_command->add_option("--workload", workload_path, "Workload file");
    CLI::Option* out_option = run_command->add_option(
        "--out", out_dir, "Directory for stats.json, stats.txt, dmesg.log, config.yaml and proc/");
    add_set_option(*run_command, run.sets);
    CLI::Option* seed_option = run_command->add_option("--seed", seed, "Random seed (overrides sim.seed)")
                                   ->check(CLI::Validator(unsigned_integer, "UINT"));

    run_options boot;
    std::string boot_config, boot_out, proc;
    CLI::App* boot_command =
        app.add_subcommand("boot", "Boot the machine's kernel and print its boot log (or one /proc file)");
    CLI::Option* boot_config_option = boot_command->add_option(
        "--config", boot_config, "Machine config (YAML); default: configs/default.yaml");
    CLI::Option* boot_out_option = boot_command->add_option(
        "--out", boot_out, "Directory for stats.json, dmesg.log, config.yaml and proc/");
    CLI::Option* proc_option = boot_command->add_option(
        "--proc", proc,
        "Print this /proc file instead: buddyinfo, iomem, meminfo, pagetypeinfo, vmstat, zoneinfo");
    add_set_option(*boot_command, boot.sets);

    CLI::App* config_command = app.add_subcommand("config", "Validate or print a machine config");
    config_command->require_subcommand(1);
    std::string check_path, show_path;
    std::vector<std::string> check_sets, show_sets;
    CLI::App* check_command = config_command->add_subcommand("check", "Validate a config file");
    check_command->add_option("FILE", check_path, "Machine config (YAML)")->required();
    add_set_option(*check_command, check_sets);
    CLI::App* show_command = config_command->add_subcommand(
        "show", "Print the effective config (defaults filled in, --set applied)");
    show_command->add_option("FILE", show_path, "Machine config (YAML); default: configs/default.yaml");
    add_set_option(*show_command, show_sets);

    CLI::App* workload_command = app.add_subcommand("workload", "Work with workload files");
    workload_command->require_subcommand(1);
    std::string convert_in, convert_out;
    CLI::App* convert_command = workload_command->add_subcommand(
        "convert", "Convert a workload between its text and binary forms (OUT ending in .bin: binary)");
    convert_command->add_option("IN", convert_in, "Workload file, text or binary")->required();
    convert_command->add_option("OUT", convert_out, "Where to write it")->required();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        fmt::print(stderr, "memsim: error: {}\n", user_error(e.what()).message());
        return exit_user_error;
    }

    try {
        if (check_command->parsed()) {
            load_config_file(check_path, check_sets);
            fmt::print("{}: ok\n", check_path);
            return 0;
        }
        if (show_command->parsed()) {
            fmt::print("{}", to_yaml(load_for_config_command(show_path, show_sets)));
            return 0;
        }
        if (convert_command->parsed()) {
            convert_workload(convert_in, convert_out);
            return 0;
        }
        if (boot_command->parsed()) {
            if (*boot_config_option) boot.config_path = boot_config;
            if (*boot_out_option) boot.out_dir = boot_out;
            return boot_machine(boot, *proc_option ? std::optional<std::string>(proc) : std::nullopt);
        }
        if (*config_option) run.config_path = config_path;
        if (*workload_option) run.workload_path = workload_path;
        if (*out_option) run.out_dir = out_dir;
        if (*seed_option) run.sets.push_back(fmt::format("sim.seed={}", seed));
        return run_machine(run);
    } catch (const user_error& e) {
        fmt::print(stderr, "memsim: error: {}\n", e.message());
        return exit_user_error;
    } catch (const std::exception& e) {
        fmt::print(stderr, "memsim: internal error: {}\n", e.what());
        return 1;
    }
}

}  // namespace memsim::platform
