// The config loader: YAML text plus `--set` overrides in, a validated machine_config out. Every
// value is read through a checker that knows the node's dotted path ("devices[1].reach_bits"), so
// each error can name the file:line:col of the node at fault, or the --set that put it there.
#include "platform/config.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "platform/config_checker.h"
#include "platform/config_yaml.h"

namespace memsim::platform {
namespace {

using namespace detail;

// ---- Spellings of enum values, shared by the loader and to_string ----

constexpr std::array profile_names{named<machine_profile>{"x86_64", machine_profile::x86_64},
                                   named<machine_profile>{"i386", machine_profile::i386},
                                   named<machine_profile>{"i386-pae", machine_profile::i386_pae}};
constexpr std::array layout_names{named<ram_layout>{"pc", ram_layout::pc},
                                  named<ram_layout>{"q35", ram_layout::q35},
                                  named<ram_layout>{"flat", ram_layout::flat}};
constexpr std::array overreach_names{named<overreach_policy>{"error", overreach_policy::error},
                                     named<overreach_policy>{"truncate", overreach_policy::truncate}};
constexpr std::array level_names{
    named<log_level>{"error", log_level::error}, named<log_level>{"warning", log_level::warning},
    named<log_level>{"info", log_level::info}, named<log_level>{"debug", log_level::debug}};
// swiotlb=force and swiotlb=noforce, and no option at all (kernel/dma/swiotlb.c).
constexpr std::array swiotlb_names{named<kernel::swiotlb_mode>{"auto", kernel::swiotlb_mode::automatic},
                                   named<kernel::swiotlb_mode>{"force", kernel::swiotlb_mode::force},
                                   named<kernel::swiotlb_mode>{"off", kernel::swiotlb_mode::off}};
// The only kind of device so far; the key exists so configs stay valid when more arrive.
enum class device_type { dma_engine };
constexpr std::array device_type_names{named<device_type>{"dma_engine", device_type::dma_engine}};

// The words of the boot log's BIOS-e820 lines (e820_print_type, kernel::e820_type_name).
constexpr std::array e820_type_names{
    named<kernel::e820_type>{"usable", kernel::e820_type::ram},
    named<kernel::e820_type>{"reserved", kernel::e820_type::reserved},
    named<kernel::e820_type>{"ACPI data", kernel::e820_type::acpi},
    named<kernel::e820_type>{"ACPI NVS", kernel::e820_type::nvs},
    named<kernel::e820_type>{"unusable", kernel::e820_type::unusable},
    named<kernel::e820_type>{"persistent (type 7)", kernel::e820_type::pmem},
    named<kernel::e820_type>{"persistent (type 12)", kernel::e820_type::pram},
    named<kernel::e820_type>{"soft reserved", kernel::e820_type::soft_reserved}};

// ---- The schema's keys ----

constexpr std::string_view top_keys[] = {"profile", "cpu",  "ram",    "bus", "devices",
                                         "mmu",     "numa", "kernel", "sim"};
constexpr std::string_view cpu_keys[] = {"frequency", "reach_bits"};
constexpr std::string_view ram_keys[] = {"size",      "layout",         "regions",         "e820",
                                         "frequency", "latency_cycles", "bytes_per_cycle", "channels",
                                         "interleave"};
constexpr std::string_view region_keys[] = {"base", "size"};
constexpr std::string_view bus_keys[] = {"frequency", "width_bytes", "latency_cycles", "on_overreach"};
constexpr std::string_view device_keys[] = {"name",       "type",        "base",      "size",
                                            "reach_bits", "burst_bytes", "frequency", "max_transfer",
                                            "irq",        "bus_dma_bits"};
constexpr std::string_view numa_keys[] = {"nodes", "distances"};
constexpr std::string_view kernel_keys[] = {
    "min_free_kbytes", "watermark_scale_factor", "panic_on_bug", "pcid", "swiotlb", "swiotlb_size", "costs"};
constexpr std::string_view sim_keys[] = {"quantum", "seed", "log_level", "host_huge_pages"};

// Each channel keeps its own busy times; real memory controllers have a handful.
constexpr unsigned max_channels = 64;
// Latencies up to a million cycles keep cycle counts times periods inside 64 bits of picoseconds.
constexpr unsigned max_latency_cycles = 1'000'000;
// A config is a page of text; anything larger is not one (and /dev/zero never ends).
constexpr std::uint64_t max_config_bytes = 1 * MiB;

// Checks that RAM or a device window lies within the profile's physical address space.
void check_in_profile(const checker& r, const at& f, const ram_region& window, std::string_view what,
                      machine_profile p) {
    unsigned bits = physical_address_bits(p);
    r.check_fits(f, window, bits, what,
                 fmt::format("the {}-bit physical address space of {}", bits, name_of(profile_names, p)));
}

// ---- Sections ----

void read_cpu(const checker& r, const at& s, cpu_config& cpu) {
    if (auto f = r.field(s, "frequency")) cpu.frequency_hz = r.frequency(*f);
    if (auto f = r.field(s, "reach_bits")) cpu.reach_bits = r.uint(*f, 1, 64);
}

std::vector<ram_region> read_regions(const checker& r, const at& list, machine_profile profile) {
    std::vector<at> entries = r.entries(list);
    if (entries.empty()) r.fail(list, "must not be empty");
    std::vector<ram_region> regions;
    for (const at& e : entries) {
        r.expect_map(e, region_keys);
        at base = r.required(e, "base");
        ram_region region{r.size(base), r.pages(r.required(e, "size"))};
        r.check_page_multiple(base, region.base);
        check_in_profile(r, e, region, "RAM", profile);
        for (std::size_t i = 0; i < regions.size(); ++i) {
            if (!overlaps(region, regions[i])) continue;
            std::string earlier = fmt::format("{} {}", entries[i].path, hex_range(regions[i]));
            r.fail(e, fmt::format("{} overlaps {}", hex_range(region), earlier));
        }
        regions.push_back(region);
    }
    return regions;
}

// ram.regions as listed: ram.size, if given, must be their sum; they are kept sorted by base.
void read_listed_regions(const checker& r, const at& regions, const std::optional<at>& size,
                         machine_profile profile, ram_config& ram) {
    ram.regions = read_regions(r, regions, profile);
    std::uint64_t sum = 0;
    for (const ram_region& region : ram.regions) sum += region.size;
    if (size && ram.size != sum) {
        std::string given = size->node.Scalar();
        r.fail(*size, fmt::format("{} is not the sum of ram.regions ({})", given, format_size(sum)));
    }
    ram.size = sum;
    std::sort(ram.regions.begin(), ram.regions.end(),
              [](const ram_region& a, const ram_region& b) { return a.base < b.base; });
}

// Whether RAM regions (sorted by base) cover every byte of [start, end].
bool backed_by_ram(std::uint64_t start, std::uint64_t end, const std::vector<ram_region>& regions) {
    std::uint64_t next = start;  // the first byte not yet found in RAM
    for (const ram_region& r : regions) {
        if (r.base > next) break;
        if (r.base + r.size <= next) continue;
        if (r.base + r.size - 1 >= end) return true;
        next = r.base + r.size;
    }
    return false;
}

// ram.e820: `[start, end, type]` entries as the boot log prints them, start and end inclusive.
// The firmware may report RAM anywhere it likes, but only where the machine has RAM: usable and
// ACPI entries must lie inside ram.regions. Overlaps are left to e820__update_table's rules.
std::vector<kernel::e820_entry> read_e820(const checker& r, const at& list, machine_profile profile,
                                          const std::vector<ram_region>& regions) {
    std::vector<at> entries = r.entries(list);
    if (entries.empty()) r.fail(list, "must not be empty");
    std::vector<kernel::e820_entry> map;
    unsigned bits = physical_address_bits(profile);
    for (const at& e : entries) {
        if (!e.node.IsSequence() || e.node.size() != 3)
            r.fail(e, "expected [start, end, type], as a BIOS-e820 line gives them");
        std::vector<at> fields = r.entries(e);
        std::uint64_t start = r.number(fields[0], "an address", parse_address);
        std::uint64_t end = r.number(fields[1], "an address", parse_address);
        kernel::e820_type type = r.choice(fields[2], e820_type_names);
        std::string what =
            fmt::format("e820 entry {:#x}-{:#x} {}", start, end, name_of(e820_type_names, type));
        if (end < start) r.fail(e, fmt::format("{} ends before it starts", what));
        if (bits < 64 && end >> bits != 0)
            r.fail(e, fmt::format("{} ends beyond the {}-bit physical address space of {}", what, bits,
                                  name_of(profile_names, profile)));
        bool needs_ram = type == kernel::e820_type::ram || type == kernel::e820_type::acpi ||
                         type == kernel::e820_type::nvs;
        if (needs_ram && !backed_by_ram(start, end, regions))
            r.fail(e, fmt::format("{} is not backed by RAM", what));
        map.push_back({start, end - start + 1, type});
    }
    if (std::none_of(map.begin(), map.end(),
                     [](const kernel::e820_entry& e) { return e.type == kernel::e820_type::ram; }))
        r.fail(list, "has no usable entry");
    return map;
}

// `profile_site` is blamed for derived RAM that does not fit when ram.size was not given.
void read_ram(const checker& r, const at& s, machine_profile profile, const at& profile_site,
              ram_config& ram) {
    std::optional<at> size = r.field(s, "size");
    if (size) ram.size = r.pages(*size);
    if (auto f = r.field(s, "frequency")) ram.frequency_hz = r.frequency(*f);
    if (auto f = r.field(s, "latency_cycles")) ram.latency_cycles = r.uint(*f, 0, max_latency_cycles);
    if (auto f = r.field(s, "bytes_per_cycle")) ram.bytes_per_cycle = r.uint(*f, 1);
    if (auto f = r.field(s, "channels")) ram.channels = r.power_of_two(*f, max_channels);
    if (auto f = r.field(s, "interleave")) {
        ram.interleave = r.size(*f);
        if (ram.interleave < 64 || !std::has_single_bit(ram.interleave))
            r.fail(*f, fmt::format("must be a power of two of at least 64 (got {})", f->node.Scalar()));
    }
    std::optional<at> layout = r.field(s, "layout");
    if (layout) ram.layout = r.choice(*layout, layout_names);

    std::optional<at> regions = r.field(s, "regions");
    if (!regions) {
        ram.regions = derive_ram_regions(ram.size, ram.layout);
        for (const ram_region& region : ram.regions)
            check_in_profile(r, size.value_or(profile_site), region, "RAM", profile);
    } else {
        if (layout) r.fail(*layout, "cannot be given together with ram.regions");
        read_listed_regions(r, *regions, size, profile, ram);
    }
    if (auto f = r.field(s, "e820")) ram.e820 = read_e820(r, *f, profile, ram.regions);
}

// The CPU must reach all of RAM: the kernel maps and zeroes every page of it. Blamed on what
// placed RAM, or else on the reach itself.
void check_ram_reachable(const checker& r, const at& ram, const at& cpu, const machine_config& m) {
    std::optional<at> placed = r.field(ram, "regions");
    if (!placed) placed = r.field(ram, "size");
    at blamed = placed.value_or(r.field(cpu, "reach_bits").value_or(cpu));
    unsigned reach = m.cpu.reach_bits;
    for (const ram_region& region : m.ram.regions)
        r.check_fits(blamed, region, reach, "RAM", fmt::format("the CPU's {}-bit reach", reach));
}

void read_bus(const checker& r, const at& s, bus_config& bus) {
    if (auto f = r.field(s, "frequency")) bus.frequency_hz = r.frequency(*f);
    if (auto f = r.field(s, "width_bytes")) bus.width_bytes = r.power_of_two(*f);
    if (auto f = r.field(s, "latency_cycles")) bus.latency_cycles = r.uint(*f, 0, max_latency_cycles);
    if (auto f = r.field(s, "on_overreach")) bus.on_overreach = r.choice(*f, overreach_names);
}

// Upper bound of a cost in cycles: the workload's own compute limit.
constexpr std::uint64_t max_compute_cycles = 1'000'000'000'000;

// MAX_NUMNODES of this model (memblock.h); the SLIT's values: 10 local, up to 254 remote.
constexpr std::size_t max_numa_nodes = 64;

void read_numa(const checker& r, const at& n, const machine_config& m, numa_config& numa) {
    std::optional<at> nodes = r.field(n, "nodes"), distances = r.field(n, "distances");
    std::vector<at> sizes = nodes ? r.entries(*nodes) : std::vector<at>{};
    std::vector<at> rows = distances ? r.entries(*distances) : std::vector<at>{};
    if (sizes.empty()) {
        if (!rows.empty()) r.fail(*distances, "distances without nodes");
        return;
    }
    if (m.profile != machine_profile::x86_64) r.fail(*nodes, "NUMA needs the x86_64 profile");
    if (sizes.size() > max_numa_nodes) r.fail(*nodes, fmt::format("at most {} nodes", max_numa_nodes));
    std::uint64_t total = 0;
    for (const at& s : sizes) total += numa.node_sizes.emplace_back(r.pages(s));
    if (total != m.ram.size)
        r.fail(*nodes, fmt::format("the nodes hold {} but ram.size is {}", format_size(total),
                                   format_size(m.ram.size)));
    if (rows.empty()) return;
    if (rows.size() != sizes.size())
        r.fail(*distances, fmt::format("expected {} rows, one per node", sizes.size()));
    for (std::size_t i = 0; i < rows.size(); ++i) {
        std::vector<at> row = r.entries(rows[i]);
        if (row.size() != sizes.size()) r.fail(rows[i], fmt::format("expected {} distances", sizes.size()));
        auto& out = numa.distances.emplace_back();
        for (std::size_t j = 0; j < row.size(); ++j)
            out.push_back(i == j ? r.uint(row[j], 10, 10) : r.uint(row[j], 11, 254));
    }
}

// The swiotlb pool is whole segments of IO_TLB_SEGSIZE (128) 2 KiB slots, as swiotlb= aligns it.
// It must fit in low memory (below 4 GiB; 879 MiB on i386), so 1 GiB bounds it.
constexpr std::uint64_t swiotlb_segment = kernel::IO_TLB_SEGSIZE * kernel::IO_TLB_SIZE;
constexpr std::uint64_t max_swiotlb_size = 1 * GiB;

void read_swiotlb(const checker& r, const at& k, kernel_knobs& kernel) {
    if (auto f = r.field(k, "swiotlb")) kernel.swiotlb = r.choice(*f, swiotlb_names);
    auto f = r.field(k, "swiotlb_size");
    if (!f) return;
    kernel.swiotlb_size = r.size(*f);
    if (kernel.swiotlb_size == 0 || kernel.swiotlb_size % swiotlb_segment != 0)
        r.fail(*f, fmt::format("must be a positive multiple of 256 KiB, a segment of {} slots (got {})",
                               kernel::IO_TLB_SEGSIZE, f->node.Scalar()));
    if (kernel.swiotlb_size > max_swiotlb_size)
        r.fail(*f,
               fmt::format("must be at most {} (got {})", format_size(max_swiotlb_size), f->node.Scalar()));
}

// The sysctls' own ranges (kernel/sysctl.c, mm/page_alloc.c): min_free_kbytes is `auto` or a
// number of KiB; watermark_scale_factor 1..3000.
void read_kernel(const checker& r, const at& k, kernel_knobs& kernel) {
    if (auto f = r.field(k, "min_free_kbytes"); f && !(f->node.IsScalar() && f->node.Scalar() == "auto"))
        kernel.min_free_kbytes = r.integer(*f, 1, std::uint64_t{1} << 40);
    if (auto f = r.field(k, "watermark_scale_factor")) kernel.watermark_scale_factor = r.integer(*f, 1, 3000);
    if (auto f = r.field(k, "panic_on_bug")) kernel.panic_on_bug = r.boolean(*f);
    if (auto f = r.field(k, "pcid")) kernel.pcid = r.boolean(*f);
    read_swiotlb(r, k, kernel);
    at costs = r.section(k, "costs", kernel_cost_names);
    auto fields = kernel_cost_fields(kernel);
    for (std::size_t i = 0; i < fields.size(); ++i)
        if (auto f = r.field(costs, kernel_cost_names[i])) *fields[i] = r.integer(*f, 0, max_compute_cycles);
}

void read_sim(const checker& r, const at& s, sim_config& sim) {
    if (auto f = r.field(s, "quantum")) sim.quantum = r.time(*f);
    if (auto f = r.field(s, "seed")) sim.seed = r.integer(*f, 0, std::numeric_limits<std::uint64_t>::max());
    if (auto f = r.field(s, "log_level")) sim.level = r.choice(*f, level_names);
    if (auto f = r.field(s, "host_huge_pages")) sim.host_huge_pages = r.boolean(*f);
}

// ---- Devices ----

// A device as read, with the nodes that later checks blame.
struct device_entry {
    dma_engine_config config;
    at self;
    at name;
    at base;
    std::optional<at> irq;
};

device_entry read_device(const checker& r, const at& e) {
    r.expect_map(e, device_keys);
    if (!e.node.IsMap()) r.fail(e, "expected a mapping");
    device_entry d{{}, e, r.required(e, "name"), r.required(e, "base"), r.field(e, "irq")};
    dma_engine_config& c = d.config;
    c.name = checked_name(r, d.name);
    // The CPU's bus port is named "cpu" in the stats (bus.initiator.cpu.*).
    if (c.name == "cpu") r.fail(d.name, "'cpu' is the CPU's name; a device needs another");
    if (auto f = r.field(e, "type")) r.choice(*f, device_type_names);
    c.base = r.size(d.base);
    r.check_page_multiple(d.base, c.base);
    if (auto f = r.field(e, "size")) c.size = r.pages(*f);
    if (auto f = r.field(e, "reach_bits")) c.reach_bits = r.uint(*f, 1, 64);
    if (auto f = r.field(e, "burst_bytes")) c.burst_bytes = r.power_of_two(*f, 4096);
    if (auto f = r.field(e, "frequency")) c.frequency_hz = r.frequency(*f);
    if (auto f = r.field(e, "max_transfer")) c.max_transfer = r.positive_size(*f);
    if (auto f = r.field(e, "bus_dma_bits")) c.bus_dma_bits = r.uint(*f, 0, 64);
    if (d.irq) c.irq = r.uint(*d.irq, 0, irq_lines - 1);
    return d;
}

// Checks a device against the machine and the devices before it.
void check_device(const checker& r, const device_entry& d, const std::vector<device_entry>& earlier,
                  const machine_config& m) {
    const dma_engine_config& c = d.config;
    for (const device_entry& other : earlier) {
        if (other.config.name == c.name)
            r.fail(d.name, fmt::format("device name '{}' is already used by {}", c.name, other.self.path));
        if (other.config.irq == c.irq)
            r.fail(d.irq.value_or(d.self),
                   fmt::format("irq {} is already used by device '{}'", c.irq, other.config.name));
    }
    ram_region window{c.base, c.size};
    std::string what = fmt::format("device '{}'", c.name);
    check_in_profile(r, d.base, window, what, m.profile);
    unsigned reach = m.cpu.reach_bits;
    r.check_fits(d.base, window, reach, what, fmt::format("the CPU's {}-bit reach", reach));
    for (const ram_region& ram : m.ram.regions)
        if (overlaps(window, ram))
            r.fail(d.base, fmt::format("{} at {} overlaps RAM {}", what, hex_range(window), hex_range(ram)));
    for (const device_entry& other : earlier) {
        ram_region theirs{other.config.base, other.config.size};
        if (overlaps(window, theirs))
            r.fail(d.base, fmt::format("{} at {} overlaps device '{}' at {}", what, hex_range(window),
                                       other.config.name, hex_range(theirs)));
    }
}

void read_devices(const checker& r, const at& list, machine_config& m) {
    std::vector<device_entry> devices;
    for (const at& e : r.entries(list)) {
        device_entry d = read_device(r, e);
        check_device(r, d, devices, m);
        devices.push_back(std::move(d));
    }
    for (device_entry& d : devices) m.dma_engines.push_back(std::move(d.config));
}

}  // namespace

std::array<std::uint64_t*, std::size(kernel_cost_names)> kernel_cost_fields(kernel_knobs& k) {
    return {&k.boot_costs.mode_switch, &k.boot_costs.memmap_init_per_page,
            &k.alloc_costs.alloc_pcp,  &k.alloc_costs.alloc_buddy,
            &k.alloc_costs.free_pcp,   &k.alloc_costs.free_buddy,
            &k.mm_costs.exception,     &k.mm_costs.handle_mm_fault,
            &k.mm_costs.syscall,       &k.mm_costs.context_switch};
}

namespace {

machine_config read_config(const checker& r, const YAML::Node& root) {
    at top{root, ""};
    r.expect_map(top, top_keys);
    machine_config m;
    std::optional<at> profile = r.field(top, "profile");
    if (profile) m.profile = r.choice(*profile, profile_names);
    at cpu = r.section(top, "cpu", cpu_keys);
    read_cpu(r, cpu, m.cpu);
    at ram = r.section(top, "ram", ram_keys);
    read_ram(r, ram, m.profile, profile.value_or(top), m.ram);
    check_ram_reachable(r, ram, cpu, m);
    read_bus(r, r.section(top, "bus", bus_keys), m.bus);
    std::optional<at> devices = r.field(top, "devices");
    if (devices) read_devices(r, *devices, m);
    read_mmu(r, top, m.mmu);
    read_numa(r, r.section(top, "numa", numa_keys), m, m.numa);
    read_kernel(r, r.section(top, "kernel", kernel_keys), m.kernel);
    read_sim(r, r.section(top, "sim", sim_keys), m.sim);
    m.mmu.tlbs.seed = m.sim.seed;
    return m;
}

YAML::Node parse_document(std::string_view yaml, const std::string& name) {
    try {
        return YAML::Load(std::string(yaml));
    } catch (const YAML::ParserException& e) {
        if (e.mark.is_null()) throw user_error(source_location{name}, e.msg);
        throw user_error(source_location{name, e.mark.line + 1, e.mark.column + 1}, e.msg);
    }
}

std::string read_file(const std::string& path) {
    std::error_code ec;
    auto status = std::filesystem::status(path, ec);
    if (ec) throw user_error(source_location{path}, fmt::format("cannot open: {}", ec.message()));
    if (!std::filesystem::is_regular_file(status))
        throw user_error(source_location{path}, "not a regular file");
    if (std::filesystem::file_size(path, ec) > max_config_bytes)
        throw user_error(source_location{path},
                         fmt::format("larger than {}: not a config", format_size(max_config_bytes)));
    std::ifstream in(path, std::ios::binary);
    if (!in) throw user_error(source_location{path}, fmt::format("cannot open: {}", std::strerror(errno)));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw user_error(source_location{path}, "cannot read");
    return text.str();
}

}  // namespace

// Where RAM sits when the config does not list regions. pc follows QEMU's `pc` machine
// (LINUX-FACTS.md, "Firmware map"): all RAM below 4 GiB when it is under 3.5 GiB, else exactly
// 3 GiB there, below the PCI hole, and the rest from 4 GiB. q35 follows QEMU's hw/i386/pc_q35.c
// (pc_q35_init): RAM below 4 GiB must leave room for the 256 MiB PCIe ECAM window at 0xb0000000
// and the 32-bit PCI hole, so from 0xb0000000 (2.75 GiB) of RAM on exactly 2 GiB sits below
// 4 GiB, keeping guest 1 GiB pages aligned, and the rest from 4 GiB.
std::vector<ram_region> derive_ram_regions(std::uint64_t size, ram_layout layout) {
    std::uint64_t threshold = 3 * GiB + GiB / 2, low = 3 * GiB;
    if (layout == ram_layout::q35) {
        threshold = 0xb0000000;
        low = 2 * GiB;
    }
    if (layout == ram_layout::flat || size < threshold) return {ram_region{0, size}};
    return {ram_region{0, low}, ram_region{4 * GiB, size - low}};
}

machine_config load_config_text(std::string_view yaml, const std::string& name,
                                const std::vector<std::string>& sets) {
    YAML::Node root = parse_document(yaml, name);
    std::vector<set_origin> origins = detail::apply_sets(root, sets);
    return read_config(checker(name, std::move(origins)), root);
}

machine_config load_config_file(const std::string& path, const std::vector<std::string>& sets) {
    return load_config_text(read_file(path), path, sets);
}

// The profile's MAXPHYADDR: i386 32 bits, PAE 36, x86_64 52 (the architectural maximum).
unsigned physical_address_bits(machine_profile p) {
    switch (p) {
        case machine_profile::i386:
            return 32;
        case machine_profile::i386_pae:
            return 36;
        case machine_profile::x86_64:
            return 52;
    }
    return 52;
}

std::string_view to_string(machine_profile p) { return name_of(profile_names, p); }
std::string_view to_string(overreach_policy p) { return name_of(overreach_names, p); }
std::string_view to_string(ram_layout l) { return name_of(layout_names, l); }
std::string_view to_string(log_level l) { return name_of(level_names, l); }
std::string_view to_string(kernel::swiotlb_mode m) { return name_of(swiotlb_names, m); }

}  // namespace memsim::platform
