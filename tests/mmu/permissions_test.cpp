// Page-level access rights (SDM Vol. 3A, 4.6) and the page-fault error code (4.7), one case
// per row: who accesses, how, the page's rights, and the control bits that change the rules.
#include "mmu/permissions.h"

#include <iterator>

#include <doctest/doctest.h>

using namespace memsim::mmu;

namespace {

// CPL 3, CPL 0, an implicit supervisor access made at CPL 3, and one made at CPL 0.
enum class who { user, supervisor, implicit, implicit_cpl0 };

// Control bits of a row; rows use 4-level paging unless bits32.
constexpr unsigned wp = 1, smep = 2, smap = 4, ac = 8, nxe = 16, bits32 = 32;
constexpr bool U = true, S = false;    // page U/S
constexpr bool RW = true, RO = false;  // page R/W
constexpr bool X = true, NX = false;   // page executable (no XD on the path)

constexpr access_kind read = access_kind::read, write = access_kind::write, fetch = access_kind::fetch;

struct row {
    who by;
    access_kind kind;
    bool page_user, page_writable, page_executable;
    unsigned bits;
    std::uint32_t error;  // 0: allowed
};

control_registers registers_of(unsigned bits) {
    control_registers cr;
    cr.cr0 = cr0::pe | cr0::pg | ((bits & wp) ? cr0::wp : 0);
    cr.cr4 =
        ((bits & bits32) ? 0 : cr4::pae) | ((bits & smep) ? cr4::smep : 0) | ((bits & smap) ? cr4::smap : 0);
    cr.efer = ((bits & bits32) ? 0 : efer::lme | efer::lma) | ((bits & nxe) ? efer::nxe : 0);
    cr.eflags_ac = bits & ac;
    return cr;
}

access access_of(who by, access_kind kind) {
    bool cpl3 = by == who::user || by == who::implicit;
    return access{0x40'0000, kind, cpl3, by == who::implicit || by == who::implicit_cpl0};
}

// Error codes: P = 1, W/R = 2, U/S = 4, I/D = 16.
constexpr row rows[] = {
    // SDM 4.6.1, user-mode accesses: reads need U/S = 1 on the path, writes also R/W = 1 (CR0.WP
    // does not matter), fetches U/S = 1 and, with NXE in PAE/IA-32e paging, XD = 0.
    {who::user, read, U, RO, X, 0, 0},
    {who::user, read, S, RW, X, 0, 0x5},
    {who::user, write, U, RW, X, 0, 0},
    {who::user, write, U, RO, X, 0, 0x7},
    {who::user, write, U, RO, X, wp, 0x7},
    {who::user, write, S, RW, X, wp, 0x7},
    {who::user, fetch, U, RO, X, nxe, 0},
    {who::user, fetch, U, RW, NX, nxe, 0x15},
    {who::user, fetch, U, RW, NX, 0, 0},  // XD ignored without NXE
    {who::user, fetch, S, RW, X, nxe, 0x15},
    {who::user, fetch, S, RW, X, 0, 0x5},               // no I/D without NXE or SMEP
    {who::user, fetch, U, RW, X, smep, 0},              // SMEP restricts supervisor fetches only
    {who::user, read, U, RW, X, smap, 0},               // SMAP restricts supervisor accesses only
    {who::user, fetch, S, RW, X, bits32 | nxe, 0x5},    // 32-bit paging: NXE gives no I/D
    {who::user, fetch, S, RW, X, bits32 | smep, 0x15},  // SMEP gives I/D even in 32-bit paging (4.7)
    {who::user, fetch, U, RW, NX, bits32 | nxe, 0},     // 32-bit paging has no XD
    // Supervisor data reads: anything, except user pages under SMAP with EFLAGS.AC = 0.
    {who::supervisor, read, S, RO, X, 0, 0},
    {who::supervisor, read, U, RO, X, 0, 0},
    {who::supervisor, read, U, RW, X, smap, 0x1},
    {who::supervisor, read, U, RW, X, smap | ac, 0},
    {who::supervisor, read, S, RW, X, smap, 0},
    {who::supervisor, read, S, RO, X, wp, 0},
    // Supervisor writes: read-only pages only with CR0.WP = 0; user pages as SMAP allows.
    {who::supervisor, write, S, RO, X, 0, 0},
    {who::supervisor, write, S, RO, X, wp, 0x3},
    {who::supervisor, write, S, RW, X, wp, 0},
    {who::supervisor, write, U, RO, X, 0, 0},
    {who::supervisor, write, U, RO, X, wp, 0x3},
    {who::supervisor, write, U, RW, X, wp, 0},
    {who::supervisor, write, U, RW, X, smap, 0x3},
    {who::supervisor, write, U, RW, X, smap | ac, 0},
    {who::supervisor, write, U, RO, X, wp | smap | ac, 0x3},
    {who::supervisor, write, U, RO, X, smap | ac, 0},
    {who::supervisor, write, S, RO, X, wp | smap | ac, 0x3},
    // Supervisor fetches: XD with NXE; user pages under SMEP (SMAP does not apply to fetches).
    {who::supervisor, fetch, S, RO, X, wp, 0},
    {who::supervisor, fetch, S, RW, NX, nxe, 0x11},
    {who::supervisor, fetch, S, RW, NX, 0, 0},
    {who::supervisor, fetch, U, RW, X, 0, 0},
    {who::supervisor, fetch, U, RW, X, smep, 0x11},
    {who::supervisor, fetch, U, RW, X, smep | nxe, 0x11},
    {who::supervisor, fetch, U, RW, NX, nxe, 0x11},
    {who::supervisor, fetch, U, RW, X, smap, 0},
    {who::supervisor, fetch, U, RW, X, bits32 | smep, 0x11},
    {who::supervisor, fetch, U, RW, NX, bits32 | nxe, 0},
    // Implicit supervisor accesses at CPL 3 (4.6): supervisor rules, U/S = 0 in the error code,
    // and SMAP checks them whatever EFLAGS.AC.
    {who::implicit, read, U, RW, X, smap | ac, 0x1},
    {who::implicit, read, U, RW, X, 0, 0},
    {who::implicit, read, U, RW, X, ac, 0},
    {who::implicit, write, U, RW, X, smap | ac, 0x3},
    {who::implicit, write, S, RO, X, wp, 0x3},
    {who::implicit, write, S, RO, X, 0, 0},
    {who::implicit, read, S, RO, X, smap, 0},
    // Below CPL 3, EFLAGS.AC lifts SMAP for implicit accesses too (SDM 4.6.1).
    {who::implicit_cpl0, read, U, RW, X, smap | ac, 0},
    {who::implicit_cpl0, read, U, RW, X, smap, 0x1},
};

}  // namespace

TEST_CASE("access rights, one SDM case per row") {
    static_assert(std::size(rows) >= 40);
    for (std::size_t i = 0; i < std::size(rows); ++i) {
        const row& r = rows[i];
        CAPTURE(i);
        translation t;
        t.user = r.page_user;
        t.writable = r.page_writable;
        t.executable = r.page_executable;
        CHECK(access_fault(registers_of(r.bits), access_of(r.by, r.kind), t) == r.error);
    }
}

// SDM 4.7: the bits that describe the access go into every page fault, not-present ones too.
TEST_CASE("access_error_bits describe the access") {
    CHECK(access_error_bits(registers_of(0), access_of(who::supervisor, read)) == 0);
    CHECK(access_error_bits(registers_of(0), access_of(who::user, write)) == (pf::wr | pf::us));
    CHECK(access_error_bits(registers_of(wp | smap), access_of(who::implicit, write)) == pf::wr);
    CHECK(access_error_bits(registers_of(nxe), access_of(who::user, fetch)) == (pf::us | pf::id));
    CHECK(access_error_bits(registers_of(0), access_of(who::user, fetch)) == pf::us);
    CHECK(access_error_bits(registers_of(bits32 | nxe), access_of(who::supervisor, fetch)) == 0);
    CHECK(access_error_bits(registers_of(bits32 | smep), access_of(who::supervisor, fetch)) == pf::id);
}

TEST_CASE("with paging disabled every access is allowed") {
    control_registers cr;
    cr.cr0 = cr0::pe | cr0::wp;
    cr.cr4 = cr4::smep | cr4::smap;
    translation t;  // supervisor, read-only
    CHECK(access_fault(cr, access_of(who::user, write), t) == 0);
}
