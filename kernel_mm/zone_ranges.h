// Where each memory zone starts and ends on x86 (arch/x86/mm/init.c zone_sizes_init and
// mm/mm_init.c free_area_init), and the boot log's "Zone ranges:" and "Early memory node
// ranges" lines that show it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernel_mm/memblock.h"
#include "kernel_mm/zone_type.h"

namespace memsim::kernel {

enum class kernel_arch { i386, x86_64 };

inline constexpr unsigned page_shift = 12;
// arch/x86/include/asm/dma.h: the ISA DMA limit (16 MiB) and the 32-bit one (4 GiB).
inline constexpr std::uint64_t max_dma_pfn = (16ull << 20) >> page_shift;
inline constexpr std::uint64_t max_dma32_pfn = (4ull << 30) >> page_shift;
// i386 with the 3G/1G split: low memory ends at MAXMEM = VMALLOC_END - PAGE_OFFSET -
// __VMALLOC_RESERVE, which a Debian 686-pae kernel puts at 0x36ffe000 (LINUX-FACTS.md).
inline constexpr std::uint64_t i386_maxmem_pfn = 0x36ffe;

struct pfn_limits {
    std::uint64_t min_pfn = 0;      // the first page of RAM memblock knows
    std::uint64_t max_low_pfn = 0;  // the end of directly mapped low memory
    std::uint64_t max_pfn = 0;      // the end of RAM
};

// From memblock's memory: x86_64 keeps all of RAM low (init_mem_mapping sets max_low_pfn =
// max_pfn); i386 caps low memory at MAXMEM, the rest is high memory.
pfn_limits pfn_limits_of(kernel_arch arch, const memblock& blocks);

struct zone_span {
    zone_type zone;
    std::uint64_t start_pfn = 0;
    std::uint64_t end_pfn = 0;  // exclusive; equal to start_pfn for an empty zone
};

// The zones the boot log lists, in order (all configured ones but Movable): DMA, DMA32, Normal,
// Device on x86_64; DMA, Normal, HighMem on i386 (Debian's configurations).
std::vector<zone_span> zone_spans(kernel_arch arch, const pfn_limits& limits);

// "Zone ranges:", "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]", ..., "Movable zone
// start for each node", "Early memory node ranges", "  node   0: [mem ...]" per memory region,
// and "Initmem setup node 0 [mem ...]".
std::vector<std::string> zone_range_lines(kernel_arch arch, const memblock& blocks);

}  // namespace memsim::kernel
