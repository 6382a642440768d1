#include "mmu/walker.h"

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "base/bits.h"
#include "mmu/permissions.h"

namespace memsim::mmu {
namespace {

using detail::walk_format;
using detail::walk_level;

constexpr std::uint64_t bit(unsigned n) { return std::uint64_t{1} << n; }
// Bits high:low inclusive; empty when high < low.
constexpr std::uint64_t bits(unsigned high, unsigned low) {
    return high < low ? 0 : address_mask(high + 1) & ~address_mask(low);
}

// Whether a level's entries map a page when PS = 1 rather than point to a table.
enum class large_pages : std::uint8_t { never, always, with_cr4_pse };

// One level of a mode's hierarchy as the SDM describes it: every mode is a table of these, walked
// level by level unrolled at compile time. A walker works out the masks that depend on
// MAXPHYADDR, CR4.PSE and EFER.NXE into walk_levels.
struct level {
    unsigned shift;  // the entry's index is linear-address bits shift + index_bits - 1 : shift
    unsigned index_bits;
    large_pages large;
    page_size large_size;    // what a PS = 1 entry maps
    std::uint64_t reserved;  // bits that must be 0 in every present entry of this level
    bool has_rights;         // R/W, U/S and A exist: all but PAE PDPTEs (SDM 4.4.1, Table 4-8)
    std::optional<psc_level> cache;
};

// The masks are what they would be with MAXPHYADDR = 64: a walker clears the bits from
// MAXPHYADDR up in the first two and keeps only those in the third.
struct mode_layout {
    paging_mode mode;
    std::span<const level> levels;  // root first; entries of the last level are always leaves
    unsigned entry_bytes;
    std::uint64_t root_bits;     // the CR3 bits that locate the root table
    std::uint64_t table_bits;    // the bits of a non-leaf entry that locate the next table
    std::uint64_t address_bits;  // 8-byte entries: those from MAXPHYADDR up are reserved
    bool ia32e;
};

// SDM 4.3, Tables 4-4 to 4-6. The 4-MByte PDE's reserved bits depend on MAXPHYADDR (PSE-36).
constexpr level bits32_levels[] = {
    {22, 10, large_pages::with_cr4_pse, page_size::size_4m, 0, true, std::nullopt},
    {12, 10, large_pages::never, page_size::size_4k, 0, true, std::nullopt},
};
// SDM 4.4, Tables 4-8 to 4-11. PDPTEs carry no rights and have bits 2:1, 8:5 and 63 reserved.
// Hardware loads the four PDPTEs into registers at MOV to CR3 (4.4.1) and a reserved bit there
// raises #GP; for simplicity this model reads them at walk time like any entry, so a changed
// PDPTE counts at once and a reserved bit in one raises #PF with RSVD.
constexpr level pae_levels[] = {
    {30, 2, large_pages::never, page_size::size_4k, bits(2, 1) | bits(8, 5) | bit(63), false, std::nullopt},
    {21, 9, large_pages::always, page_size::size_2m, 0, true, std::nullopt},
    {12, 9, large_pages::never, page_size::size_4k, 0, true, std::nullopt},
};
// SDM 4.5, Tables 4-14 to 4-20: PS is reserved in PML5Es and PML4Es. 4-level paging is this
// table without its first row.
constexpr level ia32e_levels[] = {
    {48, 9, large_pages::never, page_size::size_4k, bit(7), true, psc_level::pml5e},
    {39, 9, large_pages::never, page_size::size_4k, bit(7), true, psc_level::pml4e},
    {30, 9, large_pages::always, page_size::size_1g, 0, true, psc_level::pdpte},
    {21, 9, large_pages::always, page_size::size_2m, 0, true, psc_level::pde},
    {12, 9, large_pages::never, page_size::size_4k, 0, true, std::nullopt},
};

// The root: SDM 4.3, CR3[31:12]; 4.4.1, the 32-byte-aligned PDPT at CR3[31:5]; 4.5.2,
// CR3[M-1:12]. PAE entries reserve every bit from MAXPHYADDR to 62; IA-32e ones only up to 51
// (62:52 are ignored or protection keys).
constexpr mode_layout bits32_layout{
    paging_mode::bits32, bits32_levels, 4, bits(31, 12), bits(31, 12), 0, false};
constexpr mode_layout pae_layout{paging_mode::pae, pae_levels,  8,    bits(31, 5),
                                 bits(51, 12),     bits(62, 0), false};
constexpr mode_layout ia32e_4_layout{paging_mode::ia32e_4,
                                     std::span<const level>(ia32e_levels).subspan(1),
                                     8,
                                     bits(51, 12),
                                     bits(51, 12),
                                     bits(51, 0),
                                     true};
constexpr mode_layout ia32e_5_layout{paging_mode::ia32e_5, ia32e_levels, 8,   bits(51, 12),
                                     bits(51, 12),         bits(51, 0),  true};

const mode_layout& layout_of(paging_mode mode) {
    switch (mode) {
        case paging_mode::bits32:
            return bits32_layout;
        case paging_mode::pae:
            return pae_layout;
        case paging_mode::ia32e_4:
            return ia32e_4_layout;
        case paging_mode::ia32e_5:
            return ia32e_5_layout;
        case paging_mode::none:
            break;
    }
    throw std::logic_error("walker: no paging structures without paging");
}

// SDM 4.3: PSE-36 puts physical bits M-1:32 of a 4-MByte page in PDE bits (M-20):13, with
// M = min(MAXPHYADDR, 40).
unsigned pse36_bits(unsigned maxphyaddr) { return std::min(maxphyaddr, 40u) - 32; }

// Bits reserved in every entry of the mode, whatever its level: in 8-byte entries the address
// bits from MAXPHYADDR up, and XD without EFER.NXE (SDM 4.4.2 and 4.5.4).
std::uint64_t mode_reserved(const mode_layout& m, bool nxe, unsigned maxphyaddr) {
    if (m.entry_bytes == 4) return 0;
    return (m.address_bits & ~address_mask(maxphyaddr)) | (nxe ? 0 : entry_flag::xd);
}

bool maps_large_pages(const level& lv, bool pse) {
    // With CR4.PSE = 0 a 32-bit PDE's PS is ignored: the entry points to a page table.
    return lv.large == large_pages::always || (lv.large == large_pages::with_cr4_pse && pse);
}

// SDM 4.3 to 4.5: what a present entry that maps a large page must have clear besides what
// every entry of its level must.
std::uint64_t large_page_reserved(const mode_layout& m, const level& lv, unsigned maxphyaddr) {
    if (m.entry_bytes == 4) return bits(21, 13 + pse36_bits(maxphyaddr));
    // A large page's frame is aligned to its size: bit 12 is PAT, the bits above it reserved.
    return bits(page_shift(lv.large_size) - 1, 13);
}

// A 4-MByte page's frame bits 31:22 (its higher bits come from PSE-36), else the frame's bits.
std::uint64_t large_page_frame(const mode_layout& m, const level& lv, unsigned maxphyaddr) {
    if (m.entry_bytes == 4) return bits(31, 22);
    return bits(maxphyaddr - 1, page_shift(lv.large_size));
}

walk_level resolve(const mode_layout& m, const level& lv, bool pse, bool nxe, unsigned maxphyaddr) {
    const std::uint64_t reserved = lv.reserved | mode_reserved(m, nxe, maxphyaddr);
    return {
        .large_flag = maps_large_pages(lv, pse) ? entry_flag::ps : 0,
        .reserved = reserved,
        .large_reserved = reserved | large_page_reserved(m, lv, maxphyaddr),
        .large_frame = large_page_frame(m, lv, maxphyaddr),
    };
}

walk_format resolve(const mode_layout& m, bool pse, bool nxe, unsigned maxphyaddr) {
    walk_format f{};
    for (std::size_t i = 0; i != m.levels.size(); ++i)
        f.levels[i] = resolve(m, m.levels[i], pse, nxe, maxphyaddr);
    f.root_mask = m.root_bits & address_mask(maxphyaddr);
    f.table_mask = m.table_bits & address_mask(maxphyaddr);
    // SDM 4.3: PSE-36 puts physical bits M-1:32 of a 4-MByte page in PDE bits (M-20):13.
    f.pse36_frame = m.entry_bytes == 4 ? address_mask(pse36_bits(maxphyaddr)) : 0;
    return f;
}

// The index in walk_resources::formats of `mode` with CR4.PSE (32-bit paging) or EFER.NXE set or not.
std::size_t format_index(paging_mode mode, bool pse_or_nxe) {
    return (static_cast<std::size_t>(mode) - static_cast<std::size_t>(paging_mode::bits32)) * 2 + pse_or_nxe;
}

std::size_t format_index(paging_mode mode, const control_registers& cr) {
    return format_index(mode, mode == paging_mode::bits32 ? cr.cr4 & cr4::pse : cr.efer & efer::nxe);
}

std::array<walk_format, 8> formats(unsigned maxphyaddr) {
    std::array<walk_format, 8> all;
    for (paging_mode mode :
         {paging_mode::bits32, paging_mode::pae, paging_mode::ia32e_4, paging_mode::ia32e_5})
        for (bool flag : {false, true})
            // Each mode reads only the flag that matters to it.
            all[format_index(mode, flag)] = resolve(layout_of(mode), flag, flag, maxphyaddr);
    return all;
}

// What stays the same for every level of one walk. The mode's layout is a template argument:
// walks are unrolled level by level at compile time, and read at run time only the masks that
// depend on MAXPHYADDR, CR4.PSE and EFER.NXE.
template <const mode_layout& Layout>
struct walk_context {
    static constexpr std::span<const level> levels = Layout.levels;
    static constexpr std::size_t depth = Layout.levels.size();
    static constexpr unsigned entry_bytes = Layout.entry_bytes;
    // SDM Vol. 3A, 4.5 and Vol. 1, 3.3.7.1: bits 63:47 (63:56 with 5-level paging) must all equal.
    static constexpr unsigned canonical_shift =
        Layout.ia32e ? 64 - (levels.front().shift + levels.front().index_bits) : 0;

    // Only IA-32e walks use the caches (the SDM would allow them for PAE PDEs too).
    walk_context(const control_registers& cr, const access& a, const walk_format& format, pte_port& memory,
                 detail::walk_resources& resources)
        : cr(cr),
          a(a),
          format(format),
          memory(memory),
          caches(Layout.ia32e ? resources.caches : nullptr),
          counters(resources.counters),
          pcid(current_pcid(cr)) {}

    // Copies, not references: the compiler must assume that each 64-bit store of a walk (its
    // counter bumps) may change a referenced control register or access, and reload it; a copy
    // in a context local to walk_in() stays in a register.
    const control_registers cr;
    const access a;
    const walk_format& format;
    pte_port& memory;
    paging_structure_caches* caches;
    detail::walk_counters& counters;
    std::uint16_t pcid;
};

// Calls `f` with std::integral_constant<std::size_t, I>{} for I = 0, 1, ..., Count - 1 while it
// returns true: a loop over levels, unrolled so that each level's layout is a constant.
template <std::size_t Count, typename F>
void unrolled(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        static_cast<void>((f(std::integral_constant<std::size_t, I>{}) && ...));  // Count may be 0
    }
    (std::make_index_sequence<Count>{});
}

template <typename Context>
bool canonical(const Context& c) {
    constexpr unsigned unused = Context::canonical_shift;
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(c.a.linear << unused) >> unused) ==
           c.a.linear;
}

std::uint64_t entry_offset(const level& lv, unsigned entry_bytes, std::uint64_t linear) {
    return ((linear >> lv.shift) & address_mask(lv.index_bits)) * entry_bytes;
}

template <typename Context>
std::uint64_t table_address(const Context& c, std::uint64_t entry) {
    return entry & c.format.table_mask;
}

template <bool Large, typename Context>
std::uint64_t page_frame(const Context& c, const walk_level& lv, std::uint64_t entry) {
    if constexpr (!Large) return table_address(c, entry);
    return (entry & lv.large_frame) | ((entry >> 13) & c.format.pse36_frame) << 32;
}

// The rights of a path (SDM 4.6) in the shape of an entry, so each level costs one AND: R/W and
// U/S stay set while every entry has them, and bit 63 stays set while no entry has XD.
using rights_mask = std::uint64_t;

// PAE PDPTEs carry no rights, and no XD either: they reserve bit 63.
rights_mask accumulate(rights_mask rights, const level& lv, std::uint64_t entry) {
    return lv.has_rights ? rights & (entry ^ entry_flag::xd) : rights;
}

// One entry the walk used: kept to set its Accessed flag and to fill the caches.
struct used_entry {
    std::uint64_t address;
    std::uint64_t value;
    rights_mask rights;  // of the path down to and including this entry
};

// The entries a walk used, by level: those above the level it started at and below its leaf
// are left uninitialized.
using walk_path = std::array<used_entry, 5>;

// Every step below is a template of the level the walk started at (First) and the level it is
// at, so each start and leaf a walk may have gets its own straight-line code.

// Written field by field into the result: assembling a translation elsewhere and copying it
// in makes the host reload bytes just stored as one wide word, a store-forwarding stall. All but
// `dirty`, which the walk's own D write may change.
template <std::size_t Leaf, bool Large, typename Context>
void translation_of(const Context& c, const used_entry& leaf, translation& t) {
    t.frame = page_frame<Large>(c, c.format.levels[Leaf], leaf.value);
    t.size = Large ? Context::levels[Leaf].large_size : page_size::size_4k;
    t.writable = leaf.rights & entry_flag::rw;
    t.user = leaf.rights & entry_flag::us;
    t.executable = leaf.rights & entry_flag::xd;
    // SDM 4.10.2.4: G counts only in the entry that maps the page, and only with CR4.PGE = 1.
    t.global = (leaf.value & entry_flag::g) && (c.cr.cr4 & cr4::pge);
}

// SDM 4.8: sets `flags` in a used entry, writing it back only if that changes it.
template <typename Context>
unsigned set_flags(const Context& c, used_entry& e, std::uint64_t flags) {
    const std::uint64_t value = e.value | flags;
    if (value == e.value) return 0;
    c.memory.write(e.address, value, c.entry_bytes);
    e.value = value;
    return 1;
}

// SDM 4.8: a successful walk sets A in every entry it used (PAE PDPTEs have none, and never map
// pages) and D in the leaf on a write. Returns the number of entries written.
template <std::size_t First, std::size_t Leaf, typename Context>
unsigned set_accessed_dirty(const Context& c, walk_path& path) {
    unsigned writes = 0;
    const std::uint64_t dirty = c.a.kind == access_kind::write ? entry_flag::d : 0;
    unrolled<Leaf + 1 - First>([&](auto step) {
        constexpr std::size_t index = First + step;
        constexpr std::uint64_t accessed = Context::levels[index].has_rights ? entry_flag::a : 0;
        writes += set_flags(c, path[index], index == Leaf ? accessed | dirty : accessed);
        return true;
    });
    return writes;
}

// SDM 4.10.3.1: each non-leaf entry a successful walk read becomes a cache entry for the next
// table; only successful walks fill, so every cached entry has its A flag set, as the SDM
// requires. Last in a walk: by then little else is live, which leaves the fills registers.
template <std::size_t First, std::size_t Leaf, typename Context>
void fill_caches(const Context& c, const walk_path& path) {
    if (!c.caches) return;
    unrolled<Leaf - First>([&](auto step) {
        constexpr std::size_t index = First + step;
        constexpr std::optional<psc_level> cache = Context::levels[index].cache;
        if constexpr (cache.has_value()) {
            const used_entry& e = path[index];
            c.caches->fill_word(*cache, c.pcid, c.a.linear,
                                psc_word::of(table_address(c, e.value), e.rights));
        }
        return true;
    });
}

// A #PF from a walk that skipped `skipped` levels and read `reads` entries. Out of line: faults
// are rare, and their code inline would crowd the registers of the walks that succeed.
[[gnu::cold, gnu::noinline]] void page_fault(walk_result& r, detail::walk_counters& counters,
                                             std::uint32_t error_code, unsigned reads, unsigned skipped) {
    r.fault = fault_kind::page_fault;
    r.error_code = error_code;
    r.reads = reads;
    counters.count(reads, 0, skipped, true);
}

template <std::size_t First, unsigned Reads, typename Context>
void page_fault(const Context& c, walk_result& r, std::uint32_t error_code) {
    page_fault(r, c.counters, error_code, Reads, First);
}

// The end of a walk from level First whose leaf, at level Leaf, maps a large page or not.
template <std::size_t First, std::size_t Leaf, bool Large, typename Context>
void finish(const Context& c, walk_path& path, walk_result& r) {
    constexpr unsigned reads = Leaf + 1 - First;
    translation_of<Leaf, Large>(c, path[Leaf], r.result);
    if (std::uint32_t error = access_fault(c.cr, c.a, r.result)) return page_fault<First, reads>(c, r, error);
    r.reads = reads;
    r.writes = set_accessed_dirty<First, Leaf>(c, path);
    r.result.dirty = path[Leaf].value & entry_flag::d;
    c.counters.count(reads, r.writes, First, false);
    fill_caches<First, Leaf>(c, path);
}

// Reads the entry of level Index in `table`, then goes on to the next level or finishes at a
// leaf. A fault yields its error code (SDM 4.7): without P for a not-present entry (reserved
// bits of such an entry are not checked), with P and RSVD for a reserved bit set.
template <std::size_t First, std::size_t Index, typename Context>
void descend(const Context& c, std::uint64_t table, rights_mask rights, walk_path& path, walk_result& r) {
    constexpr const level& lv = Context::levels[Index];
    constexpr bool last = Index + 1 == Context::depth;
    static_assert(!last || lv.large == large_pages::never, "the last level's entries are 4 KiB leaves");
    const walk_level& masks = c.format.levels[Index];
    const std::uint64_t address = table + entry_offset(lv, c.entry_bytes, c.a.linear);
    const std::uint64_t entry = c.memory.read(address, c.entry_bytes);
    constexpr unsigned reads = Index + 1 - First;
    if (!(entry & entry_flag::p)) return page_fault<First, reads>(c, r, access_error_bits(c.cr, c.a));
    const bool large = lv.large != large_pages::never && (entry & masks.large_flag);
    if (entry & (large ? masks.large_reserved : masks.reserved))
        return page_fault<First, reads>(c, r, pf::p | pf::rsvd | access_error_bits(c.cr, c.a));
    path[Index] = {address, entry, accumulate(rights, lv, entry)};
    if constexpr (last) {
        finish<First, Index, false>(c, path, r);
    } else {
        if constexpr (lv.large != large_pages::never)
            if (large) return finish<First, Index, true>(c, path, r);
        descend<First, Index + 1>(c, table_address(c, entry), path[Index].rights, path, r);
    }
}

// SDM 4.10.3.2: the processor may use the deepest cached entry and skip the levels above it.
// Walks from level Below if the cache of level Below - 1 holds the entry, else tries the caches
// above, else walks from the root.
template <std::size_t Below, typename Context>
void walk_below_cache(const Context& c, walk_path& path, walk_result& r) {
    if constexpr (Below == 0) {
        descend<0, 0>(c, c.cr.cr3 & c.format.root_mask, ~rights_mask{0}, path, r);
    } else {
        constexpr std::optional<psc_level> cache = Context::levels[Below - 1].cache;
        if constexpr (cache.has_value()) {
            // A psc_word is a rights_mask too: only its rights bits count.
            if (const std::uint64_t hit = c.caches->lookup_word(*cache, c.pcid, c.a.linear)) {
                r.skipped = Below;
                return descend<Below, Below>(c, hit & psc_word::table, hit, path, r);
            }
        }
        walk_below_cache<Below - 1>(c, path, r);
    }
}

translation identity(std::uint64_t linear) {
    translation t;
    t.frame = align_down(linear, page_bytes(page_size::size_4k));
    t.writable = true;
    t.user = true;
    return t;
}

// With paging disabled (CR0.PG = 0): the identity translation of the 4 KiB page.
walk_result walk_unpaged(const control_registers&, const access& a, pte_port&,
                         detail::walk_resources& resources) {
    resources.counters.count(0, 0, 0, false);
    return {.result = identity(a.linear)};
}

// Faulting walks change nothing in memory nor in the caches: the SDM (4.8) lets a processor set
// Accessed flags on a walk that faults, or not; this model does not, so a fault is side-effect
// free and the handler sees the entries as software left them. Flattened: the steps, cache
// lookups and fills and entry accesses of a walk form one function per mode, which keeps the
// context and the path in registers instead of passing them by reference from call to call.
template <const mode_layout& Layout>
[[gnu::flatten]] walk_result walk_in(const control_registers& cr, const access& a, pte_port& memory,
                                     detail::walk_resources& resources) {
    walk_result r;
    const walk_context<Layout> c(cr, a, resources.formats[format_index(Layout.mode, cr)], memory, resources);
    if (!canonical(c)) {
        r.fault = fault_kind::general_protection;
        c.counters.count(0, 0, 0, true);
        return r;
    }
    walk_path path;
    // The last level's entries are never cached: they map pages.
    if (c.caches)
        walk_below_cache<walk_context<Layout>::depth - 1>(c, path, r);
    else
        walk_below_cache<0>(c, path, r);
    return r;
}

}  // namespace

walker::walker(paging_structure_caches* caches, stats::scope stats, unsigned maxphyaddr)
    : m_resources{{},
                  caches,
                  {stats.add_counter("faults", "walks that ended in #PF or #GP"),
                   stats.add_counter("reads", "paging-structure entries read"),
                   stats.add_counter("skipped_levels", "levels skipped thanks to paging-structure caches"),
                   stats.add_histogram("references", "memory references (reads + writes) per walk")}} {
    const detail::walk_counters& counted = m_resources.counters;
    stats.add_sum("walks", "page walks", {{&counted.references.samples_counter()}});
    stats.add_sum("writes", "Accessed/Dirty updates written",
                  {{&counted.references.sum_counter()}, {&counted.reads, true}});
    if (maxphyaddr < 32 || maxphyaddr > 52)
        throw std::invalid_argument("walker: MAXPHYADDR must be between 32 and 52");
    m_resources.formats = formats(maxphyaddr);
    const auto set = [this](paging_mode mode, walk_function f) { m_walks[static_cast<unsigned>(mode)] = f; };
    set(paging_mode::none, walk_unpaged);
    set(paging_mode::bits32, walk_in<bits32_layout>);
    set(paging_mode::pae, walk_in<pae_layout>);
    set(paging_mode::ia32e_4, walk_in<ia32e_4_layout>);
    set(paging_mode::ia32e_5, walk_in<ia32e_5_layout>);
}

}  // namespace memsim::mmu
