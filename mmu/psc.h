// Paging-structure caches (SDM Vol. 3A, 4.10.3): small fully-associative LRU caches of upper-
// level entries for IA-32e paging, tagged by PCID and the linear-address bits that select the
// entry, so a walk can start below the levels they cover.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/bits.h"
#include "base/stats.h"
#include "mmu/paging.h"
#include "mmu/replacement.h"

namespace memsim::mmu {

// Entries per cache; 0 disables that cache. Defaults close to recent Intel cores.
struct psc_config {
    unsigned pml5e = 2, pml4e = 4, pdpte = 4, pde = 32;
};

// Which entries a cache holds. An entry selected by linear-address bits 56:k (k = 48, 39, 30,
// 21) points to the next table: a PDE-cache hit leaves only the PTE to read (SDM 4.10.3.1).
enum class psc_level : std::uint8_t { pml5e, pml4e, pdpte, pde };

// The rights the entries so far grant (SDM 4.6): R/W and U/S are ANDed along the path, XD ORed.
struct path_rights {
    bool writable = true;
    bool user = true;
    bool xd = false;
};

// What a cache entry holds: the physical address of the next paging structure (4 KiB aligned,
// below 2^52, as IA-32e tables are: SDM 4.5) and the rights of the entries that led to it,
// itself included.
struct psc_entry {
    std::uint64_t table = 0;
    path_rights rights;
};

// A cache entry as one word in the shape of a paging-structure entry, as the walker combines
// rights (SDM 4.6: one AND a level): P set, so that 0 is no entry; the next table's address in
// bits 51:12; R/W and U/S set while every entry of the path has them; bit 63 set while none has
// XD (the opposite of XD, which is what makes the AND work).
namespace psc_word {
inline constexpr std::uint64_t rights = entry_flag::rw | entry_flag::us | entry_flag::xd;
inline constexpr std::uint64_t table = ~(rights | entry_flag::p);

// The word of a table reached through entries whose rights, in that shape, are `path`.
constexpr std::uint64_t of(std::uint64_t table, std::uint64_t path) {
    return table | (path & rights) | entry_flag::p;
}
constexpr std::uint64_t of(const psc_entry& e) {
    return of(e.table, (e.rights.writable ? entry_flag::rw : 0) | (e.rights.user ? entry_flag::us : 0) |
                           (e.rights.xd ? 0 : entry_flag::xd));
}
constexpr psc_entry entry_of(std::uint64_t word) {
    return {word & table,
            {(word & entry_flag::rw) != 0, (word & entry_flag::us) != 0, (word & entry_flag::xd) == 0}};
}
}  // namespace psc_word

class paging_structure_caches {
public:
    paging_structure_caches(const psc_config& config, stats::scope stats);

    // The entry for the `level` entry that maps `linear` under `pcid`, if cached; refreshes LRU.
    std::optional<psc_entry> lookup(psc_level level, std::uint16_t pcid, std::uint64_t linear) {
        const std::uint64_t word = lookup_word(level, pcid, linear);
        return word ? std::optional(psc_word::entry_of(word)) : std::nullopt;
    }
    // Caches the entry, replacing one with the same tag or else the least recently used.
    void fill(psc_level level, std::uint16_t pcid, std::uint64_t linear, const psc_entry& entry) {
        fill_word(level, pcid, linear, psc_word::of(entry));
    }
    // lookup() and fill() with the entry as a psc_word, for the walker: inline, as a walk of a
    // TLB-hostile workload asks two or three caches and fills one or two. 0 for no entry.
    std::uint64_t lookup_word(psc_level level, std::uint16_t pcid, std::uint64_t linear) {
        return of(level).lookup(key_of(level, pcid, linear));
    }
    void fill_word(psc_level level, std::uint16_t pcid, std::uint64_t linear, std::uint64_t word) {
        of(level).fill(key_of(level, pcid, linear), word);
    }

    void invalidate_all();  // MOV to CR3 without PCIDE etc. (the CPU decides when)
    // INVLPG and INVPCID type 0 invalidate all entries of that PCID regardless of address
    // (SDM 4.10.4.1), as do INVPCID type 1 and MOV to CR3 with PCIDE and bit 63 clear.
    void invalidate_pcid(std::uint16_t pcid);

    unsigned capacity(psc_level level) const;
    unsigned valid_entries(psc_level level) const;

private:
    // One fully-associative cache with true LRU replacement. Which way holds an entry is never
    // observable, so a fill takes any free way; a fill into a full cache finds its victim in the
    // LRU order without a search, and every search goes through a hashed index of the keys.
    class cache {
    public:
        explicit cache(unsigned entries, const stats::scope& stats);

        std::uint64_t lookup(std::uint64_t key) {
            if (m_capacity == 0) return 0;
            const std::size_t bucket = bucket_of(key);
            const std::uint32_t way = find(key, bucket);
            if (way == none) {
                ++m_misses;
                m_absent = key;
                m_absent_bucket = bucket;
                return 0;
            }
            ++m_hits;
            m_order.touch(0, way);
            return m_ways[way].word;
        }
        // The way with the same key if there is one, else a new one.
        void fill(std::uint64_t key, std::uint64_t word) {
            std::uint32_t way = none;
            std::size_t bucket = m_absent_bucket;
            if (key == m_absent) {  // never so in a disabled cache, whose lookups miss uncounted
                m_absent = 0;
            } else {
                if (m_capacity == 0) return;
                bucket = bucket_of(key);
                way = find(key, bucket);
            }
            if (way == none)
                way = place(key, bucket);
            else
                m_order.touch(0, way);
            m_ways[way].word = word;
        }
        template <typename Pred>
        void invalidate_if(Pred pred);

        unsigned capacity() const { return m_capacity; }
        unsigned valid_entries() const { return m_valid; }

    private:
        static constexpr std::uint32_t none = ~std::uint32_t{0};
        static constexpr std::uint16_t end_of_chain = 0xffff;  // lru_order allows at most 65535 ways

        // A way's key and entry side by side: a hit reads both from one host cache line.
        struct way_entry {
            std::uint64_t key = 0;  // 0: an empty way
            std::uint64_t word = 0;
            std::size_t bucket = 0;  // bucket_of(key), kept so an eviction need not hash again
        };

        // Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4): the product's top bits mix every tag and
        // PCID bit, so the PDE cache's neighbouring 2 MiB regions spread over the buckets.
        std::size_t bucket_of(std::uint64_t key) const {
            return (key * 0x9e3779b97f4a7c15ull) >> m_hash_shift;
        }
        // The way holding `key`, or none. A hashed index rather than a scan: a miss in the
        // 32-way PDE cache, every access of a TLB-hostile workload, would compare every way.
        std::uint32_t find(std::uint64_t key, std::size_t bucket) const {
            for (std::uint16_t way = m_heads[bucket]; way != end_of_chain; way = m_next[way])
                if (m_ways[way].key == key) return way;
            return none;
        }
        // A free way, made valid and the most recently used. Out of line: a cache fills its free
        // ways once, then evicts on every fill.
        [[gnu::noinline]] std::uint32_t take_free_way() {
            const auto way = static_cast<std::uint32_t>(
                std::find_if(m_ways.begin(), m_ways.end(), [](const way_entry& w) { return w.key == 0; }) -
                m_ways.begin());
            ++m_valid;
            m_order.touch(0, way);
            return way;
        }
        // A way for `key`, which no way holds, in `bucket`'s chain and made the most recently
        // used: a free way, else the least recently used (an eviction).
        std::uint32_t place(std::uint64_t key, std::size_t bucket) {
            std::uint32_t way;
            if (m_valid < m_capacity) {
                way = take_free_way();
            } else {
                ++m_evictions;
                way = m_order.renew_oldest(0);
                unindex(way);
            }
            m_ways[way].key = key;
            m_ways[way].bucket = bucket;
            m_next[way] = m_heads[bucket];
            m_heads[bucket] = static_cast<std::uint16_t>(way);
            return way;
        }
        void unindex(std::uint32_t way) {
            std::uint16_t* link = &m_heads[m_ways[way].bucket];
            while (*link != way) link = &m_next[*link];
            *link = m_next[way];
        }

        unsigned m_capacity;
        unsigned m_valid = 0;
        unsigned m_hash_shift;
        std::vector<way_entry> m_ways;
        lru_order m_order;  // one set of every way
        // The valid ways by bucket_of(key), each bucket a chain from its head through m_next.
        std::vector<std::uint16_t> m_heads;  // per bucket: more buckets than ways keeps chains short
        std::vector<std::uint16_t> m_next;   // per way
        // A key the last missed lookup proved absent (0: none), and its bucket. The walker fills
        // exactly the entries whose lookups missed, so its fills skip the search and the hash;
        // only a fill of this key makes it present, and every other change keeps it absent.
        std::uint64_t m_absent = 0;
        std::size_t m_absent_bucket = 0;
        stats::counter& m_hits;
        stats::counter& m_misses;
        stats::counter& m_evictions;
        stats::counter& m_invalidations;
    };

    // A way's PCID, tag and a valid bit in one word, so a search compares one word per way it
    // tries; 0 for an empty way. The tag is the linear-address bits that select an entry of
    // `level`, 56:48, 56:39, 56:30 or 56:21, left in place (one AND with a constant where the
    // level is one, as in the walker), clear of the PCID in bits 16:1. Bits above 56 only repeat
    // bit 56 (or 47) in a canonical address, so 57 bits tag entries of both 4-level and 5-level
    // paging.
    static std::uint64_t key_of(psc_level level, std::uint16_t pcid, std::uint64_t linear) {
        constexpr unsigned linear_bits = 57;
        const std::uint64_t tag =
            linear & address_mask(linear_bits) & ~address_mask(48 - 9 * static_cast<unsigned>(level));
        return tag | (std::uint64_t{pcid} << 1 | 1);
    }
    static std::uint16_t pcid_of(std::uint64_t key) { return static_cast<std::uint16_t>(key >> 1); }

    cache& of(psc_level level) { return m_caches[static_cast<unsigned>(level)]; }
    const cache& of(psc_level level) const { return m_caches[static_cast<unsigned>(level)]; }

    std::array<cache, 4> m_caches;
};

}  // namespace memsim::mmu
