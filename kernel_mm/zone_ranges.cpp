#include "kernel_mm/zone_ranges.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace memsim::kernel {
namespace {

std::uint64_t pfn_up(std::uint64_t address) { return (address + (1ull << page_shift) - 1) >> page_shift; }
std::uint64_t pfn_down(std::uint64_t address) { return address >> page_shift; }

// mm/mm_init.c prints ranges as "[mem %#018Lx-%#018Lx]", the end inclusive.
std::string mem_range(std::uint64_t start_pfn, std::uint64_t end_pfn) {
    return fmt::format("[mem {:#018x}-{:#018x}]", start_pfn << page_shift, (end_pfn << page_shift) - 1);
}

}  // namespace

pfn_limits pfn_limits_of(kernel_arch arch, const memblock& blocks) {
    pfn_limits limits;
    const auto& regions = blocks.memory().regions();
    if (regions.empty()) return limits;
    limits.min_pfn = pfn_up(regions.front().base);
    limits.max_pfn = pfn_down(regions.back().end());
    limits.max_low_pfn =
        arch == kernel_arch::x86_64 ? limits.max_pfn : std::min(limits.max_pfn, i386_maxmem_pfn);
    return limits;
}

// zone_sizes_init() gives each zone its highest pfn; free_area_init() starts each zone where
// the one before it ended (the first at the lowest pfn of RAM) and leaves it empty when its
// limit is not above that.
std::vector<zone_span> zone_spans(kernel_arch arch, const pfn_limits& limits) {
    std::vector<std::pair<zone_type, std::uint64_t>> highest;
    if (arch == kernel_arch::x86_64) {
        highest = {{zone_type::dma, std::min(max_dma_pfn, limits.max_low_pfn)},
                   {zone_type::dma32, std::min(max_dma32_pfn, limits.max_low_pfn)},
                   {zone_type::normal, limits.max_low_pfn},
                   {zone_type::device, 0}};
    } else {
        highest = {{zone_type::dma, std::min(max_dma_pfn, limits.max_low_pfn)},
                   {zone_type::normal, limits.max_low_pfn},
                   {zone_type::highmem, limits.max_pfn}};
    }
    std::vector<zone_span> spans;
    std::uint64_t start = limits.min_pfn;
    for (auto [zone, end] : highest) {
        end = std::max(end, start);
        spans.push_back({zone, start, end});
        start = end;
    }
    return spans;
}

std::vector<std::string> zone_range_lines(kernel_arch arch, const memblock& blocks) {
    pfn_limits limits = pfn_limits_of(arch, blocks);
    std::vector<std::string> lines{"Zone ranges:"};
    for (const zone_span& z : zone_spans(arch, limits)) {
        std::string where = z.start_pfn == z.end_pfn ? "empty" : mem_range(z.start_pfn, z.end_pfn);
        lines.push_back(fmt::format("  {:<8} {}", zone_name(z.zone), where));
    }
    lines.push_back("Movable zone start for each node");
    lines.push_back("Early memory node ranges");
    // Memory without a node yet is node 0's, as on a machine without NUMA.
    std::map<int, std::pair<std::uint64_t, std::uint64_t>> spans;
    for (const memblock_region& r : blocks.memory().regions()) {
        int nid = r.nid == MAX_NUMNODES ? 0 : r.nid;
        lines.push_back(fmt::format("  node {:>3}: {}", nid, mem_range(pfn_up(r.base), pfn_down(r.end()))));
        auto [it, fresh] = spans.try_emplace(nid, pfn_up(r.base), pfn_down(r.end()));
        if (!fresh) it->second.second = std::max(it->second.second, pfn_down(r.end()));
    }
    for (auto [nid, span] : spans)
        lines.push_back(fmt::format("Initmem setup node {} {}", nid, mem_range(span.first, span.second)));
    return lines;
}

}  // namespace memsim::kernel
