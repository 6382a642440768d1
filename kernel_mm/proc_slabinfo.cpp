// /proc/slabinfo (mm/slab_common.c print_slabinfo_header, cache_show) in 6.1's text: every
// value is modelled; SLUB has no tunables or shared arrays, so those columns print 0.
#include <fmt/format.h>

#include "kernel_mm/procfs.h"

namespace memsim::kernel {

std::string proc_slabinfo(const slab_allocator& slabs) {
    std::string out =
        "slabinfo - version: 2.1\n"
        "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
        " : tunables <limit> <batchcount> <sharedfactor>"
        " : slabdata <active_slabs> <num_slabs> <sharedavail>\n";
    const std::vector<kmem_cache*>& caches = slabs.slab_caches();
    for (auto it = caches.rbegin(); it != caches.rend(); ++it) {
        const kmem_cache& s = **it;
        slabinfo info = slabs.get_slabinfo(s);
        out += fmt::format(
            "{:<17} {:>6} {:>6} {:>6} {:>4} {:>4} : tunables {:>4} {:>4} {:>4} : slabdata {:>6} {:>6} "
            "{:>6}\n",
            s.name, info.active_objs, info.num_objs, s.size, info.objects_per_slab, 1u << info.cache_order, 0,
            0, 0, info.active_slabs, info.num_slabs, 0);
    }
    return out;
}

}  // namespace memsim::kernel
