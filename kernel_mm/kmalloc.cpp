// The kmalloc family (mm/slab_common.c, include/linux/slab.h): size classes served by the
// kmalloc-N caches (dma-kmalloc-N for GFP_DMA), larger requests by the page allocator, kfree
// finding the owner from the page, ksize and krealloc.
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "kernel_mm/slab.h"

namespace memsim::kernel {
namespace {

constexpr std::uint64_t page_bytes = 1ull << page_shift;

unsigned get_order(std::uint64_t size) {
    return static_cast<unsigned>(std::bit_width((size - 1) >> page_shift));
}

}  // namespace

unsigned kmalloc_class_size(unsigned index) {
    if (index == 1) return 96;
    if (index == 2) return 192;
    return 1u << index;
}

// kmalloc_info: sizes from 1024 on are named in k.
std::string kmalloc_cache_name(unsigned index, bool dma) {
    unsigned size = kmalloc_class_size(index);
    std::string name =
        size >= 1024 ? fmt::format("kmalloc-{}k", size / 1024) : fmt::format("kmalloc-{}", size);
    return dma ? "dma-" + name : name;
}

// create_kmalloc_caches: per type, 2^3 .. 2^13 with 96 after 64 and 192 after 128. Power-of-two
// classes are naturally aligned (create_boot_cache). The DMA type exists with CONFIG_ZONE_DMA.
void slab_allocator::create_kmalloc_caches(slab_flags_t debug) {
    bool zone_dma = configured_zones(m_pages.config().arch).contains(zone_type::dma);
    for (int type = 0; type < (zone_dma ? 2 : 1); ++type) {
        auto create = [&](unsigned index) {
            unsigned size = kmalloc_class_size(index);
            slab_flags_t flags = SLAB_KMALLOC | debug | (type ? SLAB_CACHE_DMA : 0);
            unsigned align = std::has_single_bit(size) ? std::max(size, 8u) : 8;
            m_kmalloc[type][index] = create_cache(kmalloc_cache_name(index, type != 0), size,
                                                  calculate_alignment(flags, align, size), flags, {});
        };
        for (unsigned index = KMALLOC_SHIFT_LOW; index <= KMALLOC_SHIFT_HIGH; ++index) {
            create(index);
            if (index == 6) create(1);
            if (index == 7) create(2);
        }
    }
    if (!zone_dma) m_kmalloc[1] = m_kmalloc[0];
}

// kmalloc_fix_flags: a zone the slab allocator cannot honour (DMA32, HighMem) is dropped, loudly.
gfp_t slab_allocator::kmalloc_fix_flags(gfp_t gfp) {
    gfp_t invalid = gfp & GFP_SLAB_BUG_MASK;
    gfp &= ~GFP_SLAB_BUG_MASK;
    print(kern_level::warning,
          fmt::format("Unexpected gfp: {:#x} ({}). Fixing up to gfp: {:#x} ({}). Fix your code!", invalid,
                      format_gfp(invalid), gfp, format_gfp(gfp)));
    return gfp;
}

// __kmalloc_large_node: a compound block of get_order(size) pages.
// free_large_kmalloc warns when the block is a single page, then frees it all the same.
void slab_allocator::kfree_large(std::uint64_t addr, page* p) {
    if (!p) {
        ++m_bugs;
        print(kern_level::alert, fmt::format("BUG: kfree of 0x{}: not a direct-map address", address(addr)));
        return;
    }
    unsigned order = p->test(PG_head) ? (p + 1)->private_ : 0;
    if (order == 0) {
        warn("", "mm/slab_common.c free_large_kmalloc");
        print(kern_level::warning, fmt::format("object pointer: 0x{}", address(addr)));
    }
    m_pages.__free_pages(p, order);
}

std::uint64_t slab_allocator::kmalloc_large(std::uint64_t size, gfp_t gfp) {
    if (gfp & GFP_SLAB_BUG_MASK) gfp = kmalloc_fix_flags(gfp);
    page* p = m_pages.alloc_pages(gfp | __GFP_COMP, get_order(size));
    return p ? m_pages.page_address(p) : 0;
}

std::uint64_t slab_allocator::kcalloc(std::uint64_t n, std::uint64_t size, gfp_t gfp) {
    if (size != 0 && n > std::numeric_limits<std::uint64_t>::max() / size) return 0;
    return kmalloc(n * size, gfp | __GFP_ZERO);
}

// __ksize: the class size (the object size of a debug cache, the stride otherwise), or the
// block's size for a large kmalloc.
std::uint64_t slab_allocator::object_ksize(std::uint64_t addr) const {
    page* p = ZERO_OR_NULL_PTR(addr) ? nullptr : virt_to_head_page(addr);
    if (!p) return 0;
    if (const kmem_cache* s = cache_of(p))
        return s->flags & (SLAB_RED_ZONE | SLAB_POISON) ? s->object_size : s->size;
    std::uint64_t size = page_bytes << (p->test(PG_head) ? (p + 1)->private_ : 0);
    return size > KMALLOC_MAX_CACHE_SIZE ? size : 0;
}

// ksize: the caller may now use the whole class (skip_orig_size_check: the kmalloc red zone
// no longer starts at the size first asked for).
std::uint64_t slab_allocator::ksize(std::uint64_t addr) {
    std::uint64_t size = object_ksize(addr);
    if (size != 0) resize_in_place(addr, size, 0);
    return size;
}

// A kmalloc object keeps its place at a new size within its class: with a kmalloc red zone the
// request size moves (bytes given up become red zone, bytes taken are zeroed on __GFP_ZERO).
std::uint64_t slab_allocator::requested_size(std::uint64_t addr, std::uint64_t ks) {
    page* p = virt_to_head_page(addr);
    kmem_cache* s = p ? cache_of(p) : nullptr;
    if (!s || !s->orig_size_offset) return ks;
    return get_orig_size(*s, view(p), addr);
}

void slab_allocator::resize_in_place(std::uint64_t addr, std::uint64_t new_size, gfp_t gfp) {
    page* p = virt_to_head_page(addr);
    kmem_cache* s = cache_of(p);
    if (!s || !s->orig_size_offset) return;
    slab_view v = view(p);
    unsigned old_size = get_orig_size(*s, v, addr);
    auto size = static_cast<unsigned>(new_size);
    if (size < old_size) std::memset(v.at(addr + size), SLUB_RED_ACTIVE, old_size - size);
    if (size > old_size && (gfp & __GFP_ZERO)) std::memset(v.at(addr + old_size), 0, size - old_size);
    set_orig_size(*s, v, addr, size);
}

// krealloc: in place whenever the object's ksize holds the new size (6.1's __do_krealloc), else
// a new object with the old bytes copied and the old one freed; size 0 frees.
std::uint64_t slab_allocator::krealloc(std::uint64_t addr, std::uint64_t new_size, gfp_t gfp) {
    if (new_size == 0) {
        kfree(addr);
        return ZERO_SIZE_PTR;
    }
    std::uint64_t ks = object_ksize(addr);
    if (ks >= new_size) {
        resize_in_place(addr, new_size, gfp);
        return addr;
    }
    std::uint64_t ret = kmalloc(new_size, gfp);
    if (ret != 0 && ks != 0) {
        // What the old object holds: with a kmalloc red zone only the size it was asked for (the
        // rest is 0xcc), so that __GFP_ZERO's zeroes are not overwritten.
        std::uint64_t keep = std::min(ks, requested_size(addr, ks));
        std::memcpy(host(ret, keep), host(addr, keep), keep);
        m_cpu.cycles += m_costs.bulk_line * (keep / 64 + 1);
        kfree(addr);
    }
    return ret;
}

}  // namespace memsim::kernel
