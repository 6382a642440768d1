// Looking ahead of a walk: where on the host the leaf entry and the data of an access are, found
// through the port's window as the walker would find them, or nothing where it would stop.
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
    const unsigned char* ahead(std::uint64_t linear, prefetch_target target) const {
        return walk_ahead(cr, linear, memory, target);
    }
};

}  // namespace

TEST_CASE("walk_ahead: a 4 KiB page's PTE, and then its data") {
    tables t;
    CHECK(t.ahead(0x40201123, prefetch_target::leaf_entry) == t.memory.at(0x4008));
    CHECK(t.ahead(0x40201123, prefetch_target::data) == t.memory.at(0x9123));
    CHECK(t.memory.take_use().reads == 0);  // looking is not an access
}

TEST_CASE("walk_ahead: a 2 MiB page has no entry left to fetch; its data is at the page's offset") {
    tables t;
    CHECK(t.ahead(0x40412345, prefetch_target::leaf_entry) == nullptr);
    CHECK(t.ahead(0x40412345, prefetch_target::data) == t.memory.at(0x212345));
}

TEST_CASE("walk_ahead: a not-present entry stops it, except the leaf entry, which it does not read") {
    tables t;
    CHECK(t.ahead(0x40202000, prefetch_target::leaf_entry) == t.memory.at(0x4010));
    CHECK(t.ahead(0x40202000, prefetch_target::data) == nullptr);        // PTE 2 is empty
    CHECK(t.ahead(0x40600000, prefetch_target::leaf_entry) == nullptr);  // PDE 3 is empty
}

TEST_CASE("walk_ahead: nothing outside the window, nor in other paging modes") {
    tables t;
    t.memory.store(0x4000 + 3 * 8, (std::uint64_t{8} << 20) | table_flags);  // past the 4 MiB
    CHECK(t.ahead(0x40203000, prefetch_target::data) == nullptr);
    control_registers pae = t.cr;
    pae.efer = 0;
    CHECK(walk_ahead(pae, 0x40201123, t.memory, prefetch_target::data) == nullptr);
    t.memory.close_window();
    CHECK(t.ahead(0x40201123, prefetch_target::leaf_entry) == nullptr);
}

TEST_CASE("walk_ahead: 5-level paging starts at the PML5") {
    tables t;
    t.cr.cr4 |= cr4::la57;
    t.cr.cr3 = 0x5000;
    t.memory.store(0x5000, 0x1000 | table_flags);  // PML5E 0 -> the PML4 above
    CHECK(t.ahead(0x40201123, prefetch_target::data) == t.memory.at(0x9123));
}
