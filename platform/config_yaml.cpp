// The config's two edits of YAML outside the loader: `--set key.path=value` applied to the
// document before it is validated, and the emitter behind `memsim config show`.
#include "platform/config_yaml.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

#include <fmt/format.h>

#include "platform/config.h"

namespace memsim::platform {
namespace detail {
namespace {

struct set_request {
    std::string text;               // "devices.isa_dma.reach_bits=32"
    std::vector<std::string> keys;  // {"devices", "isa_dma", "reach_bits"}
    std::string value;              // "32"
};

[[noreturn]] void fail(const std::string& text, const std::string& message) {
    throw user_error(source_location{"--set " + text}, message);
}

set_request parse_request(const std::string& text) {
    std::size_t equals = text.find('=');
    if (equals == std::string::npos) fail(text, "expected key.path=value");
    set_request request{text, {}, text.substr(equals + 1)};
    std::string_view path = std::string_view(text).substr(0, equals);
    for (std::size_t start = 0;;) {
        std::size_t dot = path.find('.', start);
        std::string_view key = path.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (key.empty()) fail(text, "expected key.path=value");
        request.keys.emplace_back(key);
        if (dot == std::string_view::npos) return request;
        start = dot + 1;
    }
}

YAML::Node parse_value(const set_request& request) {
    try {
        return YAML::Load(request.value);
    } catch (const YAML::ParserException& e) {
        fail(request.text, e.msg);
    }
}

bool is_index(std::string_view key) {
    auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
    return std::all_of(key.begin(), key.end(), digit);
}

}  // namespace

std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

namespace {

// The position in `list` (named `path`) that `key` selects: an index, or the entry so named.
std::size_t find_entry(const YAML::Node& list, const std::string& key, const std::string& path,
                       const set_request& request) {
    if (is_index(key)) {
        std::size_t index = 0;
        auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), index);
        if (ec == std::errc{} && index < list.size()) return index;
        fail(request.text, fmt::format("{}: no entry {} (it has {})", path, key, list.size()));
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
        if (!list[i].IsMap()) continue;
        const YAML::Node name = list[i]["name"];
        if (name.IsDefined() && name.IsScalar() && name.Scalar() == key) return i;
    }
    fail(request.text, fmt::format("{}: no entry named '{}'", path, key));
}

// Walks from `node` (named `path`) along request.keys[i..] and puts `value` at the end, creating
// mappings on the way. Records every node it puts or creates, since errors there are the --set's.
void put(YAML::Node node, const std::string& path, const set_request& request, std::size_t i,
         const YAML::Node& value, std::vector<set_origin>& origins) {
    const std::string& key = request.keys[i];
    YAML::Node child;
    std::string child_path;
    if (node.IsSequence()) {
        std::size_t index = find_entry(node, key, path, request);
        child.reset(node[index]);
        child_path = fmt::format("{}[{}]", path, index);
    } else if (node.IsMap() || node.IsNull()) {
        child.reset(node[key]);
        child_path = join(path, key);
    } else {
        fail(request.text, fmt::format("{}: is a value, not a mapping or list", path));
    }
    bool last = i + 1 == request.keys.size();
    if (last || !child.IsDefined() || child.IsNull()) {
        child = last ? value : YAML::Node(YAML::NodeType::Map);
        origins.push_back(set_origin{child_path, request.text});
    }
    if (!last) put(child, child_path, request, i + 1, value, origins);
}

}  // namespace

bool covers(std::string_view set_path, std::string_view path) {
    if (!path.starts_with(set_path)) return false;
    return path.size() == set_path.size() || path[set_path.size()] == '.' || path[set_path.size()] == '[';
}

std::vector<set_origin> apply_sets(YAML::Node& root, const std::vector<std::string>& sets) {
    std::vector<set_origin> origins;
    for (const std::string& text : sets) {
        set_request request = parse_request(text);
        YAML::Node value = parse_value(request);
        if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
        if (!root.IsMap()) fail(text, "the document is not a mapping");
        put(root, "", request, 0, value, origins);
    }
    return origins;
}

}  // namespace detail

namespace {

void entry(YAML::Emitter& out, const char* key, std::string_view value) {
    out << YAML::Key << key << YAML::Value << std::string(value);
}
void entry(YAML::Emitter& out, const char* key, std::uint64_t value) {
    out << YAML::Key << key << YAML::Value << value;
}
void boolean_entry(YAML::Emitter& out, const char* key, bool value) {
    entry(out, key, value ? "true" : "false");
}

std::string hex(std::uint64_t v) { return fmt::format("{:#x}", v); }

void begin_section(YAML::Emitter& out, const char* key) {
    out << YAML::Key << key << YAML::Value << YAML::BeginMap;
}

void write_profile(YAML::Emitter& out, const machine_config& c) {
    entry(out, "profile", to_string(c.profile));
}

void write_cpu(YAML::Emitter& out, const machine_config& c) {
    begin_section(out, "cpu");
    entry(out, "frequency", format_frequency(c.cpu.frequency_hz));
    entry(out, "reach_bits", c.cpu.reach_bits);
    out << YAML::EndMap;
}

// Regions are explicit (and so `layout` is left out: the two exclude each other), which shows
// where RAM really is and loads back to the same map. Only q35 is written as its layout: the
// layout also puts the chipset's ranges in the firmware map, which regions alone would lose.
// An explicit firmware map is written as given, one BIOS-e820 line per entry.
void write_ram(YAML::Emitter& out, const machine_config& c) {
    const ram_config& ram = c.ram;
    begin_section(out, "ram");
    entry(out, "size", format_size(ram.size));
    if (ram.layout == ram_layout::q35 && ram.regions == derive_ram_regions(ram.size, ram.layout)) {
        entry(out, "layout", to_string(ram.layout));
    } else {
        out << YAML::Key << "regions" << YAML::Value << YAML::BeginSeq;
        for (const ram_region& r : ram.regions) {
            out << YAML::Flow << YAML::BeginMap;
            entry(out, "base", hex(r.base));
            entry(out, "size", format_size(r.size));
            out << YAML::EndMap;
        }
        out << YAML::EndSeq;
    }
    if (!ram.e820.empty()) {
        out << YAML::Key << "e820" << YAML::Value << YAML::BeginSeq;
        for (const kernel::e820_entry& e : ram.e820)
            out << YAML::Flow << YAML::BeginSeq << hex(e.addr) << hex(e.end() - 1)
                << kernel::e820_type_name(e.type) << YAML::EndSeq;
        out << YAML::EndSeq;
    }
    entry(out, "frequency", format_frequency(ram.frequency_hz));
    entry(out, "latency_cycles", ram.latency_cycles);
    entry(out, "bytes_per_cycle", ram.bytes_per_cycle);
    entry(out, "channels", ram.channels);
    entry(out, "interleave", format_size(ram.interleave));
    out << YAML::EndMap;
}

void write_bus(YAML::Emitter& out, const machine_config& c) {
    begin_section(out, "bus");
    entry(out, "frequency", format_frequency(c.bus.frequency_hz));
    entry(out, "width_bytes", c.bus.width_bytes);
    entry(out, "latency_cycles", c.bus.latency_cycles);
    entry(out, "on_overreach", to_string(c.bus.on_overreach));
    out << YAML::EndMap;
}

void write_devices(YAML::Emitter& out, const machine_config& c) {
    out << YAML::Key << "devices" << YAML::Value << YAML::BeginSeq;
    for (const dma_engine_config& d : c.dma_engines) {
        out << YAML::BeginMap;
        entry(out, "name", d.name);
        entry(out, "type", "dma_engine");
        entry(out, "base", hex(d.base));
        entry(out, "size", format_size(d.size));
        entry(out, "reach_bits", d.reach_bits);
        entry(out, "burst_bytes", d.burst_bytes);
        entry(out, "frequency", format_frequency(d.frequency_hz));
        entry(out, "max_transfer", format_size(d.max_transfer));
        entry(out, "irq", d.irq);
        entry(out, "bus_dma_bits", d.bus_dma_bits);
        out << YAML::EndMap;
    }
    out << YAML::EndSeq;
}

std::string_view port_of(const mmu::tlb_array_config& t) {
    if (t.instruction && t.data) return "unified";
    return t.instruction ? "instruction" : "data";
}

void write_mmu(YAML::Emitter& out, const machine_config& c) {
    begin_section(out, "mmu");
    out << YAML::Key << "tlbs" << YAML::Value << YAML::BeginSeq;
    for (std::size_t level = 0; level < c.mmu.tlbs.levels.size(); ++level) {
        for (const mmu::tlb_array_config& t : c.mmu.tlbs.levels[level].arrays) {
            out << YAML::Flow << YAML::BeginMap;
            entry(out, "name", t.name);
            entry(out, "level", level + 1);
            entry(out, "port", port_of(t));
            out << YAML::Key << "page_sizes" << YAML::Value << YAML::Flow << YAML::BeginSeq;
            for (mmu::page_size s : t.sizes) out << std::string(to_string(s));
            out << YAML::EndSeq;
            entry(out, "entries", t.entries);
            entry(out, "ways", t.ways);
            entry(out, "replacement", to_string(t.policy));
            entry(out, "hit_latency", t.hit_latency);
            out << YAML::EndMap;
        }
    }
    out << YAML::EndSeq;
    const mmu::psc_config& p = c.mmu.paging_caches;
    out << YAML::Key << "paging_structure_caches" << YAML::Value << YAML::Flow << YAML::BeginMap;
    entry(out, "pml5e", p.pml5e);
    entry(out, "pml4e", p.pml4e);
    entry(out, "pdpte", p.pdpte);
    entry(out, "pde", p.pde);
    out << YAML::EndMap << YAML::EndMap;
}

void write_numa(YAML::Emitter& out, const machine_config& c) {
    begin_section(out, "numa");
    out << YAML::Key << "nodes" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (std::uint64_t size : c.numa.node_sizes) out << format_size(size);
    out << YAML::EndSeq;
    out << YAML::Key << "distances" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& row : c.numa.distances) {
        out << YAML::Flow << YAML::BeginSeq;
        for (unsigned d : row) out << d;
        out << YAML::EndSeq;
    }
    out << YAML::EndSeq << YAML::EndMap;
}

void write_kernel(YAML::Emitter& out, const machine_config& c) {
    begin_section(out, "kernel");
    if (c.kernel.min_free_kbytes)
        entry(out, "min_free_kbytes", c.kernel.min_free_kbytes);
    else
        entry(out, "min_free_kbytes", "auto");
    entry(out, "watermark_scale_factor", c.kernel.watermark_scale_factor);
    boolean_entry(out, "panic_on_bug", c.kernel.panic_on_bug);
    boolean_entry(out, "pcid", c.kernel.pcid);
    entry(out, "swiotlb", to_string(c.kernel.swiotlb));
    entry(out, "swiotlb_size", format_size(c.kernel.swiotlb_size));
    kernel_knobs knobs = c.kernel;
    auto fields = kernel_cost_fields(knobs);
    out << YAML::Key << "costs" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (std::size_t i = 0; i < fields.size(); ++i) entry(out, kernel_cost_names[i].data(), *fields[i]);
    out << YAML::EndMap << YAML::EndMap;
}

void write_sim(YAML::Emitter& out, const machine_config& c) {
    begin_section(out, "sim");
    entry(out, "quantum", format_time(c.sim.quantum));
    entry(out, "seed", c.sim.seed);
    entry(out, "log_level", to_string(c.sim.level));
    boolean_entry(out, "host_huge_pages", c.sim.host_huge_pages);
    out << YAML::EndMap;
}

}  // namespace

std::string to_yaml(const machine_config& config) {
    // One emitter per top-level key, joined by blank lines as configs/default.yaml is laid out.
    using section_writer = void (*)(YAML::Emitter&, const machine_config&);
    constexpr section_writer sections[] = {write_profile, write_cpu,  write_ram,    write_bus, write_devices,
                                           write_mmu,     write_numa, write_kernel, write_sim};
    std::string text;
    for (section_writer write : sections) {
        YAML::Emitter out;
        out << YAML::BeginMap;
        write(out, config);
        out << YAML::EndMap;
        text += text.empty() ? "" : "\n";
        text += out.c_str();
        text += '\n';
    }
    return text;
}

}  // namespace memsim::platform
