// Page-level access rights (SDM Vol. 3A, 4.6) and the page-fault error code (4.7): whether an
// access may use a translation, shared by the walker and by TLB hits. Protection keys and
// shadow stacks are not modelled. Inline: every TLB hit checks its rights.
#pragma once

#include <cstdint>

#include "mmu/paging.h"

namespace memsim::mmu {

namespace detail {

// SDM 4.6: accesses at CPL 3 are user-mode accesses except the processor's implicit
// supervisor-mode accesses (to descriptor tables and the like).
inline bool supervisor_access(const access& a) { return !a.user || a.implicit_supervisor; }

// SDM 4.6: XD is honoured only with IA32_EFER.NXE = 1 in PAE and IA-32e paging (32-bit paging
// entries have no XD bit); CR4.PAE = 1 is what those two modes share.
inline bool xd_enforced(const control_registers& cr) { return (cr.cr4 & cr4::pae) && (cr.efer & efer::nxe); }

// SDM 4.6.1: with CR4.SMAP = 1, supervisor data accesses to user-mode addresses fault unless
// EFLAGS.AC = 1 (STAC/CLAC); implicit supervisor accesses made at CPL 3 ignore AC.
inline bool smap_forbids(const control_registers& cr, const access& a) {
    if (!(cr.cr4 & cr4::smap)) return false;
    return (a.implicit_supervisor && a.user) || !cr.eflags_ac;
}

inline bool fetch_allowed(const control_registers& cr, const access& a, const translation& t) {
    if (!t.executable && xd_enforced(cr)) return false;
    if (!supervisor_access(a)) return t.user;
    // SMEP: supervisor code may not be fetched from user-mode addresses.
    return !(t.user && (cr.cr4 & cr4::smep));
}

inline bool read_allowed(const control_registers& cr, const access& a, const translation& t) {
    if (!supervisor_access(a)) return t.user;
    return !(t.user && smap_forbids(cr, a));
}

inline bool write_allowed(const control_registers& cr, const access& a, const translation& t) {
    if (!supervisor_access(a)) return t.user && t.writable;
    if (t.user && smap_forbids(cr, a)) return false;
    // CR0.WP = 0 lets supervisor writes ignore R/W (SDM 4.6.1), to user pages as well.
    return t.writable || !(cr.cr0 & cr0::wp);
}

inline bool allowed(const control_registers& cr, const access& a, const translation& t) {
    switch (a.kind) {
        case access_kind::read:
            return read_allowed(cr, a, t);
        case access_kind::write:
            return write_allowed(cr, a, t);
        case access_kind::fetch:
            return fetch_allowed(cr, a, t);
    }
    return false;
}

}  // namespace detail

// The error-code bits that describe the access itself (W/R, U/S, I/D), whatever the fault.
inline std::uint32_t access_error_bits(const control_registers& cr, const access& a) {
    std::uint32_t code = 0;
    if (a.kind == access_kind::write) code |= pf::wr;
    if (!detail::supervisor_access(a)) code |= pf::us;
    // SDM 4.7: I/D is set for fetches when CR4.SMEP = 1, or when CR4.PAE = 1 and EFER.NXE = 1;
    // so SMEP sets it even under 32-bit paging.
    if (a.kind == access_kind::fetch && ((cr.cr4 & cr4::smep) || detail::xd_enforced(cr))) code |= pf::id;
    return code;
}

// 0 if `a` may use translation `t`, else the page-fault error code (P = 1 plus access_error_bits).
// Most accesses are allowed, so that is asked first.
inline std::uint32_t access_fault(const control_registers& cr, const access& a, const translation& t) {
    if (detail::allowed(cr, a, t) || mode_of(cr) == paging_mode::none) return 0;
    return pf::p | access_error_bits(cr, a);
}

}  // namespace memsim::mmu
