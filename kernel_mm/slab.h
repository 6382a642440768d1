// The slab allocator (SLUB: mm/slub.c, mm/slab_common.c) and the kmalloc family
// (include/linux/slab.h): caches of equal-sized objects carved out of buddy pages. Objects are
// direct-map kernel virtual addresses whose bytes (free pointers, poison, red zones) are real
// bytes in simulated RAM, read and written through machine_ops::direct and charged in cycles.
//
// Invariants: every object of a slab is free on exactly one freelist (the slab's own, or the
// lockless per-CPU freelist of the CPU that froze it) or allocated; inuse counts the objects not
// on the slab's own freelist; a slab that is not frozen and has free objects is on its node's
// partial list (nr_partial is that list's length), a full one is on no list (debug caches keep
// full slabs on the node's full list); nr_slabs/total_objects count every slab of the cache.
//
// struct page of a slab (the head page; tail pages of an order > 0 slab are left untouched and
// found from any object by the natural alignment of buddy blocks, see virt_to_head_page):
//   flags      PG_slab (+ PG_head from __GFP_COMP for order > 0)
//   mapping    the cache's id + 1 (an index into the allocator's table of caches)
//   private_   inuse (bits 0-15) | objects (bits 16-30) | frozen (bit 31), as struct slab's counters
//   index      the slab's freelist as (offset of the object from the slab's start) + 1; 0 is NULL
//   next/prev  the node's partial (or, for debug caches, full) list, by pfn
// The compound order stays where page_alloc keeps it (the first tail page's private_). PG_slab
// and mapping are cleared before the page goes back to __free_pages.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_mm/gfp.h"
#include "kernel_mm/machine_ops.h"
#include "kernel_mm/page_alloc.h"
#include "kernel_mm/printk.h"

namespace memsim::kernel {

// include/linux/slab.h flag values (Linux 6.1).
using slab_flags_t = std::uint32_t;
inline constexpr slab_flags_t SLAB_CONSISTENCY_CHECKS = 0x00000100;
inline constexpr slab_flags_t SLAB_RED_ZONE = 0x00000400;
inline constexpr slab_flags_t SLAB_POISON = 0x00000800;
inline constexpr slab_flags_t SLAB_KMALLOC = 0x00001000;
inline constexpr slab_flags_t SLAB_HWCACHE_ALIGN = 0x00002000;
inline constexpr slab_flags_t SLAB_CACHE_DMA = 0x00004000;
inline constexpr slab_flags_t SLAB_CACHE_DMA32 = 0x00008000;
inline constexpr slab_flags_t SLAB_RECLAIM_ACCOUNT = 0x00020000;
inline constexpr slab_flags_t SLAB_PANIC = 0x00040000;
inline constexpr slab_flags_t SLAB_ACCOUNT = 0x04000000;
// mm/slab.h: debug flags keep a cache out of the fast path and out of merging.
// The flags as include/linux/slab.h names them, for workload files: "SLAB_HWCACHE_ALIGN|SLAB_POISON"
// or a number; nullopt for anything else. And back.
std::optional<slab_flags_t> parse_slab_flags(std::string_view text);
std::string format_slab_flags(slab_flags_t flags);

inline constexpr slab_flags_t SLAB_DEBUG_FLAGS = SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON;
inline constexpr slab_flags_t SLAB_NEVER_MERGE = SLAB_RED_ZONE | SLAB_POISON;
inline constexpr slab_flags_t SLAB_MERGE_SAME =
    SLAB_RECLAIM_ACCOUNT | SLAB_CACHE_DMA | SLAB_CACHE_DMA32 | SLAB_ACCOUNT;

// include/linux/poison.h
inline constexpr std::uint8_t POISON_INUSE = 0x5a;  // slab padding
inline constexpr std::uint8_t POISON_FREE = 0x6b;   // a free object
inline constexpr std::uint8_t POISON_END = 0xa5;    // its last byte
inline constexpr std::uint8_t SLUB_RED_INACTIVE = 0xbb;
inline constexpr std::uint8_t SLUB_RED_ACTIVE = 0xcc;

// include/linux/slab.h for SLUB on 4 KiB pages: classes 8 (2^3) to 8 KiB (2^13), larger sizes
// straight from the page allocator up to 2^(MAX_PAGE_ORDER + PAGE_SHIFT).
inline constexpr std::uint64_t ZERO_SIZE_PTR = 16;
inline constexpr unsigned KMALLOC_SHIFT_LOW = 3;
inline constexpr unsigned KMALLOC_SHIFT_HIGH = page_shift + 1;
inline constexpr std::uint64_t KMALLOC_MAX_CACHE_SIZE = 1ull << KMALLOC_SHIFT_HIGH;
inline constexpr std::uint64_t KMALLOC_MAX_SIZE = 1ull << (MAX_PAGE_ORDER + page_shift);
inline constexpr bool ZERO_OR_NULL_PTR(std::uint64_t addr) { return addr <= ZERO_SIZE_PTR; }

// mm/slab_common.c kmalloc_slab: the kmalloc_caches index for a size (1: 96, 2: 192, i: 2^i;
// sizes up to 192 through size_index[(size - 1) / 8]); 0 for size 0 and above
// KMALLOC_MAX_CACHE_SIZE.
inline unsigned kmalloc_index(std::uint64_t size) {
    // mm/slab_common.c size_index: the class of sizes 1..192 by (size - 1) / 8; 1 is kmalloc-96
    // and 2 kmalloc-192, any other i is kmalloc-2^i.
    static constexpr unsigned char size_index[24] = {3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1,
                                                     7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2};
    if (size == 0 || size > KMALLOC_MAX_CACHE_SIZE) return 0;
    if (size <= 192) return size_index[(size - 1) / 8];
    return static_cast<unsigned>(std::bit_width(size - 1));
}
// kmalloc_info[index]: the class size and the name ("kmalloc-96", "dma-kmalloc-1k").
unsigned kmalloc_class_size(unsigned index);
std::string kmalloc_cache_name(unsigned index, bool dma);

// mm/slab.h GFP_SLAB_BUG_MASK: zones a slab cannot come from and bits above __GFP_BITS_SHIFT (26).
inline constexpr gfp_t GFP_SLAB_BUG_MASK = __GFP_DMA32 | __GFP_HIGHMEM | ~((1u << 26) - 1);

// struct slab's counters in page::private_ (see the mapping above).
inline unsigned slab_inuse(const page* slab) { return slab->private_ & 0xffff; }
inline unsigned slab_objects(const page* slab) { return (slab->private_ >> 16) & 0x7fff; }
inline bool slab_frozen(const page* slab) { return (slab->private_ >> 31) != 0; }
inline void set_counters(page* slab, unsigned inuse, unsigned objects, bool frozen) {
    slab->private_ = inuse | objects << 16 | (frozen ? 1u << 31 : 0u);
}

// The constructor is called with an object's address when its slab is first laid out.
using kmem_ctor = std::function<void(std::uint64_t addr)>;

// What slab operations cost in cycles beyond what the page allocator charges.
struct slab_costs {
    std::uint64_t alloc = 40;        // an object from the per-CPU freelist
    std::uint64_t free = 40;         // an object back to it
    std::uint64_t slow_path = 200;   // a refill, partial-list or deactivation step
    std::uint64_t setup_object = 8;  // laying out one object of a new slab
    std::uint64_t debug_byte = 1;    // each byte a debug check scans or writes
    std::uint64_t bulk_line = 8;     // each 64 bytes zeroed or copied (kzalloc, krealloc)
};

struct kmem_cache_cpu {
    std::uint64_t freelist = 0;  // lockless freelist of the frozen slab
    page* slab = nullptr;
    std::uint64_t base = 0;  // the slab's first byte and the end of its last object
    std::uint64_t end = 0;
    unsigned char* host = nullptr;  // direct() of the slab
};

struct kmem_cache_node {
    page_link partial = no_page;  // circular through page::next/prev; prev of the head is the tail
    std::uint64_t nr_partial = 0;
    page_link full = no_page;  // debug caches only
    std::uint64_t nr_slabs = 0;
    std::uint64_t total_objects = 0;
};

struct kmem_cache {
    std::string name;
    unsigned object_size = 0;  // what the user asked for (largest of its aliases)
    unsigned size = 0;         // an object with its metadata: the stride in the slab
    unsigned align = 0;
    unsigned inuse = 0;   // the object and its right red zone: where metadata starts
    unsigned offset = 0;  // of the free pointer from the object's address
    unsigned red_left_pad = 0;
    unsigned orig_size_offset = 0;  // kmalloc caches with red zones: the requested size's place
    slab_flags_t flags = 0;
    kmem_ctor ctor;
    unsigned order = 0;  // s->oo
    unsigned objects = 0;
    unsigned min_order = 0;  // s->min, the fallback when order's pages are not there
    unsigned min_objects = 0;
    gfp_t allocflags = 0;
    unsigned min_partial = 0;
    int refcount = 1;
    std::uint32_t id = 0;
    bool debug = false;   // SLAB_DEBUG_FLAGS: every operation takes the checked slow path
    bool poison = false;  // __OBJECT_POISON: SLAB_POISON without a ctor
    // size = 2^size_shift * odd; x is a multiple of odd iff x * size_inverse <= size_limit.
    unsigned size_shift = 0;
    std::uint64_t size_inverse = 0;
    std::uint64_t size_limit = 0;
    std::vector<kmem_cache_cpu> cpu_slab;
    std::vector<kmem_cache_node> node;
};

// mm/slab.h struct slabinfo, as /proc/slabinfo prints it.
struct slabinfo {
    std::uint64_t active_objs = 0;
    std::uint64_t num_objs = 0;
    std::uint64_t active_slabs = 0;
    std::uint64_t num_slabs = 0;
    unsigned objects_per_slab = 0;
    unsigned cache_order = 0;
};

class slab_allocator {
public:
    // create_kmalloc_caches: kmalloc-8 … kmalloc-8k, then dma-kmalloc-8 … when the kernel has
    // ZONE_DMA. `kmalloc_debug` is slub_debug for the kmalloc caches (e.g. SLAB_RED_ZONE for =Z).
    slab_allocator(page_allocator& pages, machine_ops& machine, printk_buffer& log,
                   slab_flags_t kmalloc_debug = 0, slab_costs costs = {});
    ~slab_allocator();
    slab_allocator(const slab_allocator&) = delete;
    slab_allocator& operator=(const slab_allocator&) = delete;

    // nullptr on failure (or kernel_panic with SLAB_PANIC); a compatible cache is returned as
    // an alias with its refcount raised.
    kmem_cache* kmem_cache_create(std::string_view name, unsigned size, unsigned align, slab_flags_t flags,
                                  kmem_ctor ctor = {});
    std::uint64_t kmem_cache_alloc(kmem_cache* s, gfp_t gfp);
    std::uint64_t kmem_cache_zalloc(kmem_cache* s, gfp_t gfp) {
        return kmem_cache_alloc(s, gfp | __GFP_ZERO);
    }
    void kmem_cache_free(kmem_cache* s, std::uint64_t addr);
    int kmem_cache_shrink(kmem_cache* s);
    void kmem_cache_destroy(kmem_cache* s);

    std::uint64_t kmalloc(std::uint64_t size, gfp_t gfp);
    std::uint64_t kzalloc(std::uint64_t size, gfp_t gfp) { return kmalloc(size, gfp | __GFP_ZERO); }
    std::uint64_t kcalloc(std::uint64_t n, std::uint64_t size, gfp_t gfp);
    std::uint64_t krealloc(std::uint64_t addr, std::uint64_t new_size, gfp_t gfp);
    void kfree(std::uint64_t addr);
    std::uint64_t ksize(std::uint64_t addr);
    // kmalloc_slab: the cache kmalloc uses for a size and gfp, nullptr above 8 KiB or for 0.
    kmem_cache* kmalloc_slab(std::uint64_t size, gfp_t gfp) const;

    // The caches in creation order (/proc/slabinfo lists them newest first).
    const std::vector<kmem_cache*>& slab_caches() const { return m_list; }
    slabinfo get_slabinfo(const kmem_cache& s) const;
    // Slab bugs reported so far (corruption found, bad frees).
    std::uint64_t bugs() const { return m_bugs; }
    page_allocator& pages() { return m_pages; }

private:
    // A slab's head page, its first byte's address and that memory on the host.
    struct slab_view {
        page* slab = nullptr;
        std::uint64_t base = 0;
        unsigned char* host = nullptr;
        unsigned char* at(std::uint64_t addr) const { return host + (addr - base); }
    };

    // slab.cpp: caches, slabs, lists, the fast and slow paths.
    kmem_cache* create_cache(std::string_view name, unsigned size, unsigned align, slab_flags_t flags,
                             kmem_ctor ctor);
    kmem_cache* create_failed(std::string_view name, slab_flags_t flags, int err);
    kmem_cache* find_mergeable(unsigned size, unsigned align, slab_flags_t flags,
                               const kmem_ctor& ctor) const;
    unsigned calculate_alignment(slab_flags_t flags, unsigned align, unsigned size) const;
    bool calculate_sizes(kmem_cache& s) const;
    std::uint64_t slab_alloc(kmem_cache& s, gfp_t gfp, unsigned orig_size);
    std::uint64_t slab_alloc_slow(kmem_cache& s, gfp_t gfp, unsigned orig_size);
    std::uint64_t alloc_from_cpu_slab(kmem_cache& s, kmem_cache_cpu& c);
    std::uint64_t alloc_single(kmem_cache& s, gfp_t gfp, unsigned orig_size);
    void slab_free(kmem_cache& s, page* slab, std::uint64_t addr);
    void slab_free_slow(kmem_cache& s, page* slab, std::uint64_t addr);
    void free_to_partial_list(kmem_cache& s, const slab_view& v, std::uint64_t addr);
    kmem_cache* cache_from_obj(kmem_cache& s, std::uint64_t addr, page*& slab);
    page* new_slab(kmem_cache& s, gfp_t gfp);
    page* allocate_slab_pages(kmem_cache& s, gfp_t gfp);
    void discard_slab(kmem_cache& s, page* slab);
    page* get_partial(kmem_cache& s);
    void freeze(kmem_cache& s, kmem_cache_cpu& c, page* slab);
    void deactivate_slab(kmem_cache& s, kmem_cache_cpu& c);
    void flush_all(kmem_cache& s);
    void link_add(page_link& head, page* slab, bool tail);
    void link_del(page_link& head, page* slab);
    void add_partial(kmem_cache_node& n, page* slab, bool tail);
    void remove_partial(kmem_cache_node& n, page* slab);
    void for_each_partial(const kmem_cache_node& n, const std::function<void(page*)>& visit);
    std::uint64_t count_free(const kmem_cache_node& n) const;
    kmem_cache_node& node_of(kmem_cache& s, page* slab);
    kmem_cache_cpu& this_cpu(kmem_cache& s) {
        return s.cpu_slab[m_cpu.cpu < s.cpu_slab.size() ? m_cpu.cpu : 0];
    }
    slab_view view(page* slab);
    page* virt_to_head_page(std::uint64_t addr) const;
    // The common case inline: the object's own page heads its slab.
    page* virt_to_slab_fast(std::uint64_t addr) const {
        pfn_t pfn = (addr - m_page_offset) >> page_shift;
        page* p = addr >= m_page_offset && pfn < m_max_pfn ? m_pages.pfn_to_page(pfn) : nullptr;
        return p && p->test(PG_slab) ? p : virt_to_head_page(addr);
    }
    kmem_cache* cache_of(const page* p) const {
        std::uint32_t id = p->mapping - 1;
        return p->test(PG_slab) && id < m_caches.size() ? m_caches[id].get() : nullptr;
    }
    // An object's address on the slab's grid: base + red_left_pad + i * size, i < objects.
    static bool in_slab(const kmem_cache& s, std::uint64_t base, std::uint64_t end, std::uint64_t addr) {
        std::uint64_t offset = addr - base - s.red_left_pad;
        return offset < end - base && (offset & ((1ull << s.size_shift) - 1)) == 0 &&
               (offset >> s.size_shift) * s.size_inverse <= s.size_limit;
    }
    std::uint64_t read_pointer(const unsigned char* at) const;
    void write_pointer(unsigned char* at, std::uint64_t value) const;
    std::uint64_t get_freepointer(const kmem_cache& s, const slab_view& v, std::uint64_t object) const;
    void set_freepointer(const kmem_cache& s, const slab_view& v, std::uint64_t object, std::uint64_t fp);
    unsigned char* host(std::uint64_t addr, std::uint64_t length);

    // slub_debug.cpp: poison, red zones, checks and Linux's reports.
    void setup_slab_debug(const slab_view& v);
    void init_object(const kmem_cache& s, const slab_view& v, std::uint64_t object, std::uint8_t val);
    bool check_object(kmem_cache& s, const slab_view& v, std::uint64_t object, std::uint8_t val);
    bool check_bytes_and_report(kmem_cache& s, const slab_view& v, std::uint64_t object, const char* what,
                                std::uint64_t start, std::uint8_t value, unsigned bytes);
    bool check_valid_pointer(const kmem_cache& s, const slab_view& v, std::uint64_t object) const;
    bool on_freelist(kmem_cache& s, const slab_view& v, std::uint64_t search);
    bool alloc_debug_processing(kmem_cache& s, const slab_view& v, std::uint64_t object, unsigned orig_size);
    bool free_debug_processing(kmem_cache& s, const slab_view& v, std::uint64_t object);
    unsigned get_orig_size(const kmem_cache& s, const slab_view& v, std::uint64_t object) const;
    void set_orig_size(const kmem_cache& s, const slab_view& v, std::uint64_t object, unsigned orig_size);
    void slab_bug(const kmem_cache& s, const std::string& what);
    void slab_fix(const kmem_cache& s, const std::string& what);
    void slab_err(const kmem_cache& s, const slab_view& v, const std::string& what);
    void object_err(kmem_cache& s, const slab_view& v, std::uint64_t object, const char* reason);
    void print_trailer(kmem_cache& s, const slab_view& v, std::uint64_t object);
    void print_slab_info(const slab_view& v);
    void print_section(const char* text, const slab_view& v, std::uint64_t start, unsigned length);
    void freepointer_corrupt(kmem_cache& s, kmem_cache_cpu& c, std::uint64_t object);
    void list_slab_objects(kmem_cache& s, page* slab);
    void slab_out_of_memory(kmem_cache& s, gfp_t gfp);
    void warn(const std::string& message, const char* where);
    void print(kern_level level, std::string text) { m_log.print(m_machine.now(), level, std::move(text)); }
    std::string address(std::uint64_t addr) const;
    std::string print_tainted() const;

    // kmalloc.cpp
    void create_kmalloc_caches(slab_flags_t debug);
    std::uint64_t kmalloc_large(std::uint64_t size, gfp_t gfp);
    // kfree of what is not a slab object: a large kmalloc block, or a bug.
    void kfree_large(std::uint64_t addr, page* p);
    // slab_post_alloc_hook's __GFP_ZERO: a kmalloc object with a red zone only as far as asked.
    void zero_object(kmem_cache& s, std::uint64_t object, unsigned orig_size);
    // The size kmalloc was asked for, where the cache keeps it (red-zoned kmalloc), else ks.
    std::uint64_t requested_size(std::uint64_t addr, std::uint64_t ks);
    gfp_t kmalloc_fix_flags(gfp_t gfp);
    std::uint64_t object_ksize(std::uint64_t addr) const;
    void resize_in_place(std::uint64_t addr, std::uint64_t new_size, gfp_t gfp);

    page_allocator& m_pages;
    machine_ops& m_machine;
    cpu_context& m_cpu;
    printk_buffer& m_log;
    slab_costs m_costs;
    unsigned m_ptr_bytes = 8;  // sizeof(void *): 8 on x86_64, 4 on i386
    unsigned m_nr_cpu_ids = 1;
    unsigned m_nr_node_ids = 1;
    std::uint64_t m_page_offset = 0;
    pfn_t m_max_pfn = 0;
    std::vector<std::unique_ptr<kmem_cache>> m_caches;  // by id; destroyed ones are empty
    std::vector<kmem_cache*> m_list;                    // slab_caches, oldest first
    // kmalloc_caches[type][index] for KMALLOC_NORMAL and KMALLOC_DMA.
    std::array<std::array<kmem_cache*, KMALLOC_SHIFT_HIGH + 1>, 2> m_kmalloc{};  // by type, then index
    std::uint64_t m_bugs = 0;
    std::uint64_t m_oom_reports = 0;
};

// The hot paths, inline: kmalloc and kfree of a class size, and the per-CPU slab's freelist.

// kmalloc_type: only __GFP_DMA picks other caches here (no kmalloc-rcl-/kmalloc-cg- types);
// GFP_DMA32 is not one of them, so kmalloc(GFP_DMA32) is normal memory.
inline kmem_cache* slab_allocator::kmalloc_slab(std::uint64_t size, gfp_t gfp) const {
    unsigned index = kmalloc_index(size);
    return index ? m_kmalloc[(gfp & __GFP_DMA) ? 1 : 0][index] : nullptr;
}

inline std::uint64_t slab_allocator::kmalloc(std::uint64_t size, gfp_t gfp) {
    if (size > KMALLOC_MAX_CACHE_SIZE) return kmalloc_large(size, gfp);
    if (size == 0) return ZERO_SIZE_PTR;
    return slab_alloc(*kmalloc_slab(size, gfp), gfp, static_cast<unsigned>(size));
}

// kfree: a slab object goes back to its cache; anything else is kfree_large's.
inline void slab_allocator::kfree(std::uint64_t addr) {
    if (ZERO_OR_NULL_PTR(addr)) return;
    page* p = virt_to_slab_fast(addr);
    if (kmem_cache* s = p ? cache_of(p) : nullptr) [[likely]] {
        slab_free(*s, p, addr);
        return;
    }
    kfree_large(addr, p);
}

inline std::uint64_t slab_allocator::kmem_cache_alloc(kmem_cache* s, gfp_t gfp) {
    return s ? slab_alloc(*s, gfp, s->object_size) : 0;
}

inline std::uint64_t slab_allocator::read_pointer(const unsigned char* at) const {
    if (m_ptr_bytes == 4) {
        std::uint32_t value;
        std::memcpy(&value, at, 4);
        return value;
    }
    std::uint64_t value;
    std::memcpy(&value, at, 8);
    return value;
}

inline void slab_allocator::write_pointer(unsigned char* at, std::uint64_t value) const {
    if (m_ptr_bytes == 4) {
        auto narrow = static_cast<std::uint32_t>(value);
        std::memcpy(at, &narrow, 4);
        return;
    }
    std::memcpy(at, &value, 8);
}

// The lockless fast path's pop: the next free pointer must stay inside the frozen slab (a
// corrupted one is reported and ends the freelist instead of sending the kernel astray).
inline std::uint64_t slab_allocator::alloc_from_cpu_slab(kmem_cache& s, kmem_cache_cpu& c) {
    std::uint64_t object = c.freelist;
    std::uint64_t next = read_pointer(c.host + (object - c.base) + s.offset);
    if (next != 0 && !in_slab(s, c.base, c.end, next)) [[unlikely]] {
        freepointer_corrupt(s, c, object);
        next = 0;
    }
    c.freelist = next;
    m_cpu.cycles += m_costs.alloc;
    return object;
}

inline std::uint64_t slab_allocator::slab_alloc(kmem_cache& s, gfp_t gfp, unsigned orig_size) {
    kmem_cache_cpu& c = this_cpu(s);
    std::uint64_t object =
        c.freelist != 0 && !s.debug ? alloc_from_cpu_slab(s, c) : slab_alloc_slow(s, gfp, orig_size);
    if (object != 0 && (gfp & __GFP_ZERO)) zero_object(s, object, orig_size);
    return object;
}

// do_slab_free: an object of this CPU's slab goes on the lockless freelist; the rest, and
// anything odd (a double free at the head, a pointer off the object grid), to the slow path.
inline void slab_allocator::slab_free(kmem_cache& s, page* slab, std::uint64_t addr) {
    kmem_cache_cpu& c = this_cpu(s);
    if (slab == c.slab && !s.debug && addr != c.freelist && in_slab(s, c.base, c.end, addr)) [[likely]] {
        write_pointer(c.host + (addr - c.base) + s.offset, c.freelist);
        c.freelist = addr;
        m_cpu.cycles += m_costs.free;
        return;
    }
    slab_free_slow(s, slab, addr);
}

}  // namespace memsim::kernel
