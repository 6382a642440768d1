#include "kernel_mm/mempool.h"

namespace memsim::kernel {

mempool::mempool(unsigned min_nr, alloc_fn alloc, free_fn free)
    : m_min_nr(min_nr), m_alloc(std::move(alloc)), m_free(std::move(free)) {
    m_reserve.reserve(min_nr);
}

std::unique_ptr<mempool> mempool::create(unsigned min_nr, alloc_fn alloc, free_fn free) {
    std::unique_ptr<mempool> pool(new mempool(min_nr, std::move(alloc), std::move(free)));
    while (pool->curr_nr() < min_nr) {
        mempool_element e = pool->m_alloc(GFP_KERNEL);
        if (!e) return nullptr;  // the destructor gives back what was allocated
        pool->m_reserve.push_back(e);
    }
    return pool;
}

mempool::~mempool() {
    for (mempool_element e : m_reserve) m_free(e);
}

mempool_element mempool::alloc(gfp_t gfp) {
    // mm/mempool.c: never dip into emergency reserves, retry or warn on the pool's behalf.
    gfp |= __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN;
    // The first try neither sleeps nor starts I/O: the reserve is there for that.
    gfp_t first = gfp & ~(__GFP_DIRECT_RECLAIM | __GFP_IO);
    if (mempool_element e = m_alloc(first)) return e;
    if (!m_reserve.empty()) {
        mempool_element e = m_reserve.back();
        m_reserve.pop_back();
        return e;
    }
    if (first == gfp) return 0;
    return m_alloc(gfp);
}

void mempool::free(mempool_element element) {
    if (!element) return;
    if (m_reserve.size() < m_min_nr) {
        m_reserve.push_back(element);
        return;
    }
    m_free(element);
}

int mempool::resize(unsigned new_min_nr) {
    while (m_reserve.size() > new_min_nr) {
        m_free(m_reserve.back());
        m_reserve.pop_back();
    }
    m_min_nr = new_min_nr;
    // mm/mempool.c: an element that cannot be had leaves the reserve short, and is not an error
    // (only the element array's own allocation could fail there).
    while (m_reserve.size() < new_min_nr) {
        mempool_element e = m_alloc(GFP_KERNEL);
        if (!e) break;
        m_reserve.push_back(e);
    }
    return 0;
}

mempool::alloc_fn mempool_alloc_slab(slab_allocator& slab, kmem_cache* cache) {
    return [&slab, cache](gfp_t gfp) { return slab.kmem_cache_alloc(cache, gfp); };
}

mempool::free_fn mempool_free_slab(slab_allocator& slab, kmem_cache* cache) {
    return [&slab, cache](mempool_element e) { slab.kmem_cache_free(cache, e); };
}

mempool::alloc_fn mempool_kmalloc(slab_allocator& slab, std::uint64_t size) {
    return [&slab, size](gfp_t gfp) { return slab.kmalloc(size, gfp); };
}

mempool::free_fn mempool_kfree(slab_allocator& slab) {
    return [&slab](mempool_element e) { slab.kfree(e); };
}

mempool::alloc_fn mempool_alloc_pages(page_allocator& pages, unsigned order) {
    return [&pages, order](gfp_t gfp) -> mempool_element {
        page* p = pages.alloc_pages(gfp, order);
        return p ? pages.page_to_pfn(p) + 1 : 0;
    };
}

mempool::free_fn mempool_free_pages(page_allocator& pages, unsigned order) {
    return [&pages, order](mempool_element e) { pages.__free_pages(pages.pfn_to_page(e - 1), order); };
}

}  // namespace memsim::kernel
