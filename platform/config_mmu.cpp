// The `mmu` section of a machine config: the TLB hierarchy, level by level, and the sizes of the
// paging-structure caches.
#include <algorithm>
#include <stdexcept>

#include "platform/config_checker.h"

namespace memsim::platform {
namespace detail {
namespace {

constexpr std::string_view mmu_keys[] = {"tlbs", "paging_structure_caches"};
constexpr std::string_view tlb_keys[] = {"name",    "level", "port",        "page_sizes",
                                         "entries", "ways",  "replacement", "hit_latency"};
constexpr std::string_view psc_keys[] = {"pml5e", "pml4e", "pdpte", "pde"};

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

mmu::tlb_array_config read_tlb(const checker& r, const at& e, unsigned& level) {
    r.expect_map(e, tlb_keys);
    if (!e.node.IsMap()) r.fail(e, "expected a mapping");
    mmu::tlb_array_config c;
    at name = r.required(e, "name");
    c.name = checked_name(r, name);
    // The hierarchy's own counters sit beside the arrays' (cpu.tlb.lookups, cpu.tlb.misses_4k).
    if (c.name == "lookups" || c.name.starts_with("misses"))
        r.fail(name, fmt::format("'{}' names one of the TLB hierarchy's own statistics", c.name));
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

// The TLB model knows its own rules (one array per port and page size in a level, tree-PLRU up to
// 64 ways, ...): build it once to ask, so the config and the model never disagree.
void check_buildable(const checker& r, const at& list, const mmu::tlb_config& tlbs) {
    try {
        stats::registry scratch;
        mmu::tlb_hierarchy trial(tlbs, scratch.under("tlb"));
    } catch (const std::invalid_argument& e) {
        r.fail(list, e.what());
    }
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
    check_buildable(r, list, tlbs);
}

}  // namespace

void read_mmu(const checker& r, const at& top, mmu_config& m) {
    at s = r.section(top, "mmu", mmu_keys);
    if (auto f = r.field(s, "tlbs")) read_tlbs(r, *f, m.tlbs);
    at caches = r.section(s, "paging_structure_caches", psc_keys);
    if (auto f = r.field(caches, "pml5e")) m.paging_caches.pml5e = r.uint(*f, 0, max_psc_entries);
    if (auto f = r.field(caches, "pml4e")) m.paging_caches.pml4e = r.uint(*f, 0, max_psc_entries);
    if (auto f = r.field(caches, "pdpte")) m.paging_caches.pdpte = r.uint(*f, 0, max_psc_entries);
    if (auto f = r.field(caches, "pde")) m.paging_caches.pde = r.uint(*f, 0, max_psc_entries);
}

}  // namespace detail

std::string_view to_string(mmu::replacement_policy p) {
    return detail::name_of(detail::replacement_names, p);
}
std::string_view to_string(mmu::page_size s) { return detail::name_of(detail::page_size_names, s); }

}  // namespace memsim::platform
