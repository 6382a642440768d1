#include "mmu/walker.h"

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <stdexcept>

#include "base/bits.h"
#include "mmu/permissions.h"

namespace memsim::mmu {
namespace {

constexpr std::uint64_t bit(unsigned n) { return std::uint64_t{1} << n; }
// Bits high:low inclusive; empty when high < low.
constexpr std::uint64_t bits(unsigned high, unsigned low) {
    return high < low ? 0 : address_mask(high + 1) & ~address_mask(low);
}

// Whether a level's entries map a page when PS = 1 rather than point to a table.
enum class large_pages : std::uint8_t { never, always, with_cr4_pse };

// One level of a mode's hierarchy: every mode is a table of these, walked by one loop.
struct level {
    unsigned shift;  // the entry's index is linear-address bits shift + index_bits - 1 : shift
    unsigned index_bits;
    large_pages large;
    page_size large_size;    // what a PS = 1 entry maps
    std::uint64_t reserved;  // bits that must be 0 in every present entry of this level
    bool has_rights;         // R/W, U/S and A exist: all but PAE PDPTEs (SDM 4.4.1, Table 4-8)
    std::optional<psc_level> cache;
};

// The masks are what they would be with MAXPHYADDR = 64: a walk clears the bits from MAXPHYADDR
// up in the first two and keeps only those in the third.
struct mode_format {
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
constexpr mode_format bits32_format{bits32_levels, 4, bits(31, 12), bits(31, 12), 0, false};
constexpr mode_format pae_format{pae_levels, 8, bits(31, 5), bits(51, 12), bits(62, 0), false};
constexpr mode_format ia32e_4_format{
    std::span<const level>(ia32e_levels).subspan(1), 8, bits(51, 12), bits(51, 12), bits(51, 0), true};
constexpr mode_format ia32e_5_format{ia32e_levels, 8, bits(51, 12), bits(51, 12), bits(51, 0), true};

const mode_format& format_of(paging_mode mode) {
    switch (mode) {
        case paging_mode::bits32:
            return bits32_format;
        case paging_mode::pae:
            return pae_format;
        case paging_mode::ia32e_4:
            return ia32e_4_format;
        case paging_mode::ia32e_5:
            return ia32e_5_format;
        case paging_mode::none:
            break;
    }
    throw std::logic_error("walker: no paging structures without paging");
}

// SDM 4.3: PSE-36 puts physical bits M-1:32 of a 4-MByte page in PDE bits (M-20):13, with
// M = min(MAXPHYADDR, 40).
unsigned pse36_bits(unsigned maxphyaddr) { return std::min(maxphyaddr, 40u) - 32; }

// SDM Vol. 3A, 4.5 and Vol. 1, 3.3.7.1: bits 63:47 (63:56 with 5-level paging) must all equal.
bool canonical(const mode_format& f, std::uint64_t linear) {
    unsigned width = f.levels.front().shift + f.levels.front().index_bits;
    unsigned unused = 64 - width;
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(linear << unused) >> unused) == linear;
}

std::uint64_t index_of(const level& lv, std::uint64_t linear) {
    return (linear >> lv.shift) & ((std::uint64_t{1} << lv.index_bits) - 1);
}

bool maps_large_page(const level& lv, std::uint64_t entry, const control_registers& cr) {
    if (!(entry & entry_flag::ps)) return false;
    if (lv.large == large_pages::always) return true;
    // With CR4.PSE = 0 a 32-bit PDE's PS is ignored: the entry points to a page table.
    return lv.large == large_pages::with_cr4_pse && (cr.cr4 & cr4::pse);
}

// Bits reserved in every entry of the mode, whatever its level: in 8-byte entries the address
// bits from MAXPHYADDR up, and XD without EFER.NXE (SDM 4.4.2 and 4.5.4).
std::uint64_t mode_reserved(const mode_format& f, const control_registers& cr, std::uint64_t physical_mask) {
    if (f.entry_bytes == 4) return 0;
    return (f.address_bits & ~physical_mask) | (cr.efer & efer::nxe ? 0 : entry_flag::xd);
}

// What stays the same for every level of one walk, computed once per walk.
struct walk_context {
    walk_context(const control_registers& cr, const access& a, const mode_format& format, unsigned maxphyaddr,
                 pte_port& memory)
        : cr(cr),
          a(a),
          format(format),
          maxphyaddr(maxphyaddr),
          memory(memory),
          physical_mask(address_mask(maxphyaddr)),
          table_mask(format.table_bits & physical_mask),
          reserved(mode_reserved(format, cr, physical_mask)) {}

    const control_registers& cr;
    const access& a;
    const mode_format& format;
    unsigned maxphyaddr;
    pte_port& memory;
    std::uint64_t physical_mask;  // address_mask(maxphyaddr)
    std::uint64_t table_mask;     // format.table_bits below MAXPHYADDR
    std::uint64_t reserved;       // mode_reserved()
};

// SDM 4.3 to 4.5: the bits a present entry must have clear, for its level and what it maps.
std::uint64_t reserved_bits(const walk_context& c, const level& lv, bool large) {
    const std::uint64_t reserved = lv.reserved | c.reserved;
    if (!large) return reserved;
    if (c.format.entry_bytes == 4) return reserved | bits(21, 13 + pse36_bits(c.maxphyaddr));
    // A large page's frame is aligned to its size: bit 12 is PAT, the bits above it reserved.
    return reserved | bits(page_shift(lv.large_size) - 1, 13);
}

std::uint64_t table_address(const walk_context& c, std::uint64_t entry) { return entry & c.table_mask; }

std::uint64_t page_frame(const walk_context& c, const level& lv, std::uint64_t entry, bool large) {
    if (!large) return table_address(c, entry);
    if (c.format.entry_bytes == 8) return entry & bits(c.maxphyaddr - 1, page_shift(lv.large_size));
    std::uint64_t high = (entry >> 13) & address_mask(pse36_bits(c.maxphyaddr));
    return (entry & bits(31, 22)) | high << 32;
}

std::uint64_t root_table(const walk_context& c) { return c.cr.cr3 & c.format.root_bits & c.physical_mask; }

// Bitwise, not logical, operators: no branches in the per-level loop.
path_rights accumulate(path_rights rights, const level& lv, std::uint64_t entry) {
    if (!lv.has_rights) return rights;
    rights.writable &= (entry & entry_flag::rw) != 0;
    rights.user &= (entry & entry_flag::us) != 0;
    rights.xd |= (entry & entry_flag::xd) != 0;
    return rights;
}

// Where a walk begins: at the root, or below the deepest paging-structure-cache hit.
struct start_point {
    std::size_t level = 0;
    std::uint64_t table = 0;
    path_rights rights;
};

// SDM 4.10.3.2: the processor may use the deepest cached entry and skip the levels above it.
start_point start_of_walk(const walk_context& c, paging_structure_caches* caches, std::uint16_t pcid) {
    start_point root{0, root_table(c), {}};
    if (!caches) return root;
    for (std::size_t i = c.format.levels.size() - 1; i-- > 0;) {
        const std::optional<psc_level>& cache = c.format.levels[i].cache;
        if (!cache) continue;
        if (std::optional<psc_entry> hit = caches->lookup(*cache, pcid, c.a.linear))
            return {i + 1, hit->table, hit->rights};
    }
    return root;
}

// One entry the walk used: kept to set its Accessed flag and to fill the caches.
struct used_entry {
    const level* lv;
    std::uint64_t address;
    std::uint64_t value;
    path_rights rights;  // of the path down to and including this entry
};

// Entries past `size` are left uninitialized: every walk writes one before it reads it.
struct walk_path {
    std::array<used_entry, 5> entries;
    std::size_t size = 0;
    std::uint64_t frame = 0;  // the leaf's page frame
    bool large = false;       // whether the leaf maps a large page

    used_entry& leaf() { return entries[size - 1]; }
    std::span<used_entry> used() { return std::span(entries).first(size); }
};

// Reads entries from `from` down to the leaf. A fault yields its error code (SDM 4.7): without
// P for a not-present entry (reserved bits of such an entry are not checked), with P and RSVD
// for a reserved bit set.
std::optional<std::uint32_t> descend(const walk_context& c, const start_point& from, walk_path& path,
                                     unsigned& reads) {
    std::uint64_t table = from.table;
    path_rights rights = from.rights;
    for (std::size_t i = from.level; i < c.format.levels.size(); ++i) {
        const level& lv = c.format.levels[i];
        std::uint64_t address = table + index_of(lv, c.a.linear) * c.format.entry_bytes;
        std::uint64_t entry = c.memory.read(address, c.format.entry_bytes);
        ++reads;
        if (!(entry & entry_flag::p)) return access_error_bits(c.cr, c.a);
        bool large = maps_large_page(lv, entry, c.cr);
        if (entry & reserved_bits(c, lv, large)) return pf::p | pf::rsvd | access_error_bits(c.cr, c.a);
        rights = accumulate(rights, lv, entry);
        path.entries[path.size++] = {&lv, address, entry, rights};
        if (large || i + 1 == c.format.levels.size()) {
            path.frame = page_frame(c, lv, entry, large);
            path.large = large;
            return std::nullopt;
        }
        table = table_address(c, entry);
    }
    return std::nullopt;
}

// Written field by field into the result: assembling a translation elsewhere and copying it
// in makes the host reload bytes just stored as one wide word, a store-forwarding stall.
void translation_of(const walk_context& c, walk_path& path, translation& t) {
    used_entry& leaf = path.leaf();
    t.frame = path.frame;
    t.size = path.large ? leaf.lv->large_size : page_size::size_4k;
    t.writable = leaf.rights.writable;
    t.user = leaf.rights.user;
    t.executable = !leaf.rights.xd;
    // SDM 4.10.2.4: G counts only in the entry that maps the page, and only with CR4.PGE = 1.
    t.global = (leaf.value & entry_flag::g) && (c.cr.cr4 & cr4::pge);
    t.dirty = leaf.value & entry_flag::d;
}

// SDM 4.8: A in every entry used, D in the leaf on a write; written back only when they change.
unsigned set_accessed_dirty(const walk_context& c, walk_path& path) {
    unsigned writes = 0;
    bool write = c.a.kind == access_kind::write;
    for (used_entry& e : path.used()) {
        if (!e.lv->has_rights) continue;
        bool leaf = &e == &path.leaf();
        std::uint64_t value = e.value | entry_flag::a | (leaf && write ? entry_flag::d : 0);
        if (value == e.value) continue;
        c.memory.write(e.address, value, c.format.entry_bytes);
        e.value = value;
        ++writes;
    }
    return writes;
}

// SDM 4.10.3.1: each non-leaf entry read becomes a cache entry for the next table. Only
// successful walks fill, so every cached entry has its A flag set, as the SDM requires.
void fill_caches(const walk_context& c, paging_structure_caches* caches, std::uint16_t pcid,
                 walk_path& path) {
    if (!caches) return;
    for (used_entry& e : path.used()) {
        if (&e == &path.leaf() || !e.lv->cache) continue;
        caches->fill(*e.lv->cache, pcid, c.a.linear, {table_address(c, e.value), e.rights});
    }
}

translation identity(std::uint64_t linear) {
    translation t;
    t.frame = align_down(linear, page_bytes(page_size::size_4k));
    t.writable = true;
    t.user = true;
    return t;
}

void page_fault(walk_result& r, std::uint32_t error_code) {
    r.fault = fault_kind::page_fault;
    r.error_code = error_code;
}

}  // namespace

walker::walker(paging_structure_caches* caches, stats::scope stats, unsigned maxphyaddr)
    : m_caches(caches),
      m_maxphyaddr(maxphyaddr),
      m_walks(stats.add_counter("walks", "page walks")),
      m_faults(stats.add_counter("faults", "walks that ended in #PF or #GP")),
      m_reads(stats.add_counter("reads", "paging-structure entries read")),
      m_writes(stats.add_counter("writes", "Accessed/Dirty updates written")),
      m_skipped(stats.add_counter("skipped_levels", "levels skipped thanks to paging-structure caches")),
      m_references(stats.add_histogram("references", "memory references (reads + writes) per walk")) {
    if (maxphyaddr < 32 || maxphyaddr > 52)
        throw std::invalid_argument("walker: MAXPHYADDR must be between 32 and 52");
}

walk_result walker::walk(const control_registers& cr, const access& a, pte_port& memory) {
    walk_result r;
    translate(cr, a, memory, r);
    ++m_walks;
    if (!r.ok()) ++m_faults;
    m_reads += r.reads;
    m_writes += r.writes;
    m_skipped += r.skipped;
    m_references.sample(r.reads + r.writes);
    return r;
}

// Faulting walks change nothing in memory nor in the caches: the SDM (4.8) lets a processor set
// Accessed flags on a walk that faults, or not; this model does not, so a fault is side-effect
// free and the handler sees the entries as software left them.
void walker::translate(const control_registers& cr, const access& a, pte_port& memory, walk_result& r) {
    paging_mode mode = mode_of(cr);
    if (mode == paging_mode::none) {
        r.result = identity(a.linear);
        return;
    }
    walk_context c{cr, a, format_of(mode), m_maxphyaddr, memory};
    if (c.format.ia32e && !canonical(c.format, a.linear)) {
        r.fault = fault_kind::general_protection;
        return;
    }
    // Only IA-32e walks use the caches (the SDM would allow them for PAE PDEs too).
    std::uint16_t pcid = current_pcid(cr);
    paging_structure_caches* caches = c.format.ia32e ? m_caches : nullptr;
    start_point from = start_of_walk(c, caches, pcid);
    r.skipped = static_cast<unsigned>(from.level);

    walk_path path;
    if (std::optional<std::uint32_t> error = descend(c, from, path, r.reads)) return page_fault(r, *error);
    translation_of(c, path, r.result);
    if (std::uint32_t error = access_fault(cr, a, r.result)) return page_fault(r, error);
    r.writes = set_accessed_dirty(c, path);
    r.result.dirty = path.leaf().value & entry_flag::d;
    fill_caches(c, caches, pcid, path);
}

}  // namespace memsim::mmu
