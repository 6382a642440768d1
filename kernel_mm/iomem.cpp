#include "kernel_mm/iomem.h"

#include <optional>
#include <utility>
#include <vector>

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace memsim::kernel {

resource_tree::resource_tree(std::string name, std::uint64_t end) {
    m_nodes.push_back(node{resource{0, end, std::move(name)}, {}});
}

// __insert_resource: descend while one child contains the new resource; then the children it
// overlaps must all lie inside it, and it takes their place with them as its children.
insert_result resource_tree::insert(const resource& r) {
    std::size_t parent = 0;
    for (;;) {
        const resource& p = m_nodes[parent].res;
        // __request_resource refuses an empty range or one outside the parent with the parent.
        if (r.end < r.start || r.start < p.start || r.end > p.end) return {false, p};
        std::vector<std::size_t>& siblings = m_nodes[parent].children;
        auto first = std::find_if(siblings.begin(), siblings.end(),
                                  [&](std::size_t i) { return m_nodes[i].res.end >= r.start; });
        auto last = first;
        if (first != siblings.end() && m_nodes[*first].res.start <= r.end) {
            const resource& f = m_nodes[*first].res;
            bool contains = f.start <= r.start && f.end >= r.end;
            bool same = f.start == r.start && f.end == r.end;
            if (contains && !same) {
                parent = *first;
                continue;
            }
            for (; last != siblings.end() && m_nodes[*last].res.start <= r.end; ++last) {
                const resource& c = m_nodes[*last].res;
                if (c.start < r.start || c.end > r.end) return {false, c};
            }
        }
        // The new node takes the place of the children it adopts (none when nothing overlaps).
        node added{r, std::vector<std::size_t>(first, last)};
        auto at = first - siblings.begin();
        siblings.erase(first, last);
        m_nodes.push_back(std::move(added));
        // push_back may have moved the vector that `siblings` lives in: look it up again.
        std::vector<std::size_t>& children = m_nodes[parent].children;
        children.insert(children.begin() + at, m_nodes.size() - 1);
        return {true, {}};
    }
}

insert_result resource_tree::insert_expand_to_fit(resource r) {
    for (;;) {
        insert_result result = insert(r);
        if (result.inserted || result.conflict == root()) return result;
        r.start = std::min(r.start, result.conflict.start);
        r.end = std::max(r.end, result.conflict.end);
    }
}

void resource_tree::walk_from(std::size_t index, unsigned depth, std::vector<entry>& out) const {
    for (std::size_t child : m_nodes[index].children) {
        out.push_back(entry{m_nodes[child].res, depth});
        walk_from(child, depth + 1, out);
    }
}

std::vector<resource_tree::entry> resource_tree::walk() const {
    std::vector<entry> out;
    walk_from(0, 0, out);
    return out;
}

std::string resource_tree::text() const {
    // r_show: the indentation stops growing at MAX_IORES_LEVEL (5) levels.
    constexpr unsigned max_iores_level = 5;
    int width = root().end < 0x10000 ? 4 : 8;
    std::string out;
    for (const entry& e : walk()) {
        unsigned depth = std::min(e.depth, max_iores_level);
        out += fmt::format("{:{}}{:0{}x}-{:0{}x} : {}\n", "", depth * 2, e.res.start, width, e.res.end, width,
                           e.res.name);
    }
    return out;
}

std::string e820_resource_name(e820_type type) {
    switch (type) {
        case e820_type::ram:
            return "System RAM";
        case e820_type::reserved:
            return "Reserved";
        case e820_type::acpi:
            return "ACPI Tables";
        case e820_type::nvs:
            return "ACPI Non-volatile Storage";
        case e820_type::unusable:
            return "Unusable memory";
        case e820_type::pram:
            return "Persistent Memory (legacy)";
        case e820_type::pmem:
            return "Persistent Memory";
        case e820_type::soft_reserved:
            return "Soft Reserved";
    }
    return "Unknown E820 type";
}

namespace {

// do_mark_busy (arch/x86/kernel/e820.c): the legacy BIOS and ROM-shadow area below 1 MiB is
// always claimed at once; reserved and persistent ranges above it are left for drivers and PCI
// to claim first.
bool reserved_early(const e820_entry& e) {
    if (e.addr < 0x100000) return true;
    switch (e.type) {
        case e820_type::reserved:
        case e820_type::soft_reserved:
        case e820_type::pram:
        case e820_type::pmem:
            return false;
        default:
            return true;
    }
}

resource resource_of(const e820_entry& e) {
    return resource{e.addr, e.end() - 1, e820_resource_name(e.type)};
}

}  // namespace

void e820_reserve_resources(resource_tree& iomem, const e820_table& table) {
    for (const e820_entry& e : table.entries())
        if (reserved_early(e)) iomem.insert(resource_of(e));
}

namespace {

// ram_alignment: how far past the end of RAM a chipset may still decode it.
std::uint64_t ram_alignment(std::uint64_t pos) {
    std::uint64_t mb = pos >> 20;
    if (!mb) return 64 * 1024;
    if (mb < 16) return 1024 * 1024;
    return 64 * 1024 * 1024;
}

// kernel/resource.c reserve_region_with_split: [start, end] claimed at the top level wherever
// no top-level resource is, split around the ones that are.
void reserve_region_with_split(resource_tree& iomem, std::uint64_t start, std::uint64_t end,
                               const std::string& name) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> todo{{start, end}};
    while (!todo.empty()) {
        auto [s, e] = todo.back();
        todo.pop_back();
        std::optional<resource> conflict;
        for (const resource_tree::entry& top : iomem.walk())
            if (top.depth == 0 && top.res.start <= e && top.res.end >= s) {
                conflict = top.res;
                break;
            }
        if (!conflict) {
            iomem.insert({s, e, name});
        } else if (conflict->start > s) {
            todo.emplace_back(s, conflict->start - 1);
            if (conflict->end < e) todo.emplace_back(conflict->end + 1, e);
        } else if (conflict->end < e) {
            todo.emplace_back(conflict->end + 1, e);
        }
    }
}

}  // namespace

void e820_reserve_resources_late(resource_tree& iomem, const e820_table& table) {
    for (const e820_entry& e : table.entries())
        if (!reserved_early(e)) iomem.insert_expand_to_fit(resource_of(e));
    // The space after each RAM range up to its alignment is "RAM buffer", so that no device
    // is placed where the chipset may still decode RAM.
    for (const e820_entry& e : table.entries()) {
        if (e.type != e820_type::ram) continue;
        std::uint64_t start = e.end();
        std::uint64_t end =
            (start + ram_alignment(start) - 1) / ram_alignment(start) * ram_alignment(start) - 1;
        if (start < end) reserve_region_with_split(iomem, start, end, "RAM buffer");
    }
}

resource_tree iomem_from_e820(const e820_table& firmware) {
    e820_table table = firmware;
    trim_bios_range(table);
    resource_tree iomem;
    e820_reserve_resources(iomem, table);
    e820_reserve_resources_late(iomem, table);
    return iomem;
}

}  // namespace memsim::kernel
