#include "platform/dma_report.h"

#include <bit>

#include <fmt/format.h>

#include "kernel_mm/process.h"
#include "kernel_mm/procfs.h"

namespace memsim::platform {
namespace {

using kernel::memsim_dma;

bool active(const memsim_dma& d) {
    const kernel::dma_device_stats& s = d.dev().dma_stats;
    return d.stats().transfers || d.stats().mask_calls || s.coherent_allocs || s.coherent_failures ||
           s.streaming_maps || s.mapping_errors || d.stats().interrupts;
}

unsigned mask_bits(std::uint64_t mask) {
    return mask ? 64 - static_cast<unsigned>(std::countl_zero(mask)) : 0;
}

std::string zones_of(const kernel::memsim_dma_stats& s) {
    std::string text;
    for (unsigned z = 0; z < s.coherent_by_zone.size(); ++z)
        if (s.coherent_by_zone[z])
            text += fmt::format("{}{} {}", text.empty() ? "" : ", ",
                                kernel::zone_name(static_cast<kernel::zone_type>(z)), s.coherent_by_zone[z]);
    return text.empty() ? "none" : text;
}

std::string call_time(const kernel::dma_call_time& t) {
    return t.calls ? fmt::format("{} x {:.2f} us", t.calls, t.mean_ns() / 1000.0) : "none";
}

std::string describe_device(const memsim_dma& d) {
    const kernel::device& dev = d.dev();
    const kernel::dma_device_stats& s = dev.dma_stats;
    const kernel::memsim_dma_stats& t = d.stats();
    std::string text =
        fmt::format("  {} ({} bus, irq {}): dma_mask {} bits, coherent_dma_mask {} bits{}\n", dev.name,
                    dev.bus, d.irq(), mask_bits(kernel::dma_get_mask(dev)), mask_bits(dev.coherent_dma_mask),
                    t.mask_failures ? fmt::format(" ({} dma_set_mask -EIO)", t.mask_failures) : "");
    text +=
        fmt::format("    coherent: {} allocated (by zone: {}), {} failed, {} retried lower, {} live ({})\n",
                    s.coherent_allocs, zones_of(t), s.coherent_failures, s.coherent_retries, s.coherent_live,
                    format_size(s.coherent_live_bytes));
    text += fmt::format(
        "    streaming: {} mapped ({} bounced), {} mapping errors; bounce copies {} to the device, {} back\n",
        s.streaming_maps, s.bounced_maps, s.mapping_errors, format_size(s.bounced_to_device_bytes),
        format_size(s.bounced_from_device_bytes));
    text += fmt::format("    dma_map: direct {}, bounced {}; dma_unmap: direct {}, bounced {}; dma_sync {}\n",
                        call_time(t.map_direct), call_time(t.map_bounced), call_time(t.unmap_direct),
                        call_time(t.unmap_bounced), call_time(t.sync));
    if (t.map_bounced.calls && t.map_direct.calls)
        text += fmt::format("    a mapping's map + unmap: {:.2f} us bounced, {:.2f} us in place\n",
                            (t.map_bounced.mean_ns() + t.unmap_bounced.mean_ns()) / 1000.0,
                            (t.map_direct.mean_ns() + t.unmap_direct.mean_ns()) / 1000.0);
    double seconds = double(t.busy_ps) * 1e-12;
    text += fmt::format(
        "    transfers: {} ({} failed{}{}), {} moved, {:.2f} us mean from start to interrupt, {:.1f} MB/s; "
        "dma-debug errors {}\n",
        t.transfers, t.failed, t.timeouts ? fmt::format(", {} timed out", t.timeouts) : "",
        d.in_flight() ? ", 1 still running at the end" : "", format_size(t.bytes),
        t.interrupts ? double(t.busy_ps) / double(t.interrupts) / 1e6 : 0.0,
        seconds > 0 ? double(t.bytes) / seconds / 1e6 : 0.0, s.debug_error_count);
    return text;
}

std::string describe_overreach(const memsim_dma& d, const stats::registry& stats) {
    std::string port = "bus.initiator." + d.dev().name + ".overreach";
    const std::uint64_t count = stats.value(port).value_or(0);
    if (!count) return {};
    return fmt::format(
        "    bus: {} accesses beyond the engine's reach, the first to {:#x}, which its address lines "
        "carry as {:#x}\n",
        count, stats.value(port + "_first_address").value_or(0),
        stats.value(port + "_first_landed").value_or(0));
}

// The page allocator's warn_alloc line of the first allocation that failed, if one did.
std::string first_failure(const kernel::printk_buffer& log) {
    for (const kernel::printk_record& r : log.records())
        if (r.text.find("page allocation failure") != std::string::npos)
            return fmt::format("  first allocation failure: {}\n", r.text);
    return {};
}

std::string describe_swiotlb(const kernel::io_tlb_mem* pool) {
    if (!pool) return "  swiotlb: none\n";
    const kernel::swiotlb_stats& s = pool->stats();
    return fmt::format(
        "  swiotlb: {} slots ({}) at {:#x}: {} mappings, {} in use at the end, high water {} slots, {} "
        "failed\n",
        pool->nslabs(), format_size(pool->end() - pool->start()), pool->start(), s.maps, pool->used(),
        s.used_high_water, s.failures);
}

// ZONE_DMA as experiments on it need it: its watermarks, what lowmem_reserve makes allocations
// for higher zones leave in it, and its free blocks by order (its /proc/buddyinfo line).
std::string describe_zone_dma(const kernel::page_allocator& pages) {
    for (const kernel::pglist_data& node : pages.nodes())
        for (const kernel::zone& z : node.zones) {
            if (z.type != kernel::zone_type::dma || !z.populated()) continue;
            std::string protection;
            // As /proc/zoneinfo prints it: one entry per configured zone.
            for (std::size_t j = 0; j < node.zones.size(); ++j)
                protection += fmt::format("{}{}", j ? ", " : "", z.lowmem_reserve[j]);
            std::string text = fmt::format(
                "  ZONE_DMA (node {}): {} pages managed, watermarks min {} low {} high {}, protection ({})\n",
                node.node_id, z.managed_pages, z.wmark.min, z.wmark.low, z.wmark.high, protection);
            std::string buddyinfo = kernel::proc_buddyinfo(pages);
            std::string key = fmt::format("Node {}, zone      DMA ", node.node_id);
            std::size_t at = buddyinfo.find(key);
            if (at != std::string::npos)
                text += "  buddyinfo: " + buddyinfo.substr(at, buddyinfo.find('\n', at) - at + 1);
            return text;
        }
    return {};
}

}  // namespace

std::string describe_dma(const kernel_machine& host, const stats::registry& stats) {
    if (!host.dma()) return {};
    std::string devices;
    for (const auto& d : host.dma_drivers())
        if (active(*d)) devices += describe_device(*d) + describe_overreach(*d, stats);
    if (devices.empty()) return {};
    std::string text =
        "DMA:\n" + devices + describe_swiotlb(host.dma()->swiotlb()) + first_failure(host.log());
    std::vector<kernel::zone_free> after = kernel::zone_free_pages(host.kernel()->pages());
    const std::vector<kernel::zone_free>& boot = host.free_after_boot();
    const std::vector<kernel::zone_free>& first = host.free_at_first_dma_buffer();
    text += "  free pages by zone, after boot -> at the first DMA buffer -> at the end:";
    for (std::size_t i = 0; i < after.size() && i < boot.size(); ++i)
        text += fmt::format(" {}.{} {} -> {} -> {}", after[i].node, kernel::zone_name(after[i].type),
                            boot[i].pages, i < first.size() ? fmt::format("{}", first[i].pages) : "-",
                            after[i].pages);
    return text + "\n" + describe_zone_dma(host.kernel()->pages());
}

void add_dma_stats(stats::registry& stats, const kernel_machine& host) {
    if (!host.dma()) return;
    stats::scope k = stats.under("kernel");
    for (const auto& d : host.dma_drivers()) {
        const kernel::dma_device_stats& s = d->dev().dma_stats;
        const kernel::memsim_dma_stats& t = d->stats();
        stats::scope dev = k.under("dma").under(d->dev().name);
        auto add = [&](std::string_view name, const char* what, std::uint64_t value) {
            dev.add_counter(name, what).value = value;
        };
        add("coherent_allocs", "dma_alloc_coherent calls that gave a buffer", s.coherent_allocs);
        add("coherent_failures", "dma_alloc_coherent calls that gave NULL", s.coherent_failures);
        add("coherent_retries", "Blocks given back because the device could not reach them",
            s.coherent_retries);
        add("coherent_live_bytes", "Coherent buffers not freed at the end (bytes asked)",
            s.coherent_live_bytes);
        for (unsigned z = 0; z < t.coherent_by_zone.size(); ++z)
            if (t.coherent_by_zone[z])
                add(fmt::format("coherent_from_{}",
                                stats::lower_case(kernel::zone_name(static_cast<kernel::zone_type>(z)))),
                    "Coherent buffers from this zone", t.coherent_by_zone[z]);
        add("streaming_maps", "Streaming mappings made", s.streaming_maps);
        add("bounced_maps", "Streaming mappings bounced through the swiotlb", s.bounced_maps);
        add("bounced_to_device_bytes", "Bytes the swiotlb copied into bounce buffers",
            s.bounced_to_device_bytes);
        add("bounced_from_device_bytes", "Bytes it copied back", s.bounced_from_device_bytes);
        add("mapping_errors", "DMA_MAPPING_ERROR returned", s.mapping_errors);
        add("map_direct_ps", "Simulated time of dma_map_single mapping in place", t.map_direct.ps);
        add("map_bounced_ps", "Simulated time of dma_map_single bouncing", t.map_bounced.ps);
        add("unmap_direct_ps", "Simulated time of dma_unmap_single in place", t.unmap_direct.ps);
        add("unmap_bounced_ps", "Simulated time of dma_unmap_single of bounce buffers", t.unmap_bounced.ps);
        add("transfers", "Transfers started", t.transfers);
        add("transfers_failed", "Transfers the engine ended with an error", t.failed);
        add("transfer_bytes", "Bytes of completed transfers", t.bytes);
        add("transfer_busy_ps", "Simulated time from each start to its interrupt's handler", t.busy_ps);
        add("interrupts", "Completion interrupts handled", t.interrupts);
        add("spurious_interrupts", "Interrupts on its line with nothing in flight", t.spurious);
        add("flagged_transfers", "Transfers dma-debug found touching memory not mapped for them", t.flagged);
        add("debug_errors", "Errors dma-debug reported for the device", s.debug_error_count);
        add("sync_ps", "Simulated time of dma_sync_single_for_cpu/_for_device", t.sync.ps);
        add("mask_failures", "dma_set_mask calls answered -EIO", t.mask_failures);
        add("refill_failures", "Refill pages the interrupt handler could not allocate", t.refill_failures);
        add("timeouts", "Waits for a completion interrupt that could not come", t.timeouts);
        add("in_flight_at_end", "1 when a transfer was still running as the workload ended", d->in_flight());
    }
    if (const kernel::io_tlb_mem* pool = host.dma()->swiotlb()) {
        stats::scope s = k.under("swiotlb");
        s.add_counter("slots", "Slots of 2 KiB in the pool").value = pool->nslabs();
        s.add_counter("used_high_water", "Most slots in use at once").value = pool->stats().used_high_water;
        s.add_counter("maps", "Bounce buffers handed out").value = pool->stats().maps;
        s.add_counter("failures", "Mappings refused: buffer full").value = pool->stats().failures;
    }
}

}  // namespace memsim::platform
