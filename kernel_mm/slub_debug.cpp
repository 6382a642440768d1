// SLUB's debugging (mm/slub.c, CONFIG_SLUB_DEBUG): poison and red-zone bytes written into
// objects in simulated RAM, the checks on allocation and free (SLAB_CONSISTENCY_CHECKS), and the
// reports in Linux's text: slab_bug's banner, the "First byte" line, print_trailer's hex dumps,
// and the FIX lines that restore what was overwritten so the simulation goes on.
#include <algorithm>
#include <cctype>
#include <cstring>

#include <fmt/format.h>

#include "kernel_mm/slab.h"

namespace memsim::kernel {
namespace {

constexpr std::uint64_t page_bytes = 1ull << page_shift;
// Linux 6.1's page-flags bits for a slab page as %pGp prints them (PG_slab 9, PG_head 16).
constexpr std::uint32_t linux_pg_slab = 1u << 9;
constexpr std::uint32_t linux_pg_head = 1u << 16;

// include/linux/slub_def.h: the free pointer lies past the object and its red zone.
bool freeptr_outside_object(const kmem_cache& s) { return s.offset >= s.inuse; }

// mm/slub.c get_info_end plus the kmalloc request size: where padding starts.
unsigned info_end(const kmem_cache& s, unsigned ptr_bytes) {
    unsigned end = freeptr_outside_object(s) ? s.offset + ptr_bytes : s.inuse;
    return s.orig_size_offset ? end + 4 : end;
}

unsigned size_from_object(const kmem_cache& s) {
    return s.flags & SLAB_RED_ZONE ? s.size - s.red_left_pad : s.size;
}

// lib/hexdump.c hex_dump_to_buffer, 16 bytes a row in groups of 1 with the ASCII column at 49.
std::string hex_row(const unsigned char* bytes, unsigned length) {
    std::string line;
    for (unsigned i = 0; i < length; ++i) line += fmt::format("{:02x} ", bytes[i]);
    if (!line.empty()) line.pop_back();
    line.resize(std::max<std::size_t>(line.size(), 49), ' ');
    for (unsigned i = 0; i < length; ++i) line += std::isprint(bytes[i]) ? static_cast<char>(bytes[i]) : '.';
    return line;
}

}  // namespace

std::string slab_allocator::address(std::uint64_t addr) const {
    return fmt::format("{:0{}x}", addr, m_ptr_bytes * 2);
}

// kernel/panic.c print_tainted with TAINT_BAD_PAGE: 19 flag columns in 6.1.
std::string slab_allocator::print_tainted() const {
    return m_pages.tainted() ? "Tainted: G    B             " : "Not tainted";
}

void slab_allocator::warn(const std::string& message, const char* where) {
    print(kern_level::warning, "------------[ cut here ]------------");
    if (!message.empty()) print(kern_level::warning, message);
    print(kern_level::warning, fmt::format("WARNING: CPU: {} PID: 0 at {}", m_cpu.cpu, where));
}

void slab_allocator::slab_bug(const kmem_cache& s, const std::string& what) {
    print(kern_level::err, std::string(77, '='));
    print(kern_level::err, fmt::format("BUG {} ({}): {}", s.name, print_tainted(), what));
    print(kern_level::err, std::string(77, '-'));
    print(kern_level::err, "");
}

void slab_allocator::slab_fix(const kmem_cache& s, const std::string& what) {
    print(kern_level::err, fmt::format("FIX {}: {}", s.name, what));
}

// print_slab_info: struct slab lives where the page's struct page is (vmemmap).
void slab_allocator::print_slab_info(const slab_view& v) {
    const page_alloc_config& config = m_pages.config();
    pfn_t pfn = m_pages.page_to_pfn(v.slab);
    zone& z = m_pages.page_zone(v.slab);
    auto zone_index = &z - m_pages.nodes()[static_cast<std::size_t>(z.node)].zones.data();
    bool head = v.slab->test(PG_head);
    std::uint64_t freelist = v.slab->index ? v.base + v.slab->index - 1 : 0;
    print(kern_level::err,
          fmt::format("Slab 0x{} objects={} used={} fp=0x{} flags={:#x}({}node={}|zone={})",
                      address(config.vmemmap_base + pfn * config.struct_page_bytes), slab_objects(v.slab),
                      slab_inuse(v.slab), address(freelist), linux_pg_slab | (head ? linux_pg_head : 0),
                      head ? "slab|head|" : "slab|", z.node, zone_index));
}

// print_section: print_hex_dump with DUMP_PREFIX_ADDRESS.
void slab_allocator::print_section(const char* text, const slab_view& v, std::uint64_t start,
                                   unsigned length) {
    for (unsigned row = 0; row < length; row += 16)
        print(kern_level::err, fmt::format("{}{}: {}", text, address(start + row),
                                           hex_row(v.at(start + row), std::min(16u, length - row))));
}

void slab_allocator::print_trailer(kmem_cache& s, const slab_view& v, std::uint64_t object) {
    print_slab_info(v);
    print(kern_level::err, fmt::format("Object 0x{} @offset={} fp=0x{}", address(object), object - v.base,
                                       address(get_freepointer(s, v, object))));
    print(kern_level::err, "");
    if (s.flags & SLAB_RED_ZONE)
        print_section("Redzone  ", v, object - s.red_left_pad, s.red_left_pad);
    else if (object > v.base + 16)
        print_section("Bytes b4 ", v, object - 16, 16);
    print_section("Object   ", v, object, std::min<unsigned>(s.object_size, page_bytes));
    if (s.flags & SLAB_RED_ZONE)
        print_section("Redzone  ", v, object + s.object_size, s.inuse - s.object_size);
    unsigned off = info_end(s, m_ptr_bytes);
    if (off != size_from_object(s)) print_section("Padding  ", v, object + off, size_from_object(s) - off);
}

void slab_allocator::object_err(kmem_cache& s, const slab_view& v, std::uint64_t object, const char* reason) {
    ++m_bugs;
    slab_bug(s, reason);
    print_trailer(s, v, object);
    m_pages.taint();
}

void slab_allocator::slab_err(const kmem_cache& s, const slab_view& v, const std::string& what) {
    ++m_bugs;
    slab_bug(s, what);
    print_slab_info(v);
    m_pages.taint();
}

// The lockless freelist led out of its slab: reported as on_freelist would, and cut there.
void slab_allocator::freepointer_corrupt(kmem_cache& s, kmem_cache_cpu& c, std::uint64_t object) {
    object_err(s, slab_view{c.slab, c.base, c.host}, object, "Freepointer corrupt");
}

// setup_slab_debug: a poisoned cache's new slab starts as POISON_INUSE, which stays in padding.
void slab_allocator::setup_slab_debug(const slab_view& v) {
    std::uint64_t bytes = page_bytes << (v.slab->test(PG_head) ? (v.slab + 1)->private_ : 0);
    std::memset(v.host, POISON_INUSE, bytes);
    m_cpu.cycles += m_costs.debug_byte * bytes;
}

// init_object: red zones to `val`; a poisoned object to POISON_FREE with POISON_END last. An
// allocated kmalloc object's red zone starts at the size asked for.
void slab_allocator::init_object(const kmem_cache& s, const slab_view& v, std::uint64_t object,
                                 std::uint8_t val) {
    unsigned char* p = v.at(object);
    unsigned poison_size = s.object_size;
    if (s.flags & SLAB_RED_ZONE) {
        std::memset(p - s.red_left_pad, val, s.red_left_pad);
        if (s.orig_size_offset && val == SLUB_RED_ACTIVE) poison_size = get_orig_size(s, v, object);
    }
    if (s.poison && poison_size > 0) {
        std::memset(p, POISON_FREE, poison_size - 1);
        p[poison_size - 1] = POISON_END;
    }
    if (s.flags & SLAB_RED_ZONE) std::memset(p + poison_size, val, s.inuse - poison_size);
    m_cpu.cycles += m_costs.debug_byte * (s.inuse + s.red_left_pad);
}

unsigned slab_allocator::get_orig_size(const kmem_cache& s, const slab_view& v, std::uint64_t object) const {
    if (!s.orig_size_offset) return s.object_size;
    std::uint32_t size;
    std::memcpy(&size, v.at(object + s.orig_size_offset), 4);
    return std::min<unsigned>(size, s.object_size);
}

void slab_allocator::set_orig_size(const kmem_cache& s, const slab_view& v, std::uint64_t object,
                                   unsigned orig_size) {
    if (s.orig_size_offset) std::memcpy(v.at(object + s.orig_size_offset), &orig_size, 4);
}

// check_bytes_and_report: the first and last bytes that differ from `value` are reported and
// restored (the FIX line), so the object is not corrupted further.
bool slab_allocator::check_bytes_and_report(kmem_cache& s, const slab_view& v, std::uint64_t object,
                                            const char* what, std::uint64_t start, std::uint8_t value,
                                            unsigned bytes) {
    m_cpu.cycles += m_costs.debug_byte * bytes;
    unsigned char* p = v.at(start);
    unsigned char* fault = std::find_if(p, p + bytes, [value](unsigned char b) { return b != value; });
    if (fault == p + bytes) return true;
    unsigned char* end = p + bytes;
    while (end > fault && end[-1] == value) --end;
    std::uint64_t from = start + static_cast<std::uint64_t>(fault - p);
    std::uint64_t to = start + static_cast<std::uint64_t>(end - p) - 1;
    ++m_bugs;
    slab_bug(s, fmt::format("{} overwritten", what));
    print(kern_level::err, fmt::format("0x{}-0x{} @offset={}. First byte 0x{:x} instead of 0x{:x}",
                                       address(from), address(to), from - v.base, *fault, value));
    print_trailer(s, v, object);
    m_pages.taint();
    slab_fix(s, fmt::format("Restoring {} 0x{}-0x{}=0x{:x}", what, address(from), address(to), value));
    std::memset(fault, value, static_cast<std::size_t>(end - fault));
    return false;
}

bool slab_allocator::check_valid_pointer(const kmem_cache& s, const slab_view& v,
                                         std::uint64_t object) const {
    return object == 0 || in_slab(s, v.base, v.base + std::uint64_t{slab_objects(v.slab)} * s.size, object);
}

// check_object (with 6.2's kmalloc red zone): red zones, poison and padding, then the free
// pointer where it does not overlap a live object.
bool slab_allocator::check_object(kmem_cache& s, const slab_view& v, std::uint64_t object, std::uint8_t val) {
    std::uint64_t end_object = object + s.object_size;
    if (s.flags & SLAB_RED_ZONE) {
        if (!check_bytes_and_report(s, v, object, "Left Redzone", object - s.red_left_pad, val,
                                    s.red_left_pad))
            return false;
        if (!check_bytes_and_report(s, v, object, "Right Redzone", end_object, val, s.inuse - s.object_size))
            return false;
        unsigned orig_size = get_orig_size(s, v, object);
        if (s.orig_size_offset && val == SLUB_RED_ACTIVE && orig_size < s.object_size &&
            !check_bytes_and_report(s, v, object, "kmalloc Redzone", object + orig_size, val,
                                    s.object_size - orig_size))
            return false;
    } else if ((s.flags & SLAB_POISON) && s.object_size < s.inuse) {
        check_bytes_and_report(s, v, object, "Alignment padding", end_object, POISON_INUSE,
                               s.inuse - s.object_size);
    }
    if (s.flags & SLAB_POISON) {
        if (val != SLUB_RED_ACTIVE && s.poison &&
            (!check_bytes_and_report(s, v, object, "Poison", object, POISON_FREE, s.object_size - 1) ||
             !check_bytes_and_report(s, v, object, "End Poison", end_object - 1, POISON_END, 1)))
            return false;
        unsigned off = info_end(s, m_ptr_bytes);
        if (off != size_from_object(s))
            check_bytes_and_report(s, v, object, "Object padding", object + off, POISON_INUSE,
                                   size_from_object(s) - off);
    }
    if (!freeptr_outside_object(s) && val == SLUB_RED_ACTIVE) return true;
    if (!check_valid_pointer(s, v, get_freepointer(s, v, object))) {
        object_err(s, v, object, "Freepointer corrupt");
        set_freepointer(s, v, object, 0);
        return false;
    }
    return true;
}

// on_freelist: walks the slab's freelist for `search`; a chain leaving the slab is cut.
bool slab_allocator::on_freelist(kmem_cache& s, const slab_view& v, std::uint64_t search) {
    std::uint64_t fp = v.slab->index ? v.base + v.slab->index - 1 : 0;
    std::uint64_t object = 0;
    for (unsigned nr = 0; fp != 0 && nr <= slab_objects(v.slab); ++nr) {
        if (fp == search) return true;
        if (!check_valid_pointer(s, v, fp)) {
            if (object) {
                object_err(s, v, object, "Freechain corrupt");
                set_freepointer(s, v, object, 0);
                break;
            }
            slab_err(s, v, "Freepointer corrupt");
            v.slab->index = 0;
            set_counters(v.slab, slab_objects(v.slab), slab_objects(v.slab), false);
            slab_fix(s, "Freelist cleared");
            return false;
        }
        object = fp;
        fp = get_freepointer(s, v, object);
    }
    return search == 0;
}

// alloc_debug_processing: checks with SLAB_CONSISTENCY_CHECKS (the free pointer always, as the
// simulator must not follow a wild one), then the object red-zoned as active.
bool slab_allocator::alloc_debug_processing(kmem_cache& s, const slab_view& v, std::uint64_t object,
                                            unsigned orig_size) {
    if (s.flags & SLAB_CONSISTENCY_CHECKS) {
        if (!check_valid_pointer(s, v, object)) {
            object_err(s, v, object, "Freelist Pointer check fails");
            return false;
        }
        if (!check_object(s, v, object, SLUB_RED_INACTIVE)) return false;
    } else if (!check_valid_pointer(s, v, get_freepointer(s, v, object))) {
        object_err(s, v, object, "Freepointer corrupt");
        return false;
    }
    set_orig_size(s, v, object, orig_size);
    init_object(s, v, object, SLUB_RED_ACTIVE);
    return true;
}

// free_debug_processing: a double free, a damaged red zone or poison is reported and the object
// is not freed; otherwise it is poisoned and red-zoned as inactive.
bool slab_allocator::free_debug_processing(kmem_cache& s, const slab_view& v, std::uint64_t object) {
    if (s.flags & SLAB_CONSISTENCY_CHECKS) {
        if (on_freelist(s, v, object)) {
            object_err(s, v, object, "Object already free");
            return false;
        }
        if (!check_object(s, v, object, SLUB_RED_ACTIVE)) return false;
    } else if (slab_inuse(v.slab) == 0) {
        object_err(s, v, object, "Object already free");
        return false;
    }
    init_object(s, v, object, SLUB_RED_INACTIVE);
    return true;
}

// list_slab_objects: what kmem_cache_destroy found still allocated in a slab.
void slab_allocator::list_slab_objects(kmem_cache& s, page* slab) {
    slab_view v = view(slab);
    slab_err(s, v, fmt::format("Objects remaining in {} on __kmem_cache_shutdown()", s.name));
    unsigned objects = slab_objects(slab);
    std::vector<bool> free(objects);
    std::uint64_t fp = slab->index ? v.base + slab->index - 1 : 0;
    for (unsigned nr = 0; fp != 0 && nr < objects && check_valid_pointer(s, v, fp); ++nr) {
        free[(fp - v.base) / s.size] = true;
        fp = get_freepointer(s, v, fp);
    }
    for (unsigned i = 0; i < objects; ++i) {
        std::uint64_t object = v.base + std::uint64_t{i} * s.size + s.red_left_pad;
        if (!free[i])
            print(kern_level::err, fmt::format("Object 0x{} @offset={}", address(object), object - v.base));
    }
}

// slab_out_of_memory (ratelimited: the first 10 reports).
void slab_allocator::slab_out_of_memory(kmem_cache& s, gfp_t gfp) {
    if ((gfp & __GFP_NOWARN) || m_oom_reports++ >= 10) return;
    print(kern_level::warning,
          fmt::format("SLUB: Unable to allocate memory on node -1, gfp={:#x}({})", gfp, format_gfp(gfp)));
    print(kern_level::warning,
          fmt::format("  cache: {}, object size: {}, buffer size: {}, default order: {}, min order: {}",
                      s.name, s.object_size, s.size, s.order, s.min_order));
    for (std::size_t node = 0; node < s.node.size(); ++node) {
        const kmem_cache_node& n = s.node[node];
        print(kern_level::warning, fmt::format("  node {}: slabs: {}, objs: {}, free: {}", node, n.nr_slabs,
                                               n.total_objects, count_free(n)));
    }
}

}  // namespace memsim::kernel
