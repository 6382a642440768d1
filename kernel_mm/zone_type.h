// The kinds of memory zone, in Linux's order (enum zone_type, include/linux/mmzone.h), and
// the names /proc and the boot log give them. Which zones exist depends on the architecture.
#pragma once

#include <string_view>

namespace memsim::kernel {

enum class zone_type { dma, dma32, normal, highmem, movable, device };

constexpr std::string_view zone_name(zone_type zone) {
    switch (zone) {
        case zone_type::dma:
            return "DMA";
        case zone_type::dma32:
            return "DMA32";
        case zone_type::normal:
            return "Normal";
        case zone_type::highmem:
            return "HighMem";
        case zone_type::movable:
            return "Movable";
        case zone_type::device:
            return "Device";
    }
    return "?";
}

}  // namespace memsim::kernel
