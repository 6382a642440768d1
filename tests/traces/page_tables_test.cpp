// The page-table builder writes the entries the SDM's tables describe (SDM Vol. 3A, 4.3-4.5).
#include <doctest/doctest.h>

#include "traces/page_tables.h"

using namespace memsim;
using namespace memsim::traces;

namespace {
op poke(std::uint64_t address, unsigned size, std::uint64_t value) {
    return {op_kind::poke, static_cast<std::uint8_t>(size), 0, -1, address, value};
}
}  // namespace

TEST_CASE("page tables: a 4-level 4 KiB mapping writes PML4E, PDPTE, PDE and PTE") {
    page_table_builder b(table_format::long4, 0x100000);
    std::vector<op> out;
    b.map(0x400000, 0x200000, mmu::page_size::size_4k, {}, out);
    // Upper entries present, writable, user (P|R/W|U/S = 7); the leaf present and writable.
    std::vector<op> expected{poke(0x100000, 8, 0x101007), poke(0x101000, 8, 0x102007),
                             poke(0x102000 + 2 * 8, 8, 0x103007), poke(0x103000, 8, 0x200003)};
    CHECK(out == expected);
    CHECK(b.cr3() == 0x100000);
    CHECK(b.tables_end() == 0x104000);
    // A second page in the same table adds only its PTE.
    out.clear();
    b.map(0x401000, 0x5000, mmu::page_size::size_4k, {false, true, true, true}, out);
    CHECK(out == std::vector<op>{poke(0x103008, 8, 0x5000 | 0x5 | 0x100 | (1ull << 63))});
}

TEST_CASE("page tables: large pages set PS at their level") {
    page_table_builder b(table_format::long4, 0x100000);
    std::vector<op> out;
    b.map(0x40000000, 0x80000000, mmu::page_size::size_1g, {}, out);
    CHECK(out == std::vector<op>{poke(0x100000, 8, 0x101007), poke(0x101008, 8, 0x80000083)});
    out.clear();
    b.map(0x200000, 0x200000, mmu::page_size::size_2m, {}, out);
    CHECK(out == std::vector<op>{poke(0x101000, 8, 0x102007), poke(0x102008, 8, 0x200083)});
    CHECK_THROWS_WITH(b.map(0x201000, 0x1000, mmu::page_size::size_4k, {}, out),
                      "overlaps a larger page already mapped");
    CHECK_THROWS_WITH(b.map(0x200000, 0x1000, mmu::page_size::size_2m, {}, out),
                      "address not aligned to the page size");
}

TEST_CASE("page tables: PAE PDPTEs carry only P, 32-bit entries are 4 bytes") {
    page_table_builder pae(table_format::pae, 0x10000);
    std::vector<op> out;
    pae.map(0xc0000000, 0x1000, mmu::page_size::size_4k, {}, out);
    // PDPTE 3 (linear bits 31:30), then PDE 0, PTE 0.
    CHECK(out ==
          std::vector<op>{poke(0x10018, 8, 0x11001), poke(0x11000, 8, 0x12007), poke(0x12000, 8, 0x1003)});

    page_table_builder flat(table_format::bits32, 0x10000);
    out.clear();
    flat.map(0x400000, 0x800000, mmu::page_size::size_4m, {}, out);
    CHECK(out == std::vector<op>{poke(0x10004, 4, 0x800083)});
}

TEST_CASE("page tables: turning paging on writes CR4 and EFER before CR3 and CR0") {
    std::vector<op> on = page_table_builder(table_format::long5, 0x100000).enable();
    std::vector<op> expected{{op_kind::cr4, 0, 0, -1, 0, mmu::cr4::pge | mmu::cr4::pae | mmu::cr4::la57},
                             {op_kind::efer, 0, 0, -1, 0, mmu::efer::nxe | mmu::efer::lme},
                             {op_kind::cr3, 0, 0, -1, 0, 0x100000},
                             {op_kind::cr0, 0, 0, -1, 0, mmu::cr0::pe | mmu::cr0::pg | mmu::cr0::wp}};
    CHECK(on == expected);
}
