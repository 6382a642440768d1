// The machine description a user writes in YAML: its schema with defaults, the loader that
// validates it (every error names file:line:column), `--set key.path=value` overrides, and
// the emitter behind `memsim config show`.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/log.h"
#include "base/units.h"
#include "kernel_mm/e820.h"
#include "kernel_mm/mm.h"
#include "kernel_mm/start_kernel.h"
#include "mmu/psc.h"
#include "mmu/tlb.h"

namespace memsim::platform {

enum class machine_profile { i386, i386_pae, x86_64 };
enum class overreach_policy { error, truncate };
// pc: RAM below 4 GiB is all of it under 3.5 GiB, else exactly 3 GiB, the rest from 4 GiB
// (LINUX-FACTS.md, the QEMU `pc` map); q35: all of it under 2.75 GiB, else exactly 2 GiB, the rest
// from 4 GiB (QEMU's hw/i386/pc_q35.c), with the q35 chipset's ranges in the firmware map;
// flat: one region from 0.
enum class ram_layout { pc, q35, flat };

struct ram_region {
    std::uint64_t base = 0;
    std::uint64_t size = 0;
    bool operator==(const ram_region&) const = default;
};

struct cpu_config {
    std::uint64_t frequency_hz = 2'000'000'000;
    unsigned reach_bits = 64;
};

struct ram_config {
    std::uint64_t size = 4 * GiB;
    ram_layout layout = ram_layout::pc;
    // Where RAM sits in the physical address space; derived from size and layout unless the
    // config lists regions itself. RAM is one backing store laid into these windows in order.
    std::vector<ram_region> regions;
    // The firmware map as `ram.e820` lists it, in its order and unsanitised; empty when the
    // config gives none and firmware_map() derives it from the layout (platform/firmware_map.h).
    std::vector<kernel::e820_entry> e820;
    std::uint64_t frequency_hz = 1'600'000'000;
    unsigned latency_cycles = 80;
    unsigned bytes_per_cycle = 16;
    unsigned channels = 1;
    std::uint64_t interleave = 4 * KiB;
};

struct bus_config {
    std::uint64_t frequency_hz = 1'000'000'000;
    unsigned width_bytes = 32;
    unsigned latency_cycles = 2;
    overreach_policy on_overreach = overreach_policy::error;
};

struct dma_engine_config {
    std::string name;        // [a-z][a-z0-9_]*, unique; names its stats
    std::uint64_t base = 0;  // register window in the physical address space
    std::uint64_t size = 4 * KiB;
    unsigned reach_bits = 32;   // address lines of its bus master port, 1..64
    unsigned burst_bytes = 64;  // power of two, at most 4 KiB
    std::uint64_t frequency_hz = 100'000'000;
    std::uint64_t max_transfer = 16 * MiB;
    unsigned irq = 0;  // line on the interrupt controller, unique
    // The addressing limit the firmware reports for it (an ACPI _DMA range, a bridge): the
    // kernel's bus_dma_limit, honoured whatever mask its driver sets. 0: none.
    unsigned bus_dma_bits = 0;
};

// The TLB hierarchy and paging-structure caches; a Skylake-class core unless the config says.
// The TLBs' random replacement is seeded from sim.seed.
struct mmu_config {
    mmu::tlb_config tlbs = mmu::tlb_config::intel_default();
    mmu::psc_config paging_caches;
};

// NUMA (x86_64): RAM split into nodes in address order, and the SLIT distance table between
// them (10 to itself; empty: 20 between any two nodes). No nodes: one node, no NUMA.
struct numa_config {
    std::vector<std::uint64_t> node_sizes;
    std::vector<std::vector<unsigned>> distances;
};

// Knobs of the kernel's memory manager (the sysctls of the same names, docs/configuration.md).
struct kernel_knobs {
    std::uint64_t min_free_kbytes = 0;  // 0: computed from low memory at boot, as Linux does
    std::uint64_t watermark_scale_factor = 10;
    bool panic_on_bug = false;  // a kernel bug (bad page state, ...) stops the machine
    // Cycles the kernel's own code costs per operation, beyond its timed memory accesses.
    kernel::boot_costs boot_costs;
    kernel::page_alloc_costs alloc_costs;
    kernel::mm_costs mm_costs;
    bool pcid = true;  // "nopcid" when false: processes switch with a full flush
    // The swiotlb bounce-buffer pool reserved at boot: auto (when RAM reaches above 4 GiB), force
    // or off, as swiotlb=force / swiotlb=noforce; its size, a multiple of 256 KiB.
    kernel::swiotlb_mode swiotlb = kernel::swiotlb_mode::automatic;
    std::uint64_t swiotlb_size = kernel::io_tlb_default_size;
};

// kernel.costs: each key and the cost-table entry it sets, in the order config show writes them.
inline constexpr std::string_view kernel_cost_names[] = {
    "mode_switch", "memmap_init_per_page", "alloc_pcp",       "alloc_buddy", "free_pcp",
    "free_buddy",  "page_fault",           "handle_mm_fault", "syscall",     "context_switch"};
std::array<std::uint64_t*, std::size(kernel_cost_names)> kernel_cost_fields(kernel_knobs& k);

struct sim_config {
    picoseconds quantum = 1 * ps_per_us;
    std::uint64_t seed = 1;
    // The machine's RAM on the host's transparent huge pages, as QEMU backs guest RAM: host speed only.
    bool host_huge_pages = true;
    log_level level = log_level::warning;
};

struct machine_config {
    machine_profile profile = machine_profile::x86_64;
    cpu_config cpu;
    ram_config ram;
    bus_config bus;
    std::vector<dma_engine_config> dma_engines;  // YAML key `devices`, entries of type dma_engine
    mmu_config mmu;
    numa_config numa;
    kernel_knobs kernel;
    sim_config sim;
};

inline constexpr unsigned irq_lines = 24;  // as an IOAPIC's redirection table

// Loads `path` (throws user_error "cannot open" when missing), applies each "key.path=value"
// of `sets` in order, fills defaults and validates. Errors name file:line:col of the node at
// fault, or "--set key.path=value" for an overridden key.
machine_config load_config_file(const std::string& path, const std::vector<std::string>& sets = {});
// The same for text already in memory; `name` stands for the file in error messages.
machine_config load_config_text(std::string_view yaml, const std::string& name,
                                const std::vector<std::string>& sets = {});
// The shipped configs/default.yaml, embedded in the binary at build time.
std::string_view default_config_text();
inline constexpr const char* default_config_name = "configs/default.yaml";

// The effective config as YAML, every key present; loading it gives the same config.
std::string to_yaml(const machine_config& config);

// Where RAM of `size` bytes sits under `layout` when the config lists no regions.
std::vector<ram_region> derive_ram_regions(std::uint64_t size, ram_layout layout);

// The physical-address width (MAXPHYADDR) of a profile's machines.
unsigned physical_address_bits(machine_profile p);

std::string_view to_string(machine_profile p);
std::string_view to_string(overreach_policy p);
std::string_view to_string(ram_layout l);
std::string_view to_string(kernel::swiotlb_mode m);
std::string_view to_string(log_level l);
std::string_view to_string(mmu::replacement_policy p);
std::string_view to_string(mmu::page_size s);

}  // namespace memsim::platform
