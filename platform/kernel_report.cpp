#include "platform/kernel_report.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "platform/output.h"
#include "platform/proc_files.h"

namespace memsim::platform {
namespace {

constexpr std::uint64_t page_bytes = 4096;
constexpr std::size_t slabtop_rows = 8;

struct cache_use {
    const kernel::kmem_cache* cache;
    kernel::slabinfo info;
    std::uint64_t bytes() const { return info.num_slabs * (page_bytes << info.cache_order); }
};

std::vector<cache_use> caches_by_use(const kernel::slab_allocator& slab) {
    std::vector<cache_use> caches;
    for (const kernel::kmem_cache* c : slab.slab_caches()) caches.push_back({c, slab.get_slabinfo(*c)});
    // slabtop's default order: memory used, then name.
    std::stable_sort(caches.begin(), caches.end(), [](const cache_use& a, const cache_use& b) {
        return a.bytes() != b.bytes() ? a.bytes() > b.bytes() : a.cache->name < b.cache->name;
    });
    return caches;
}

std::uint64_t kernel_bugs(const kernel_machine& host) {
    const kernel::kernel_state* k = host.kernel();
    std::uint64_t bugs = k ? k->pages().bugs() : 0;
    if (host.slab()) bugs += host.slab()->bugs();
    if (host.highmem()) bugs += host.highmem()->bugs();
    return bugs;
}

// slabtop's table, the largest caches first; nothing while every cache is empty.
std::string slabtop(const kernel::slab_allocator& slab) {
    std::string rows;
    std::size_t shown = 0;
    for (const cache_use& c : caches_by_use(slab)) {
        if (c.info.num_objs == 0 || shown++ == slabtop_rows) break;
        rows += fmt::format("  {:<20}{:>10}{:>10}{:>8}{:>9}K\n", c.cache->name, c.info.active_objs,
                            c.info.num_objs, c.cache->size, c.bytes() / 1024);
    }
    if (rows.empty()) return rows;
    return fmt::format("  {:<20}{:>10}{:>10}{:>8}{:>10}\n", "slab cache", "active", "objs", "size",
                       "memory") +
           rows;
}

}  // namespace

std::string describe_kernel(const kernel_machine& host) {
    if (host.panic()) return fmt::format("kernel: panic: {}\n", *host.panic());
    const kernel::kernel_state* k = host.kernel();
    if (!k) return {};
    std::vector<std::string> memory = k->log().lines("Memory:");
    std::string text = fmt::format("kernel: booted; {}\n", memory.empty() ? "" : memory.front());
    if (std::uint64_t bugs = kernel_bugs(host))
        text += fmt::format("kernel: {} bugs reported (see dmesg.log)\n", bugs);
    if (host.slab()) text += slabtop(*host.slab());
    return text;
}

void add_kernel_stats(stats::registry& stats, const kernel_machine& host) {
    const kernel::kernel_state* k = host.kernel();
    if (!k) return;
    const kernel::page_allocator& pages = k->pages();
    stats::scope s = stats.under("kernel");
    s.add_counter("nr_free_pages", "Pages on the buddy allocator's free lists at the end").value =
        pages.nr_free_pages();
    s.add_counter("totalram_pages", "Pages the buddy allocator manages").value = pages.totalram_pages();
    s.add_counter("pgfree", "Pages freed to the buddy allocator (vmstat pgfree)").value =
        pages.events().pgfree;
    s.add_counter("bugs", "Kernel bugs reported (bad page and slab states, impossible requests)").value =
        kernel_bugs(host);
    if (const kernel::slab_allocator* slab = host.slab()) {
        std::uint64_t objects = 0, slab_pages = 0;
        for (const cache_use& c : caches_by_use(*slab)) {
            objects += c.info.active_objs;
            slab_pages += c.bytes() / page_bytes;
        }
        s.add_counter("slab.caches", "Slab caches, aliases merged").value = slab->slab_caches().size();
        s.add_counter("slab.active_objs", "Objects allocated from slab caches at the end").value = objects;
        s.add_counter("slab.pages", "Pages the slab caches hold at the end").value = slab_pages;
    }
    if (const kernel::vmalloc_space* vm = host.vmalloc()) {
        s.add_counter("vmalloc.areas", "vmalloc and vmap areas at the end").value = vm->areas().size();
        s.add_counter("vmalloc.pages", "Pages vmalloc areas hold at the end (VmallocUsed)").value =
            vm->nr_vmalloc_pages();
    }
}

void write_proc(const std::filesystem::path& out, const kernel_machine& host, const machine_config& config) {
    if (!host.kernel()) return;
    std::filesystem::path dir = out / "proc";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    for (std::string_view name : proc_names)
        write_output(dir, std::string(name), proc_file(host, config, name));
}

}  // namespace memsim::platform
