// The walker against a reference walker written straight from the SDM's tables (Vol. 3A, 4.3 to
// 4.8), slow and level by level: random page tables in every paging mode, random entry bits
// (reserved ones included), MAXPHYADDR, CR4.PSE/PGE/SMEP/SMAP, CR0.WP, EFER.NXE and EFLAGS.AC,
// random accesses. The permission rules have their own table (permissions_test.cpp); here the
// reference uses access_fault() for them and checks everything a walk does around it.
#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "fake_memory.h"
#include "mmu/permissions.h"
#include "mmu/walker.h"

using namespace memsim;
using namespace memsim::mmu;
using memsim::mmu::testing::fake_memory;
using memsim::mmu::testing::paging_registers;

namespace {

namespace ef = entry_flag;

std::uint64_t ones(unsigned high, unsigned low) {  // bits high:low, empty when high < low
    if (high < low) return 0;
    return (high == 63 ? ~std::uint64_t{0} : (std::uint64_t{1} << (high + 1)) - 1) &
           ~((std::uint64_t{1} << low) - 1);
}

// One level of a mode as the SDM's tables give it.
struct ref_level {
    unsigned shift, index_bits;
    bool may_map;      // PS = 1 maps a page here (32-bit PDEs only with CR4.PSE)
    bool has_rights;   // R/W, U/S, A: all but PAE PDPTEs (Table 4-8)
    bool ps_reserved;  // PML5Es and PML4Es (Tables 4-14, 4-15)
    page_size large;   // what PS = 1 maps
};

struct ref_mode {
    std::vector<ref_level> levels;
    unsigned entry_bytes;
};

ref_mode mode_table(paging_mode mode, bool pse) {
    switch (mode) {
        case paging_mode::bits32:  // Tables 4-4 to 4-6
            return {{{22, 10, pse, true, false, page_size::size_4m},
                     {12, 10, false, true, false, page_size::size_4k}},
                    4};
        case paging_mode::pae:  // Tables 4-8 to 4-11
            return {{{30, 2, false, false, false, page_size::size_4k},
                     {21, 9, true, true, false, page_size::size_2m},
                     {12, 9, false, true, false, page_size::size_4k}},
                    8};
        case paging_mode::ia32e_4:
        case paging_mode::ia32e_5: {  // Tables 4-14 to 4-20
            ref_mode m{{{39, 9, false, true, true, page_size::size_4k},
                        {30, 9, true, true, false, page_size::size_1g},
                        {21, 9, true, true, false, page_size::size_2m},
                        {12, 9, false, true, false, page_size::size_4k}},
                       8};
            if (mode == paging_mode::ia32e_5)
                m.levels.insert(m.levels.begin(), {48, 9, false, true, true, page_size::size_4k});
            return m;
        }
        case paging_mode::none:
            break;
    }
    return {};
}

// Reserved bits of a present entry (SDM 4.3 to 4.5).
std::uint64_t reserved_bits(paging_mode mode, const ref_level& lv, std::size_t index, bool maps_page,
                            bool nxe, unsigned m) {
    if (mode == paging_mode::bits32) {
        // A 4-MByte PDE: bit 21, and the PSE-36 bits (M-20):13 beyond physical bit 39.
        return maps_page && lv.large == page_size::size_4m ? ones(21, 13 + std::min(m, 40u) - 32) : 0;
    }
    std::uint64_t r = mode == paging_mode::pae ? ones(62, m) : ones(51, m);
    if (!nxe) r |= ef::xd;
    if (mode == paging_mode::pae && index == 0) r |= ones(2, 1) | ones(8, 5) | ef::xd;
    if (lv.ps_reserved) r |= ef::ps;
    if (maps_page && lv.large != page_size::size_4k) r |= ones(page_shift(lv.large) - 1, 13);
    return r;
}

// SDM 4.3: CR3[31:12]; 4.4.1: the 32-byte-aligned PDPT at CR3[31:5]; 4.5.2: CR3[M-1:12].
std::uint64_t root_table(paging_mode mode, std::uint64_t cr3, unsigned m) {
    if (mode == paging_mode::bits32) return cr3 & ones(31, 12);
    if (mode == paging_mode::pae) return cr3 & ones(31, 5);
    return cr3 & ones(m - 1, 12);
}

std::uint64_t entry_address(std::uint64_t table, const ref_level& lv, std::uint64_t linear,
                            unsigned entry_bytes) {
    return table + ((linear >> lv.shift) & ((std::uint64_t{1} << lv.index_bits) - 1)) * entry_bytes;
}

std::uint64_t next_table(std::uint64_t entry, unsigned entry_bytes, unsigned m) {
    return entry & (entry_bytes == 4 ? ones(31, 12) : ones(m - 1, 12));
}

struct ref_outcome {
    walk_result result;
    std::vector<std::uint64_t> entries;  // the addresses the walk read, root first
};

// A walk as SDM 4.3 to 4.8 describe it, one level after another.
ref_outcome reference_walk(const control_registers& cr, const access& a, fake_memory& memory, unsigned m) {
    ref_outcome out;
    walk_result& r = out.result;
    const paging_mode mode = mode_of(cr);
    const bool ia32e = mode == paging_mode::ia32e_4 || mode == paging_mode::ia32e_5;
    if (ia32e) {  // canonical: bits 63:47 (63:56) all equal
        const unsigned top = mode == paging_mode::ia32e_5 ? 56 : 47;
        const std::uint64_t high = a.linear & ones(63, top);
        if (high != 0 && high != ones(63, top)) {
            r.fault = fault_kind::general_protection;
            return out;
        }
    }
    const bool nxe = cr.efer & efer::nxe;
    const ref_mode layout = mode_table(mode, cr.cr4 & cr4::pse);
    std::uint64_t table = root_table(mode, cr.cr3, m);
    bool writable = true, user = true, xd = false;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> used;  // address, value
    for (std::size_t i = 0; i < layout.levels.size(); ++i) {
        const ref_level& lv = layout.levels[i];
        const std::uint64_t address = entry_address(table, lv, a.linear, layout.entry_bytes);
        const std::uint64_t entry = memory.peek(address, layout.entry_bytes);
        out.entries.push_back(address);
        r.reads = static_cast<unsigned>(i + 1);
        if (!(entry & ef::p)) {
            r.fault = fault_kind::page_fault;
            r.error_code = access_error_bits(cr, a);
            return out;
        }
        const bool last = i + 1 == layout.levels.size();
        const bool maps_page = last || (lv.may_map && (entry & ef::ps));
        if (entry & reserved_bits(mode, lv, i, maps_page, nxe, m)) {
            r.fault = fault_kind::page_fault;
            r.error_code = pf::p | pf::rsvd | access_error_bits(cr, a);
            return out;
        }
        if (lv.has_rights) {
            writable = writable && (entry & ef::rw);
            user = user && (entry & ef::us);
            xd = xd || (layout.entry_bytes == 8 && (entry & ef::xd));
        }
        used.emplace_back(address, entry);
        if (!maps_page) {
            table = next_table(entry, layout.entry_bytes, m);
            continue;
        }
        translation& t = r.result;
        t.size = last ? page_size::size_4k : lv.large;
        if (t.size == page_size::size_4m)  // PSE-36: physical bits (M-1):32 in PDE bits (M-20):13
            t.frame = (entry & ones(31, 22)) | ((entry >> 13) & ones(std::min(m, 40u) - 33, 0)) << 32;
        else
            t.frame = entry & ones(layout.entry_bytes == 4 ? 31 : m - 1, page_shift(t.size));
        t.writable = writable;
        t.user = user;
        t.executable = !xd;
        t.global = (entry & ef::g) && (cr.cr4 & cr4::pge);
        if (const std::uint32_t denied = access_fault(cr, a, t)) {
            r.fault = fault_kind::page_fault;
            r.error_code = denied;
            return out;
        }
        // SDM 4.8: A in every entry used that has one, D in the leaf on a write.
        for (std::size_t k = 0; k < used.size(); ++k) {
            const std::size_t level = i + 1 - used.size() + k;
            std::uint64_t flags = layout.levels[level].has_rights ? ef::a : 0;
            if (level == i && a.kind == access_kind::write) flags |= ef::d;
            if ((used[k].second | flags) == used[k].second) continue;
            memory.poke(used[k].first, used[k].second | flags, layout.entry_bytes);
            used[k].second |= flags;
            ++r.writes;
        }
        t.dirty = used.back().second & ef::d;
        return out;
    }
    return out;
}

// Random page tables, built lazily: the first walk down a path writes its entries, with random
// flags, now and then a reserved bit, a large page where one may be, or no P at all.
class table_maker {
public:
    table_maker(paging_mode mode, unsigned m, std::uint64_t seed) : m_mode(mode), m_m(m), m_random(seed) {}

    // Writes the entries missing on the path of `linear` into every memory.
    void build(const control_registers& cr, std::uint64_t linear, std::vector<fake_memory*> memories) {
        const ref_mode layout = mode_table(m_mode, cr.cr4 & cr4::pse);
        fake_memory& first = *memories.front();
        std::uint64_t table = root_table(m_mode, cr.cr3, m_m);
        for (std::size_t i = 0; i < layout.levels.size(); ++i) {
            const ref_level& lv = layout.levels[i];
            const std::uint64_t address = entry_address(table, lv, linear, layout.entry_bytes);
            std::uint64_t entry = first.peek(address, layout.entry_bytes);
            if (entry == 0) {
                entry = random_entry(lv, i, i + 1 == layout.levels.size(), first);
                if (layout.entry_bytes == 4) entry &= 0xffff'ffff;
                for (fake_memory* memory : memories) memory->poke(address, entry, layout.entry_bytes);
            }
            if (!(entry & ef::p)) return;
            if (i + 1 == layout.levels.size() || ((lv.may_map || lv.ps_reserved) && (entry & ef::ps))) return;
            table = next_table(entry, layout.entry_bytes, m_m);
        }
    }

private:
    bool chance(unsigned percent) { return m_random() % 100 < percent; }

    std::uint64_t random_entry(const ref_level& lv, std::size_t index, bool last, fake_memory& memory) {
        std::uint64_t flags = 0;
        const bool pdpte = m_mode == paging_mode::pae && lv.shift == 30;  // only P (Table 4-8)
        if (chance(92)) flags |= ef::p;
        if (chance(75)) flags |= ef::rw;
        if (chance(75)) flags |= ef::us;
        if (chance(30)) flags |= ef::a;
        if (chance(20)) flags |= ef::d;
        if (chance(30)) flags |= ef::g;
        if (m_mode != paging_mode::bits32 && chance(15)) flags |= ef::xd;
        if (pdpte) flags &= ef::p;
        const bool large = !last && ((lv.may_map && chance(25)) || (lv.ps_reserved && chance(3)));
        std::uint64_t value = 0;
        if (last || large) {
            const unsigned shift = large ? page_shift(lv.large) : 12;
            // A frame within MAXPHYADDR (4-MByte pages: PSE-36 bits in 20:13).
            if (m_mode == paging_mode::bits32 && large)
                value = (m_random() & ones(31, 22)) | (m_random() & ones(std::min(m_m, 40u) - 20, 13));
            else
                value = m_random() & ones((m_mode == paging_mode::bits32 ? 32 : m_m) - 1, shift);
            if (large) value |= ef::ps;
        } else {
            value = memory.new_table();
        }
        value |= flags;
        // Now and then one random bit more, reserved or not.
        if (chance(10)) value |= std::uint64_t{1} << (m_random() % (m_mode == paging_mode::bits32 ? 32 : 64));
        // Or a bit the SDM reserves here, each of the low ones as likely as all those from
        // MAXPHYADDR up together.
        if (chance(20)) value |= reserved_bit(reserved_bits(m_mode, lv, index, last || large, true, m_m));
        return value;
    }

    std::uint64_t reserved_bit(std::uint64_t reserved) {
        const std::uint64_t low = reserved & ones(m_m - 1, 0);
        std::vector<std::uint64_t> choices;
        for (unsigned b = 0; b < 64; ++b)
            if (low & (std::uint64_t{1} << b)) choices.push_back(std::uint64_t{1} << b);
        if (reserved & ~low)
            choices.push_back(std::uint64_t{1} << (m_m + m_random() % (64 - m_m)) & reserved);
        return choices.empty() ? 0 : choices[m_random() % choices.size()];
    }

    paging_mode m_mode;
    unsigned m_m;
    std::mt19937_64 m_random;
};

bool same(const walk_result& a, const walk_result& b, bool count_levels) {
    if (a.fault != b.fault) return false;
    if (count_levels && a.reads != b.reads) return false;
    if (a.fault == fault_kind::general_protection) return true;
    if (a.fault == fault_kind::page_fault) return a.error_code == b.error_code;
    if (count_levels && a.writes != b.writes) return false;
    const translation& x = a.result;
    const translation& y = b.result;
    return x.frame == y.frame && x.size == y.size && x.writable == y.writable && x.user == y.user &&
           x.executable == y.executable && x.global == y.global && x.dirty == y.dirty;
}

// One machine state and its tables, then `accesses` random accesses through the walker (once
// without paging-structure caches, once with: it may skip levels, never differ otherwise) and
// the reference, each on its own copy of memory.
unsigned disagreements_in(paging_mode mode, std::uint64_t seed, unsigned accesses) {
    std::mt19937_64 pick(seed);
    const unsigned m = std::array<unsigned, 4>{36, 40, 46, 52}[pick() % 4];
    table_maker maker(mode, m, seed * 7 + 1);
    fake_memory plain, cached, ref;
    // A PAE PDPT is 32-byte aligned anywhere in its page (SDM 4.4.1).
    const std::uint64_t root = plain.new_table() + (mode == paging_mode::pae ? 32 * (pick() % 128) : 0);
    cached.new_table();
    ref.new_table();
    std::uint64_t cr4_bits = 0, efer_bits = 0;
    for (std::uint64_t bit : {cr4::pse, cr4::pge, cr4::smep, cr4::smap})
        if (pick() % 2) cr4_bits |= bit;
    if (pick() % 2) efer_bits |= efer::nxe;
    control_registers cr = paging_registers(mode, root, cr4_bits, efer_bits);
    if (pick() % 2) cr.cr0 |= cr0::wp;
    cr.eflags_ac = pick() % 2;

    stats::registry registry;
    paging_structure_caches caches({}, registry.under("psc"));
    walker without(nullptr, registry.under("plain"), m);
    walker with(&caches, registry.under("cached"), m);
    // Pages in a dozen 2 MiB regions, so that paths share their upper entries.
    const bool wide = mode == paging_mode::ia32e_4 || mode == paging_mode::ia32e_5;
    std::vector<std::uint64_t> bases;
    for (unsigned i = 0; i < 12; ++i)
        bases.push_back(wide ? pick() & ones(mode == paging_mode::ia32e_5 ? 56 : 47, 21)
                             : pick() & ones(31, 21));
    unsigned disagreements = 0;
    for (unsigned n = 0; n < accesses; ++n) {
        std::uint64_t linear = bases[pick() % bases.size()] + (pick() % 512) * 0x1000 + pick() % 0x1000;
        if (wide) {  // canonical, but now and then not
            const unsigned top = mode == paging_mode::ia32e_5 ? 56 : 47;
            if (linear & (std::uint64_t{1} << top)) linear |= ones(63, top);
            if (pick() % 50 == 0) linear ^= std::uint64_t{1} << (pick() % 2 ? 60 : top);
        } else {
            linear &= 0xffff'ffff;
        }
        const access a{linear, static_cast<access_kind>(pick() % 3), pick() % 2 == 0, false};
        maker.build(cr, linear, {&plain, &cached, &ref});
        const ref_outcome expected = reference_walk(cr, a, ref, m);
        const walk_result got = without.walk(cr, a, plain);
        const walk_result got_cached = with.walk(cr, a, cached);
        bool agree = same(got, expected.result, true) && same(got_cached, expected.result, false);
        for (std::uint64_t address : expected.entries)
            agree = agree && plain.peek(address) == ref.peek(address) &&
                    cached.peek(address) == ref.peek(address);
        if (!agree && disagreements++ == 0) {
            INFO("mode ", static_cast<int>(mode), " MAXPHYADDR ", m, " cr4 ", cr.cr4, " efer ", cr.efer,
                 " linear ", linear, " kind ", static_cast<int>(a.kind), " user ", a.user);
            CHECK(got.fault == expected.result.fault);
            CHECK(got.error_code == expected.result.error_code);
            CHECK(got.reads == expected.result.reads);
            CHECK(got.writes == expected.result.writes);
            CHECK(got.result.frame == expected.result.result.frame);
            CHECK(got_cached.fault == expected.result.fault);
            CHECK(got_cached.result.frame == expected.result.result.frame);
        }
    }
    return disagreements;
}

}  // namespace

TEST_CASE(
    "random tables and accesses: every walk reads, faults, translates and sets A/D as the SDM's tables say") {
    for (paging_mode mode :
         {paging_mode::bits32, paging_mode::pae, paging_mode::ia32e_4, paging_mode::ia32e_5}) {
        unsigned disagreements = 0;
        for (std::uint64_t seed = 1; seed <= 80; ++seed) disagreements += disagreements_in(mode, seed, 1000);
        INFO("mode ", static_cast<int>(mode));
        CHECK(disagreements == 0);
    }
}
