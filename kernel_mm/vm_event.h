// The kernel's event counters (include/linux/vm_event_item.h) that this model counts, as
// /proc/vmstat reports them: pages allocated per zone, pages freed, faults; and the node
// states that processes change.
#pragma once

#include <array>
#include <cstdint>

#include "kernel_mm/zone_type.h"

namespace memsim::kernel {

struct vm_events {
    std::array<std::uint64_t, 6> pgalloc{};  // PGALLOC per zone_type, in pages
    std::uint64_t pgfree = 0;                // pages given back to the allocator
    std::uint64_t pgfault = 0;
    std::uint64_t pgmajfault = 0;

    std::uint64_t& pgalloc_of(zone_type zone) { return pgalloc[static_cast<unsigned>(zone)]; }
    std::uint64_t pgalloc_of(zone_type zone) const { return pgalloc[static_cast<unsigned>(zone)]; }
};

// The node_stat_item states processes change (include/linux/mmzone.h), summed over nodes:
// /proc/meminfo's AnonPages, Shmem, KernelStack and PageTables.
struct node_page_state {
    std::uint64_t nr_anon_mapped = 0;  // NR_ANON_MAPPED, in pages
    std::uint64_t nr_shmem = 0;        // NR_SHMEM, in pages
    std::uint64_t nr_kernel_stack_kb = 0;
    std::uint64_t nr_pagetable = 0;  // NR_PAGETABLE, in pages
};

}  // namespace memsim::kernel
