#include "platform/proc_files.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/error.h"
#include "kernel_mm/iomem.h"
#include "kernel_mm/procfs.h"

namespace memsim::platform {
namespace {

// arch/x86/kernel/setup.c: the kernel image's resources, and e820.c's order: the firmware's
// entries, then the devices, then the late reservations that wrap what they overlap.
std::string iomem(const kernel::kernel_state& k, const machine_config& c) {
    kernel::resource_tree tree;
    kernel::e820_reserve_resources(tree, k.e820());
    for (const dma_engine_config& d : c.dma_engines) tree.insert({d.base, d.base + d.size - 1, d.name});
    kernel::e820_reserve_resources_late(tree, k.e820());
    const kernel::kernel_image& image = k.config().image;
    tree.insert({image.text, image.text + image.code - 1, "Kernel code"});
    tree.insert({image.rodata_start(), image.rodata_start() + image.rodata - 1, "Kernel rodata"});
    tree.insert({image.data_start(), image.data_start() + image.rwdata - 1, "Kernel data"});
    tree.insert({image.bss_start(), image.bss_start() + image.bss - 1, "Kernel bss"});
    return tree.text();
}

kernel::meminfo_extras meminfo_extras_of(const kernel::kernel_state& k, const kernel::vmalloc_space& vm) {
    kernel::meminfo_extras extras;
    extras.vmalloc_total_kb = vm.vmalloc_total_kb();
    extras.vmalloc_used_pages = vm.nr_vmalloc_pages();
    const kernel::page_table& pgd = k.swapper_pg_dir();
    extras.direct_map_4k = pgd.leaves(mmu::page_size::size_4k);
    extras.direct_map_large = pgd.leaves(mmu::page_size::size_2m) + pgd.leaves(mmu::page_size::size_4m);
    extras.direct_map_1g = pgd.leaves(mmu::page_size::size_1g);
    extras.direct_gbpages = k.config().arch == kernel::kernel_arch::x86_64 && k.config().gbpages;
    return extras;
}

}  // namespace

void check_proc_name(std::string_view name) {
    if (std::find(std::begin(proc_names), std::end(proc_names), name) != std::end(proc_names)) return;
    throw user_error(source_location{"--proc"},
                     fmt::format("no /proc file '{}' (one of {})", name, fmt::join(proc_names, ", ")));
}

std::string proc_file(const kernel_machine& host, const machine_config& c, std::string_view name) {
    const kernel::kernel_state& k = *host.kernel();
    const kernel::page_allocator& pages = k.pages();
    if (name == "buddyinfo") return kernel::proc_buddyinfo(pages);
    if (name == "iomem") return iomem(k, c);
    if (name == "meminfo") return kernel::proc_meminfo(pages, meminfo_extras_of(k, *host.vmalloc()));
    if (name == "vmallocinfo") return kernel::proc_vmallocinfo(*host.vmalloc());
    if (name == "slabinfo") return kernel::proc_slabinfo(*host.slab());
    if (name == "pagetypeinfo") return kernel::proc_pagetypeinfo(pages, k.blocks());
    if (name == "vmstat") return kernel::proc_vmstat(pages);
    check_proc_name(name);
    return kernel::proc_zoneinfo(pages);
}

}  // namespace memsim::platform
