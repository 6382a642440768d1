// The words the text form of a workload shares between reading and writing it: its header, the
// PROT_*/MAP_* names, and the DMA operations' keywords and directions.
#pragma once

#include <span>
#include <string_view>
#include <utility>

#include "kernel_mm/dma/direction.h"
#include "kernel_mm/flag_names.h"
#include "kernel_mm/vma.h"

namespace memsim::traces::text_words {

inline constexpr std::string_view header = "memsim workload 1";

// PROT_* and MAP_* names as C spells them (include/uapi/asm-generic/mman-common.h). PROT_NONE
// is the first entry and MAP_ANON the last: both are read but never printed (PROT_NONE is how an
// empty PROT word prints, MAP_ANON is MAP_ANONYMOUS's other name).
inline constexpr kernel::flag_name prot_names[] = {
    {kernel::prot_none, "PROT_NONE"}, {kernel::prot_read, "PROT_READ"}, {kernel::prot_write, "PROT_WRITE"},
    {kernel::prot_exec, "PROT_EXEC"}, {kernel::prot_sem, "PROT_SEM"},
};
inline constexpr kernel::flag_name map_names[] = {
    {kernel::map_shared, "MAP_SHARED"},       {kernel::map_private, "MAP_PRIVATE"},
    {kernel::map_fixed, "MAP_FIXED"},         {kernel::map_anonymous, "MAP_ANONYMOUS"},
    {kernel::map_growsdown, "MAP_GROWSDOWN"}, {kernel::map_noreserve, "MAP_NORESERVE"},
    {kernel::map_populate, "MAP_POPULATE"},   {kernel::map_fixed_noreplace, "MAP_FIXED_NOREPLACE"},
    {kernel::map_anonymous, "MAP_ANON"},
};
inline constexpr auto printed_prot_names = std::span(prot_names).subspan(1);
inline constexpr auto printed_map_names = std::span(map_names).first(std::size(map_names) - 1);

// The words of the DMA operations: dma_set_mask's optional mask (dma_mask_kind 1 and 2; none is
// both), dma_sync's target (dma_sync_target), and the directions of a mapping, read also as
// include/linux/dma-direction.h spells them (kernel::dma_direction_name) and printed short.
inline constexpr std::string_view mask_words[] = {"streaming", "coherent"};
inline constexpr std::string_view sync_words[] = {"for_cpu", "for_device"};
inline constexpr std::pair<std::string_view, kernel::dma_data_direction> dma_directions[] = {
    {"to_device", kernel::DMA_TO_DEVICE},
    {"from_device", kernel::DMA_FROM_DEVICE},
    {"bidirectional", kernel::DMA_BIDIRECTIONAL},
};
inline constexpr std::string_view irq_gfp_key = "irq_gfp=";

}  // namespace memsim::traces::text_words
