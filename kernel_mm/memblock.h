// The kernel's boot-time physical memory allocator, after Linux's mm/memblock.c: two sorted
// region arrays (memory the firmware reported, ranges reserved so far), and allocation of free
// ranges from them before the buddy allocator exists. Plain C++: no SystemC, nothing of hw/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace memsim::kernel {

using phys_addr_t = std::uint64_t;

// include/linux/types.h, include/linux/numa.h, include/linux/memblock.h.
inline constexpr phys_addr_t PHYS_ADDR_MAX = ~phys_addr_t{0};
inline constexpr int NUMA_NO_NODE = -1;
// MAX_NUMNODES = 1 << CONFIG_NODES_SHIFT; x86_64's Kconfig default shift is 6. memblock_add() and
// memblock_reserve() tag their regions with it ("no node known yet").
inline constexpr int MAX_NUMNODES = 64;
inline constexpr std::size_t INIT_MEMBLOCK_REGIONS = 128;
// SMP_CACHE_BYTES on x86 (L1_CACHE_BYTES): the alignment memblock uses when given 0.
inline constexpr phys_addr_t SMP_CACHE_BYTES = 64;
// memblock_find_in_range_node() never hands out the first page.
inline constexpr phys_addr_t MEMBLOCK_PAGE_SIZE = 4096;
// Special values of an allocation's end: 0 means "up to current_limit", ~0 "anywhere".
inline constexpr phys_addr_t MEMBLOCK_ALLOC_ACCESSIBLE = 0;
inline constexpr phys_addr_t MEMBLOCK_ALLOC_ANYWHERE = PHYS_ADDR_MAX;
// Also "up to current_limit" (Linux additionally skips kmemleak tracking, not modelled).
inline constexpr phys_addr_t MEMBLOCK_ALLOC_NOLEAKTRACE = 1;
// memblock_alloc_low's bounds: from 0 up to ARCH_LOW_ADDRESS_LIMIT (an exclusive end; x86 keeps
// include/linux/memblock.h's default).
inline constexpr phys_addr_t MEMBLOCK_LOW_LIMIT = 0;
inline constexpr phys_addr_t ARCH_LOW_ADDRESS_LIMIT = 0xffffffff;

// enum memblock_flags.
inline constexpr std::uint32_t MEMBLOCK_NONE = 0;
inline constexpr std::uint32_t MEMBLOCK_HOTPLUG = 1;
inline constexpr std::uint32_t MEMBLOCK_MIRROR = 2;
inline constexpr std::uint32_t MEMBLOCK_NOMAP = 4;

struct memblock_region {
    phys_addr_t base = 0;
    phys_addr_t size = 0;
    int nid = MAX_NUMNODES;
    std::uint32_t flags = MEMBLOCK_NONE;

    phys_addr_t end() const { return base + size; }
    bool operator==(const memblock_region&) const = default;
};

// One region array (struct memblock_type): sorted by base, non-overlapping, adjacent regions
// merged unless their nid or flags differ. Its capacity starts at INIT_MEMBLOCK_REGIONS and
// doubles when an insertion would overflow it (memblock_double_array).
class memblock_type {
public:
    explicit memblock_type(const char* name) : m_name(name) { m_regions.reserve(m_capacity); }

    const std::vector<memblock_region>& regions() const { return m_regions; }
    std::size_t count() const { return m_regions.size(); }
    phys_addr_t total_size() const { return m_total_size; }
    const char* name() const { return m_name; }
    // The modelled array's capacity and how many times it doubled (see memblock_double_array in
    // memblock.cpp for what is and is not modelled of Linux's reallocation).
    std::size_t capacity() const { return m_capacity; }
    unsigned doublings() const { return m_doublings; }

    // Index of the region holding addr, or -1 (memblock_search).
    long search(phys_addr_t addr) const;
    // Whether [base, base + size) overlaps any region (memblock_overlaps_region).
    bool overlaps(phys_addr_t base, phys_addr_t size) const;

private:
    friend class memblock;

    void add_range(phys_addr_t base, phys_addr_t size, int nid, std::uint32_t flags);
    void remove_range(phys_addr_t base, phys_addr_t size);
    void set_flag(phys_addr_t base, phys_addr_t size, std::uint32_t flag, bool set);
    void set_node(phys_addr_t base, phys_addr_t size, int nid);
    // Splits regions at base and base + size; returns the index range of regions inside.
    std::pair<std::size_t, std::size_t> isolate_range(phys_addr_t base, phys_addr_t size);
    void insert_region(std::size_t idx, phys_addr_t base, phys_addr_t size, int nid, std::uint32_t flags);
    void merge_regions();
    void ensure_room(std::size_t extra);

    const char* m_name;
    std::vector<memblock_region> m_regions;
    phys_addr_t m_total_size = 0;
    std::size_t m_capacity = INIT_MEMBLOCK_REGIONS;
    unsigned m_doublings = 0;
};

// The allocator (struct memblock plus mm/memblock.c's API). Addresses are physical; the
// allocation functions return 0 on failure, as Linux's memblock_phys_alloc*() do.
class memblock {
public:
    // Writes zeros into simulated RAM for memblock_alloc_try_nid(); tests pass a fake.
    using zero_fn = std::function<void(phys_addr_t base, phys_addr_t size)>;

    explicit memblock(zero_fn zero = {}) : m_zero(std::move(zero)) {}

    // memblock_add / memblock_add_node / memblock_remove / memblock_reserve / memblock_phys_free.
    // Linux returns 0 or -ENOMEM when the array cannot grow; here it always grows, so always 0.
    int add(phys_addr_t base, phys_addr_t size) { return add_node(base, size, MAX_NUMNODES); }
    int add_node(phys_addr_t base, phys_addr_t size, int nid, std::uint32_t flags = MEMBLOCK_NONE);
    int remove(phys_addr_t base, phys_addr_t size);
    int reserve(phys_addr_t base, phys_addr_t size);
    int phys_free(phys_addr_t base, phys_addr_t size);

    // memblock_mark_hotplug / clear_hotplug / mark_mirror / mark_nomap / clear_nomap: set or clear
    // a flag on the memory regions in the range, splitting them at its ends.
    int mark_hotplug(phys_addr_t base, phys_addr_t size);
    int clear_hotplug(phys_addr_t base, phys_addr_t size);
    int mark_mirror(phys_addr_t base, phys_addr_t size);
    int mark_nomap(phys_addr_t base, phys_addr_t size);
    int clear_nomap(phys_addr_t base, phys_addr_t size);
    // memblock_set_node: the memory and reserved regions in the range belong to node nid (split
    // at its ends, merged again with neighbours of that node).
    int set_node(phys_addr_t base, phys_addr_t size, int nid);

    // memblock_find_in_range_node: a free, suitably aligned range inside [start, end) without
    // reserving it; 0 when none.
    phys_addr_t find_in_range_node(phys_addr_t size, phys_addr_t align, phys_addr_t start, phys_addr_t end,
                                   int nid) const;
    // memblock_alloc_range_nid / memblock_phys_alloc_range: find and reserve. align 0 means
    // SMP_CACHE_BYTES; otherwise it must be a power of two (std::invalid_argument).
    phys_addr_t phys_alloc_range(phys_addr_t size, phys_addr_t align, phys_addr_t start, phys_addr_t end,
                                 int nid = NUMA_NO_NODE, bool exact_nid = false);
    // memblock_phys_alloc: anywhere below current_limit.
    phys_addr_t phys_alloc(phys_addr_t size, phys_addr_t align) {
        return phys_alloc_range(size, align, 0, MEMBLOCK_ALLOC_ACCESSIBLE);
    }
    // memblock_alloc_try_nid_raw / memblock_alloc_exact_nid_raw (memblock_alloc_internal): max is
    // capped at current_limit; nid first, then any node unless exact_nid; then again without
    // min. Not zeroed.
    phys_addr_t alloc_try_nid_raw(phys_addr_t size, phys_addr_t align, phys_addr_t min, phys_addr_t max,
                                  int nid, bool exact_nid = false);
    // memblock_alloc_try_nid: the same, then zeroed through the given callback, or the one given
    // at construction (std::logic_error when there is neither).
    phys_addr_t alloc_try_nid(phys_addr_t size, phys_addr_t align, phys_addr_t min, phys_addr_t max, int nid);
    phys_addr_t alloc_try_nid(phys_addr_t size, phys_addr_t align, phys_addr_t min, phys_addr_t max, int nid,
                              const zero_fn& zero);
    // memblock_alloc: zeroed, anywhere below current_limit.
    phys_addr_t alloc(phys_addr_t size, phys_addr_t align) {
        return alloc_try_nid(size, align, MEMBLOCK_LOW_LIMIT, MEMBLOCK_ALLOC_ACCESSIBLE, NUMA_NO_NODE);
    }
    // memblock_alloc_low: zeroed, below 4 GiB as well as current_limit.
    phys_addr_t alloc_low(phys_addr_t size, phys_addr_t align) {
        return alloc_try_nid(size, align, MEMBLOCK_LOW_LIMIT, ARCH_LOW_ADDRESS_LIMIT, NUMA_NO_NODE);
    }

    void set_bottom_up(bool enable) { m_bottom_up = enable; }
    bool bottom_up() const { return m_bottom_up; }
    void set_current_limit(phys_addr_t limit) { m_current_limit = limit; }
    phys_addr_t current_limit() const { return m_current_limit; }

    const memblock_type& memory() const { return m_memory; }
    const memblock_type& reserved() const { return m_reserved; }
    phys_addr_t phys_mem_size() const { return m_memory.total_size(); }
    phys_addr_t reserved_size() const { return m_reserved.total_size(); }
    // Lowest and highest+1 address of memory (memblock_start_of_DRAM / memblock_end_of_DRAM).
    phys_addr_t start_of_dram() const;
    phys_addr_t end_of_dram() const;

    // memblock_is_region_memory: one memory region holds all of the range.
    bool is_region_memory(phys_addr_t base, phys_addr_t size) const;
    // memblock_is_region_reserved: some reserved region overlaps the range.
    bool is_region_reserved(phys_addr_t base, phys_addr_t size) const;
    bool is_memory(phys_addr_t addr) const { return m_memory.search(addr) >= 0; }
    bool is_reserved(phys_addr_t addr) const { return m_reserved.search(addr) >= 0; }

    // for_each_free_mem_range (__next_mem_range with MEMBLOCK_NONE): memory minus reserved,
    // skipping NOMAP regions, in address order; nid NUMA_NO_NODE means every node.
    template <typename Fn>
    void for_each_free_range(Fn&& fn, int nid = NUMA_NO_NODE) const {
        for (const memblock_region& r : free_ranges(nid)) fn(r.base, r.end(), r.nid);
    }
    // The same ranges as regions (size = end - base, flags of the memory region).
    std::vector<memblock_region> free_ranges(int nid = NUMA_NO_NODE) const;

private:
    phys_addr_t alloc_internal(phys_addr_t size, phys_addr_t align, phys_addr_t min, phys_addr_t max, int nid,
                               bool exact_nid);
    int set_memory_flag(phys_addr_t base, phys_addr_t size, std::uint32_t flag, bool set);

    memblock_type m_memory{"memory"};
    memblock_type m_reserved{"reserved"};
    bool m_bottom_up = false;
    phys_addr_t m_current_limit = MEMBLOCK_ALLOC_ANYWHERE;
    zero_fn m_zero;
};

}  // namespace memsim::kernel
