// struct page: the kernel's record of one physical page frame (include/linux/mm_types.h,
// include/linux/page-flags.h), kept to 32 host bytes. Every field's zero is a valid state, an
// untouched frame ("refcount 0, unmapped, no flags"), so mem_map can start as zero pages the
// host has not committed and boot touches only the frames it has to.
#pragma once

#include <cstdint>
#include <limits>

namespace memsim::kernel {

using pfn_t = std::uint64_t;

// enum pageflags after mainline's include/linux/page-flags.h, in its order.
enum pageflags : std::uint32_t {
    PG_locked,
    PG_writeback,
    PG_referenced,
    PG_uptodate,
    PG_dirty,
    PG_lru,
    PG_head,
    PG_waiters,
    PG_active,
    PG_workingset,
    PG_owner_priv_1,
    PG_owner_2,
    PG_arch_1,
    PG_reserved,
    PG_private,
    PG_private_2,
    PG_reclaim,
    PG_swapbacked,
    PG_unevictable,
    PG_mlocked,
    nr_pageflags,
    // Linux keeps these two as page types in the _mapcount word (PageBuddy, PageSlab); here they
    // are flags above the real ones, printed as the page type Linux prints.
    PG_buddy = nr_pageflags,
    PG_slab,
    // PG_anon_exclusive (PG_mappedtodisk's bit on an anonymous page): only this process maps
    // it, so a write fault may reuse it and mprotect may make its PTE writable (mm/rmap.c).
    PG_anon_exclusive,
};

// include/linux/page-flags.h PAGE_MAPPING_ANON: page->mapping of an anonymous page is its
// anon_vma with this bit set.
inline constexpr std::uint32_t PAGE_MAPPING_ANON = 0x1;

inline constexpr std::uint32_t page_flag(pageflags f) { return 1u << f; }

// mm/page_alloc.c PAGE_FLAGS_CHECK_AT_FREE (include/linux/page-flags.h): a page being freed
// must have none of these.
inline constexpr std::uint32_t PAGE_FLAGS_CHECK_AT_FREE =
    page_flag(PG_lru) | page_flag(PG_locked) | page_flag(PG_private) | page_flag(PG_private_2) |
    page_flag(PG_writeback) | page_flag(PG_reserved) | page_flag(PG_slab) | page_flag(PG_active) |
    page_flag(PG_unevictable) | page_flag(PG_mlocked) | page_flag(PG_buddy);
// PAGE_FLAGS_CHECK_AT_PREP: a page leaving the allocator has no flags at all.
inline constexpr std::uint32_t PAGE_FLAGS_CHECK_AT_PREP = ~0u;

// An index into mem_map for list links; none ends a list.
using page_link = std::uint32_t;
inline constexpr page_link no_page = std::numeric_limits<page_link>::max();

struct page {
    std::uint32_t flags = 0;
    std::int32_t refcount = 0;  // _refcount
    // _mapcount + 1, so that a zeroed page reads as Linux's "-1, not mapped".
    std::int32_t mapcount_plus_one = 0;
    std::uint32_t private_ = 0;  // the order of a free buddy block's head
    page_link next = 0;          // lru: free lists and per-CPU lists; meaningful only on a list
    page_link prev = 0;
    std::uint32_t mapping = 0;  // who owns the page (0: nobody); later issues give it meaning
    std::uint32_t index = 0;

    bool test(pageflags f) const { return (flags & page_flag(f)) != 0; }
    void set(pageflags f) { flags |= page_flag(f); }
    void clear(pageflags f) { flags &= ~page_flag(f); }
    int mapcount() const { return mapcount_plus_one - 1; }
    void set_mapcount(int count) { mapcount_plus_one = count + 1; }
};

static_assert(sizeof(page) <= 32, "struct page must stay within 32 host bytes");

}  // namespace memsim::kernel
