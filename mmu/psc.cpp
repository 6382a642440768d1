#include "mmu/psc.h"

#include "base/bits.h"

namespace memsim::mmu {
namespace {

// Linear-address bits above 56 only repeat bit 56 (or 47) in a canonical address, so 57 bits
// tag entries of both 4-level and 5-level paging.
constexpr unsigned linear_bits = 57;

}  // namespace

paging_structure_caches::cache::cache(unsigned entries, unsigned tag_shift, const stats::scope& stats)
    : m_keys(entries),
      m_last_use(entries),
      m_entries(entries),
      m_tag_shift(tag_shift),
      m_lookups(stats.add_counter("lookups", "lookups (a cache is asked only when deeper ones missed)")),
      m_hits(stats.add_counter("hits", "lookups that found the entry")),
      m_misses(stats.add_counter("misses", "lookups that did not")),
      m_evictions(stats.add_counter("evictions", "valid entries replaced by a fill")),
      m_invalidations(stats.add_counter("invalidations", "valid entries dropped by invalidation")) {}

std::uint64_t paging_structure_caches::cache::tag_of(std::uint64_t linear) const {
    return (linear & address_mask(linear_bits)) >> m_tag_shift;
}

std::size_t paging_structure_caches::cache::find(std::uint64_t key) const {
    for (std::size_t way = 0; way < m_keys.size(); ++way)
        if (m_keys[way] == key) return way;
    return none;
}

// Stamps are unique, so the first minimum is the only one.
std::size_t paging_structure_caches::cache::least_recently_used() const {
    std::size_t oldest = 0;
    for (std::size_t way = 1; way < m_last_use.size(); ++way)
        if (m_last_use[way] < m_last_use[oldest]) oldest = way;
    return oldest;
}

std::optional<psc_entry> paging_structure_caches::cache::lookup(std::uint16_t pcid, std::uint64_t linear) {
    if (m_keys.empty()) return std::nullopt;
    ++m_lookups;
    std::size_t way = find(key_of(pcid, tag_of(linear)));
    if (way == none) {
        ++m_misses;
        return std::nullopt;
    }
    ++m_hits;
    m_last_use[way] = ++m_clock;
    return m_entries[way];
}

// The way with the same tag if there is one, else the first free way, else the least recently
// used (an eviction).
void paging_structure_caches::cache::fill(std::uint16_t pcid, std::uint64_t linear, const psc_entry& entry) {
    if (m_keys.empty()) return;
    std::uint64_t key = key_of(pcid, tag_of(linear));
    std::size_t way = find(key);
    if (way == none) way = find(0);
    if (way == none) {
        ++m_evictions;
        way = least_recently_used();
    }
    m_keys[way] = key;
    m_last_use[way] = ++m_clock;
    m_entries[way] = entry;
}

template <typename Pred>
void paging_structure_caches::cache::invalidate_if(Pred pred) {
    for (std::uint64_t& key : m_keys) {
        if (!key || !pred(pcid_of(key))) continue;
        key = 0;
        ++m_invalidations;
    }
}

unsigned paging_structure_caches::cache::valid_entries() const {
    unsigned n = 0;
    for (std::uint64_t key : m_keys) n += key != 0;
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
