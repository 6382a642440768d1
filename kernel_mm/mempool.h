// Memory pools (mm/mempool.c): a reserve of pre-allocated elements that an allocation falls back
// on when its allocator fails, so that a driver's I/O path always makes progress. Elements are
// opaque 64-bit values: kernel virtual addresses for the kmalloc and slab helpers, pfns for
// the page helpers.
//
// Invariant: 0 <= curr_nr() <= min_nr(); the reserve is refilled before anything is freed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "kernel_mm/gfp.h"
#include "kernel_mm/page_alloc.h"
#include "kernel_mm/slab.h"

namespace memsim::kernel {

using mempool_element = std::uint64_t;  // 0: none

class mempool {
public:
    using alloc_fn = std::function<mempool_element(gfp_t)>;
    using free_fn = std::function<void(mempool_element)>;

    // mempool_create: fills the reserve with GFP_KERNEL; nullptr when that fails (what was
    // allocated is given back).
    static std::unique_ptr<mempool> create(unsigned min_nr, alloc_fn alloc, free_fn free);
    // mempool_destroy: the reserve goes back to the allocator.
    ~mempool();
    mempool(const mempool&) = delete;
    mempool& operator=(const mempool&) = delete;

    // mempool_alloc: the allocator first with flags that neither sleep nor warn, then the
    // reserve, then the allocator again with the caller's flags. Where Linux would then sleep
    // until an element is freed (a blocking request), nothing here could free one: it fails.
    mempool_element alloc(gfp_t gfp);
    // mempool_free: refills the reserve first, then gives back to the allocator.
    void free(mempool_element element);
    // mempool_resize: a smaller reserve gives back the surplus; a larger one allocates with
    // GFP_KERNEL as far as it can (and still returns 0, as Linux does).
    int resize(unsigned new_min_nr);

    unsigned min_nr() const { return m_min_nr; }
    unsigned curr_nr() const { return static_cast<unsigned>(m_reserve.size()); }

private:
    mempool(unsigned min_nr, alloc_fn alloc, free_fn free);

    unsigned m_min_nr;
    alloc_fn m_alloc;
    free_fn m_free;
    std::vector<mempool_element> m_reserve;
};

// mempool_alloc_slab / mempool_free_slab: objects of a cache (mempool_create_slab_pool).
mempool::alloc_fn mempool_alloc_slab(slab_allocator& slab, kmem_cache* cache);
mempool::free_fn mempool_free_slab(slab_allocator& slab, kmem_cache* cache);
// mempool_kmalloc / mempool_kfree: kmalloc'ed buffers of one size (mempool_create_kmalloc_pool).
mempool::alloc_fn mempool_kmalloc(slab_allocator& slab, std::uint64_t size);
mempool::free_fn mempool_kfree(slab_allocator& slab);

// mempool_alloc_pages / mempool_free_pages: blocks of 2^order pages, as pfns (+1, so that pfn 0
// is not "none").
mempool::alloc_fn mempool_alloc_pages(page_allocator& pages, unsigned order);
mempool::free_fn mempool_free_pages(page_allocator& pages, unsigned order);

}  // namespace memsim::kernel
