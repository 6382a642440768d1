// /proc/vmallocinfo (mm/vmalloc.c s_show and show_numa_info, Debian 6.1): every busy area with its
// size (guard page included), caller, page count, kind, whether its page array is itself
// vmalloc'ed, and on NUMA kernels its pages per node. Lazily freed areas ("unpurged vm_area")
// never appear: areas are purged as they are freed.
#include <fmt/format.h>

#include "kernel_mm/procfs.h"
#include "kernel_mm/vmalloc.h"

namespace memsim::kernel {
namespace {

// show_numa_info: " N<nid>=<pages>" for each node with memory that holds some of the pages.
std::string numa_info(const vmalloc_space& vm, const vm_struct& area) {
    std::string out;
    for (const pglist_data& node : vm.pages().nodes()) {
        std::uint64_t count = 0;
        for (const page* p : area.pages) {
            pfn_t pfn = vm.pages().page_to_pfn(p);
            if (pfn >= node.node_start_pfn && pfn < node.node_start_pfn + node.node_spanned_pages) ++count;
        }
        if (count) out += fmt::format(" N{}={}", node.node_id, count);
    }
    return out;
}

std::string area_line(const vmalloc_space& vm, const vm_struct& area) {
    unsigned digits = vm.pointer_digits();
    std::string out =
        fmt::format("0x{:0{}x}-0x{:0{}x} {:7}", area.addr, digits, area.addr + area.size, digits, area.size);
    if (!area.caller.empty()) out += " " + area.caller;
    if (!area.pages.empty()) out += fmt::format(" pages={}", area.pages.size());
    static constexpr std::pair<unsigned, const char*> kinds[] = {{VM_IOREMAP, " ioremap"},
                                                                 {VM_ALLOC, " vmalloc"},
                                                                 {VM_MAP, " vmap"},
                                                                 {VM_USERMAP, " user"},
                                                                 {VM_DMA_COHERENT, " dma-coherent"}};
    for (auto [flag, name] : kinds)
        if (area.flags & flag) out += name;
    if (area.pages_array) out += " vpages";
    if (vm.numa()) out += numa_info(vm, area);
    return out + "\n";
}

}  // namespace

std::string proc_vmallocinfo(const vmalloc_space& vm) {
    std::string out;
    for (const auto& [addr, area] : vm.areas()) out += area_line(vm, area);
    // show_purge_info (v6.1): after the last busy area, the freed ones not yet purged.
    if (vm.areas().empty()) return out;
    for (auto [addr, size] : vm.purge_list())
        out += fmt::format("0x{:0{}x}-0x{:0{}x} {:7} unpurged vm_area\n", addr, vm.pointer_digits(),
                           addr + size, vm.pointer_digits(), size);
    return out;
}

}  // namespace memsim::kernel
