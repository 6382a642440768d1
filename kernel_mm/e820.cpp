#include "kernel_mm/e820.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace memsim::kernel {

void e820_table::add(std::uint64_t addr, std::uint64_t size, e820_type type) {
    if (size == 0) return;
    // The kernel clamps a range that would wrap past the top of the address space.
    if (addr + size < addr) size = ~addr + 1;
    m_entries.push_back({addr, size, type});
}

void e820_table::update_range(std::uint64_t addr, std::uint64_t size, e820_type from, e820_type to) {
    std::uint64_t end = addr + size;
    std::vector<e820_entry> pieces;
    for (e820_entry& e : m_entries) {
        if (e.type != from || e.end() <= addr || e.addr >= end) continue;
        std::uint64_t lo = std::max(e.addr, addr), hi = std::min(e.end(), end);
        pieces.push_back({lo, hi - lo, to});
    }
    // The higher type wins in sanitize(), so a downgrade has to cut the old entry first.
    for (const e820_entry& p : pieces) {
        std::vector<e820_entry> kept;
        for (const e820_entry& e : m_entries) {
            if (e.type != from || e.end() <= p.addr || e.addr >= p.end()) {
                kept.push_back(e);
                continue;
            }
            if (e.addr < p.addr) kept.push_back({e.addr, p.addr - e.addr, e.type});
            if (e.end() > p.end()) kept.push_back({p.end(), e.end() - p.end(), e.type});
        }
        kept.push_back(p);
        m_entries = std::move(kept);
    }
    sanitize();
}

void e820_table::remove_range(std::uint64_t addr, std::uint64_t size, e820_type type) {
    std::uint64_t end = addr + size;
    std::vector<e820_entry> kept;
    for (const e820_entry& e : m_entries) {
        if (e.type != type || e.end() <= addr || e.addr >= end) {
            kept.push_back(e);
            continue;
        }
        if (e.addr < addr) kept.push_back({e.addr, addr - e.addr, e.type});
        if (e.end() > end) kept.push_back({end, e.end() - end, e.type});
    }
    m_entries = std::move(kept);
}

void e820_table::sanitize() {
    // Every boundary where some entry starts or ends cuts the address space into pieces; each
    // piece takes the highest type covering it, as e820__update_table's change-point walk does.
    std::vector<std::uint64_t> points;
    for (const e820_entry& e : m_entries) {
        points.push_back(e.addr);
        points.push_back(e.end());
    }
    std::sort(points.begin(), points.end());
    points.erase(std::unique(points.begin(), points.end()), points.end());
    std::vector<e820_entry> result;
    for (std::size_t i = 0; i + 1 < points.size(); ++i) {
        std::uint64_t from = points[i], to = points[i + 1];
        std::uint32_t best = 0;
        for (const e820_entry& e : m_entries)
            if (e.addr <= from && to <= e.end()) best = std::max(best, static_cast<std::uint32_t>(e.type));
        if (best == 0) continue;  // a hole
        auto type = static_cast<e820_type>(best);
        if (!result.empty() && result.back().end() == from && result.back().type == type)
            result.back().size += to - from;
        else
            result.push_back({from, to - from, type});
    }
    m_entries = std::move(result);
}

std::uint64_t e820_table::total(e820_type type) const {
    std::uint64_t sum = 0;
    for (const e820_entry& e : m_entries)
        if (e.type == type) sum += e.size;
    return sum;
}

std::vector<std::string> e820_table::boot_lines() const {
    std::vector<std::string> lines;
    for (const e820_entry& e : m_entries)
        lines.push_back(fmt::format("BIOS-e820: [mem {:#018x}-{:#018x}] {}", e.addr, e.end() - 1,
                                    e820_type_name(e.type)));
    return lines;
}

void trim_bios_range(e820_table& table) {
    // BIOS_BEGIN and BIOS_END, arch/x86/include/asm/e820/types.h.
    constexpr std::uint64_t bios_begin = 0xa0000, bios_end = 0x100000, page = 0x1000;
    table.update_range(0, page, e820_type::ram, e820_type::reserved);
    table.remove_range(bios_begin, bios_end - bios_begin, e820_type::ram);
    table.sanitize();
}

void add_to_memblock(const e820_table& table, memblock& blocks, unsigned phys_bits) {
    for (const e820_entry& e : table.entries())
        if (e.type == e820_type::ram && (phys_bits >= 64 || e.end() - 1 < (std::uint64_t{1} << phys_bits)))
            blocks.add(e.addr, e.size);
}

std::string e820_type_name(e820_type type) {
    switch (type) {
        case e820_type::ram:
            return "usable";
        case e820_type::reserved:
            return "reserved";
        case e820_type::acpi:
            return "ACPI data";
        case e820_type::nvs:
            return "ACPI NVS";
        case e820_type::unusable:
            return "unusable";
        case e820_type::pmem:
        case e820_type::pram:
            return fmt::format("persistent (type {})", static_cast<std::uint32_t>(type));
        case e820_type::soft_reserved:
            return "soft reserved";
    }
    return fmt::format("type {}", static_cast<std::uint32_t>(type));
}

}  // namespace memsim::kernel
