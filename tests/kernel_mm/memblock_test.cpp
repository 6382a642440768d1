// memblock (mm/memblock.c semantics): exact region lists after add, reserve, remove and free;
// top-down and bottom-up allocation with alignment, windows, node fallback and zeroing; array
// doubling; free-range iteration; and a long random run checked against a page-array model.
#include "kernel_mm/memblock.h"

#include <cstdint>
#include <ostream>
#include <random>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

namespace memsim::kernel {
std::ostream& operator<<(std::ostream& os, const std::vector<memblock_region>& v) {
    os << "{";
    for (const memblock_region& r : v)
        os << " [0x" << std::hex << r.base << "-0x" << r.end() << std::dec << " nid " << r.nid << " flags "
           << r.flags << "]";
    return os << " }";
}
}  // namespace memsim::kernel

using namespace memsim::kernel;

namespace {

using regions = std::vector<memblock_region>;

constexpr phys_addr_t SZ_4K = 0x1000;
constexpr phys_addr_t SZ_1M = 0x100000;
constexpr phys_addr_t SZ_16M = 16 * SZ_1M;
constexpr phys_addr_t SZ_32M = 32 * SZ_1M;
constexpr phys_addr_t SZ_64M = 64 * SZ_1M;
constexpr phys_addr_t SZ_128M = 128 * SZ_1M;
constexpr phys_addr_t SZ_256M = 256 * SZ_1M;
constexpr phys_addr_t SZ_512M = 512 * SZ_1M;
constexpr phys_addr_t SZ_1G = 1024 * SZ_1M;
constexpr int ANY = MAX_NUMNODES;  // the nid memblock_add() and memblock_reserve() record

memblock_region rgn(phys_addr_t base, phys_addr_t size, int nid = ANY, std::uint32_t flags = MEMBLOCK_NONE) {
    return {base, size, nid, flags};
}

}  // namespace

TEST_CASE("memblock: a new memblock is empty, top-down, without a limit") {
    memblock mb;
    CHECK(mb.memory().regions().empty());
    CHECK(mb.reserved().regions().empty());
    CHECK(mb.memory().capacity() == INIT_MEMBLOCK_REGIONS);
    CHECK(mb.reserved().capacity() == INIT_MEMBLOCK_REGIONS);
    CHECK_FALSE(mb.bottom_up());
    CHECK(mb.current_limit() == MEMBLOCK_ALLOC_ANYWHERE);
    CHECK(mb.phys_mem_size() == 0);
    CHECK(mb.reserved_size() == 0);
}

TEST_CASE("memblock_add: regions, nids and flags, overlaps and merges") {
    memblock mb;
    SUBCASE("simple") {
        CHECK(mb.add(SZ_1G, SZ_256M) == 0);
        CHECK(mb.memory().regions() == regions{rgn(SZ_1G, SZ_256M)});
        CHECK(mb.phys_mem_size() == SZ_256M);
    }
    SUBCASE("with a node and flags") {
        CHECK(mb.add_node(SZ_16M, SZ_16M, 1, MEMBLOCK_HOTPLUG) == 0);
        CHECK(mb.memory().regions() == regions{rgn(SZ_16M, SZ_16M, 1, MEMBLOCK_HOTPLUG)});
    }
    SUBCASE("disjoint regions are kept sorted") {
        mb.add(SZ_1G, SZ_16M);
        mb.add(SZ_16M, SZ_1M);
        CHECK(mb.memory().regions() == regions{rgn(SZ_16M, SZ_1M), rgn(SZ_1G, SZ_16M)});
        CHECK(mb.phys_mem_size() == SZ_16M + SZ_1M);
    }
    SUBCASE("a new region overlapping the bottom of an old one") {
        mb.add(SZ_512M, SZ_1G);
        mb.add(SZ_256M, SZ_512M);
        CHECK(mb.memory().regions() == regions{rgn(SZ_256M, SZ_1G + SZ_256M)});
        CHECK(mb.phys_mem_size() == SZ_1G + SZ_256M);
    }
    SUBCASE("a new region overlapping the top of an old one") {
        mb.add(SZ_128M, SZ_512M);
        mb.add(SZ_256M, SZ_1G);
        CHECK(mb.memory().regions() == regions{rgn(SZ_128M, SZ_1G + SZ_128M)});
        CHECK(mb.phys_mem_size() == SZ_1G + SZ_128M);
    }
    SUBCASE("a new region within an old one changes nothing") {
        mb.add(8 * SZ_1M, SZ_32M);
        mb.add(SZ_16M, SZ_1M);
        CHECK(mb.memory().regions() == regions{rgn(8 * SZ_1M, SZ_32M)});
        CHECK(mb.phys_mem_size() == SZ_32M);
    }
    SUBCASE("the same region twice") {
        mb.add(0x10000, 0x2000);
        mb.add(0x10000, 0x2000);
        CHECK(mb.memory().regions() == regions{rgn(0x10000, 0x2000)});
        CHECK(mb.phys_mem_size() == 0x2000);
    }
    SUBCASE("adjacent regions merge") {
        mb.add(0x11000, 0x1000);
        mb.add(0x10000, 0x1000);
        mb.add(0x12000, 0x1000);
        CHECK(mb.memory().regions() == regions{rgn(0x10000, 0x3000)});
    }
    SUBCASE("a region bridging two merges all three") {
        mb.add(0x1000, 0x1000);
        mb.add(0x3000, 0x1000);
        mb.add(0x1800, 0x2000);
        CHECK(mb.memory().regions() == regions{rgn(0x1000, 0x3000)});
        CHECK(mb.phys_mem_size() == 0x3000);
    }
    SUBCASE("adjacent regions of other nodes or flags stay apart") {
        mb.add_node(0x10000, 0x1000, 0);
        mb.add_node(0x11000, 0x1000, 1);
        mb.add_node(0x12000, 0x1000, 1, MEMBLOCK_MIRROR);
        CHECK(mb.memory().regions() == regions{rgn(0x10000, 0x1000, 0), rgn(0x11000, 0x1000, 1),
                                               rgn(0x12000, 0x1000, 1, MEMBLOCK_MIRROR)});
    }
    SUBCASE("only the missing pieces are inserted, with the new nid") {
        mb.add_node(0x10000, 0x10000, 0);
        mb.add_node(0x8000, 0x20000, 1);
        CHECK(mb.memory().regions() ==
              regions{rgn(0x8000, 0x8000, 1), rgn(0x10000, 0x10000, 0), rgn(0x20000, 0x8000, 1)});
        CHECK(mb.phys_mem_size() == 0x20000);
    }
    SUBCASE("the size is capped at the top of the address space") {
        mb.add(PHYS_ADDR_MAX - SZ_1M, 2 * SZ_1M);
        CHECK(mb.memory().regions() == regions{rgn(PHYS_ADDR_MAX - SZ_1M, SZ_1M)});
        CHECK(mb.phys_mem_size() == SZ_1M);
        CHECK(mb.end_of_dram() == PHYS_ADDR_MAX);
    }
    SUBCASE("a zero size adds nothing") {
        mb.add(0x1000, 0);
        CHECK(mb.memory().regions().empty());
    }
}

TEST_CASE("memblock_set_node: a range's memory and reservations move to a node, split at its ends") {
    memblock mb;
    mb.add(0, SZ_1G);
    mb.reserve(SZ_256M, SZ_16M);
    CHECK(mb.set_node(SZ_512M, SZ_512M, 1) == 0);
    CHECK(mb.memory().regions() == regions{rgn(0, SZ_512M), rgn(SZ_512M, SZ_512M, 1)});
    CHECK(mb.set_node(0, SZ_512M, 0) == 0);
    CHECK(mb.memory().regions() == regions{rgn(0, SZ_512M, 0), rgn(SZ_512M, SZ_512M, 1)});
    CHECK(mb.reserved().regions() == regions{rgn(SZ_256M, SZ_16M, 0)});
    // Neighbours of one node merge again.
    CHECK(mb.set_node(SZ_512M, SZ_512M, 0) == 0);
    CHECK(mb.memory().regions() == regions{rgn(0, SZ_1G, 0)});
}

TEST_CASE("memblock_reserve: the same rules on the reserved array") {
    memblock mb;
    SUBCASE("simple, with no node") {
        mb.reserve(SZ_1G, SZ_128M);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_1G, SZ_128M)});
        CHECK(mb.reserved_size() == SZ_128M);
        CHECK(mb.memory().regions().empty());
    }
    SUBCASE("disjoint") {
        mb.reserve(SZ_256M, SZ_16M);
        mb.reserve(SZ_16M, SZ_16M);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_16M, SZ_16M), rgn(SZ_256M, SZ_16M)});
    }
    SUBCASE("overlap bottom, overlap top, within, twice") {
        mb.reserve(SZ_512M, SZ_1G);
        mb.reserve(SZ_256M, SZ_512M);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_256M, SZ_1G + SZ_256M)});
        mb.reserve(SZ_1G, SZ_1G);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_256M, SZ_1G + SZ_1G - SZ_256M)});
        mb.reserve(SZ_512M, SZ_16M);
        mb.reserve(SZ_512M, SZ_16M);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_256M, SZ_1G + SZ_1G - SZ_256M)});
        CHECK(mb.reserved_size() == 2 * SZ_1G - SZ_256M);
    }
    SUBCASE("adjacent merge") {
        mb.reserve(0x2000, 0x1000);
        mb.reserve(0x1000, 0x1000);
        CHECK(mb.reserved().regions() == regions{rgn(0x1000, 0x2000)});
    }
    SUBCASE("capped at the top") {
        mb.reserve(PHYS_ADDR_MAX - 0x1000, 0x10000);
        CHECK(mb.reserved().regions() == regions{rgn(PHYS_ADDR_MAX - 0x1000, 0x1000)});
    }
    SUBCASE("is_region_reserved: any overlap") {
        mb.reserve(0x10000, 0x1000);
        CHECK(mb.is_region_reserved(0x10000, 0x1000));
        CHECK(mb.is_region_reserved(0xf000, 0x1001));
        CHECK(mb.is_region_reserved(0x10fff, 0x10));
        CHECK_FALSE(mb.is_region_reserved(0xf000, 0x1000));
        CHECK_FALSE(mb.is_region_reserved(0x11000, 0x1000));
        CHECK(mb.is_reserved(0x10800));
        CHECK_FALSE(mb.is_reserved(0x11000));
    }
}

TEST_CASE("memblock_remove: whole regions, splits, overlaps, absent ranges") {
    memblock mb;
    SUBCASE("a whole region") {
        mb.add(0x800, 4 * SZ_1M);
        mb.add(SZ_128M, 4 * SZ_1M);
        CHECK(mb.remove(0x800, 4 * SZ_1M) == 0);
        CHECK(mb.memory().regions() == regions{rgn(SZ_128M, 4 * SZ_1M)});
        CHECK(mb.phys_mem_size() == 4 * SZ_1M);
    }
    SUBCASE("an absent range changes nothing") {
        mb.add(SZ_512M, SZ_1G);
        mb.remove(SZ_256M, SZ_128M);
        CHECK(mb.memory().regions() == regions{rgn(SZ_512M, SZ_1G)});
    }
    SUBCASE("overlapping the bottom of a region") {
        mb.add(SZ_32M, SZ_32M);
        mb.remove(SZ_16M, SZ_32M);
        CHECK(mb.memory().regions() == regions{rgn(SZ_32M + SZ_16M, SZ_16M)});
        CHECK(mb.phys_mem_size() == SZ_16M);
    }
    SUBCASE("overlapping the top of a region") {
        mb.add(SZ_32M, SZ_32M);
        mb.remove(SZ_32M + SZ_16M, SZ_32M);
        CHECK(mb.memory().regions() == regions{rgn(SZ_32M, SZ_16M)});
    }
    SUBCASE("within a region: split in two, nid and flags kept") {
        mb.add_node(SZ_1M, SZ_32M, 2, MEMBLOCK_HOTPLUG);
        mb.remove(SZ_16M, SZ_1M);
        CHECK(mb.memory().regions() == regions{rgn(SZ_1M, SZ_16M - SZ_1M, 2, MEMBLOCK_HOTPLUG),
                                               rgn(SZ_16M + SZ_1M, SZ_16M, 2, MEMBLOCK_HOTPLUG)});
        CHECK(mb.phys_mem_size() == SZ_32M - SZ_1M);
    }
    SUBCASE("across several regions") {
        mb.add_node(0x1000, 0x3000, 0);
        mb.add_node(0x4000, 0x3000, 1);
        mb.add_node(0x8000, 0x1000, 1);
        mb.add_node(0xa000, 0x3000, 0);
        mb.remove(0x2000, 0x9000);
        CHECK(mb.memory().regions() == regions{rgn(0x1000, 0x1000, 0), rgn(0xb000, 0x2000, 0)});
        CHECK(mb.phys_mem_size() == 0x3000);
    }
    SUBCASE("everything") {
        mb.add(0x1000, 0x1000);
        mb.add(0x4000, 0x1000);
        mb.remove(0, PHYS_ADDR_MAX);
        CHECK(mb.memory().regions().empty());
        CHECK(mb.phys_mem_size() == 0);
    }
    SUBCASE("a zero size removes nothing") {
        mb.add(0x1000, 0x1000);
        mb.remove(0x1000, 0);
        CHECK(mb.memory().regions() == regions{rgn(0x1000, 0x1000)});
    }
}

TEST_CASE("memblock_phys_free: the same rules on the reserved array") {
    memblock mb;
    mb.add(0, SZ_1G);
    SUBCASE("a whole region") {
        mb.reserve(SZ_4K, SZ_1M);
        mb.reserve(SZ_16M, SZ_1M);
        CHECK(mb.phys_free(SZ_4K, SZ_1M) == 0);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_16M, SZ_1M)});
        CHECK(mb.reserved_size() == SZ_1M);
    }
    SUBCASE("absent") {
        mb.reserve(SZ_16M, SZ_1M);
        mb.phys_free(SZ_32M, SZ_1M);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_16M, SZ_1M)});
    }
    SUBCASE("bottom, top, middle") {
        mb.reserve(SZ_16M, SZ_16M);
        mb.phys_free(SZ_16M - SZ_1M, 2 * SZ_1M);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_16M + SZ_1M, SZ_16M - SZ_1M)});
        mb.phys_free(SZ_32M - SZ_1M, SZ_16M);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_16M + SZ_1M, SZ_16M - 2 * SZ_1M)});
        mb.phys_free(SZ_16M + 4 * SZ_1M, SZ_1M);
        CHECK(mb.reserved().regions() ==
              regions{rgn(SZ_16M + SZ_1M, 3 * SZ_1M), rgn(SZ_16M + 5 * SZ_1M, SZ_16M - 6 * SZ_1M)});
        CHECK(mb.reserved_size() == SZ_16M - 3 * SZ_1M);
    }
    SUBCASE("memory is untouched") {
        mb.reserve(SZ_16M, SZ_16M);
        mb.phys_free(SZ_16M, SZ_16M);
        CHECK(mb.reserved().regions().empty());
        CHECK(mb.memory().regions() == regions{rgn(0, SZ_1G)});
    }
}

TEST_CASE("memblock_phys_alloc top-down: highest fit, alignment, windows, failure") {
    memblock mb;
    mb.add(0, SZ_64M);
    SUBCASE("the top of memory, then just below") {
        CHECK(mb.phys_alloc(SZ_4K, SZ_4K) == SZ_64M - SZ_4K);
        CHECK(mb.phys_alloc(2 * SZ_4K, SZ_4K) == SZ_64M - 3 * SZ_4K);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_64M - 3 * SZ_4K, 3 * SZ_4K)});
        CHECK(mb.reserved_size() == 3 * SZ_4K);
    }
    SUBCASE("the highest aligned address") {
        CHECK(mb.phys_alloc(0x1001, SZ_4K) == SZ_64M - 0x2000);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_64M - 0x2000, 0x1001)});
        CHECK(mb.phys_alloc(SZ_1M, SZ_16M) == SZ_32M + SZ_16M);
    }
    SUBCASE("alignment 0 means SMP_CACHE_BYTES; others must be powers of two") {
        CHECK(mb.phys_alloc(100, 0) == SZ_64M - 128);
        CHECK_THROWS_AS(mb.phys_alloc(100, 48), std::invalid_argument);
    }
    SUBCASE("falls back below a free range at the top that is too small") {
        mb.reserve(SZ_32M, SZ_32M - 0x800);
        CHECK(mb.phys_alloc(SZ_4K, SZ_4K) == SZ_32M - SZ_4K);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_32M - SZ_4K, SZ_32M + SZ_4K - 0x800)});
    }
    SUBCASE("fails when nothing fits, reserving nothing") {
        mb.reserve(SZ_4K, SZ_32M);
        mb.reserve(SZ_32M + 3 * SZ_4K, SZ_32M - 3 * SZ_4K);
        CHECK(mb.phys_alloc(2 * SZ_4K, 2 * SZ_4K) == 0);  // the one 8K hole is not 8K-aligned
        CHECK(mb.phys_alloc(3 * SZ_4K, SZ_4K) == 0);
        CHECK(mb.reserved().regions().size() == 2);
        CHECK(mb.phys_alloc(2 * SZ_4K, SZ_4K) == SZ_32M + SZ_4K);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_4K, SZ_64M - SZ_4K)});
    }
    SUBCASE("a window [start, end)") {
        CHECK(mb.phys_alloc_range(SZ_4K, SZ_4K, SZ_16M, SZ_32M) == SZ_32M - SZ_4K);
        CHECK(mb.phys_alloc_range(SZ_4K, SZ_4K, SZ_16M, SZ_32M - 0x800) == SZ_32M - 2 * SZ_4K);
        CHECK(mb.phys_alloc_range(SZ_16M, SZ_4K, SZ_16M, SZ_32M) == 0);
        CHECK(mb.phys_alloc_range(SZ_4K, SZ_4K, SZ_128M, SZ_256M) == 0);
    }
    SUBCASE("end 0 and phys_alloc stop at current_limit; ANYWHERE ignores it") {
        mb.set_current_limit(SZ_16M);
        CHECK(mb.current_limit() == SZ_16M);
        CHECK(mb.phys_alloc(SZ_4K, SZ_4K) == SZ_16M - SZ_4K);
        CHECK(mb.phys_alloc_range(SZ_4K, SZ_4K, 0, MEMBLOCK_ALLOC_ANYWHERE) == SZ_64M - SZ_4K);
    }
    SUBCASE("reserved memory outside memory does not matter") {
        mb.reserve(SZ_64M, SZ_1G);
        CHECK(mb.phys_alloc(SZ_4K, SZ_4K) == SZ_64M - SZ_4K);
    }
}

TEST_CASE("memblock allocation never hands out the first page") {
    memblock mb;
    mb.add(0, 2 * SZ_4K);
    SUBCASE("top-down") {
        CHECK(mb.phys_alloc(SZ_4K, SZ_4K) == SZ_4K);
        CHECK(mb.phys_alloc(SZ_4K, SZ_4K) == 0);
        CHECK(mb.phys_alloc(16, 16) == 0);
    }
    SUBCASE("bottom-up") {
        mb.set_bottom_up(true);
        CHECK(mb.phys_alloc(16, 16) == SZ_4K);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_4K, 16)});
    }
}

TEST_CASE("memblock_phys_alloc bottom-up: lowest fit, alignment, windows, failure") {
    memblock mb;
    mb.set_bottom_up(true);
    CHECK(mb.bottom_up());
    mb.add(SZ_16M + 0x100, SZ_16M);
    SUBCASE("the lowest aligned address, then just above") {
        CHECK(mb.phys_alloc(SZ_4K, SZ_4K) == SZ_16M + SZ_4K);
        CHECK(mb.phys_alloc(0x100, 0x100) == SZ_16M + 0x100);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_16M + 0x100, 0x100), rgn(SZ_16M + SZ_4K, SZ_4K)});
        CHECK(mb.phys_alloc(0xe00, 0x100) == SZ_16M + 0x200);
        CHECK(mb.reserved().regions() == regions{rgn(SZ_16M + 0x100, 2 * SZ_4K - 0x100)});
        CHECK(mb.phys_alloc(0x80, 0x80) == SZ_16M + 2 * SZ_4K);
    }
    SUBCASE("skips a low free range that is too small") {
        mb.reserve(SZ_16M + 0x800, SZ_1M);
        CHECK(mb.phys_alloc(SZ_4K, SZ_4K) == SZ_16M + SZ_1M + SZ_4K);
    }
    SUBCASE("a window") {
        CHECK(mb.phys_alloc_range(SZ_4K, SZ_4K, SZ_16M + SZ_1M + 1, SZ_32M) == SZ_16M + SZ_1M + SZ_4K);
        CHECK(mb.phys_alloc_range(SZ_4K, SZ_4K, SZ_32M, SZ_64M) == 0);
    }
    SUBCASE("fails when nothing fits") {
        CHECK(mb.phys_alloc(SZ_32M, SZ_4K) == 0);
        CHECK(mb.reserved().regions().empty());
    }
}

TEST_CASE("memblock_alloc_try_nid: retry without min, max capped at current_limit") {
    memblock mb;
    mb.add(0, SZ_64M);
    SUBCASE("min honoured when it can be") {
        CHECK(mb.alloc_try_nid_raw(SZ_4K, SZ_4K, SZ_16M, SZ_32M, NUMA_NO_NODE) == SZ_32M - SZ_4K);
        mb.set_bottom_up(true);
        CHECK(mb.alloc_try_nid_raw(SZ_4K, SZ_4K, SZ_16M, SZ_32M, NUMA_NO_NODE) == SZ_16M);
    }
    SUBCASE("retried from 0 when nothing fits above min") {
        mb.reserve(SZ_32M, SZ_32M);
        CHECK(mb.alloc_try_nid_raw(SZ_4K, SZ_4K, SZ_32M, MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE) ==
              SZ_32M - SZ_4K);
    }
    SUBCASE("max above current_limit is capped; max 0 means current_limit") {
        mb.set_current_limit(SZ_16M);
        CHECK(mb.alloc_try_nid_raw(SZ_4K, SZ_4K, 0, MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE) == SZ_16M - SZ_4K);
        CHECK(mb.alloc_try_nid_raw(SZ_4K, SZ_4K, 0, MEMBLOCK_ALLOC_ACCESSIBLE, NUMA_NO_NODE) ==
              SZ_16M - 2 * SZ_4K);
    }
    SUBCASE("fails when nothing fits at all") {
        CHECK(mb.alloc_try_nid_raw(SZ_128M, SZ_4K, SZ_16M, SZ_32M, NUMA_NO_NODE) == 0);
        CHECK(mb.reserved().regions().empty());
    }
}

TEST_CASE("memblock_alloc_try_nid: the asked node first, then any unless exact") {
    memblock mb;
    mb.add_node(SZ_1M, SZ_16M - SZ_1M, 0);
    mb.add_node(SZ_16M, SZ_16M, 1);
    CHECK(mb.alloc_try_nid_raw(SZ_4K, SZ_4K, 0, MEMBLOCK_ALLOC_ANYWHERE, 0) == SZ_16M - SZ_4K);
    CHECK(mb.alloc_try_nid_raw(SZ_4K, SZ_4K, 0, MEMBLOCK_ALLOC_ANYWHERE, 1) == SZ_32M - SZ_4K);
    CHECK(mb.alloc_try_nid_raw(SZ_4K, SZ_4K, 0, MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE) == SZ_32M - 2 * SZ_4K);
    // A range across the node boundary is not one free range.
    CHECK(mb.find_in_range_node(2 * SZ_4K, SZ_4K, SZ_16M - SZ_4K, SZ_16M + SZ_4K, NUMA_NO_NODE) == 0);

    mb.reserve(SZ_1M, SZ_16M - SZ_1M - SZ_4K);  // node 0 is now full
    CHECK(mb.alloc_try_nid_raw(SZ_4K, SZ_4K, 0, MEMBLOCK_ALLOC_ANYWHERE, 0, true) == 0);
    CHECK(mb.alloc_try_nid_raw(SZ_4K, SZ_4K, 0, MEMBLOCK_ALLOC_ANYWHERE, 0) == SZ_32M - 3 * SZ_4K);
    CHECK(mb.alloc_try_nid_raw(SZ_4K, SZ_4K, 0, MEMBLOCK_ALLOC_ANYWHERE, 2) == SZ_32M - 4 * SZ_4K);
    // MAX_NUMNODES is taken as "any node" (Linux warns).
    CHECK(mb.phys_alloc_range(SZ_4K, SZ_4K, 0, SZ_16M + SZ_4K, MAX_NUMNODES) == SZ_16M);
    CHECK(mb.phys_alloc_range(SZ_4K, SZ_4K, 0, SZ_16M + SZ_4K, 1, true) == 0);
}

TEST_CASE("memblock_alloc_try_nid zeroes what it returns; the raw variant does not") {
    std::vector<std::pair<phys_addr_t, phys_addr_t>> zeroed;
    memblock mb([&](phys_addr_t base, phys_addr_t size) { zeroed.emplace_back(base, size); });
    mb.add(0, SZ_16M);
    CHECK(mb.alloc_try_nid(0x300, 0x100, 0, MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE) == SZ_16M - 0x300);
    CHECK(zeroed == std::vector<std::pair<phys_addr_t, phys_addr_t>>{{SZ_16M - 0x300, 0x300}});
    CHECK(mb.alloc_try_nid_raw(0x100, 0x100, 0, MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE) == SZ_16M - 0x400);
    CHECK(zeroed.size() == 1);
    CHECK(mb.alloc_try_nid(SZ_32M, 0x100, 0, MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE) == 0);
    CHECK(zeroed.size() == 1);

    int calls = 0;
    CHECK(mb.alloc_try_nid(0x100, 0x100, 0, MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE,
                           [&](phys_addr_t, phys_addr_t) { ++calls; }) == SZ_16M - 0x500);
    CHECK(calls == 1);
    CHECK(zeroed.size() == 1);

    memblock bare;
    bare.add(0, SZ_16M);
    CHECK_THROWS_AS(bare.alloc_try_nid(0x100, 0x100, 0, MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE),
                    std::logic_error);
}

TEST_CASE("memblock_alloc_low stays below 4 GiB and current_limit; memblock_alloc only below the limit") {
    std::vector<std::pair<phys_addr_t, phys_addr_t>> zeroed;
    memblock mb([&](phys_addr_t base, phys_addr_t size) { zeroed.emplace_back(base, size); });
    mb.add(SZ_1M, 0xc0000000 - SZ_1M);
    mb.add(0x100000000, 0x40000000);
    // ARCH_LOW_ADDRESS_LIMIT is an exclusive end: top-down from the end of RAM below 4 GiB.
    CHECK(mb.alloc_low(SZ_16M, SZ_4K) == 0xc0000000 - SZ_16M);
    CHECK(mb.alloc(SZ_4K, SZ_4K) == 0x140000000 - SZ_4K);
    CHECK(zeroed == std::vector<std::pair<phys_addr_t, phys_addr_t>>{{0xc0000000 - SZ_16M, SZ_16M},
                                                                     {0x140000000 - SZ_4K, SZ_4K}});
    // i386 limits memblock to low memory: both stay under it.
    mb.set_current_limit(0x36ffe000);
    CHECK(mb.alloc_low(SZ_16M, SZ_4K) == 0x36ffe000 - SZ_16M);
    CHECK(mb.alloc(SZ_4K, SZ_4K) == 0x36ffe000 - SZ_16M - SZ_4K);
    CHECK(mb.alloc_low(SZ_1G, SZ_4K) == 0);
}

TEST_CASE("memblock flags: NOMAP memory is never free; marking splits and clearing merges") {
    memblock mb;
    mb.add(0, SZ_16M);
    mb.mark_nomap(SZ_1M, SZ_1M);
    CHECK(mb.memory().regions() ==
          regions{rgn(0, SZ_1M), rgn(SZ_1M, SZ_1M, ANY, MEMBLOCK_NOMAP), rgn(2 * SZ_1M, SZ_16M - 2 * SZ_1M)});
    CHECK(mb.phys_mem_size() == SZ_16M);
    CHECK(mb.is_memory(SZ_1M));
    CHECK(mb.free_ranges() == regions{rgn(0, SZ_1M), rgn(2 * SZ_1M, SZ_16M - 2 * SZ_1M)});
    mb.reserve(2 * SZ_1M, SZ_16M - 2 * SZ_1M);
    CHECK(mb.phys_alloc(SZ_4K, SZ_4K) == SZ_1M - SZ_4K);

    mb.clear_nomap(0, SZ_16M);
    CHECK(mb.memory().regions() == regions{rgn(0, SZ_16M)});
    mb.mark_hotplug(SZ_4K, SZ_4K);
    mb.mark_mirror(SZ_4K, 2 * SZ_4K);
    CHECK(mb.memory().regions() ==
          regions{rgn(0, SZ_4K), rgn(SZ_4K, SZ_4K, ANY, MEMBLOCK_HOTPLUG | MEMBLOCK_MIRROR),
                  rgn(2 * SZ_4K, SZ_4K, ANY, MEMBLOCK_MIRROR), rgn(3 * SZ_4K, SZ_16M - 3 * SZ_4K)});
    mb.clear_hotplug(0, SZ_16M);
    CHECK(mb.memory().regions() == regions{rgn(0, SZ_4K), rgn(SZ_4K, 2 * SZ_4K, ANY, MEMBLOCK_MIRROR),
                                           rgn(3 * SZ_4K, SZ_16M - 3 * SZ_4K)});
}

TEST_CASE("memblock_double_array: capacity doubles when an insertion would overflow") {
    memblock mb;
    for (phys_addr_t i = 0; i < INIT_MEMBLOCK_REGIONS; ++i) mb.add(i * 2 * SZ_4K, SZ_4K);
    CHECK(mb.memory().count() == 128);
    CHECK(mb.memory().capacity() == 128);
    CHECK(mb.memory().doublings() == 0);
    mb.add(SZ_1G, SZ_4K);
    CHECK(mb.memory().count() == 129);
    CHECK(mb.memory().capacity() == 256);
    CHECK(mb.memory().doublings() == 1);
    for (phys_addr_t i = 0; i < 200; ++i) mb.add(SZ_1G + (i + 1) * 2 * SZ_4K, SZ_4K);
    CHECK(mb.memory().count() == 329);
    CHECK(mb.memory().capacity() == 512);
    CHECK(mb.memory().doublings() == 2);
    CHECK(mb.phys_mem_size() == 329 * SZ_4K);
    const auto& r = mb.memory().regions();
    for (std::size_t i = 1; i < r.size(); ++i) CHECK(r[i - 1].end() < r[i].base);

    SUBCASE("an addition that only merges does not grow the array") {
        memblock full;
        for (phys_addr_t i = 0; i < INIT_MEMBLOCK_REGIONS; ++i) full.add(i * 2 * SZ_4K, SZ_4K);
        full.add(SZ_4K, SZ_4K);  // fills a gap: one new piece, 129 before the merge
        CHECK(full.memory().capacity() == 256);
        memblock other;
        for (phys_addr_t i = 0; i < INIT_MEMBLOCK_REGIONS; ++i) other.add(i * 2 * SZ_4K, SZ_4K);
        other.add(0, SZ_4K);  // already there
        CHECK(other.memory().capacity() == 128);
    }
    SUBCASE("isolating a range makes room for two more first (memblock_isolate_range)") {
        memblock rsv;
        for (phys_addr_t i = 0; i < INIT_MEMBLOCK_REGIONS - 1; ++i) rsv.reserve(i * 2 * SZ_4K, SZ_4K);
        CHECK(rsv.reserved().capacity() == 128);
        rsv.phys_free(SZ_1G, SZ_4K);  // absent, yet 127 + 2 > 128
        CHECK(rsv.reserved().capacity() == 256);
        CHECK(rsv.reserved().doublings() == 1);
        CHECK(rsv.reserved().count() == 127);
    }
}

TEST_CASE("memblock free ranges: memory minus reserved, per memory region, in order") {
    memblock mb;
    mb.add_node(0x1000, 0xf000, 0);
    mb.add_node(0x10000, 0x10000, 1);
    mb.add_node(0x40000, 0x1000, 1);
    mb.reserve(0x2000, 0x1000);
    mb.reserve(0x8000, 0xa000);
    mb.reserve(0x40000, 0x1000);
    std::vector<std::tuple<phys_addr_t, phys_addr_t, int>> seen;
    mb.for_each_free_range([&](phys_addr_t s, phys_addr_t e, int nid) { seen.emplace_back(s, e, nid); });
    CHECK(seen == std::vector<std::tuple<phys_addr_t, phys_addr_t, int>>{
                      {0x1000, 0x2000, 0}, {0x3000, 0x8000, 0}, {0x12000, 0x20000, 1}});
    seen.clear();
    mb.for_each_free_range([&](phys_addr_t s, phys_addr_t e, int nid) { seen.emplace_back(s, e, nid); }, 1);
    CHECK(seen == std::vector<std::tuple<phys_addr_t, phys_addr_t, int>>{{0x12000, 0x20000, 1}});
    CHECK(mb.start_of_dram() == 0x1000);
    CHECK(mb.end_of_dram() == 0x41000);
}

TEST_CASE("memblock_is_region_memory: one memory region holds the whole range") {
    memblock mb;
    mb.add_node(0x1000, 0x1000, 0);
    mb.add_node(0x2000, 0x1000, 1);
    CHECK(mb.is_region_memory(0x1000, 0x1000));
    CHECK(mb.is_region_memory(0x1800, 0x100));
    CHECK_FALSE(mb.is_region_memory(0x1800, 0x1000));  // spans two regions
    CHECK_FALSE(mb.is_region_memory(0x800, 0x1000));
    CHECK_FALSE(mb.is_region_memory(0x3000, 0x10));
    CHECK(mb.is_memory(0x2fff));
    CHECK_FALSE(mb.is_memory(0x3000));
}

namespace {

// A page-array model: each page of memory records its (nid, flags) or -1, each page of reserved
// whether it is reserved. Merged regions are exactly the maximal runs of equal keys.
struct page_model {
    static constexpr phys_addr_t pages = 512;
    std::vector<long> mem = std::vector<long>(pages, -1);
    std::vector<bool> rsv = std::vector<bool>(pages, false);

    static long key(int nid, std::uint32_t flags) { return static_cast<long>(nid) * 16 + flags; }

    static regions runs(const std::vector<long>& keys) {
        regions out;
        for (phys_addr_t p = 0; p < pages; ++p) {
            if (keys[p] < 0) continue;
            const int nid = static_cast<int>(keys[p] / 16);
            const auto flags = static_cast<std::uint32_t>(keys[p] % 16);
            if (!out.empty() && out.back().end() == p * SZ_4K && out.back().nid == nid &&
                out.back().flags == flags)
                out.back().size += SZ_4K;
            else
                out.push_back(rgn(p * SZ_4K, SZ_4K, nid, flags));
        }
        return out;
    }
    regions memory() const { return runs(mem); }
    regions reserved() const {
        std::vector<long> k(pages, -1);
        for (phys_addr_t p = 0; p < pages; ++p)
            if (rsv[p]) k[p] = key(ANY, 0);
        return runs(k);
    }
    bool free_page(phys_addr_t p) const {
        return mem[p] >= 0 && !rsv[p] && (mem[p] % 16 & MEMBLOCK_NOMAP) == 0;
    }
    regions free() const {
        std::vector<long> k(pages, -1);
        for (phys_addr_t p = 0; p < pages; ++p)
            if (free_page(p)) k[p] = mem[p];
        return runs(k);
    }
    // The address Linux's search must find, by brute force over every aligned page: the highest
    // (top-down) or lowest (bottom-up) run of n free pages of one memory region inside the window.
    phys_addr_t find(phys_addr_t n, phys_addr_t align, phys_addr_t lo, phys_addr_t hi, bool bottom_up) const {
        phys_addr_t best = 0;
        for (phys_addr_t a = std::max<phys_addr_t>(lo, 1); a + n <= hi; ++a) {
            if (a % align != 0) continue;
            bool ok = true;
            for (phys_addr_t p = a; p < a + n && ok; ++p) ok = free_page(p) && mem[p] == mem[a];
            if (!ok) continue;
            best = a;
            if (bottom_up) break;
        }
        return best * SZ_4K;
    }
};

void check_invariants(const memblock_type& type) {
    phys_addr_t total = 0;
    const regions& r = type.regions();
    for (std::size_t i = 0; i < r.size(); ++i) {
        REQUIRE(r[i].size > 0);
        total += r[i].size;
        if (i == 0) continue;
        REQUIRE(r[i - 1].end() <= r[i].base);
        const bool touching = r[i - 1].end() == r[i].base;
        REQUIRE_FALSE((touching && r[i - 1].nid == r[i].nid && r[i - 1].flags == r[i].flags));
    }
    REQUIRE(total == type.total_size());
    REQUIRE(type.count() <= type.capacity());
}

}  // namespace

TEST_CASE("memblock: 100k random operations agree with a page-array model") {
    std::mt19937_64 rng(20240607);
    auto pick = [&](phys_addr_t n) { return static_cast<phys_addr_t>(rng() % n); };
    memblock mb;
    page_model model;
    int allocated = 0, failed = 0;
    const phys_addr_t pages = page_model::pages;

    for (int op = 0; op < 100000; ++op) {
        const phys_addr_t first = pick(pages);
        const phys_addr_t n = std::min<phys_addr_t>(1 + pick(48), pages - first);
        const phys_addr_t base = first * SZ_4K, size = n * SZ_4K;
        const int kind = static_cast<int>(pick(9));
        CAPTURE(op);
        CAPTURE(kind);
        switch (kind) {
            case 0:
            case 1: {
                const int nid = static_cast<int>(pick(3));
                const std::uint32_t flags = pick(4) == 0 ? MEMBLOCK_HOTPLUG : MEMBLOCK_NONE;
                mb.add_node(base, size, nid, flags);
                for (phys_addr_t p = first; p < first + n; ++p)
                    if (model.mem[p] < 0) model.mem[p] = page_model::key(nid, flags);
                break;
            }
            case 2:
                mb.remove(base, size);
                for (phys_addr_t p = first; p < first + n; ++p) model.mem[p] = -1;
                break;
            case 3:
                mb.reserve(base, size);
                for (phys_addr_t p = first; p < first + n; ++p) model.rsv[p] = true;
                break;
            case 4:
                mb.phys_free(base, size);
                for (phys_addr_t p = first; p < first + n; ++p) model.rsv[p] = false;
                break;
            case 5: {
                const bool set = pick(2) == 0;
                if (set)
                    mb.mark_nomap(base, size);
                else
                    mb.clear_nomap(base, size);
                for (phys_addr_t p = first; p < first + n; ++p) {
                    if (model.mem[p] < 0) continue;
                    const int nid = static_cast<int>(model.mem[p] / 16);
                    auto flags = static_cast<std::uint32_t>(model.mem[p] % 16);
                    flags = set ? flags | MEMBLOCK_NOMAP : flags & ~MEMBLOCK_NOMAP;
                    model.mem[p] = page_model::key(nid, flags);
                }
                break;
            }
            default: {
                const bool bottom_up = pick(2) == 0;
                mb.set_bottom_up(bottom_up);
                const phys_addr_t want = 1 + pick(8), align = phys_addr_t{1} << pick(3);
                const phys_addr_t lo = pick(2) ? 0 : pick(pages),
                                  hi = pick(2) ? pages : lo + pick(pages - lo + 1);
                const phys_addr_t expect = model.find(want, align, lo, hi == 0 ? pages : hi, bottom_up);
                const phys_addr_t got = mb.phys_alloc_range(want * SZ_4K, align * SZ_4K, lo * SZ_4K,
                                                            hi == 0 ? MEMBLOCK_ALLOC_ANYWHERE : hi * SZ_4K);
                REQUIRE(got == expect);
                ++(got != 0 ? allocated : failed);
                if (got != 0)
                    for (phys_addr_t p = got / SZ_4K; p < got / SZ_4K + want; ++p) model.rsv[p] = true;
                break;
            }
        }
        check_invariants(mb.memory());
        check_invariants(mb.reserved());
        REQUIRE(mb.memory().regions() == model.memory());
        REQUIRE(mb.reserved().regions() == model.reserved());
        if (op % 16 == 0) REQUIRE(mb.free_ranges() == model.free());
    }
    // Both outcomes must be common for the comparison to mean something.
    CHECK(allocated > 5000);
    CHECK(failed > 5000);
}
