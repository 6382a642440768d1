// The DMA API's shared vocabulary (include/linux/dma-direction.h, dma-mapping.h): which way a
// mapping's data flows, the error handle a failed mapping returns, and the attributes the
// swiotlb honours. Every layer of the DMA API (swiotlb, dma-direct, drivers) includes this.
#pragma once

#include <cstdint>

namespace memsim::kernel {

// include/linux/dma-direction.h, with Linux's values.
enum dma_data_direction {
    DMA_BIDIRECTIONAL = 0,
    DMA_TO_DEVICE = 1,
    DMA_FROM_DEVICE = 2,
    DMA_NONE = 3,
};

inline constexpr bool valid_dma_direction(dma_data_direction dir) {
    return dir == DMA_BIDIRECTIONAL || dir == DMA_TO_DEVICE || dir == DMA_FROM_DEVICE;
}

// The names dma-debug and swiotlb print a direction by (kernel/dma/debug.c dir2name).
inline constexpr const char* dma_direction_name(dma_data_direction dir) {
    switch (dir) {
        case DMA_BIDIRECTIONAL:
            return "DMA_BIDIRECTIONAL";
        case DMA_TO_DEVICE:
            return "DMA_TO_DEVICE";
        case DMA_FROM_DEVICE:
            return "DMA_FROM_DEVICE";
        case DMA_NONE:
            return "DMA_NONE";
    }
    return "?";
}

// A bus address as a device puts it on the bus (64-bit: CONFIG_ARCH_DMA_ADDR_T_64BIT).
using dma_addr_t = std::uint64_t;

// include/linux/dma-mapping.h: what a failed mapping returns.
inline constexpr dma_addr_t DMA_MAPPING_ERROR = ~dma_addr_t{0};

// include/linux/dma-mapping.h: the attributes the swiotlb looks at.
inline constexpr unsigned long DMA_ATTR_SKIP_CPU_SYNC = 1ul << 5;  // no bounce copy on unmap
inline constexpr unsigned long DMA_ATTR_NO_WARN = 1ul << 8;        // no "buffer is full" warning

}  // namespace memsim::kernel
