// The page-table walker against a fake memory: every mode and page size, exact physical
// addresses, entries read, Accessed/Dirty flags left in memory, and the faults of SDM 4.7.
#include "mmu/walker.h"

#include <stdexcept>
#include <vector>

#include <doctest/doctest.h>

#include "fake_memory.h"

using namespace memsim;
using namespace memsim::mmu;
using memsim::mmu::testing::fake_memory;
using memsim::mmu::testing::paging_registers;

namespace {

namespace ef = entry_flag;
using addresses = std::vector<std::uint64_t>;

access at(std::uint64_t linear, access_kind kind = access_kind::read, bool user = false) {
    return access{linear, kind, user, false};
}

struct machine {
    stats::registry registry;
    fake_memory memory;
    walker w;
    explicit machine(unsigned maxphyaddr = 52) : w(nullptr, registry.under("walker"), maxphyaddr) {}

    walk_result walk(const control_registers& cr, const access& a) { return w.walk(cr, a, memory); }
};

}  // namespace

// SDM Vol. 3A, 4.3 (Figure 4-2, Tables 4-6, 4-8): a PDE and a PTE of 4 bytes each.
TEST_CASE("32-bit paging, 4 KiB page: entries read, A then D set, exact values") {
    machine m;
    std::uint64_t root = m.memory.new_table();
    addresses path =
        m.memory.map_4k(paging_mode::bits32, root, 0x0804'8000, 0x0123'4000, ef::p | ef::rw | ef::us);
    REQUIRE(path == addresses{0x10'0080, 0x10'1120});
    control_registers cr = paging_registers(paging_mode::bits32, root);

    walk_result r = m.walk(cr, at(0x0804'8abc, access_kind::read, true));
    REQUIRE(r.ok());
    CHECK(r.result.frame == 0x0123'4000);
    CHECK(r.result.frame + (0x0804'8abc & 0xfff) == 0x0123'4abc);
    CHECK(r.result.size == page_size::size_4k);
    CHECK(r.result.user);
    CHECK(r.result.writable);
    CHECK(r.result.executable);
    CHECK_FALSE(r.result.dirty);
    CHECK(r.reads == 2);
    CHECK(r.writes == 2);
    CHECK(r.skipped == 0);
    CHECK(m.memory.read_log == path);
    CHECK(m.memory.write_log == path);
    CHECK(m.memory.peek(path[0], 4) == 0x10'1027);  // A
    CHECK(m.memory.peek(path[1], 4) == 0x0123'4027);

    // SDM 4.8: D is set on the first write through the leaf; A is already set everywhere.
    r = m.walk(cr, at(0x0804'8abc, access_kind::write, true));
    REQUIRE(r.ok());
    CHECK(r.reads == 2);
    CHECK(r.writes == 1);
    CHECK(r.result.dirty);
    CHECK(m.memory.peek(path[1], 4) == 0x0123'4067);

    r = m.walk(cr, at(0x0804'8000));
    CHECK(r.writes == 0);
    CHECK(r.result.dirty);
    CHECK(m.memory.write_log == addresses{0x10'0080, 0x10'1120, 0x10'1120});
}

// SDM 4.3 (Table 4-4): with CR4.PSE = 1 a PDE with PS = 1 maps 4 MiB; PSE-36 puts physical
// bits 39:32 in PDE bits 20:13; bit 21 and bits 20:(M-19) are reserved.
TEST_CASE("32-bit paging, 4 MiB page with PSE-36") {
    constexpr std::uint64_t linear = 0xC051'2345, frame = 0xAB'C0C0'0000;
    constexpr std::uint64_t pde = 0xC0D5'6183;  // 0xC0C00000 | 0xAB << 13 | G | PS | RW | P
    auto setup = [&](machine& m) {
        std::uint64_t root = m.memory.new_table();
        addresses path = m.memory.map(paging_mode::bits32, root, 0xC040'0000, frame, page_size::size_4m,
                                      ef::p | ef::rw | ef::g);
        REQUIRE(path == addresses{0x10'0C04});
        REQUIRE(m.memory.peek(path[0], 4) == pde);
        return root;
    };

    SUBCASE("mapped") {
        machine m;
        std::uint64_t root = setup(m);
        walk_result r = m.walk(paging_registers(paging_mode::bits32, root, cr4::pse | cr4::pge),
                               at(linear, access_kind::write));
        REQUIRE(r.ok());
        CHECK(r.result.frame == frame);
        CHECK(r.result.frame + (linear & 0x3f'ffff) == 0xAB'C0D1'2345);
        CHECK(r.result.size == page_size::size_4m);
        CHECK(r.result.global);
        CHECK(r.result.dirty);
        CHECK_FALSE(r.result.user);
        CHECK(r.reads == 1);
        CHECK(r.writes == 1);  // A and D in one write
        CHECK(m.memory.peek(0x10'0C04, 4) == (pde | ef::a | ef::d));
    }
    SUBCASE("without CR4.PGE the G flag is ignored") {
        machine m;
        walk_result r = m.walk(paging_registers(paging_mode::bits32, setup(m), cr4::pse), at(linear));
        REQUIRE(r.ok());
        CHECK_FALSE(r.result.global);
    }
    SUBCASE("without CR4.PSE, PS is ignored and the PDE points to a page table") {
        machine m;
        walk_result r =
            m.walk(paging_registers(paging_mode::bits32, setup(m)), at(linear, access_kind::write));
        CHECK(r.fault == fault_kind::page_fault);
        CHECK(r.error_code == pf::wr);  // the PTE at 0xC0D56000 + 0x112 * 4 is not present
        CHECK(m.memory.read_log == addresses{0x10'0C04, 0xC0D5'6448});
    }
    SUBCASE("with MAXPHYADDR = 36, PDE bits 21:17 are reserved") {
        machine m(36);
        walk_result r =
            m.walk(paging_registers(paging_mode::bits32, setup(m), cr4::pse), at(linear, access_kind::write));
        CHECK(r.fault == fault_kind::page_fault);
        CHECK(r.error_code == (pf::p | pf::rsvd | pf::wr));
        CHECK(r.reads == 1);
        CHECK(m.memory.write_log.empty());
    }
}

// SDM 4.4.1 (Table 4-8): the PDPT is 32-byte aligned at CR3[31:5]; PDPTEs carry no R/W, U/S
// nor A (those bits are reserved), so the walk never writes them. XD (bit 63) with EFER.NXE.
TEST_CASE("PAE paging, 4 KiB page above 4 GiB, XD, PDPTE untouched") {
    machine m;
    std::uint64_t root = m.memory.new_table() + 0x20;
    addresses path =
        m.memory.map_4k(paging_mode::pae, root, 0x4020'1000, 0xF'1234'5000, ef::p | ef::rw | ef::us | ef::xd);
    REQUIRE(path == addresses{0x10'0028, 0x10'1008, 0x10'2008});
    control_registers cr = paging_registers(paging_mode::pae, root, 0, efer::nxe);

    walk_result r = m.walk(cr, at(0x4020'1abc, access_kind::read, true));
    REQUIRE(r.ok());
    CHECK(r.result.frame == 0xF'1234'5000);
    CHECK(r.result.user);
    CHECK(r.result.writable);
    CHECK_FALSE(r.result.executable);
    CHECK(r.reads == 3);
    CHECK(r.writes == 2);
    CHECK(m.memory.read_log == path);
    CHECK(m.memory.peek(path[0]) == 0x10'1001);  // PDPTE: P only, unchanged
    CHECK(m.memory.peek(path[1]) == 0x10'2027);
    CHECK(m.memory.peek(path[2]) == 0x8000'000F'1234'5027);

    r = m.walk(cr, at(0x4020'1abc, access_kind::fetch, true));
    CHECK(r.fault == fault_kind::page_fault);
    CHECK(r.error_code == (pf::p | pf::us | pf::id));
    CHECK(r.writes == 0);
}

// SDM 4.5 (Figures 4-8 to 4-11): 4-level paging indexes with linear bits 47:39, 38:30, 29:21
// and 20:12, 8 bytes per entry.
TEST_CASE("4-level paging reads the four entries the linear address selects") {
    machine m;
    std::uint64_t root = m.memory.new_table();
    addresses path =
        m.memory.map_4k(paging_mode::ia32e_4, root, 0x7fff'dead'b000, 0x5000, ef::p | ef::rw | ef::us);
    // Indices 0xff, 0x1ff, 0xf5, 0xdb into the tables at 1 MiB, 1 MiB + 4 KiB, ...
    REQUIRE(path == addresses{0x10'07f8, 0x10'1ff8, 0x10'27a8, 0x10'36d8});
    walk_result r = m.walk(paging_registers(paging_mode::ia32e_4, root), at(0x7fff'dead'beef));
    REQUIRE(r.ok());
    CHECK(r.result.frame == 0x5000);
    CHECK(m.memory.read_log == path);
    CHECK(m.memory.write_log == path);
    for (std::uint64_t e : path) CHECK((m.memory.peek(e) & (ef::a | ef::d)) == ef::a);
}

// SDM 4.3, 4.4.2, 4.5.4: one row per mode and page size, a supervisor write in each; every
// entry used gets A (PAE PDPTEs have none), the leaf gets D.
TEST_CASE("every mode and page size translates to the exact physical address") {
    struct row {
        const char* what;
        paging_mode mode;
        page_size size;
        std::uint64_t linear, frame, physical;
        unsigned reads, writes;
    };
    const row rows[] = {
        {"32-bit 4K", paging_mode::bits32, page_size::size_4k, 0x0804'8abc, 0x0123'4000, 0x0123'4abc, 2, 2},
        {"32-bit 4M", paging_mode::bits32, page_size::size_4m, 0xC051'2345, 0xAB'C0C0'0000, 0xAB'C0D1'2345, 1,
         1},
        {"PAE 4K", paging_mode::pae, page_size::size_4k, 0x4020'1abc, 0xF'1234'5000, 0xF'1234'5abc, 3, 2},
        {"PAE 2M", paging_mode::pae, page_size::size_2m, 0x8071'2345, 0x2'0060'0000, 0x2'0071'2345, 2, 1},
        {"4-level 4K", paging_mode::ia32e_4, page_size::size_4k, 0x0000'7fff'dead'beef, 0x000f'ffff'ffff'f000,
         0x000f'ffff'ffff'feef, 4, 4},
        {"4-level 2M", paging_mode::ia32e_4, page_size::size_2m, 0xffff'8880'0123'4567, 0x12'3440'0000,
         0x12'3443'4567, 3, 3},
        {"4-level 1G", paging_mode::ia32e_4, page_size::size_1g, 0xffff'ffff'8123'4567, 0x40'8000'0000,
         0x40'8123'4567, 2, 2},
        {"5-level 4K", paging_mode::ia32e_5, page_size::size_4k, 0x00ff'ffff'ffff'f123, 0x1000, 0x1123, 5, 5},
        {"5-level 2M", paging_mode::ia32e_5, page_size::size_2m, 0xff11'0000'0020'1234, 0x20'0000, 0x20'1234,
         4, 4},
        {"5-level 1G", paging_mode::ia32e_5, page_size::size_1g, 0x0000'1234'c000'2345, 0xc000'0000,
         0xc000'2345, 3, 3},
    };
    for (const row& row : rows) {
        INFO(row.what);
        machine m;
        std::uint64_t root = m.memory.new_table();
        addresses path = m.memory.map(row.mode, root, row.linear, row.frame, row.size, ef::p | ef::rw);
        control_registers cr = paging_registers(row.mode, root, cr4::pse);
        walk_result r = m.walk(cr, at(row.linear, access_kind::write));
        REQUIRE(r.ok());
        CHECK(r.result.frame == row.frame);
        CHECK(r.result.frame + (row.linear & (page_bytes(row.size) - 1)) == row.physical);
        CHECK(r.result.size == row.size);
        CHECK(r.result.dirty);
        CHECK(r.reads == row.reads);
        CHECK(r.writes == row.writes);
        CHECK(m.memory.read_log == path);
        unsigned bytes = row.mode == paging_mode::bits32 ? 4 : 8;
        for (std::size_t i = 0; i < path.size(); ++i) {
            bool pdpte_of_pae = row.mode == paging_mode::pae && i == 0;
            std::uint64_t want = pdpte_of_pae ? 0 : i + 1 == path.size() ? ef::a | ef::d : ef::a;
            CHECK((m.memory.peek(path[i], bytes) & (ef::a | ef::d)) == want);
        }
    }
}

// SDM 4.7: a not-present entry at any level faults with P = 0; W/R, U/S and I/D describe the
// access. SDM 4.8 leaves A on faulting walks to the implementation: this walker writes nothing.
TEST_CASE("not-present entries fault at each level with the exact error code") {
    struct row {
        const char* what;
        paging_mode mode;
        unsigned level;  // which entry of the path is cleared, root first
        access a;
        std::uint64_t cr4_bits, efer_bits;
        std::uint32_t error;
    };
    const row rows[] = {
        {"32-bit PDE, user write", paging_mode::bits32, 0, at(0x40'0000, access_kind::write, true), 0, 0,
         0x6},
        {"32-bit PTE, supervisor read", paging_mode::bits32, 1, at(0x40'0000), 0, 0, 0x0},
        {"32-bit PTE, supervisor fetch, SMEP", paging_mode::bits32, 1, at(0x40'0000, access_kind::fetch),
         cr4::smep, 0, 0x10},
        {"32-bit PTE, user fetch, NXE (no I/D)", paging_mode::bits32, 1,
         at(0x40'0000, access_kind::fetch, true), 0, efer::nxe, 0x4},
        {"PAE PDPTE, user read", paging_mode::pae, 0, at(0x40'0000, access_kind::read, true), 0, 0, 0x4},
        {"PAE PDE, supervisor write", paging_mode::pae, 1, at(0x40'0000, access_kind::write), 0, 0, 0x2},
        {"PAE PTE, user fetch, NXE", paging_mode::pae, 2, at(0x40'0000, access_kind::fetch, true), 0,
         efer::nxe, 0x14},
        {"PAE PTE, user fetch, no NXE", paging_mode::pae, 2, at(0x40'0000, access_kind::fetch, true), 0, 0,
         0x4},
        {"PML4E, user write", paging_mode::ia32e_4, 0, at(0x40'0000, access_kind::write, true), 0, 0, 0x6},
        {"PDPTE, supervisor read", paging_mode::ia32e_4, 1, at(0x40'0000), 0, 0, 0x0},
        {"PDE, supervisor fetch, NXE", paging_mode::ia32e_4, 2, at(0x40'0000, access_kind::fetch), 0,
         efer::nxe, 0x10},
        {"PTE, user write", paging_mode::ia32e_4, 3, at(0x40'0000, access_kind::write, true), 0, 0, 0x6},
        {"PML5E, user read", paging_mode::ia32e_5, 0, at(0x40'0000, access_kind::read, true), 0, 0, 0x4},
        {"5-level PTE, supervisor write", paging_mode::ia32e_5, 4, at(0x40'0000, access_kind::write), 0, 0,
         0x2},
    };
    for (const row& row : rows) {
        INFO(row.what);
        machine m;
        std::uint64_t root = m.memory.new_table();
        addresses path = m.memory.map_4k(row.mode, root, 0x40'0000, 0x9000, ef::p | ef::rw | ef::us);
        unsigned bytes = row.mode == paging_mode::bits32 ? 4 : 8;
        std::uint64_t cleared = m.memory.peek(path[row.level], bytes) & ~ef::p;
        m.memory.poke(path[row.level], cleared, bytes);
        walk_result r = m.walk(paging_registers(row.mode, root, row.cr4_bits, row.efer_bits), row.a);
        CHECK(r.fault == fault_kind::page_fault);
        CHECK(r.error_code == row.error);
        CHECK(r.reads == row.level + 1);
        CHECK(r.writes == 0);
        CHECK(m.memory.write_log.empty());
    }
}

// SDM 4.3 to 4.5 (reserved bits in Tables 4-4 to 4-20) and 4.7: a reserved bit set in a present
// entry faults with P = 1 and RSVD = 1, at the entry that has it.
TEST_CASE("reserved bits fault with RSVD") {
    struct row {
        const char* what;
        paging_mode mode;
        page_size size;
        unsigned level;
        std::uint64_t set;  // bits set in that entry
        unsigned maxphyaddr;
        std::uint64_t efer;
        access a;
        std::uint32_t error;  // 0: no fault expected
    };
    const access read = at(0x4000'0000), user_write = at(0x4000'0000, access_kind::write, true);
    const access user_fetch = at(0x4000'0000, access_kind::fetch, true);
    const std::uint64_t nxe = efer::nxe;
    const row rows[] = {
        {"PML4E PS", paging_mode::ia32e_4, page_size::size_4k, 0, ef::ps, 52, 0, read, 0x9},
        {"PML5E PS", paging_mode::ia32e_5, page_size::size_4k, 0, ef::ps, 52, 0, user_write, 0xf},
        {"PTE bit 46 with MAXPHYADDR 46", paging_mode::ia32e_4, page_size::size_4k, 3, 1ull << 46, 46, 0,
         read, 0x9},
        {"PDPTE bit 51 with MAXPHYADDR 46", paging_mode::ia32e_4, page_size::size_4k, 1, 1ull << 51, 46, nxe,
         user_fetch, 0x1d},
        {"IA-32e bit 52 is ignored, not reserved", paging_mode::ia32e_4, page_size::size_4k, 3, 1ull << 52,
         52, 0, read, 0},
        {"PTE XD without NXE", paging_mode::ia32e_4, page_size::size_4k, 3, ef::xd, 52, 0, read, 0x9},
        {"PML4E XD without NXE", paging_mode::ia32e_4, page_size::size_4k, 0, ef::xd, 52, 0, user_write, 0xf},
        {"PTE XD with NXE is fine", paging_mode::ia32e_4, page_size::size_4k, 3, ef::xd, 52, nxe, read, 0},
        {"2 MiB PDE bit 13", paging_mode::ia32e_4, page_size::size_2m, 2, 1ull << 13, 52, 0, read, 0x9},
        {"2 MiB PDE bit 12 (PAT) is fine", paging_mode::ia32e_4, page_size::size_2m, 2, 1ull << 12, 52, 0,
         read, 0},
        {"1 GiB PDPTE bit 29", paging_mode::ia32e_4, page_size::size_1g, 1, 1ull << 29, 52, 0, read, 0x9},
        {"1 GiB PDPTE bit 13", paging_mode::ia32e_5, page_size::size_1g, 2, 1ull << 13, 52, 0, user_write,
         0xf},
        {"PAE PDPTE bit 1 (R/W)", paging_mode::pae, page_size::size_4k, 0, ef::rw, 52, 0, read, 0x9},
        {"PAE PDPTE bit 5 (A)", paging_mode::pae, page_size::size_4k, 0, ef::a, 52, 0, read, 0x9},
        {"PAE PDPTE bit 63 even with NXE", paging_mode::pae, page_size::size_4k, 0, ef::xd, 52, nxe, read,
         0x9},
        {"PAE PTE bit 52 (62:M reserved)", paging_mode::pae, page_size::size_4k, 2, 1ull << 52, 52, 0, read,
         0x9},
        {"PAE 2 MiB PDE bit 20", paging_mode::pae, page_size::size_2m, 1, 1ull << 20, 52, nxe, user_fetch,
         0x1d},
        {"PAE PDE XD without NXE", paging_mode::pae, page_size::size_4k, 1, ef::xd, 52, 0, user_fetch, 0xd},
        {"32-bit 4 MiB PDE bit 21", paging_mode::bits32, page_size::size_4m, 0, 1ull << 21, 52, 0, read, 0x9},
        {"32-bit 4 MiB PDE bit 20 (physical bit 39)", paging_mode::bits32, page_size::size_4m, 0, 1ull << 20,
         52, 0, read, 0},
        {"32-bit 4 MiB PDE bit 17 with MAXPHYADDR 36", paging_mode::bits32, page_size::size_4m, 0, 1ull << 17,
         36, 0, read, 0x9},
    };
    for (const row& row : rows) {
        INFO(row.what);
        machine m(row.maxphyaddr);
        std::uint64_t root = m.memory.new_table();
        addresses path =
            m.memory.map(row.mode, root, 0x4000'0000, 0x4000'0000, row.size, ef::p | ef::rw | ef::us);
        unsigned bytes = row.mode == paging_mode::bits32 ? 4 : 8;
        m.memory.poke(path[row.level], m.memory.peek(path[row.level], bytes) | row.set, bytes);
        walk_result r = m.walk(paging_registers(row.mode, root, cr4::pse, row.efer), row.a);
        if (row.error == 0) {
            CHECK(r.ok());
            continue;
        }
        CHECK(r.fault == fault_kind::page_fault);
        CHECK(r.error_code == row.error);
        CHECK(r.reads == row.level + 1);
        CHECK(m.memory.write_log.empty());
    }
}

// SDM 4.7: reserved bits are not checked in an entry whose P flag is 0.
TEST_CASE("a not-present entry with reserved bits set faults as not present") {
    machine m;
    std::uint64_t root = m.memory.new_table();
    addresses path = m.memory.map_4k(paging_mode::ia32e_4, root, 0x40'0000, 0x9000, ef::p | ef::rw | ef::us);
    m.memory.poke(path[1], (m.memory.peek(path[1]) & ~ef::p) | ef::xd | (1ull << 51));
    walk_result r = m.walk(paging_registers(paging_mode::ia32e_4, root), at(0x40'0000));
    CHECK(r.fault == fault_kind::page_fault);
    CHECK(r.error_code == 0);
    CHECK(r.reads == 2);
}

// SDM 4.5.1 and Vol. 1, 3.3.7.1: a non-canonical address raises #GP before any paging-structure
// access.
TEST_CASE("non-canonical addresses raise #GP with no memory reads") {
    struct row {
        paging_mode mode;
        std::uint64_t linear;
        bool canonical;
    };
    const row rows[] = {
        {paging_mode::ia32e_4, 0x0000'8000'0000'0000, false},
        {paging_mode::ia32e_4, 0xffff'7fff'ffff'ffff, false},
        {paging_mode::ia32e_4, 0x0100'0000'0000'0000, false},
        {paging_mode::ia32e_4, 0xffff'8000'0000'0000, true},
        {paging_mode::ia32e_4, 0x0000'7fff'ffff'ffff, true},
        {paging_mode::ia32e_5, 0x0100'0000'0000'0000, false},
        {paging_mode::ia32e_5, 0xfeff'ffff'ffff'ffff, false},
        {paging_mode::ia32e_5, 0x0000'8000'0000'0000, true},
        {paging_mode::ia32e_5, 0xff00'0000'0000'0000, true},
    };
    for (const row& row : rows) {
        CAPTURE(row.linear);
        machine m;
        walk_result r =
            m.walk(paging_registers(row.mode, m.memory.new_table()), at(row.linear, access_kind::write));
        if (row.canonical) {
            CHECK(r.fault == fault_kind::page_fault);  // the empty root's entry is not present
            CHECK(r.reads == 1);
            continue;
        }
        CHECK(r.fault == fault_kind::general_protection);
        CHECK(r.error_code == 0);
        CHECK(r.reads == 0);
        CHECK(m.memory.read_log.empty());
    }
}

// SDM 4.6: rights are the AND of R/W and U/S and the OR of XD over every entry of the path;
// SDM 4.8 (this model's choice): a walk that faults on rights sets no A or D flag.
TEST_CASE("rights come from the whole path and a protection fault writes nothing") {
    machine m;
    std::uint64_t root = m.memory.new_table();
    addresses path = m.memory.map_4k(paging_mode::ia32e_4, root, 0x40'0000, 0x9000, ef::p | ef::rw | ef::us);
    control_registers cr = paging_registers(paging_mode::ia32e_4, root, 0, efer::nxe);
    cr.cr0 |= cr0::wp;
    auto with = [&](unsigned level, std::uint64_t clear, std::uint64_t set) {
        m.memory.poke(path[level], (m.memory.peek(path[level]) & ~clear) | set);
    };

    SUBCASE("U/S clear in the PDE only") {
        with(2, ef::us, 0);
        walk_result r = m.walk(cr, at(0x40'0000, access_kind::read, true));
        CHECK(r.error_code == (pf::p | pf::us));
        CHECK(r.reads == 4);
        CHECK(r.writes == 0);
    }
    SUBCASE("R/W clear in the PML4E only, supervisor write with CR0.WP = 1") {
        with(0, ef::rw, 0);
        walk_result r = m.walk(cr, at(0x40'0000, access_kind::write));
        CHECK(r.error_code == (pf::p | pf::wr));
        CHECK(r.writes == 0);
    }
    SUBCASE("XD in the PDPTE only") {
        with(1, 0, ef::xd);
        walk_result r = m.walk(cr, at(0x40'0000, access_kind::fetch, true));
        CHECK(r.error_code == (pf::p | pf::us | pf::id));
    }
    CHECK(m.memory.write_log.empty());
    for (std::uint64_t e : path) CHECK((m.memory.peek(e) & ef::a) == 0);
}

// SDM 4.10.2.4: G is honoured only with CR4.PGE = 1, and only in the entry that maps the page.
TEST_CASE("global comes from the leaf's G flag with CR4.PGE") {
    machine m;
    std::uint64_t root = m.memory.new_table();
    m.memory.map(paging_mode::ia32e_4, root, 0x40'0000, 0x9000, page_size::size_4k, ef::p | ef::g,
                 ef::p | ef::rw | ef::us | ef::g);
    m.memory.map(paging_mode::ia32e_4, root, 0x40'1000, 0xa000, page_size::size_4k, ef::p,
                 ef::p | ef::rw | ef::us | ef::g);
    CHECK(m.walk(paging_registers(paging_mode::ia32e_4, root, cr4::pge), at(0x40'0000)).result.global);
    CHECK_FALSE(m.walk(paging_registers(paging_mode::ia32e_4, root), at(0x40'0000)).result.global);
    CHECK_FALSE(m.walk(paging_registers(paging_mode::ia32e_4, root, cr4::pge), at(0x40'1000)).result.global);
}

// SDM 4.1.1 (Table 4-1): the paging mode from CR0.PG, CR4.PAE, EFER.LME/LMA and CR4.LA57.
TEST_CASE("mode_of") {
    control_registers cr;
    CHECK(mode_of(cr) == paging_mode::none);
    cr.cr4 = cr4::pae | cr4::la57;
    cr.efer = efer::lme;
    CHECK(mode_of(cr) == paging_mode::none);
    cr.cr0 = cr0::pg | cr0::pe;
    CHECK(mode_of(cr) == paging_mode::ia32e_5);
    cr.cr4 = cr4::pae;
    CHECK(mode_of(cr) == paging_mode::ia32e_4);
    cr.efer = efer::lma;
    CHECK(mode_of(cr) == paging_mode::ia32e_4);
    cr.efer = efer::nxe;
    CHECK(mode_of(cr) == paging_mode::pae);
    cr.cr4 = cr4::pse | cr4::la57;
    CHECK(mode_of(cr) == paging_mode::bits32);
}

TEST_CASE("with paging disabled the walk is the identity and reads nothing") {
    machine m;
    control_registers cr;
    walk_result r = m.walk(cr, at(0x1234'5678, access_kind::write, true));
    REQUIRE(r.ok());
    CHECK(r.result.frame == 0x1234'5000);
    CHECK(r.result.writable);
    CHECK(r.result.user);
    CHECK(r.result.executable);
    CHECK(r.reads == 0);
}

TEST_CASE("walker stats count walks, faults, references and skipped levels") {
    machine m;
    std::uint64_t root = m.memory.new_table();
    m.memory.map_4k(paging_mode::ia32e_4, root, 0x40'0000, 0x9000, ef::p | ef::rw);
    control_registers cr = paging_registers(paging_mode::ia32e_4, root);
    m.walk(cr, at(0x40'0000));                      // 4 reads, 4 writes
    m.walk(cr, at(0x40'0000, access_kind::write));  // 4 reads, 1 write
    m.walk(cr, at(0x80'0000));                      // not present: 3 reads
    m.walk(cr, at(0x8000'0000'0000));               // #GP: nothing
    CHECK(m.registry.value("walker.walks") == 4);
    CHECK(m.registry.value("walker.faults") == 2);
    CHECK(m.registry.value("walker.reads") == 11);
    CHECK(m.registry.value("walker.writes") == 5);
    CHECK(m.registry.value("walker.skipped_levels") == 0);
    const stats::histogram* refs = m.registry.find_histogram("walker.references");
    REQUIRE(refs);
    CHECK(refs->samples() == 4);
    CHECK(refs->sum() == 16);
    CHECK(refs->max() == 8);
    CHECK(refs->min() == 0);
}

TEST_CASE("MAXPHYADDR outside 32..52 is refused") {
    stats::registry registry;
    CHECK_THROWS_AS(walker(nullptr, registry.under("a"), 31), std::invalid_argument);
    CHECK_THROWS_AS(walker(nullptr, registry.under("b"), 53), std::invalid_argument);
}
