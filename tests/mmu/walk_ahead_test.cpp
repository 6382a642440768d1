// Looking ahead of a walk: where the entry that maps an access's page is, found through the
// port's window as the walker would find it, and then where the access's data is.
#include "mmu/walk_ahead.h"

#include <doctest/doctest.h>

#include "window_memory.h"

using namespace memsim::mmu;
using testing::window_memory;

namespace {

namespace ef = entry_flag;
constexpr std::uint64_t table_flags = ef::p | ef::rw;

// 4-level tables from 0x1000 in 4 MiB of RAM: linear 0x40201000 (PML4E 0, PDPTE 1, PDE 1, PTE 1)
// maps the 4 KiB page at 0x9000, linear 0x40400000 (PDE 2) the 2 MiB page at 0x200000.
struct tables {
    window_memory memory{0, 4 << 20};
    control_registers cr{
        .cr0 = cr0::pe | cr0::pg, .cr3 = 0x1000, .cr4 = cr4::pae, .efer = efer::lme | efer::lma};

    tables() {
        memory.store(0x1000, 0x2000 | table_flags);
        memory.store(0x2000 + 1 * 8, 0x3000 | table_flags);
        memory.store(0x3000 + 1 * 8, 0x4000 | table_flags);
        memory.store(0x3000 + 2 * 8, 0x200000 | table_flags | ef::ps);
        memory.store(0x4000 + 1 * 8, 0x9000 | table_flags);
    }
    leaf_finder finder;
    leaf_location leaf(std::uint64_t linear) { return finder.find(mode_of(cr), cr.cr3, linear, memory); }
    const unsigned char* data(std::uint64_t linear) { return find_data(leaf(linear), linear, memory); }
};

}  // namespace

TEST_CASE("walk_ahead: a 4 KiB page's PTE, and then its data") {
    tables t;
    const leaf_location pte = t.leaf(0x40201123);
    CHECK(pte.entry == 0x4008);
    CHECK(pte.shift == 12);
    CHECK(t.data(0x40201123) == t.memory.at(0x9123));
    CHECK(t.memory.take_use().reads == 0);  // looking is not an access
}

TEST_CASE("walk_ahead: a 2 MiB page's PDE, and its data at the page's offset") {
    tables t;
    const leaf_location pde = t.leaf(0x40412345);
    CHECK(pde.entry == 0x3010);
    CHECK(pde.shift == 21);
    CHECK(t.data(0x40412345) == t.memory.at(0x212345));
}

TEST_CASE("walk_ahead: a not-present entry above the leaf stops the search; a not-present leaf has no data") {
    tables t;
    CHECK(t.leaf(0x40202000).entry == 0x4010);  // PTE 2, not read
    CHECK(t.data(0x40202000) == nullptr);       // and empty
    CHECK(t.leaf(0x40600000).shift == 0);       // PDE 3 is empty
    CHECK(t.data(0x40600000) == nullptr);
}

TEST_CASE("walk_ahead: nothing outside the window, nor in other paging modes") {
    tables t;
    t.memory.store(0x4000 + 3 * 8, (std::uint64_t{8} << 20) | table_flags);  // past the 4 MiB
    CHECK(t.data(0x40203000) == nullptr);
    CHECK(t.finder.find(paging_mode::pae, t.cr.cr3, 0x40201123, t.memory).shift == 0);
    t.memory.close_window();
    CHECK(t.leaf(0x40201123).shift == 0);
}

TEST_CASE("walk_ahead: 5-level paging starts at the PML5") {
    tables t;
    t.cr.cr4 |= cr4::la57;
    t.cr.cr3 = 0x5000;
    t.memory.store(0x5000, 0x1000 | table_flags);  // PML5E 0 -> the PML4 above
    CHECK(t.leaf(0x40201123).entry == 0x4008);
    CHECK(t.data(0x40201123) == t.memory.at(0x9123));
}

TEST_CASE(
    "walk_ahead: the directory found for a 1 GiB region serves the next search there under the same CR3 "
    "only") {
    tables t;
    CHECK(t.leaf(0x40201123).entry == 0x4008);
    // Another address space maps the same region through another directory and page table.
    t.memory.store(0x6000, 0x7000 | table_flags);
    t.memory.store(0x7000 + 1 * 8, 0x8000 | table_flags);
    t.memory.store(0x8000 + 1 * 8, 0xa000 | table_flags);
    t.memory.store(0xa000 + 1 * 8, 0xb000 | table_flags);
    t.cr.cr3 = 0x6000;
    CHECK(t.leaf(0x40201123).entry == 0xa008);
    CHECK(t.data(0x40201123) == t.memory.at(0xb123));
    t.cr.cr3 = 0x1000;
    CHECK(t.leaf(0x40201123).entry == 0x4008);
}
