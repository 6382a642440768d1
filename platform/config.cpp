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

#include "platform/config_yaml.h"

namespace memsim::platform {
namespace {

using detail::join;
using detail::set_origin;

// ---- Spellings of enum values, shared by the loader and to_string ----

template <typename E>
struct named {
    std::string_view name;
    E value;
};

constexpr std::array profile_names{named<machine_profile>{"x86_64", machine_profile::x86_64},
                                   named<machine_profile>{"i386", machine_profile::i386},
                                   named<machine_profile>{"i386-pae", machine_profile::i386_pae}};
constexpr std::array layout_names{named<ram_layout>{"pc", ram_layout::pc},
                                  named<ram_layout>{"flat", ram_layout::flat}};
constexpr std::array overreach_names{named<overreach_policy>{"error", overreach_policy::error},
                                     named<overreach_policy>{"truncate", overreach_policy::truncate}};
constexpr std::array level_names{
    named<log_level>{"error", log_level::error}, named<log_level>{"warning", log_level::warning},
    named<log_level>{"info", log_level::info}, named<log_level>{"debug", log_level::debug}};
enum class tlb_port { data, instruction, unified };
constexpr std::array port_names{named<tlb_port>{"data", tlb_port::data},
                                named<tlb_port>{"instruction", tlb_port::instruction},
                                named<tlb_port>{"unified", tlb_port::unified}};
constexpr std::array replacement_names{
    named<mmu::replacement_policy>{"lru", mmu::replacement_policy::lru},
    named<mmu::replacement_policy>{"plru", mmu::replacement_policy::plru},
    named<mmu::replacement_policy>{"random", mmu::replacement_policy::random}};
constexpr std::array page_size_names{named<mmu::page_size>{"4K", mmu::page_size::size_4k},
                                     named<mmu::page_size>{"2M", mmu::page_size::size_2m},
                                     named<mmu::page_size>{"4M", mmu::page_size::size_4m},
                                     named<mmu::page_size>{"1G", mmu::page_size::size_1g}};
constexpr unsigned max_tlb_levels = 4;
constexpr unsigned max_tlb_entries = 1u << 20;
constexpr unsigned max_psc_entries = 4096;
// The only kind of device so far; the key exists so configs stay valid when more arrive.
enum class device_type { dma_engine };
constexpr std::array device_type_names{named<device_type>{"dma_engine", device_type::dma_engine}};

template <typename E, std::size_t N>
std::string_view name_of(const std::array<named<E>, N>& names, E value) {
    for (const named<E>& n : names)
        if (n.value == value) return n.name;
    return "?";
}

template <typename E, std::size_t N>
std::vector<std::string_view> names_of(const std::array<named<E>, N>& names) {
    std::vector<std::string_view> out;
    for (const named<E>& n : names) out.push_back(n.name);
    return out;
}

// ---- The schema's keys ----

constexpr std::string_view top_keys[] = {"profile", "cpu", "ram", "bus", "devices", "mmu", "sim"};
constexpr std::string_view mmu_keys[] = {"tlbs", "paging_structure_caches"};
constexpr std::string_view tlb_keys[] = {"name",    "level", "port",        "page_sizes",
                                         "entries", "ways",  "replacement", "hit_latency"};
constexpr std::string_view psc_keys[] = {"pml5e", "pml4e", "pdpte", "pde"};
constexpr std::string_view cpu_keys[] = {"frequency", "reach_bits"};
constexpr std::string_view ram_keys[] = {"size",           "layout",          "regions",  "frequency",
                                         "latency_cycles", "bytes_per_cycle", "channels", "interleave"};
constexpr std::string_view region_keys[] = {"base", "size"};
constexpr std::string_view bus_keys[] = {"frequency", "width_bytes", "latency_cycles", "on_overreach"};
constexpr std::string_view device_keys[] = {"name",        "type",      "base",         "size", "reach_bits",
                                            "burst_bytes", "frequency", "max_transfer", "irq"};
constexpr std::string_view sim_keys[] = {"quantum", "seed", "log_level"};

constexpr std::uint64_t page_size = 4 * KiB;
// Each channel keeps its own busy times; real memory controllers have a handful.
constexpr unsigned max_channels = 64;
// Clocks from 1 MHz to 100 GHz, and latencies up to a million cycles, keep every period and
// every cycle count times a period well inside 64 bits of picoseconds.
constexpr std::uint64_t min_frequency = 1'000'000;
constexpr std::uint64_t max_frequency = 100'000'000'000;
constexpr unsigned max_latency_cycles = 1'000'000;
// A config is a page of text; anything larger is not one (and /dev/zero never ends).
constexpr std::uint64_t max_config_bytes = 1 * MiB;
constexpr unsigned unsigned_max = std::numeric_limits<unsigned>::max();

unsigned physical_bits(machine_profile p) {
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

// ---- Typo suggestions ----

// Levenshtein distance, ignoring case so that 'WARNING' still finds 'warning'.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    auto lower = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
    std::vector<std::size_t> row(b.size() + 1);
    std::iota(row.begin(), row.end(), std::size_t{0});
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (lower(a[i - 1]) != lower(b[j - 1]))});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// " (did you mean 'size'?)" when a candidate is close enough to be a typo of `word`, else "".
std::string suggestion(std::string_view word, std::span<const std::string_view> candidates) {
    std::string_view best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    for (std::string_view c : candidates) {
        std::size_t d = edit_distance(word, c);
        if (d < best_distance) {
            best = c;
            best_distance = d;
        }
    }
    if (best_distance > std::max<std::size_t>(2, word.size() / 3)) return "";
    return fmt::format(" (did you mean '{}'?)", best);
}

// ---- Numbers and ranges ----

// Decimal or 0x-hex, nothing else.
std::uint64_t parse_integer(std::string_view text) {
    std::string_view digits = text;
    int base = 10;
    if (digits.starts_with("0x") || digits.starts_with("0X")) {
        base = 16;
        digits.remove_prefix(2);
    }
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    if (ec == std::errc::result_out_of_range)
        throw std::invalid_argument(fmt::format("'{}' is too large", text));
    if (ec != std::errc{} || end != digits.data() + digits.size())
        throw std::invalid_argument(fmt::format("expected an integer, got '{}'", text));
    return value;
}

bool overlaps(const ram_region& a, const ram_region& b) {
    return a.base < b.base + b.size && b.base < a.base + a.size;
}

// The last byte's address, as /proc/iomem prints ranges: "0xfe000000-0xfe000fff".
std::string hex_range(const ram_region& r) { return fmt::format("{:#x}-{:#x}", r.base, r.base + r.size - 1); }

// base + size in hex, correct even where the sum passes 2^64.
std::string hex_end(const ram_region& r) {
    std::uint64_t end = r.base + r.size;
    return end >= r.base ? fmt::format("{:#x}", end) : fmt::format("0x1{:016x}", end);
}

bool fits_bits(const ram_region& r, unsigned bits) {
    if (bits >= 64) return true;
    std::uint64_t limit = std::uint64_t{1} << bits;
    return r.size <= limit && r.base <= limit - r.size;
}

// ---- The checker: typed reads of YAML nodes, each error at the node (or --set) at fault ----

// A node and the dotted path that names it in messages and in --set records.
struct at {
    YAML::Node node;
    std::string path;
    // An empty value ("size:") has yaml-cpp's mark of whatever follows it; its key's is clearer.
    std::optional<YAML::Mark> key_mark = std::nullopt;
};

std::string_view kind_of(const YAML::Node& node) {
    if (node.IsMap()) return "a mapping";
    if (node.IsSequence()) return "a list";
    return "nothing";
}

class checker {
public:
    checker(std::string file, std::vector<set_origin> sets)
        : m_file(std::move(file)), m_sets(std::move(sets)) {}

    source_location locate(const at& where) const {
        for (auto it = m_sets.rbegin(); it != m_sets.rend(); ++it)
            if (detail::covers(it->path, where.path)) return source_location{"--set " + it->text};
        YAML::Mark mark = where.key_mark.value_or(where.node.Mark());
        if (mark.is_null()) return source_location{m_file};
        return source_location{m_file, mark.line + 1, mark.column + 1};
    }

    [[noreturn]] void fail_with(const at& where, const std::string& message) const {
        throw user_error(locate(where), message);
    }
    // "ram.size: what"
    [[noreturn]] void fail(const at& where, std::string_view what) const {
        fail_with(where, where.path.empty() ? fmt::format("{} at the top level", what)
                                            : fmt::format("{}: {}", where.path, what));
    }

    // Checks that `where` is a mapping (null counts as empty) whose keys are all in `known`.
    void expect_map(const at& where, std::span<const std::string_view> known) const {
        if (where.node.IsNull()) return;
        if (!where.node.IsMap()) fail(where, "expected a mapping");
        std::vector<std::string> seen;
        for (const auto& pair : where.node) {
            const std::string& key = pair.first.Scalar();
            at key_at{pair.first, join(where.path, key)};
            if (std::find(known.begin(), known.end(), key) == known.end())
                fail_with(key_at, fmt::format("unknown key '{}' in {}{}", key, container_name(where.path),
                                              suggestion(key, known)));
            if (std::find(seen.begin(), seen.end(), key) != seen.end())
                fail_with(key_at, fmt::format("duplicate key '{}' in {}", key, container_name(where.path)));
            seen.push_back(key);
        }
    }

    // map[key], or nothing when the key is absent.
    std::optional<at> field(const at& map, std::string_view key) const {
        if (!map.node.IsMap()) return std::nullopt;
        for (const auto& pair : map.node) {
            if (pair.first.Scalar() != key) continue;
            std::optional<YAML::Mark> key_mark;
            if (pair.second.IsNull()) key_mark = pair.first.Mark();
            return at{pair.second, join(map.path, key), key_mark};
        }
        return std::nullopt;
    }

    at required(const at& map, std::string_view key) const {
        std::optional<at> f = field(map, key);
        if (!f) fail(map, fmt::format("missing required key '{}'", key));
        return *f;
    }

    // map[key] checked as a mapping with `known` keys; an absent section reads as empty.
    at section(const at& map, std::string_view key, std::span<const std::string_view> known) const {
        at s = field(map, key).value_or(at{YAML::Node(), join(map.path, key)});
        expect_map(s, known);
        return s;
    }

    // The entries of a list (null counts as empty), named "devices[1]".
    std::vector<at> entries(const at& where) const {
        if (where.node.IsNull()) return {};
        if (!where.node.IsSequence()) fail(where, "expected a list");
        std::vector<at> out;
        for (std::size_t i = 0; i < where.node.size(); ++i)
            out.push_back(at{where.node[i], fmt::format("{}[{}]", where.path, i)});
        return out;
    }

    std::string scalar(const at& f, std::string_view noun) const {
        if (!f.node.IsScalar()) fail(f, fmt::format("expected {}, got {}", noun, kind_of(f.node)));
        return f.node.Scalar();
    }

    // A non-negative number in one of the unit syntaxes of base/units.h.
    std::uint64_t number(const at& f, std::string_view noun, std::uint64_t (*parse)(std::string_view)) const {
        std::string text = scalar(f, noun);
        if (text.starts_with('-')) fail(f, fmt::format("must not be negative (got '{}')", text));
        if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])))
            fail(f, fmt::format("expected {}, got '{}'", noun, text));
        try {
            return parse(text);
        } catch (const std::invalid_argument& e) {
            fail(f, e.what());
        }
    }

    std::uint64_t integer(const at& f, std::uint64_t low, std::uint64_t high) const {
        std::uint64_t v = number(f, "an integer", parse_integer);
        if (v >= low && v <= high) return v;
        if (high < unsigned_max) fail(f, fmt::format("must be {}..{} (got {})", low, high, v));
        // Only a lower bound of 0 or 1 matters to the user; the upper one is the field's type.
        if (v < low) fail(f, fmt::format("must be positive (got {})", v));
        fail(f, fmt::format("must be at most {} (got {})", high, v));
    }

    unsigned uint(const at& f, unsigned low, unsigned high = unsigned_max) const {
        return static_cast<unsigned>(integer(f, low, high));
    }

    unsigned power_of_two(const at& f, unsigned high = unsigned_max) const {
        unsigned v = uint(f, 1, high);
        if (!std::has_single_bit(v)) fail(f, fmt::format("must be a power of two (got {})", v));
        return v;
    }

    std::uint64_t size(const at& f) const { return number(f, "a size", parse_size); }

    std::uint64_t positive_size(const at& f) const { return positive(f, size(f)); }

    // A positive multiple of 4 KiB: RAM and device windows are mapped page by page.
    std::uint64_t pages(const at& f) const {
        std::uint64_t v = positive_size(f);
        check_page_multiple(f, v);
        return v;
    }

    void check_page_multiple(const at& f, std::uint64_t v) const {
        if (v % page_size != 0) fail(f, fmt::format("must be a multiple of 4 KiB (got {})", f.node.Scalar()));
    }

    std::uint64_t frequency(const at& f) const {
        std::uint64_t hz = number(f, "a frequency", parse_frequency);
        if (hz < min_frequency || hz > max_frequency)
            fail(f, fmt::format("must be from {} to {} (got {})", format_frequency(min_frequency),
                                format_frequency(max_frequency), f.node.Scalar()));
        return hz;
    }

    picoseconds time(const at& f) const { return number(f, "a time", parse_time); }

    template <typename E, std::size_t N>
    E choice(const at& f, const std::array<named<E>, N>& names) const {
        std::vector<std::string_view> spellings = names_of(names);
        std::string choices = fmt::format("{}", fmt::join(spellings, ", "));
        std::string text = scalar(f, "one of " + choices);
        for (const named<E>& n : names)
            if (n.name == text) return n.value;
        fail(f, fmt::format("'{}' is not one of {}{}", text, choices, suggestion(text, spellings)));
    }

    // Checks that a window lies within `bits` address bits, which `space` names in the message.
    void check_fits(const at& f, const ram_region& r, unsigned bits, std::string_view what,
                    std::string_view space) const {
        if (!fits_bits(r, bits)) fail(f, fmt::format("{} ends at {} beyond {}", what, hex_end(r), space));
    }

private:
    std::uint64_t positive(const at& f, std::uint64_t v) const {
        if (v == 0) fail(f, fmt::format("must be positive (got {})", f.node.Scalar()));
        return v;
    }

    static std::string container_name(const std::string& path) {
        return path.empty() ? "the top level" : fmt::format("'{}'", path);
    }

    std::string m_file;
    std::vector<set_origin> m_sets;
};

// Checks that RAM or a device window lies within the profile's physical address space.
void check_in_profile(const checker& r, const at& f, const ram_region& window, std::string_view what,
                      machine_profile p) {
    unsigned bits = physical_bits(p);
    r.check_fits(f, window, bits, what,
                 fmt::format("the {}-bit physical address space of {}", bits, name_of(profile_names, p)));
}

// ---- Sections ----

void read_cpu(const checker& r, const at& s, cpu_config& cpu) {
    if (auto f = r.field(s, "frequency")) cpu.frequency_hz = r.frequency(*f);
    if (auto f = r.field(s, "reach_bits")) cpu.reach_bits = r.uint(*f, 1, 64);
}

// Where RAM sits when the config does not list regions. pc follows QEMU's `pc` machine
// (LINUX-FACTS.md, "Firmware map"): all RAM below 4 GiB when it is under 3.5 GiB, else exactly
// 3 GiB there, below the PCI hole, and the rest from 4 GiB.
std::vector<ram_region> derive_regions(std::uint64_t size, ram_layout layout) {
    if (layout == ram_layout::flat || size < 3 * GiB + GiB / 2) return {ram_region{0, size}};
    return {ram_region{0, 3 * GiB}, ram_region{4 * GiB, size - 3 * GiB}};
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
        ram.regions = derive_regions(ram.size, ram.layout);
        for (const ram_region& region : ram.regions)
            check_in_profile(r, size.value_or(profile_site), region, "RAM", profile);
        return;
    }
    if (layout) r.fail(*layout, "cannot be given together with ram.regions");
    ram.regions = read_regions(r, *regions, profile);
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

void read_sim(const checker& r, const at& s, sim_config& sim) {
    if (auto f = r.field(s, "quantum")) sim.quantum = r.time(*f);
    if (auto f = r.field(s, "seed")) sim.seed = r.integer(*f, 0, std::numeric_limits<std::uint64_t>::max());
    if (auto f = r.field(s, "log_level")) sim.level = r.choice(*f, level_names);
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

bool valid_name(std::string_view name) {
    if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

device_entry read_device(const checker& r, const at& e) {
    r.expect_map(e, device_keys);
    if (!e.node.IsMap()) r.fail(e, "expected a mapping");
    device_entry d{{}, e, r.required(e, "name"), r.required(e, "base"), r.field(e, "irq")};
    dma_engine_config& c = d.config;
    c.name = r.scalar(d.name, "a name");
    if (!valid_name(c.name))
        r.fail(d.name,
               fmt::format("'{}' is not a valid name (a lowercase letter, then a-z, 0-9 or _)", c.name));
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

// ---- MMU ----

mmu::tlb_array_config read_tlb(const checker& r, const at& e, unsigned& level) {
    r.expect_map(e, tlb_keys);
    if (!e.node.IsMap()) r.fail(e, "expected a mapping");
    mmu::tlb_array_config c;
    at name = r.required(e, "name");
    c.name = r.scalar(name, "a name");
    if (!valid_name(c.name))
        r.fail(name,
               fmt::format("'{}' is not a valid name (a lowercase letter, then a-z, 0-9 or _)", c.name));
    level = r.uint(r.required(e, "level"), 1, max_tlb_levels);
    tlb_port port = tlb_port::data;
    if (auto f = r.field(e, "port")) port = r.choice(*f, port_names);
    c.instruction = port != tlb_port::data;
    c.data = port != tlb_port::instruction;
    at sizes = r.required(e, "page_sizes");
    c.sizes.clear();
    for (const at& s : r.entries(sizes)) c.sizes.push_back(r.choice(s, page_size_names));
    if (c.sizes.empty()) r.fail(sizes, "must name at least one page size");
    if (auto f = r.field(e, "entries")) c.entries = r.uint(*f, 1, max_tlb_entries);
    std::optional<at> ways = r.field(e, "ways");
    if (ways) c.ways = r.uint(*ways, 1, c.entries);
    if (c.entries % c.ways || !std::has_single_bit(c.entries / c.ways))
        r.fail(ways.value_or(e),
               fmt::format("entries / ways must be a power of two of sets (got {} / {})", c.entries, c.ways));
    if (auto f = r.field(e, "replacement")) c.policy = r.choice(*f, replacement_names);
    if (c.policy == mmu::replacement_policy::plru && !std::has_single_bit(c.ways))
        r.fail(ways.value_or(e), fmt::format("plru needs a power-of-two number of ways (got {})", c.ways));
    if (auto f = r.field(e, "hit_latency")) c.hit_latency = r.uint(*f, 0, 1000);
    return c;
}

void read_tlbs(const checker& r, const at& list, mmu::tlb_config& tlbs) {
    tlbs.levels.clear();
    std::vector<std::string> names;
    for (const at& e : r.entries(list)) {
        unsigned level = 0;
        mmu::tlb_array_config c = read_tlb(r, e, level);
        if (std::find(names.begin(), names.end(), c.name) != names.end())
            r.fail(r.required(e, "name"), fmt::format("TLB name '{}' is already used", c.name));
        names.push_back(c.name);
        if (tlbs.levels.size() < level) tlbs.levels.resize(level);
        tlbs.levels[level - 1].arrays.push_back(std::move(c));
    }
    if (tlbs.levels.empty()) r.fail(list, "must list at least one TLB");
    for (std::size_t i = 0; i < tlbs.levels.size(); ++i)
        if (tlbs.levels[i].arrays.empty())
            r.fail(list, fmt::format("no TLB at level {} above level {}", i + 1, tlbs.levels.size()));
}

void read_mmu(const checker& r, const at& s, mmu_config& m) {
    if (auto f = r.field(s, "tlbs")) read_tlbs(r, *f, m.tlbs);
    at caches = r.section(s, "paging_structure_caches", psc_keys);
    if (auto f = r.field(caches, "pml5e")) m.paging_caches.pml5e = r.uint(*f, 0, max_psc_entries);
    if (auto f = r.field(caches, "pml4e")) m.paging_caches.pml4e = r.uint(*f, 0, max_psc_entries);
    if (auto f = r.field(caches, "pdpte")) m.paging_caches.pdpte = r.uint(*f, 0, max_psc_entries);
    if (auto f = r.field(caches, "pde")) m.paging_caches.pde = r.uint(*f, 0, max_psc_entries);
}

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
    read_mmu(r, r.section(top, "mmu", mmu_keys), m.mmu);
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

machine_config load_config_text(std::string_view yaml, const std::string& name,
                                const std::vector<std::string>& sets) {
    YAML::Node root = parse_document(yaml, name);
    std::vector<set_origin> origins = detail::apply_sets(root, sets);
    return read_config(checker(name, std::move(origins)), root);
}

machine_config load_config_file(const std::string& path, const std::vector<std::string>& sets) {
    return load_config_text(read_file(path), path, sets);
}

std::string_view to_string(machine_profile p) { return name_of(profile_names, p); }
std::string_view to_string(overreach_policy p) { return name_of(overreach_names, p); }
std::string_view to_string(ram_layout l) { return name_of(layout_names, l); }
std::string_view to_string(log_level l) { return name_of(level_names, l); }
std::string_view to_string(mmu::replacement_policy p) { return name_of(replacement_names, p); }
std::string_view to_string(mmu::page_size s) { return name_of(page_size_names, s); }

}  // namespace memsim::platform
