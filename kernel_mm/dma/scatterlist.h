// A scatter-gather list as the DMA API maps it (include/linux/scatterlist.h): each entry names
// a piece of memory by its page and the offset and length within it, and dma_map_sg fills in
// the device address and length the device is to use. memsim's lists are plain arrays: no chain
// entries and no end marker (the caller passes nents), so page_link is just the page.
//
// Invariants: an entry dma_map_sg mapped holds, until dma_unmap_sg, the device address of
// [page_to_phys(page_link) + offset, + length) or of its bounce buffer in dma_address, and
// dma_length == length (dma-direct never merges entries).
#pragma once

#include <cstdint>
#include <span>

#include "kernel_mm/dma/direction.h"
#include "kernel_mm/page.h"

namespace memsim::kernel {

struct scatterlist {
    page* page_link = nullptr;  // sg_page()
    unsigned offset = 0;        // within the page; may run past it into the following pages
    unsigned length = 0;
    dma_addr_t dma_address = 0;  // sg_dma_address(), set by dma_map_sg
    unsigned dma_length = 0;     // sg_dma_len(), set by dma_map_sg
};

inline page* sg_page(const scatterlist& sg) { return sg.page_link; }
inline dma_addr_t sg_dma_address(const scatterlist& sg) { return sg.dma_address; }
inline unsigned sg_dma_len(const scatterlist& sg) { return sg.dma_length; }

// sg_init_table: every entry emptied.
inline void sg_init_table(std::span<scatterlist> sgl) {
    for (scatterlist& sg : sgl) sg = {};
}

// sg_set_page: the entry covers `len` bytes from `offset` in `p`.
inline void sg_set_page(scatterlist& sg, page* p, unsigned len, unsigned offset) {
    sg.page_link = p;
    sg.offset = offset;
    sg.length = len;
}

}  // namespace memsim::kernel
