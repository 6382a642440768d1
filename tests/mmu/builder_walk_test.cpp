// Two independent readings of the SDM's table formats must agree: the page tables the workload
// builder (traces/page_tables) writes translate, under the walker, to exactly what was mapped.
#include <doctest/doctest.h>

#include "fake_memory.h"
#include "mmu/walker.h"
#include "traces/page_tables.h"

using namespace memsim;
using namespace memsim::mmu;

namespace {

struct page {
    std::uint64_t linear, physical;
    page_size size;
    traces::mapping_flags flags;
};

// Builds `pages` with the builder, runs its stores and register writes, and walks each page.
void check_format(traces::table_format format, const std::vector<page>& pages) {
    testing::fake_memory memory;
    traces::page_table_builder builder(format, 0x800000);
    std::vector<traces::op> ops = builder.enable();
    for (const page& p : pages) builder.map(p.linear, p.physical, p.size, p.flags, ops);
    control_registers cr;
    for (const traces::op& o : ops) {
        switch (o.kind) {
            case traces::op_kind::poke:
                memory.poke(o.address, o.value, o.size);
                break;
            case traces::op_kind::cr0:
                cr.cr0 = o.value;
                break;
            case traces::op_kind::cr3:
                cr.cr3 = o.value;
                break;
            case traces::op_kind::cr4:
                cr.cr4 = o.value;
                break;
            case traces::op_kind::efer:
                cr.efer = o.value;
                break;
            default:
                FAIL("unexpected operation from the builder");
        }
    }
    stats::registry stats;
    walker w(nullptr, stats.under("walker"));
    for (const page& p : pages) {
        CAPTURE(p.linear);
        std::uint64_t offset = page_bytes(p.size) - 8;
        walk_result r = w.walk(cr, access{p.linear + offset, access_kind::read, p.flags.user, false}, memory);
        REQUIRE(r.ok());
        CHECK(r.result.frame == p.physical);
        CHECK(r.result.size == p.size);
        CHECK(r.result.writable == p.flags.writable);
        CHECK(r.result.user == p.flags.user);
        CHECK(r.result.executable == !(p.flags.nx && format != traces::table_format::bits32));
        CHECK(r.result.global == p.flags.global);
    }
}

}  // namespace

TEST_CASE("builder and walker agree: 32-bit paging, 4 KiB and 4 MiB pages") {
    check_format(traces::table_format::bits32,
                 {{0x400000, 0x1000, page_size::size_4k, {}},
                  {0x401000, 0x9000, page_size::size_4k, {false, true, false, true}},
                  {0xc0000000, 0x1000000, page_size::size_4m, {}}});
}

TEST_CASE("builder and walker agree: PAE, 4 KiB and 2 MiB pages, NX") {
    check_format(traces::table_format::pae,
                 {{0x400000, 0x1000, page_size::size_4k, {true, true, true, false}},
                  {0xbfe00000, 0x40000000, page_size::size_2m, {}}});
}

TEST_CASE("builder and walker agree: 4-level and 5-level, every page size") {
    for (auto format : {traces::table_format::long4, traces::table_format::long5}) {
        check_format(format, {{0x400000, 0x200000000, page_size::size_4k, {}},
                              {0x7fffffe00000, 0x600000, page_size::size_2m, {false, true, true, false}},
                              {0x40000000, 0x1c0000000, page_size::size_1g, {true, false, false, true}}});
    }
}
