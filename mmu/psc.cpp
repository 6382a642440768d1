#include "mmu/psc.h"

#include "base/bits.h"

namespace memsim::mmu {
namespace {

// Linear-address bits above 56 only repeat bit 56 (or 47) in a canonical address, so 57 bits
// tag entries of both 4-level and 5-level paging.
constexpr unsigned linear_bits = 57;

}  // namespace

paging_structure_caches::cache::cache(unsigned entries, unsigned tag_shift, const stats::scope& stats)
    : m_ways(entries),
      m_tag_shift(tag_shift),
      m_lookups(stats.add_counter("lookups", "lookups (a cache is asked only when deeper ones missed)")),
      m_hits(stats.add_counter("hits", "lookups that found the entry")),
      m_misses(stats.add_counter("misses", "lookups that did not")),
      m_evictions(stats.add_counter("evictions", "valid entries replaced by a fill")),
      m_invalidations(stats.add_counter("invalidations", "valid entries dropped by invalidation")) {}

std::uint64_t paging_structure_caches::cache::tag_of(std::uint64_t linear) const {
    return (linear & address_mask(linear_bits)) >> m_tag_shift;
}

paging_structure_caches::cache::way* paging_structure_caches::cache::find(std::uint16_t pcid,
                                                                          std::uint64_t tag) {
    for (way& w : m_ways)
        if (w.valid && w.pcid == pcid && w.tag == tag) return &w;
    return nullptr;
}

std::optional<psc_entry> paging_structure_caches::cache::lookup(std::uint16_t pcid, std::uint64_t linear) {
    if (m_ways.empty()) return std::nullopt;
    ++m_lookups;
    way* w = find(pcid, tag_of(linear));
    if (!w) {
        ++m_misses;
        return std::nullopt;
    }
    ++m_hits;
    w->last_use = ++m_clock;
    return w->entry;
}

// One pass over the ways: the entry with the same tag if there is one, else the first free
// way, else the least recently used (an eviction).
void paging_structure_caches::cache::fill(std::uint16_t pcid, std::uint64_t linear, const psc_entry& entry) {
    if (m_ways.empty()) return;
    std::uint64_t tag = tag_of(linear);
    way* free = nullptr;
    way* oldest = &m_ways.front();
    way* target = nullptr;
    for (way& w : m_ways) {
        if (!w.valid) {
            if (!free) free = &w;
            continue;
        }
        if (w.pcid == pcid && w.tag == tag) {
            target = &w;
            break;
        }
        if (w.last_use < oldest->last_use || !oldest->valid) oldest = &w;
    }
    if (!target) target = free;
    if (!target) {
        ++m_evictions;
        target = oldest;
    }
    *target = way{true, pcid, tag, ++m_clock, entry};
}

template <typename Pred>
void paging_structure_caches::cache::invalidate_if(Pred pred) {
    for (way& w : m_ways) {
        if (!w.valid || !pred(w.pcid)) continue;
        w.valid = false;
        ++m_invalidations;
    }
}

unsigned paging_structure_caches::cache::valid_entries() const {
    unsigned n = 0;
    for (const way& w : m_ways) n += w.valid;
    return n;
}

paging_structure_caches::paging_structure_caches(const psc_config& config, stats::scope stats)
    : m_caches{cache(config.pml5e, 48, stats.under("pml5e")), cache(config.pml4e, 39, stats.under("pml4e")),
               cache(config.pdpte, 30, stats.under("pdpte")), cache(config.pde, 21, stats.under("pde"))} {}

std::optional<psc_entry> paging_structure_caches::lookup(psc_level level, std::uint16_t pcid,
                                                         std::uint64_t linear) {
    return of(level).lookup(pcid, linear);
}

void paging_structure_caches::fill(psc_level level, std::uint16_t pcid, std::uint64_t linear,
                                   const psc_entry& entry) {
    of(level).fill(pcid, linear, entry);
}

void paging_structure_caches::invalidate_all() {
    for (cache& c : m_caches) c.invalidate_if([](std::uint16_t) { return true; });
}

void paging_structure_caches::invalidate_pcid(std::uint16_t pcid) {
    for (cache& c : m_caches) c.invalidate_if([pcid](std::uint16_t p) { return p == pcid; });
}

unsigned paging_structure_caches::capacity(psc_level level) const { return of(level).capacity(); }

unsigned paging_structure_caches::valid_entries(psc_level level) const { return of(level).valid_entries(); }

}  // namespace memsim::mmu
