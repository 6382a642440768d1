// DMA-API debugging (kernel/dma/debug.c): the entry table, check_unmap and check_sync with
// Linux's messages, and the containment query for device accesses.
#include "kernel_mm/dma/debug.h"

#include <fmt/format.h>

#include <algorithm>

namespace memsim::kernel {
namespace {

// kernel/dma/debug.c HASH_FN_SHIFT: the hash buckets are 8 KiB of device addresses, and
// bucket_find_contain walks back one bucket at a time up to dma_get_max_seg_size (64 KiB for
// a device without dma_parms).
constexpr unsigned hash_fn_shift = 13;
constexpr std::uint64_t max_seg_size = 64 * 1024;
// L1_CACHE_SHIFT on x86, and ACTIVE_CACHELINE_MAX_OVERLAP ((1 << RADIX_TREE_MAX_TAGS) - 1).
constexpr unsigned l1_cache_shift = 6;
constexpr unsigned active_cacheline_max_overlap = 7;

std::uint64_t to_cacheline_number(const dma_debug_entry& entry) {
    return (entry.pfn << (12 - l1_cache_shift)) + (entry.offset >> l1_cache_shift);
}

// __hash_bucket_find's best fit over the candidates `match` accepts: a perfect fit (size,
// type, direction and sg_call_ents all equal) at once, else the best of them, but only when
// it was the one candidate.
template <typename It, typename Match>
It best_fit(It first, It last, const dma_debug_entry& ref, Match match) {
    It found = last;
    int matches = 0, last_lvl = -1;
    for (It it = first; it != last; ++it) {
        const dma_debug_entry& e = it->second;
        if (!match(e)) continue;
        ++matches;
        int lvl = (e.size == ref.size) + (e.type == ref.type) + (e.direction == ref.direction) +
                  (e.sg_call_ents == ref.sg_call_ents);
        if (lvl == 4) return it;
        if (lvl > last_lvl) {
            last_lvl = lvl;
            found = it;
        }
    }
    return matches == 1 ? found : last;
}

}  // namespace

const char* dma_debug_type_name(dma_debug_type type) {
    switch (type) {
        case dma_debug_type::single:
            return "single";
        case dma_debug_type::sg:
            return "scather-gather";  // sic, as 6.1 prints it
        case dma_debug_type::coherent:
            return "coherent";
        case dma_debug_type::resource:
            return "resource";
    }
    return "?";
}

std::string dev_printk_prefix(const device& dev) {
    return fmt::format("{} {}: ", dev_driver_string(dev), dev.name);
}

std::string dma_debug_prefix(const device& dev) { return "DMA-API: " + dev_printk_prefix(dev); }

// include/asm-generic/bug.h WARN(): __warn_printk prints the cut line and the message, __warn
// the WARNING line (no registers or call trace here). WARN_ON has no message.
void dma_warn(printk_buffer& log, machine_ops& machine, const std::string& message, const char* where) {
    log.print(machine.now(), kern_level::warning, "------------[ cut here ]------------");
    if (!message.empty()) log.print(machine.now(), kern_level::warning, message);
    log.print(machine.now(), kern_level::warning,
              fmt::format("WARNING: CPU: {} PID: 0 at {}", machine.context().cpu, where));
}

dma_debug::dma_debug(printk_buffer& log, machine_ops& machine, const dma_debug_config& config)
    : m_log(log), m_machine(machine), m_config(config), m_show_num_errors(config.num_errors) {}

// driver_filter: with dma_debug_driver= set, only that driver's errors are printed.
bool dma_debug::driver_filter(const device& dev) const {
    return m_config.driver_filter.empty() || dev.driver == m_config.driver_filter;
}

// err_printk: every error counts; the first num_errors (or all) are printed as a WARN. The
// countdown runs whether the driver filter let the error through or not, as in Linux.
void dma_debug::err_printk(device& dev, dma_debug_error error, const std::string& text, const char* where) {
    ++m_error_count;
    ++dev.dma_stats.debug_error_count;
    ++dev.dma_stats.debug_errors[static_cast<unsigned>(error)];
    if (driver_filter(dev) && (m_config.all_errors || m_show_num_errors > 0))
        dma_warn(m_log, m_machine, dma_debug_prefix(dev) + text, where);
    if (!m_config.all_errors && m_show_num_errors > 0) --m_show_num_errors;
}

// active_cacheline_insert: "If the device is not writing memory then we don't have any
// concerns about the cpu consuming stale data"; otherwise a second mapping starting in the same
// cacheline is an overlap (false), counted up to what the tags hold.
bool dma_debug::active_cacheline_insert(const dma_debug_entry& entry) {
    if (entry.direction == DMA_TO_DEVICE) return true;
    auto [it, inserted] = m_active_cachelines.try_emplace(to_cacheline_number(entry), 0u);
    if (inserted) return true;
    it->second = std::min(it->second + 1, active_cacheline_max_overlap);
    return false;
}

// active_cacheline_remove: the overlap count goes down; the cacheline goes when it is none.
void dma_debug::active_cacheline_remove(const dma_debug_entry& entry) {
    if (entry.direction == DMA_TO_DEVICE) return;
    auto it = m_active_cachelines.find(to_cacheline_number(entry));
    if (it == m_active_cachelines.end()) return;
    if (it->second == 0)
        m_active_cachelines.erase(it);
    else
        --it->second;
}

// add_dma_entry: into the device's table, then the cacheline check (quiet for mappings that
// skip the CPU sync).
void dma_debug::add_dma_entry(device& dev, const dma_debug_entry& entry, unsigned long attrs) {
    dma_debug_table& table = dev.dma_debug;
    table.entries.emplace(entry.dev_addr, entry);
    table.max_size = std::max(table.max_size, entry.size);
    table.freed_coherent.erase(entry.dev_addr);
    if (!active_cacheline_insert(entry) && !(attrs & DMA_ATTR_SKIP_CPU_SYNC))
        err_printk(dev, dma_debug_error::overlapping_mapping,
                   "cacheline tracking EEXIST, overlapping mappings aren't supported",
                   "kernel/dma/debug.c add_dma_entry");
}

void dma_debug::debug_dma_alloc_coherent(device& dev, std::uint64_t size, dma_addr_t dma_addr, pfn_t pfn,
                                         std::uint64_t offset, unsigned long attrs) {
    dma_debug_entry entry;
    entry.type = dma_debug_type::coherent;
    entry.dev_addr = dma_addr;
    entry.size = size;
    entry.direction = DMA_BIDIRECTIONAL;
    entry.pfn = pfn;
    entry.offset = offset;
    add_dma_entry(dev, entry, attrs);
}

std::optional<dma_debug_entry> dma_debug::debug_dma_free_coherent(device& dev, std::uint64_t size, pfn_t pfn,
                                                                  std::uint64_t offset, dma_addr_t dma_addr,
                                                                  bool report) {
    dma_debug_entry ref;
    ref.type = dma_debug_type::coherent;
    ref.dev_addr = dma_addr;
    ref.size = size;
    ref.direction = DMA_BIDIRECTIONAL;
    ref.pfn = pfn;
    ref.offset = offset;
    return check_unmap(dev, ref, report);
}

void dma_debug::debug_dma_map_page(device& dev, pfn_t pfn, std::uint64_t offset, std::uint64_t size,
                                   dma_data_direction dir, dma_addr_t dma_addr, unsigned long attrs) {
    if (dma_addr == DMA_MAPPING_ERROR) return;
    dma_debug_entry entry;
    entry.type = dma_debug_type::single;
    entry.dev_addr = dma_addr;
    entry.size = size;
    entry.direction = dir;
    entry.pfn = pfn;
    entry.offset = offset;
    entry.map_err = map_err_type::not_checked;
    add_dma_entry(dev, entry, attrs);
}

std::optional<dma_debug_entry> dma_debug::debug_dma_unmap_page(device& dev, dma_addr_t dma_addr,
                                                               std::uint64_t size, dma_data_direction dir) {
    dma_debug_entry ref;
    ref.type = dma_debug_type::single;
    ref.dev_addr = dma_addr;
    ref.size = size;
    ref.direction = dir;
    return check_unmap(dev, ref);
}

void dma_debug::debug_dma_map_sg(device& dev, std::span<const dma_debug_sg> sg, int nents, int mapped_ents,
                                 dma_data_direction dir, unsigned long attrs) {
    for (std::size_t i = 0; i < sg.size() && i < static_cast<std::size_t>(std::max(mapped_ents, 0)); ++i) {
        dma_debug_entry entry;
        entry.type = dma_debug_type::sg;
        entry.dev_addr = sg[i].dma_address;
        entry.size = sg[i].dma_length;
        entry.direction = dir;
        entry.pfn = sg[i].pfn;
        entry.offset = sg[i].offset;
        entry.sg_call_ents = nents;
        entry.sg_mapped_ents = mapped_ents;
        add_dma_entry(dev, entry, attrs);
    }
}

// get_nr_mapped_entries: what dma_map_sg returned, from the entry of the first segment.
int dma_debug::nr_mapped_entries(const device& dev, const dma_debug_entry& ref) const {
    auto [first, last] = dev.dma_debug.entries.equal_range(ref.dev_addr);
    auto it = best_fit(first, last, ref, [](const dma_debug_entry&) { return true; });
    return it == last ? 0 : it->second.sg_mapped_ents;
}

// debug_dma_unmap_sg: as many segments as were mapped, each through check_unmap.
void dma_debug::debug_dma_unmap_sg(device& dev, std::span<const dma_debug_sg> sg, dma_data_direction dir) {
    int mapped_ents = 0;
    for (std::size_t i = 0; i < sg.size(); ++i) {
        dma_debug_entry ref;
        ref.type = dma_debug_type::sg;
        ref.dev_addr = sg[i].dma_address;
        ref.size = sg[i].dma_length;
        ref.direction = dir;
        ref.pfn = sg[i].pfn;
        ref.offset = sg[i].offset;
        ref.sg_call_ents = static_cast<int>(sg.size());
        if (mapped_ents && static_cast<int>(i) >= mapped_ents) break;
        if (i == 0) mapped_ents = nr_mapped_entries(dev, ref);
        check_unmap(dev, ref);
    }
}

void dma_debug::debug_dma_mapping_error(device& dev, dma_addr_t dma_addr) {
    auto [first, last] = dev.dma_debug.entries.equal_range(dma_addr);
    for (auto it = first; it != last; ++it) {
        if (it->second.map_err == map_err_type::not_checked) {
            it->second.map_err = map_err_type::checked;
            break;
        }
    }
}

// check_unmap: find the entry the driver means (same device, same device address, best fit),
// report every way the unmap or free differs from the map or allocation, and drop the entry.
std::optional<dma_debug_entry> dma_debug::check_unmap(device& dev, const dma_debug_entry& ref, bool report) {
    constexpr const char* where = "kernel/dma/debug.c check_unmap";
    dma_debug_table& table = dev.dma_debug;
    auto [first, last] = table.entries.equal_range(ref.dev_addr);
    auto it = best_fit(first, last, ref, [](const dma_debug_entry&) { return true; });
    if (it == last) {
        if (!report) return std::nullopt;
        if (ref.dev_addr == DMA_MAPPING_ERROR) {
            err_printk(dev, dma_debug_error::free_invalid_address,
                       "device driver tries to free an invalid DMA memory address", where);
        } else {
            // A second free of a coherent buffer finds nothing, as any stray free does; memsim
            // remembers the buffers the device freed to count that case apart.
            if (ref.type == dma_debug_type::coherent && table.freed_coherent.contains(ref.dev_addr))
                ++dev.dma_stats.debug_errors[static_cast<unsigned>(dma_debug_error::double_free)];
            err_printk(dev, dma_debug_error::free_not_allocated,
                       fmt::format("device driver tries to free DMA memory it has not allocated "
                                   "[device address=0x{:016x}] [size={} bytes]",
                                   ref.dev_addr, ref.size),
                       where);
        }
        return std::nullopt;
    }
    dma_debug_entry entry = it->second;
    if (report) {
        if (ref.size != entry.size)
            err_printk(dev, dma_debug_error::different_size,
                       fmt::format("device driver frees DMA memory with different size "
                                   "[device address=0x{:016x}] [map size={} bytes] [unmap size={} bytes]",
                                   ref.dev_addr, entry.size, ref.size),
                       where);
        if (ref.type != entry.type) {
            err_printk(
                dev, dma_debug_error::wrong_function,
                fmt::format("device driver frees DMA memory with wrong function "
                            "[device address=0x{:016x}] [size={} bytes] [mapped as {}] [unmapped as {}]",
                            ref.dev_addr, ref.size, dma_debug_type_name(entry.type),
                            dma_debug_type_name(ref.type)),
                where);
        } else if (entry.type == dma_debug_type::coherent && ref.phys() != entry.phys()) {
            err_printk(dev, dma_debug_error::different_cpu_address,
                       fmt::format("device driver frees DMA memory with different CPU address "
                                   "[device address=0x{:016x}] [size={} bytes] "
                                   "[cpu alloc address=0x{:016x}] [cpu free address=0x{:016x}]",
                                   ref.dev_addr, ref.size, entry.phys(), ref.phys()),
                       where);
        }
        if (ref.sg_call_ents && ref.type == dma_debug_type::sg && ref.sg_call_ents != entry.sg_call_ents)
            err_printk(dev, dma_debug_error::sg_entry_count,
                       fmt::format("device driver frees DMA sg list with different entry count "
                                   "[map count={}] [unmap count={}]",
                                   entry.sg_call_ents, ref.sg_call_ents),
                       where);
        // "This may be no bug in reality - but most implementations of the DMA API don't
        // handle this properly, so check for it here."
        if (ref.direction != entry.direction)
            err_printk(
                dev, dma_debug_error::different_direction,
                fmt::format("device driver frees DMA memory with different direction "
                            "[device address=0x{:016x}] [size={} bytes] [mapped with {}] [unmapped with {}]",
                            ref.dev_addr, ref.size, dma_direction_name(entry.direction),
                            dma_direction_name(ref.direction)),
                where);
        // Linux's text has no space before the bracket.
        if (entry.map_err == map_err_type::not_checked)
            err_printk(dev, dma_debug_error::map_error_not_checked,
                       fmt::format("device driver failed to check map error"
                                   "[device address=0x{:016x}] [size={} bytes] [mapped as {}]",
                                   ref.dev_addr, ref.size, dma_debug_type_name(entry.type)),
                       where);
    }
    table.entries.erase(it);
    active_cacheline_remove(entry);  // dma_entry_free
    if (entry.type == dma_debug_type::coherent) table.freed_coherent.insert(entry.dev_addr);
    return entry;
}

// check_sync: the entry containing the synced range, searched as bucket_find_contain does (the
// reference's 8 KiB bucket, then one bucket back at a time for up to 64 KiB), then the range
// and direction checks.
void dma_debug::check_sync(device& dev, const dma_debug_entry& ref, bool to_cpu) {
    constexpr const char* where = "kernel/dma/debug.c check_sync";
    const auto& entries = dev.dma_debug.entries;
    auto contains = [&](const dma_debug_entry& e) {
        return e.dev_addr <= ref.dev_addr && e.dev_addr + e.size >= ref.dev_addr + ref.size;
    };
    const dma_debug_entry* entry = nullptr;
    dma_addr_t index = ref.dev_addr;
    for (std::uint64_t range = 0; range <= max_seg_size && !entry; range += 1u << hash_fn_shift) {
        dma_addr_t bucket = index >> hash_fn_shift;
        auto first = entries.lower_bound(bucket << hash_fn_shift);
        auto last = entries.lower_bound((bucket + 1) << hash_fn_shift);
        auto it = best_fit(first, last, ref, contains);
        if (it != last) entry = &it->second;
        if (index < (1u << hash_fn_shift)) break;
        index -= 1u << hash_fn_shift;
    }
    if (!entry) {
        err_printk(dev, dma_debug_error::sync_not_allocated,
                   fmt::format("device driver tries to sync DMA memory it has not allocated "
                               "[device address=0x{:016x}] [size={} bytes]",
                               ref.dev_addr, ref.size),
                   where);
        return;
    }
    if (ref.size > entry->size)
        err_printk(dev, dma_debug_error::sync_outside_range,
                   fmt::format("device driver syncs DMA memory outside allocated range "
                               "[device address=0x{:016x}] [allocation size={} bytes] [sync offset+size={}]",
                               entry->dev_addr, entry->size, ref.size),
                   where);
    if (entry->direction == DMA_BIDIRECTIONAL) return;
    auto directions = [&] {
        return fmt::format("[device address=0x{:016x}] [size={} bytes] [mapped with {}] [synced with {}]",
                           ref.dev_addr, entry->size, dma_direction_name(entry->direction),
                           dma_direction_name(ref.direction));
    };
    if (ref.direction != entry->direction)
        err_printk(dev, dma_debug_error::sync_different_direction,
                   "device driver syncs DMA memory with different direction " + directions(), where);
    if (to_cpu && entry->direction != DMA_FROM_DEVICE && ref.direction != DMA_TO_DEVICE)
        err_printk(dev, dma_debug_error::sync_read_only_for_cpu,
                   "device driver syncs device read-only DMA memory for cpu " + directions(), where);
    if (!to_cpu && entry->direction != DMA_TO_DEVICE && ref.direction != DMA_FROM_DEVICE)
        err_printk(dev, dma_debug_error::sync_write_only_to_device,
                   "device driver syncs device write-only DMA memory to device " + directions(), where);
}

void dma_debug::debug_dma_sync_single(device& dev, dma_addr_t dma_addr, std::uint64_t size,
                                      dma_data_direction dir, bool to_cpu) {
    dma_debug_entry ref;
    ref.type = dma_debug_type::single;
    ref.dev_addr = dma_addr;
    ref.size = size;
    ref.direction = dir;
    check_sync(dev, ref, to_cpu);
}

void dma_debug::debug_dma_map_invalid_area(device& dev, std::uint64_t addr, std::uint64_t len,
                                           unsigned digits) {
    err_printk(
        dev, dma_debug_error::map_invalid_area,
        fmt::format("device driver maps memory from invalid area [addr={:0{}x}] [len={}]", addr, digits, len),
        "kernel/dma/debug.c debug_dma_map_single");
}

// memsim's own check (no IOMMU lets Linux see device accesses), reported in err_printk's way
// and named after the place that makes it.
bool dma_debug::check_device_access(device& dev, dma_addr_t dma_addr, std::uint64_t len, bool write) {
    const char* verb = write ? "writes" : "reads";
    const dma_debug_entry* entry = find_containing(dev, dma_addr, len);
    if (!entry) {
        err_printk(
            dev, dma_debug_error::device_access_unmapped,
            fmt::format("device {} memory it has no mapping for [device address={:#018x}] [size={} bytes]",
                        verb, dma_addr, len),
            "kernel_mm/drivers/memsim_dma.cpp memsim_dma::start");
        return false;
    }
    dma_data_direction forbidden = write ? DMA_TO_DEVICE : DMA_FROM_DEVICE;
    if (entry->type == dma_debug_type::coherent || entry->direction != forbidden) return true;
    err_printk(dev, dma_debug_error::device_access_direction,
               fmt::format("device {} DMA memory mapped {} [device address={:#018x}] [size={} bytes]", verb,
                           dma_direction_name(forbidden), dma_addr, len),
               "kernel_mm/drivers/memsim_dma.cpp memsim_dma::start");
    return false;
}

// Any live entry containing the range; entries are at most max_size long, so only those
// starting within max_size below the range's end can contain it.
const dma_debug_entry* dma_debug::find_containing(const device& dev, dma_addr_t dma_addr,
                                                  std::uint64_t len) const {
    const dma_debug_table& table = dev.dma_debug;
    if (len == 0 || dma_addr + len < dma_addr) return nullptr;
    dma_addr_t end = dma_addr + len;
    dma_addr_t lowest = end > table.max_size ? end - table.max_size : 0;
    for (auto it = table.entries.lower_bound(lowest); it != table.entries.end() && it->first <= dma_addr;
         ++it) {
        const dma_debug_entry& e = it->second;
        if (e.dev_addr + e.size >= end) return &e;
    }
    return nullptr;
}

}  // namespace memsim::kernel
