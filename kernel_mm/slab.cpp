// The SLUB core (mm/slub.c, mm/slab_common.c): cache creation with SLUB's layout and order
// rules and merging, slabs taken from and given back to the buddy allocator, the per-CPU
// lockless freelist and its slow paths, node partial lists, shrink and destroy.
#include <algorithm>
#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "kernel_mm/slab.h"

#include "kernel_mm/flag_names.h"

namespace memsim::kernel {
namespace {

constexpr std::uint64_t page_bytes = 1ull << page_shift;
constexpr unsigned MAX_OBJS_PER_PAGE = 32767;  // slab->objects is 15 bits
constexpr unsigned cache_line_size = 64;       // x86's L1_CACHE_BYTES
constexpr unsigned MIN_PARTIAL = 5;
constexpr unsigned MAX_PARTIAL = 10;
constexpr int einval = 22;  // EINVAL
constexpr slab_flags_t SLAB_FLAGS_PERMITTED = SLAB_DEBUG_FLAGS | SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA |
                                              SLAB_CACHE_DMA32 | SLAB_RECLAIM_ACCOUNT | SLAB_PANIC |
                                              SLAB_ACCOUNT;
// mm/internal.h GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK: what new_slab keeps of the caller's gfp
// (the zone comes from the cache, never from the caller).
constexpr gfp_t GFP_RECLAIM_MASK = __GFP_RECLAIM | __GFP_HIGH | __GFP_IO | __GFP_FS | __GFP_NOWARN |
                                   __GFP_RETRY_MAYFAIL | __GFP_NOFAIL | __GFP_NORETRY | __GFP_MEMALLOC |
                                   __GFP_NOMEMALLOC;
constexpr gfp_t GFP_CONSTRAINT_MASK = __GFP_HARDWALL | __GFP_THISNODE;

unsigned fls(unsigned x) { return static_cast<unsigned>(std::bit_width(x)); }
unsigned ilog2(unsigned x) { return fls(x) - 1; }
unsigned align_up(unsigned x, unsigned a) { return (x + a - 1) / a * a; }

// include/asm-generic/getorder.h
unsigned get_order(std::uint64_t size) {
    return static_cast<unsigned>(std::bit_width((size - 1) >> page_shift));
}

unsigned order_objects(unsigned order, unsigned size) {
    return static_cast<unsigned>((page_bytes << order) / size);
}

// mm/slub.c calc_slab_order: the lowest order holding min_objects whose leftover is at most
// 1/fract_leftover of the slab.
unsigned calc_slab_order(unsigned size, unsigned min_objects, unsigned max_order, unsigned fract_leftover) {
    if (order_objects(0, size) > MAX_OBJS_PER_PAGE)
        return get_order(std::uint64_t{size} * MAX_OBJS_PER_PAGE) - 1;
    unsigned order = get_order(std::uint64_t{min_objects} * size);
    for (; order <= max_order; ++order) {
        std::uint64_t slab_size = page_bytes << order;
        if (slab_size % size <= slab_size / fract_leftover) break;
    }
    return order;
}

// mm/slub.c calculate_order with slub_min_objects = 4 * (fls(nr_cpus) + 1) and slub_max_order =
// PAGE_ALLOC_COSTLY_ORDER: first allow more waste (1/16, 1/8, 1/4), then fewer objects.
int calculate_order(unsigned size, unsigned nr_cpus) {
    unsigned min_objects = 4 * (fls(nr_cpus) + 1);
    min_objects = std::min(min_objects, order_objects(PAGE_ALLOC_COSTLY_ORDER, size));
    for (; min_objects > 1; --min_objects)
        for (unsigned fraction = 16; fraction >= 4; fraction /= 2) {
            unsigned order = calc_slab_order(size, min_objects, PAGE_ALLOC_COSTLY_ORDER, fraction);
            if (order <= PAGE_ALLOC_COSTLY_ORDER) return static_cast<int>(order);
        }
    unsigned order = calc_slab_order(size, 1, PAGE_ALLOC_COSTLY_ORDER, 1);
    if (order <= PAGE_ALLOC_COSTLY_ORDER) return static_cast<int>(order);
    order = calc_slab_order(size, 1, NR_PAGE_ORDERS, 1);
    return order < NR_PAGE_ORDERS ? static_cast<int>(order) : -1;
}

unsigned slab_order(const page* slab) { return slab->test(PG_head) ? (slab + 1)->private_ : 0; }

}  // namespace

slab_allocator::slab_allocator(page_allocator& pages, machine_ops& machine, printk_buffer& log,
                               slab_flags_t kmalloc_debug, slab_costs costs)
    : m_pages(pages), m_machine(machine), m_cpu(machine.context()), m_log(log), m_costs(costs) {
    const page_alloc_config& config = pages.config();
    m_ptr_bytes = config.arch == kernel_arch::x86_64 ? 8 : 4;
    m_nr_cpu_ids = std::max(1u, config.cpus);
    m_page_offset = config.page_offset;
    for (const pglist_data& node : pages.nodes()) {
        m_max_pfn = std::max(m_max_pfn, node.node_start_pfn + node.node_spanned_pages);
        m_nr_node_ids = std::max(m_nr_node_ids, static_cast<unsigned>(node.node_id) + 1);
    }
    create_kmalloc_caches(kmalloc_debug);
}

slab_allocator::~slab_allocator() = default;

// ---- creation ----------------------------------------------------------------------------------

// mm/slab_common.c kmem_cache_create_usercopy (usersize 0): checks, an alias when one fits,
// else a new cache; failures print or panic.
kmem_cache* slab_allocator::kmem_cache_create(std::string_view name, unsigned size, unsigned align,
                                              slab_flags_t flags, kmem_ctor ctor) {
    if ((flags & ~SLAB_FLAGS_PERMITTED) || size == 0) return create_failed(name, flags, -einval);
    if (kmem_cache* s = find_mergeable(size, align, flags, ctor)) {
        // __kmem_cache_alias: kzalloc must clear the largest alias's object.
        ++s->refcount;
        s->object_size = std::max(s->object_size, size);
        s->inuse = std::max(s->inuse, align_up(size, m_ptr_bytes));
        return s;
    }
    kmem_cache* s = create_cache(name, size, calculate_alignment(flags, align, size), flags, std::move(ctor));
    return s ? s : create_failed(name, flags, -einval);
}

kmem_cache* slab_allocator::create_failed(std::string_view name, slab_flags_t flags, int err) {
    if (flags & SLAB_PANIC) {
        std::string what =
            fmt::format("kmem_cache_create_usercopy: Failed to create slab '{}'. Error {}", name, err);
        print(kern_level::emerg, fmt::format("Kernel panic - not syncing: {}", what));
        throw kernel_panic(what);
    }
    print(kern_level::warning, fmt::format("kmem_cache_create_usercopy({}) failed with error {}", name, err));
    return nullptr;
}

// mm/slab_common.c calculate_alignment: HWCACHE_ALIGN halves the cache line while the object
// fits twice; never below ARCH_SLAB_MINALIGN (8), always a multiple of the pointer size.
unsigned slab_allocator::calculate_alignment(slab_flags_t flags, unsigned align, unsigned size) const {
    if (flags & SLAB_HWCACHE_ALIGN) {
        unsigned ralign = cache_line_size;
        while (size <= ralign / 2) ralign /= 2;
        align = std::max(align, ralign);
    }
    return align_up(std::max(align, 8u), m_ptr_bytes);
}

// mm/slab_common.c find_mergeable: the oldest cache without ctor or debug flags, with the same
// SLAB_MERGE_SAME flags, an aligned size at least this one and less than a pointer more.
kmem_cache* slab_allocator::find_mergeable(unsigned size, unsigned align, slab_flags_t flags,
                                           const kmem_ctor& ctor) const {
    if (ctor || (flags & SLAB_NEVER_MERGE)) return nullptr;
    size = align_up(size, m_ptr_bytes);
    align = calculate_alignment(flags, align, size);
    size = align_up(size, align);
    for (kmem_cache* s : m_list) {
        // kmalloc caches carry a usersize (hardened usercopy), which makes them unmergeable.
        if ((s->flags & (SLAB_NEVER_MERGE | SLAB_KMALLOC)) || s->ctor || s->refcount <= 0) continue;
        if (size > s->size || (flags & SLAB_MERGE_SAME) != (s->flags & SLAB_MERGE_SAME)) continue;
        if (s->size % align != 0 || s->size - size >= m_ptr_bytes) continue;
        return s;
    }
    return nullptr;
}

kmem_cache* slab_allocator::create_cache(std::string_view name, unsigned size, unsigned align,
                                         slab_flags_t flags, kmem_ctor ctor) {
    auto s = std::make_unique<kmem_cache>();
    s->name = name;
    s->object_size = size;
    s->align = align;
    s->flags = flags;
    s->ctor = std::move(ctor);
    if (!calculate_sizes(*s)) return nullptr;
    // mm/slub.c set_min_partial
    s->min_partial = std::clamp(ilog2(s->size) / 2, MIN_PARTIAL, MAX_PARTIAL);
    s->debug = (flags & SLAB_DEBUG_FLAGS) != 0;
    s->cpu_slab.resize(m_nr_cpu_ids);
    s->node.resize(m_nr_node_ids);
    s->id = static_cast<std::uint32_t>(m_caches.size());
    m_list.push_back(s.get());
    m_caches.push_back(std::move(s));
    return m_list.back();
}

// mm/slub.c calculate_sizes: the object, a right red zone of at least a pointer, the free pointer
// (outside the object when poison, a ctor or a tiny red-zoned object would overwrite it, else in
// its middle), the kmalloc request size, a left red zone, all rounded to the alignment.
bool slab_allocator::calculate_sizes(kmem_cache& s) const {
    unsigned ptr = m_ptr_bytes;
    unsigned size = align_up(s.object_size, ptr);
    bool red_zone = (s.flags & SLAB_RED_ZONE) != 0;
    s.poison = (s.flags & SLAB_POISON) && !s.ctor;
    if (red_zone && size == s.object_size) size += ptr;
    s.inuse = size;
    if ((s.flags & SLAB_POISON) || (red_zone && s.object_size < ptr) || s.ctor) {
        s.offset = size;
        size += ptr;
    } else {
        s.offset = s.object_size / 2 / ptr * ptr;
    }
    if (red_zone && (s.flags & SLAB_KMALLOC)) {
        s.orig_size_offset = size;
        size += 4;
    }
    if (red_zone) {
        size += ptr;
        s.red_left_pad = align_up(ptr, s.align);
        size += s.red_left_pad;
    }
    s.size = align_up(size, s.align);
    int order = calculate_order(s.size, m_nr_cpu_ids);
    if (order < 0) return false;
    s.order = static_cast<unsigned>(order);
    s.objects = order_objects(s.order, s.size);
    s.min_order = get_order(s.size);
    s.min_objects = order_objects(s.min_order, s.size);
    s.allocflags = (s.order ? __GFP_COMP : 0) | (s.flags & SLAB_CACHE_DMA ? __GFP_DMA : 0) |
                   (s.flags & SLAB_CACHE_DMA32 ? __GFP_DMA32 : 0) |
                   (s.flags & SLAB_RECLAIM_ACCOUNT ? __GFP_RECLAIMABLE : 0);
    // An exact divisibility test by the stride (size = 2^shift * odd): the object checks on
    // the fast paths multiply instead of dividing.
    s.size_shift = static_cast<unsigned>(std::countr_zero(s.size));
    std::uint64_t odd = s.size >> s.size_shift;
    std::uint64_t inverse = odd;
    for (int i = 0; i < 5; ++i) inverse *= 2 - odd * inverse;
    s.size_inverse = inverse;
    s.size_limit = ~0ull / odd;
    return s.objects != 0;
}

// ---- slab pages --------------------------------------------------------------------------------

slab_allocator::slab_view slab_allocator::view(page* slab) {
    std::uint64_t base = m_pages.page_address(slab);
    return {slab, base, m_machine.direct(base - m_page_offset, page_bytes << slab_order(slab))};
}

// virt_to_head_page without a compound_head field: slabs and large kmalloc blocks are naturally
// aligned buddy blocks, so the head is the first aligned page at or below whose block covers the
// address (an earlier, smaller alignment would have found the same head).
page* slab_allocator::virt_to_head_page(std::uint64_t addr) const {
    if (addr < m_page_offset) return nullptr;
    pfn_t pfn = (addr - m_page_offset) >> page_shift;
    if (pfn >= m_max_pfn) return nullptr;
    page* p = m_pages.pfn_to_page(pfn);
    if (p->flags & (page_flag(PG_slab) | page_flag(PG_head))) return p;
    for (unsigned order = 1; order <= MAX_PAGE_ORDER; ++order) {
        page* head = m_pages.pfn_to_page(pfn & ~((pfn_t{1} << order) - 1));
        if (head->test(PG_head)) return slab_order(head) >= order ? head : p;
    }
    return p;
}

kmem_cache_node& slab_allocator::node_of(kmem_cache& s, page* slab) {
    return s.node[static_cast<std::size_t>(m_pages.page_zone(slab).node)];
}

// mm/slub.c allocate_slab: the cache's order without warning or retrying, then its minimum.
page* slab_allocator::allocate_slab_pages(kmem_cache& s, gfp_t gfp) {
    gfp_t flags = gfp | s.allocflags;
    if (page* p = m_pages.alloc_pages((flags | __GFP_NOWARN | __GFP_NORETRY) & ~__GFP_NOFAIL, s.order))
        return p;
    return m_pages.alloc_pages(s.min_order ? flags : flags & ~__GFP_COMP, s.min_order);
}

// new_slab: the pages marked as this cache's slab, every object laid out (debug bytes, ctor)
// and chained on the slab's freelist in address order.
page* slab_allocator::new_slab(kmem_cache& s, gfp_t gfp) {
    if (gfp & GFP_SLAB_BUG_MASK) gfp = kmalloc_fix_flags(gfp);
    page* slab = allocate_slab_pages(s, gfp & (GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK));
    if (!slab) return nullptr;
    unsigned objects = order_objects(slab_order(slab), s.size);
    slab->set(PG_slab);
    slab->mapping = s.id + 1;
    slab->index = s.red_left_pad + 1;
    set_counters(slab, 0, objects, false);
    slab_view v = view(slab);
    if (s.flags & SLAB_POISON) setup_slab_debug(v);
    for (unsigned i = 0; i < objects; ++i) {
        std::uint64_t object = v.base + std::uint64_t{i} * s.size + s.red_left_pad;
        if (s.debug) init_object(s, v, object, SLUB_RED_INACTIVE);
        if (s.ctor) s.ctor(object);
        set_freepointer(s, v, object, i + 1 < objects ? object + s.size : 0);
    }
    m_cpu.cycles += m_costs.setup_object * objects;
    kmem_cache_node& n = node_of(s, slab);
    ++n.nr_slabs;
    n.total_objects += objects;
    return slab;
}

void slab_allocator::discard_slab(kmem_cache& s, page* slab) {
    kmem_cache_node& n = node_of(s, slab);
    --n.nr_slabs;
    n.total_objects -= slab_objects(slab);
    // page_alloc refuses a page that still looks like a slab (PAGE_FLAGS_CHECK_AT_FREE, mapping).
    slab->clear(PG_slab);
    slab->mapping = 0;
    slab->index = 0;
    slab->private_ = 0;
    m_pages.__free_pages(slab, slab_order(slab));
}

// ---- lists -------------------------------------------------------------------------------------

void slab_allocator::link_add(page_link& head, page* slab, bool tail) {
    auto link = static_cast<page_link>(m_pages.page_to_pfn(slab));
    if (head == no_page) {
        slab->next = slab->prev = link;
        head = link;
        return;
    }
    page* first = m_pages.pfn_to_page(head);
    page* last = m_pages.pfn_to_page(first->prev);
    slab->next = head;
    slab->prev = first->prev;
    last->next = link;
    first->prev = link;
    if (!tail) head = link;
}

void slab_allocator::link_del(page_link& head, page* slab) {
    auto link = static_cast<page_link>(m_pages.page_to_pfn(slab));
    if (slab->next == link) {
        head = no_page;
        return;
    }
    m_pages.pfn_to_page(slab->prev)->next = slab->next;
    m_pages.pfn_to_page(slab->next)->prev = slab->prev;
    if (head == link) head = slab->next;
}

void slab_allocator::add_partial(kmem_cache_node& n, page* slab, bool tail) {
    link_add(n.partial, slab, tail);
    ++n.nr_partial;
}

void slab_allocator::remove_partial(kmem_cache_node& n, page* slab) {
    link_del(n.partial, slab);
    --n.nr_partial;
}

// ---- allocation --------------------------------------------------------------------------------

void slab_allocator::zero_object(kmem_cache& s, std::uint64_t object, unsigned orig_size) {
    unsigned length = s.orig_size_offset ? orig_size : s.object_size;
    std::memset(host(object, length), 0, length);
    m_cpu.cycles += m_costs.bulk_line * (length / 64 + 1);
}

// ___slab_alloc: other CPUs' frees to the frozen slab, else a partial slab, else a new one.
std::uint64_t slab_allocator::slab_alloc_slow(kmem_cache& s, gfp_t gfp, unsigned orig_size) {
    m_cpu.cycles += m_costs.slow_path;
    if (s.debug) return alloc_single(s, gfp, orig_size);
    kmem_cache_cpu& c = this_cpu(s);
    if (c.slab) {
        if (c.slab->index != 0) {
            c.freelist = c.base + c.slab->index - 1;
            c.slab->index = 0;
            set_counters(c.slab, slab_objects(c.slab), slab_objects(c.slab), true);
            return alloc_from_cpu_slab(s, c);
        }
        deactivate_slab(s, c);
    }
    page* slab = get_partial(s);
    if (!slab) slab = new_slab(s, gfp);
    if (!slab) {
        slab_out_of_memory(s, gfp);
        return 0;
    }
    freeze(s, c, slab);
    return alloc_from_cpu_slab(s, c);
}

page* slab_allocator::get_partial(kmem_cache& s) {
    for (kmem_cache_node& n : s.node) {
        if (n.partial == no_page) continue;
        page* slab = m_pages.pfn_to_page(n.partial);
        remove_partial(n, slab);
        return slab;
    }
    return nullptr;
}

// The slab becomes this CPU's: its whole freelist moves to the lockless one.
void slab_allocator::freeze(kmem_cache& s, kmem_cache_cpu& c, page* slab) {
    slab_view v = view(slab);
    unsigned objects = slab_objects(slab);
    c.slab = slab;
    c.base = v.base;
    c.host = v.host;
    c.end = v.base + std::uint64_t{objects} * s.size;
    c.freelist = v.base + slab->index - 1;
    slab->index = 0;
    set_counters(slab, objects, objects, true);
}

// deactivate_slab: the lockless freelist goes back to the slab, which is unfrozen onto the
// partial list (its tail when other CPUs had freed into it), freed when empty and the node has
// min_partial slabs, or left off the lists when full.
void slab_allocator::deactivate_slab(kmem_cache& s, kmem_cache_cpu& c) {
    page* slab = c.slab;
    slab_view v{slab, c.base, c.host};
    bool remote_frees = slab->index != 0;
    unsigned objects = slab_objects(slab);
    unsigned inuse = slab_inuse(slab);
    // The lockless list, in its order, goes in front of the slab's own (a link leaving the slab
    // ends it there).
    std::uint64_t tail = 0;
    for (std::uint64_t object = c.freelist; object != 0 && inuse > 0;) {
        tail = object;
        --inuse;
        object = get_freepointer(s, v, object);
        if (object != 0 && !in_slab(s, c.base, c.end, object)) break;
    }
    if (tail != 0) {
        set_freepointer(s, v, tail, slab->index ? v.base + slab->index - 1 : 0);
        slab->index = static_cast<std::uint32_t>(c.freelist - v.base + 1);
    }
    set_counters(slab, inuse, objects, false);
    c = kmem_cache_cpu{};
    m_cpu.cycles += m_costs.slow_path;
    kmem_cache_node& n = node_of(s, slab);
    if (inuse == 0 && n.nr_partial >= s.min_partial)
        discard_slab(s, slab);
    else if (inuse < objects)
        add_partial(n, slab, remote_frees);
}

// Debug caches (mm/slub.c alloc_single_from_partial / alloc_single_from_new_slab): no per-CPU
// freelist; each object is checked and initialised under the node's lists. A slab failing the
// checks has all its objects marked used and moves to the full list.
std::uint64_t slab_allocator::alloc_single(kmem_cache& s, gfp_t gfp, unsigned orig_size) {
    for (;;) {
        page* slab = nullptr;
        for (kmem_cache_node& n : s.node)
            if (n.partial != no_page) {
                slab = m_pages.pfn_to_page(n.partial);
                break;
            }
        if (!slab) {
            slab = new_slab(s, gfp);
            if (!slab) {
                slab_out_of_memory(s, gfp);
                return 0;
            }
            add_partial(node_of(s, slab), slab, false);
        }
        kmem_cache_node& n = node_of(s, slab);
        slab_view v = view(slab);
        if (slab->index == 0) {
            // A partial slab whose freelist ended early (a free pointer overwritten with NULL):
            // on_freelist's verdict, then the slab is taken as full.
            slab_err(s, v,
                     fmt::format("Wrong object count. Counter is {} but counted were {}", slab_inuse(slab),
                                 slab_objects(slab)));
            slab_fix(s, "Object count adjusted");
            set_counters(slab, slab_objects(slab), slab_objects(slab), false);
            remove_partial(n, slab);
            link_add(n.full, slab, false);
            continue;
        }
        std::uint64_t object = v.base + slab->index - 1;
        // Read before init_object, which may red-zone over a free pointer inside the object.
        std::uint64_t next = get_freepointer(s, v, object);
        if (!alloc_debug_processing(s, v, object, orig_size)) {
            slab_fix(s, "Marking all objects used");
            slab->index = 0;
            set_counters(slab, slab_objects(slab), slab_objects(slab), false);
            remove_partial(n, slab);
            link_add(n.full, slab, false);
            continue;
        }
        slab->index = next ? static_cast<std::uint32_t>(next - v.base + 1) : 0;
        unsigned inuse = slab_inuse(slab) + 1;
        set_counters(slab, inuse, slab_objects(slab), false);
        if (inuse == slab_objects(slab)) {
            remove_partial(n, slab);
            link_add(n.full, slab, false);
        }
        return object;
    }
}

// ---- freeing -----------------------------------------------------------------------------------

// __slab_free: onto the slab's own freelist; a full slab rejoins the partial list, an empty one
// is freed once the node has min_partial slabs.
void slab_allocator::slab_free_slow(kmem_cache& s, page* slab, std::uint64_t addr) {
    m_cpu.cycles += m_costs.slow_path;
    slab_view v = view(slab);
    if (!in_slab(s, v.base, v.base + std::uint64_t{slab_objects(slab)} * s.size, addr)) {
        slab_err(s, v, fmt::format("Invalid object pointer 0x{}", address(addr)));
        return;
    }
    if (s.debug) {
        free_to_partial_list(s, v, addr);
        return;
    }
    std::uint64_t prior = slab->index ? v.base + slab->index - 1 : 0;
    kmem_cache_cpu& c = this_cpu(s);
    // CONFIG_SLAB_FREELIST_HARDENED's naive double-free check (the object is the list's head),
    // and an object count that would go below zero.
    if (addr == prior || (slab == c.slab && addr == c.freelist) || slab_inuse(slab) == 0) {
        object_err(s, v, addr, "Object already free");
        return;
    }
    set_freepointer(s, v, addr, prior);
    slab->index = static_cast<std::uint32_t>(addr - v.base + 1);
    unsigned inuse = slab_inuse(slab) - 1;
    bool frozen = slab_frozen(slab);
    set_counters(slab, inuse, slab_objects(slab), frozen);
    if (frozen) return;
    kmem_cache_node& n = node_of(s, slab);
    if (inuse == 0 && n.nr_partial >= s.min_partial) {
        if (prior) remove_partial(n, slab);
        discard_slab(s, slab);
    } else if (!prior) {
        add_partial(n, slab, true);
    }
}

// free_to_partial_list: checked, poisoned and red-zoned again, then listed as __slab_free does.
void slab_allocator::free_to_partial_list(kmem_cache& s, const slab_view& v, std::uint64_t addr) {
    page* slab = v.slab;
    if (!free_debug_processing(s, v, addr)) {
        slab_fix(s, fmt::format("Object at 0x{} not freed", address(addr)));
        return;
    }
    std::uint64_t prior = slab->index ? v.base + slab->index - 1 : 0;
    set_freepointer(s, v, addr, prior);
    slab->index = static_cast<std::uint32_t>(addr - v.base + 1);
    unsigned inuse = slab_inuse(slab) - 1;
    set_counters(slab, inuse, slab_objects(slab), false);
    kmem_cache_node& n = node_of(s, slab);
    bool discard = inuse == 0 && n.nr_partial >= s.min_partial;
    if (!prior) {
        link_del(n.full, slab);
        if (!discard) add_partial(n, slab, true);
    } else if (discard) {
        remove_partial(n, slab);
    }
    if (discard) discard_slab(s, slab);
}

// mm/slab.h cache_from_obj (always on with CONFIG_SLAB_FREELIST_HARDENED): the object's own
// cache, with a warning when the caller named another.
kmem_cache* slab_allocator::cache_from_obj(kmem_cache& s, std::uint64_t addr, page*& slab) {
    slab = virt_to_slab_fast(addr);
    kmem_cache* cachep = slab ? cache_of(slab) : nullptr;
    if (!cachep) {
        warn("virt_to_cache: Object is not a Slab page!", "mm/slab.h virt_to_cache");
        ++m_bugs;
        return nullptr;
    }
    if (cachep != &s) {
        warn(fmt::format("cache_from_obj: Wrong slab cache. {} but object is from {}", s.name, cachep->name),
             "mm/slab.h cache_from_obj");
        ++m_bugs;
    }
    return cachep;
}

void slab_allocator::kmem_cache_free(kmem_cache* s, std::uint64_t addr) {
    if (!s || addr == 0) return;
    page* slab = nullptr;
    if (kmem_cache* cachep = cache_from_obj(*s, addr, slab)) slab_free(*cachep, slab, addr);
}

// ---- shrink, destroy, statistics ---------------------------------------------------------------

void slab_allocator::flush_all(kmem_cache& s) {
    for (kmem_cache_cpu& c : s.cpu_slab)
        if (c.slab) deactivate_slab(s, c);
}

// __kmem_cache_shrink: every CPU slab back on the lists, then every empty slab freed.
int slab_allocator::kmem_cache_shrink(kmem_cache* s) {
    if (!s) return 0;
    flush_all(*s);
    for (kmem_cache_node& n : s->node) {
        std::vector<page*> empty;
        for_each_partial(n, [&](page* slab) {
            if (slab_inuse(slab) == 0) empty.push_back(slab);
        });
        for (page* slab : empty) {
            remove_partial(n, slab);
            discard_slab(*s, slab);
        }
    }
    return 0;
}

// mm/slab_common.c kmem_cache_destroy: the last reference shuts the cache down; objects still
// allocated are listed (free_partial) and the cache stays, with a warning, as in 6.1.
void slab_allocator::kmem_cache_destroy(kmem_cache* s) {
    if (!s || --s->refcount > 0) return;
    kmem_cache_shrink(s);
    bool busy = false;
    for (kmem_cache_node& n : s->node) {
        for_each_partial(n, [&](page* slab) { list_slab_objects(*s, slab); });
        busy = busy || n.nr_slabs != 0;
    }
    if (busy) {
        warn(fmt::format("kmem_cache_destroy {}: Slab cache still has objects when called from 0x0", s->name),
             "mm/slab_common.c kmem_cache_destroy");
        return;
    }
    m_list.erase(std::find(m_list.begin(), m_list.end(), s));
    m_caches[s->id].reset();
}

void slab_allocator::for_each_partial(const kmem_cache_node& n, const std::function<void(page*)>& visit) {
    if (n.partial == no_page) return;
    page_link link = n.partial;
    do {
        page* slab = m_pages.pfn_to_page(link);
        link = slab->next;
        visit(slab);
    } while (link != n.partial && n.partial != no_page);
}

// mm/slub.c get_slabinfo: objects on the partial lists are the free ones; the free objects of
// CPU slabs count as active, as SLUB's /proc/slabinfo shows them.
slabinfo slab_allocator::get_slabinfo(const kmem_cache& s) const {
    slabinfo info;
    std::uint64_t nr_free = 0;
    for (const kmem_cache_node& n : s.node) {
        info.num_slabs += n.nr_slabs;
        info.num_objs += n.total_objects;
        nr_free += count_free(n);
    }
    info.active_objs = info.num_objs - nr_free;
    info.active_slabs = info.num_slabs;
    info.objects_per_slab = s.objects;
    info.cache_order = s.order;
    return info;
}

// count_partial(n, count_free)
std::uint64_t slab_allocator::count_free(const kmem_cache_node& n) const {
    std::uint64_t nr_free = 0;
    if (n.partial == no_page) return 0;
    page_link link = n.partial;
    do {
        const page* slab = m_pages.pfn_to_page(link);
        nr_free += slab_objects(slab) - slab_inuse(slab);
        link = slab->next;
    } while (link != n.partial);
    return nr_free;
}

// ---- object memory -----------------------------------------------------------------------------

std::uint64_t slab_allocator::get_freepointer(const kmem_cache& s, const slab_view& v,
                                              std::uint64_t object) const {
    return read_pointer(v.at(object + s.offset));
}

void slab_allocator::set_freepointer(const kmem_cache& s, const slab_view& v, std::uint64_t object,
                                     std::uint64_t fp) {
    write_pointer(v.at(object + s.offset), fp);
}

unsigned char* slab_allocator::host(std::uint64_t addr, std::uint64_t length) {
    return m_machine.direct(addr - m_page_offset, length);
}

namespace {

constexpr flag_name slab_flag_names[] = {
    {SLAB_CONSISTENCY_CHECKS, "SLAB_CONSISTENCY_CHECKS"},
    {SLAB_RED_ZONE, "SLAB_RED_ZONE"},
    {SLAB_POISON, "SLAB_POISON"},
    {SLAB_KMALLOC, "SLAB_KMALLOC"},
    {SLAB_HWCACHE_ALIGN, "SLAB_HWCACHE_ALIGN"},
    {SLAB_CACHE_DMA, "SLAB_CACHE_DMA"},
    {SLAB_CACHE_DMA32, "SLAB_CACHE_DMA32"},
    {SLAB_RECLAIM_ACCOUNT, "SLAB_RECLAIM_ACCOUNT"},
    {SLAB_PANIC, "SLAB_PANIC"},
    {SLAB_ACCOUNT, "SLAB_ACCOUNT"},
};

}  // namespace

std::optional<slab_flags_t> parse_slab_flags(std::string_view text) {
    std::optional<std::uint64_t> flags = parse_flags(text, slab_flag_names);
    if (!flags || *flags > ~slab_flags_t{0}) return std::nullopt;
    return static_cast<slab_flags_t>(*flags);
}

std::string format_slab_flags(slab_flags_t flags) { return format_flags(flags, slab_flag_names); }

}  // namespace memsim::kernel
