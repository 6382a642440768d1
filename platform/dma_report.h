// What a run says about DMA: per device its masks, where its coherent buffers came from, how
// many streaming mappings were bounced and what the copies cost, its transfers and dma-debug's
// findings; the swiotlb's occupancy; the DMA zones' free pages after boot and at the end. The
// same numbers go to the stats under kernel.dma.* and kernel.swiotlb.*.
#pragma once

#include <string>

#include "base/stats.h"
#include "platform/kernel_machine.h"

namespace memsim::platform {

// Empty when no driver did anything. The bus's own counters (bus.initiator.NAME.overreach*) say
// what each engine really reached, whatever the kernel believed.
std::string describe_dma(const kernel_machine& host, const stats::registry& stats);
void add_dma_stats(stats::registry& stats, const kernel_machine& host);

}  // namespace memsim::platform
