#include "mmu/psc.h"

#include <algorithm>
#include <bit>

namespace memsim::mmu {
namespace {

// log2 of the bucket count: 32 times the power of two above the number of ways, up to 2^16
// buckets, so that a lookup that misses, as in the PDE cache on every access of a TLB-hostile
// workload, almost always finds its bucket empty and an evicted way heads its chain: a branch
// the host predicts, where fuller buckets cost a mispredicted one every few accesses.
unsigned bucket_bits(unsigned ways) { return std::min(static_cast<unsigned>(std::bit_width(ways)) + 5, 16u); }

}  // namespace

paging_structure_caches::cache::cache(unsigned entries, const stats::scope& stats)
    : m_capacity(entries),
      m_hash_shift(64 - bucket_bits(entries)),
      m_ways(entries),
      m_order(1, entries),
      m_heads(std::size_t{1} << bucket_bits(entries), end_of_chain),
      m_next(entries, end_of_chain),
      m_hits(stats.add_counter("hits", "lookups that found the entry")),
      m_misses(stats.add_counter("misses", "lookups that did not")),
      m_evictions(stats.add_counter("evictions", "valid entries replaced by a fill")),
      m_invalidations(stats.add_counter("invalidations", "valid entries dropped by invalidation")) {
    // Every lookup hits or misses: a walk bumps one count a lookup, and the sum is taken when read.
    stats.add_sum("lookups", "lookups (a cache is asked only when deeper ones missed)",
                  {{&m_hits}, {&m_misses}});
}

template <typename Pred>
void paging_structure_caches::cache::invalidate_if(Pred pred) {
    for (std::uint32_t way = 0; way != m_capacity; ++way) {
        std::uint64_t& key = m_ways[way].key;
        if (!key || !pred(pcid_of(key))) continue;
        unindex(way);
        key = 0;
        --m_valid;
        ++m_invalidations;
    }
}

paging_structure_caches::paging_structure_caches(const psc_config& config, stats::scope stats)
    : m_caches{cache(config.pml5e, stats.under("pml5e")), cache(config.pml4e, stats.under("pml4e")),
               cache(config.pdpte, stats.under("pdpte")), cache(config.pde, stats.under("pde"))} {}

void paging_structure_caches::invalidate_all() {
    for (cache& c : m_caches) c.invalidate_if([](std::uint16_t) { return true; });
}

void paging_structure_caches::invalidate_pcid(std::uint16_t pcid) {
    for (cache& c : m_caches) c.invalidate_if([pcid](std::uint16_t p) { return p == pcid; });
}

unsigned paging_structure_caches::capacity(psc_level level) const { return of(level).capacity(); }

unsigned paging_structure_caches::valid_entries(psc_level level) const { return of(level).valid_entries(); }

}  // namespace memsim::mmu
