// The vocabulary of x86 paging (Intel SDM Vol. 3A, ch. 4) shared by the walker, the TLBs and
// the paging-structure caches: control-register bits, paging modes, page sizes, accesses and
// the page-fault error code. Plain C++: no SystemC, nothing of hw/.
#pragma once

#include <cstdint>

namespace memsim::mmu {

// Control-register and EFER bits the MMU reads (SDM Vol. 3A, 2.5 and 2.2.1).
namespace cr0 {
inline constexpr std::uint64_t pe = 1ull << 0;
inline constexpr std::uint64_t wp = 1ull << 16;
inline constexpr std::uint64_t pg = 1ull << 31;
}  // namespace cr0
namespace cr4 {
inline constexpr std::uint64_t pse = 1ull << 4;
inline constexpr std::uint64_t pae = 1ull << 5;
inline constexpr std::uint64_t pge = 1ull << 7;
inline constexpr std::uint64_t la57 = 1ull << 12;
inline constexpr std::uint64_t pcide = 1ull << 17;
inline constexpr std::uint64_t smep = 1ull << 20;
inline constexpr std::uint64_t smap = 1ull << 21;
}  // namespace cr4
namespace efer {
inline constexpr std::uint64_t lme = 1ull << 8;
inline constexpr std::uint64_t lma = 1ull << 10;
inline constexpr std::uint64_t nxe = 1ull << 11;
}  // namespace efer
namespace cr3 {
inline constexpr std::uint64_t pcid_mask = 0xfff;      // CR3[11:0] with CR4.PCIDE = 1
inline constexpr std::uint64_t no_flush = 1ull << 63;  // MOV to CR3 keeps the PCID's entries
}  // namespace cr3

// The state paging depends on. EFLAGS.AC matters only for SMAP.
struct control_registers {
    std::uint64_t cr0 = 0;
    std::uint64_t cr2 = 0;  // the last page fault's linear address: written by the CPU, not read by paging
    std::uint64_t cr3 = 0;
    std::uint64_t cr4 = 0;
    std::uint64_t efer = 0;
    bool eflags_ac = false;
};

// SDM Vol. 3A, 4.1.1 (Table 4-1). ia32e_4 and ia32e_5 are 4-level and 5-level paging.
enum class paging_mode { none, bits32, pae, ia32e_4, ia32e_5 };

// SDM Vol. 3A, 4.1.1 (Table 4-1). The processor sets EFER.LMA when paging is enabled with
// EFER.LME = 1; callers that model only one of the two bits still get IA-32e paging. Inline:
// every TLB hit asks it.
inline paging_mode mode_of(const control_registers& cr) {
    if (!(cr.cr0 & cr0::pg)) return paging_mode::none;
    if (!(cr.cr4 & cr4::pae)) return paging_mode::bits32;
    if (!(cr.efer & (efer::lme | efer::lma))) return paging_mode::pae;
    return (cr.cr4 & cr4::la57) ? paging_mode::ia32e_5 : paging_mode::ia32e_4;
}

// The PCID that tags translations: CR3[11:0] when CR4.PCIDE = 1 (only in IA-32e mode), else 0.
inline std::uint16_t current_pcid(const control_registers& cr) {
    return (cr.cr4 & cr4::pcide) ? static_cast<std::uint16_t>(cr.cr3 & cr3::pcid_mask) : 0;
}

enum class page_size : std::uint8_t { size_4k, size_2m, size_4m, size_1g };

constexpr unsigned page_shift(page_size s) {
    switch (s) {
        case page_size::size_4k:
            return 12;
        case page_size::size_2m:
            return 21;
        case page_size::size_4m:
            return 22;
        case page_size::size_1g:
            return 30;
    }
    return 12;
}
constexpr std::uint64_t page_bytes(page_size s) { return std::uint64_t{1} << page_shift(s); }

enum class access_kind : std::uint8_t { read, write, fetch };

// One access to translate: its linear address, what it does, and whether it is a user-mode
// access (CPL = 3) or a supervisor one. `implicit_supervisor` marks supervisor accesses made
// by the processor itself (e.g. to descriptor tables); `user` then says whether CPL was 3, in
// which case SMAP ignores EFLAGS.AC for them (SDM 4.6.1).
struct access {
    std::uint64_t linear = 0;
    access_kind kind = access_kind::read;
    bool user = false;
    bool implicit_supervisor = false;
};

// Page-fault error code bits (SDM Vol. 3A, 4.7, Figure 4-12).
namespace pf {
inline constexpr std::uint32_t p = 1u << 0;     // 0: not present; 1: protection violation
inline constexpr std::uint32_t wr = 1u << 1;    // the access was a write
inline constexpr std::uint32_t us = 1u << 2;    // the access was a user-mode access
inline constexpr std::uint32_t rsvd = 1u << 3;  // a reserved bit was set in a paging-structure entry
inline constexpr std::uint32_t id = 1u << 4;    // the access was an instruction fetch
}  // namespace pf

// Flags of paging-structure entries (SDM Vol. 3A, 4.3 to 4.5, Tables 4-4 to 4-20). Which of them
// an entry has depends on its level and the paging mode; xd exists only in 8-byte entries.
namespace entry_flag {
inline constexpr std::uint64_t p = 1ull << 0;
inline constexpr std::uint64_t rw = 1ull << 1;
inline constexpr std::uint64_t us = 1ull << 2;
inline constexpr std::uint64_t pwt = 1ull << 3;
inline constexpr std::uint64_t pcd = 1ull << 4;
inline constexpr std::uint64_t a = 1ull << 5;
inline constexpr std::uint64_t d = 1ull << 6;   // leaves only
inline constexpr std::uint64_t ps = 1ull << 7;  // PDE/PDPTE: maps a large page; PTE: PAT
inline constexpr std::uint64_t g = 1ull << 8;   // leaves only, with CR4.PGE = 1
inline constexpr std::uint64_t xd = 1ull << 63;
}  // namespace entry_flag

// What a page-table walk or a TLB hit yields: the physical address of the page frame and the
// rights the whole path of entries grants (SDM 4.6: R/W and U/S are ANDed across levels, XD ORed).
struct translation {
    std::uint64_t frame = 0;  // physical address of the page's first byte
    page_size size = page_size::size_4k;
    bool writable = false;
    bool user = false;
    bool executable = true;
    bool global = false;
    bool dirty = false;  // the leaf's D bit as the walk left it
};

}  // namespace memsim::mmu
