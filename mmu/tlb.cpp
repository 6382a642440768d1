// The TLB hierarchy: geometry checks, the probe plans of the two ports, fills and the SDM's
// invalidations (SDM Vol. 3A, 4.10.4.1), the probes a lookup's filter lets through, the sums
// that present the counts. The filter, rehits and the usual fill are inline in tlb.h.
#include "mmu/tlb.h"

#include <algorithm>
#include <bit>
#include <stdexcept>

namespace memsim::mmu {

namespace {

unsigned size_slot(page_size s) { return static_cast<unsigned>(s); }

const char* size_name(page_size s) {
    switch (s) {
        case page_size::size_4k:
            return "4k";
        case page_size::size_2m:
            return "2m";
        case page_size::size_4m:
            return "4m";
        case page_size::size_1g:
            return "1g";
    }
    return "?";
}

const tlb_array_config& checked(const tlb_array_config& c) {
    const auto fail = [&c](const std::string& why) {
        throw std::invalid_argument("tlb array '" + c.name + "': " + why);
    };
    if (c.ways == 0 || c.entries % c.ways != 0) fail("entries must be a non-zero multiple of ways");
    if (!std::has_single_bit(c.entries / c.ways))
        fail("the number of sets (entries / ways) must be a power of two");
    if (c.sizes.empty()) fail("holds no page size");
    for (auto s = c.sizes.begin(); s != c.sizes.end(); ++s) {
        if (std::find(s + 1, c.sizes.end(), *s) != c.sizes.end()) fail("lists a page size twice");
    }
    if (!c.instruction && !c.data) fail("serves neither instruction fetches nor data accesses");
    return c;
}

// Entries associated with `pcid` that are not global: what MOV to CR3 and INVPCID types 0 and 1
// invalidate ("except global translations", SDM Vol. 3A, 4.10.4.1).
auto private_to(std::uint16_t pcid) {
    return [pcid](const tlb_entry& e) { return e.pcid == pcid && !e.t.global; };
}
auto usable_by_pcid(std::uint16_t pcid) {
    return [pcid](const tlb_entry& e) { return usable_by(e, pcid); };
}
std::size_t entries_of(const tlb_config& config) {
    std::size_t n = 0;
    for (const tlb_level_config& level : config.levels) {
        for (const tlb_array_config& a : level.arrays) n += a.entries;
    }
    return n;
}

bool any_entry(const tlb_entry&) { return true; }
bool non_global(const tlb_entry& e) { return !e.t.global; }

template <class Pred>
void invalidate_page(std::vector<tlb_array>& arrays, std::uint64_t linear, tlb_flush_cause cause,
                     Pred doomed) {
    for (tlb_array& a : arrays) a.invalidate_page(linear, cause, doomed);
}

template <class Pred>
void invalidate_all(std::vector<tlb_array>& arrays, tlb_flush_cause cause, Pred doomed) {
    for (tlb_array& a : arrays) a.invalidate_all(cause, doomed);
}

}  // namespace

// ---- tlb_config ----

// Geometry: Intel 64 and IA-32 Architectures Optimization Reference Manual (248966-045),
// Table 2-15, "TLB Parameters of the Skylake Microarchitecture". Intel publishes no TLB
// latencies: the L1 TLBs are read in parallel with the L1 cache's set index, so they add about
// one cycle; 7 cycles for an STLB hit after an L1 miss is an assumption at the low end of public
// microbenchmarks (PC Watch measured about 12 on Haswell, 2013): tune it for the core under
// study. Replacement is modelled as LRU, since Intel does not document its TLB policy. Left
// out of Table 2-15: the ITLB's 8 large-page entries and the STLB's 1 GiB entries.
tlb_config tlb_config::intel_default() {
    using enum page_size;
    tlb_level_config l1{{
        {.name = "l1d_4k", .sizes = {size_4k}, .entries = 64, .ways = 4},
        {.name = "l1d_2m", .sizes = {size_2m, size_4m}, .entries = 32, .ways = 4},
        {.name = "l1d_1g", .sizes = {size_1g}, .entries = 4, .ways = 4},
        {.name = "l1i_4k", .sizes = {size_4k}, .entries = 128, .ways = 8, .instruction = true, .data = false},
    }};
    tlb_level_config l2{{
        {.name = "l2_stlb",
         .sizes = {size_4k, size_2m},
         .entries = 1536,
         .ways = 12,
         .hit_latency = 7,
         .instruction = true,
         .data = true},
    }};
    return tlb_config{.levels = {l1, l2}, .seed = 1};
}

// ---- tlb_filter ----

// Sixteen buckets an entry: when the arrays are full, about one lookup in twenty of a page none
// of them holds still probes. At most 2^20 (4 MiB), since a huge hierarchy only probes more.
tlb_filter::tlb_filter(std::size_t entries) {
    const std::size_t buckets = std::bit_ceil(std::clamp<std::size_t>(16 * entries, 2, std::size_t{1} << 20));
    m_shift = 64 - static_cast<unsigned>(std::countr_zero(buckets));
    m_counts.assign(buckets, 0);
}

// ---- tlb_array ----

tlb_array::tlb_array(const tlb_array_config& config, std::uint64_t seed, const stats::scope& stats,
                     tlb_filter& filter)
    : m_ways(checked(config).ways),
      m_ways_in_fours(m_ways & ~3u),
      m_set_mask(config.entries / config.ways - 1),
      m_keys(config.entries),
      m_entries(config.entries),
      m_set_valid(config.entries / config.ways),
      m_capacity(config.entries),
      m_replacement(config.policy, config.entries / config.ways, config.ways, seed),
      m_filter(&filter),
      m_refills(stats.add_hidden_counter()),
      m_free_fills(stats.add_hidden_counter()),
      m_invalidated{
          &stats.add_counter("flushes_cr3", "entries invalidated by MOV to CR3 (flush_pcid)"),
          &stats.add_counter("flushes_invlpg", "entries invalidated by INVLPG or a page invalidation"),
          &stats.add_counter("flushes_invpcid", "entries invalidated by INVPCID"),
          &stats.add_counter("flushes_all", "entries invalidated by a full flush (CR4.PGE, CR0.PG, ...)"),
          &stats.add_counter("drops", "entries dropped for a re-walk (clean on write, rights, fault)"),
      },
      m_config(config) {
    for (page_size s : config.sizes) {
        m_size_bit[static_cast<unsigned>(s)] = 1u << m_size_count;
        m_sizes[m_size_count++] = {page_shift(s), tlb_key(0, s)};
    }
}

void tlb_array::insert(std::uint64_t key, std::uint16_t pcid, const translation& t) {
    const unsigned set = set_of(key);
    // A set without the key, which find_key() sees four ways a step: nothing to replace.
    if (!t.global && find_key(key, pcid, index(set, 0)) == none) return insert_absent(key, pcid, t);
    const unsigned way = free_way(set, key, pcid, t.global);
    m_replacement.touch(set, way);
    write(set, way, key, pcid, t);
}

void tlb_array::insert_free(unsigned set, std::uint64_t key, std::uint16_t pcid, const translation& t) {
    const unsigned way = lowest_invalid_way(set);
    m_replacement.touch(set, way);
    write(set, way, key, pcid, t);
}

void tlb_array::write(unsigned set, unsigned way, std::uint64_t key, std::uint16_t pcid,
                      const translation& t) {
    const std::size_t slot = index(set, way);
    if (m_keys[slot] != 0) return overwrite(slot, key, pcid, t);
    ++m_free_fills;
    ++m_set_valid[set];
    ++m_valid;
    add_held(t.size);
    m_keys[slot] = key;
    m_filter->add(key);
    store(slot, pcid, t);
}

// Where insert() writes: over the entries for the same page that a lookup could confuse with the
// new one, which go, else unused_way().
unsigned tlb_array::free_way(unsigned set, std::uint64_t key, std::uint16_t pcid, bool global) {
    const std::size_t first = index(set, 0);
    unsigned same = m_ways;
    for (unsigned way = 0; way < m_ways; ++way) {
        if (m_keys[first + way] != key || !(global || usable_by(m_entries[first + way], pcid))) continue;
        invalidate(first + way);
        if (same == m_ways) same = way;
    }
    return same != m_ways ? same : unused_way(set);
}

// The lowest invalid way, else the policy's victim: the set's count says which without a search.
unsigned tlb_array::unused_way(unsigned set) {
    return is_full(set) ? m_replacement.victim(set) : lowest_invalid_way(set);
}

// ---- tlb_hierarchy ----

tlb_hierarchy::tlb_hierarchy(const tlb_config& config, stats::scope stats) : m_filter(entries_of(config)) {
    std::size_t count = 0;
    for (const tlb_level_config& level : config.levels) count += level.arrays.size();
    m_arrays.reserve(count);
    // Each array's random replacement gets its own stream, so one array's misses never shift
    // another's victims.
    splitmix64 seeds(config.seed);
    for (unsigned level = 0; level < config.levels.size(); ++level) {
        for (const tlb_array_config& a : config.levels[level].arrays) {
            m_arrays.emplace_back(a, seeds.next(), stats.under(a.name), m_filter);
            m_array_level.push_back(level);
        }
    }
    m_level_count = static_cast<unsigned>(config.levels.size());
    build_port(false, stats);
    build_port(true, stats);
    add_sums(stats);
}

void tlb_hierarchy::build_port(bool fetch, const stats::scope& stats) {
    port& p = port_for(fetch);
    p.lookups = &stats.add_hidden_counter();
    for (stats::counter*& c : p.fills_by_size) c = &stats.add_hidden_counter();
    for (std::uint32_t id = 0; id < m_arrays.size(); ++id) {
        tlb_array& a = m_arrays[id];
        if (!a.serves(fetch)) continue;
        const unsigned level = m_array_level[id];
        p.steps.push_back({&a, &stats.add_hidden_counter(), id, level, 0,
                           !p.steps.empty() && level != p.steps.front().level});
        for (page_size s : a.config().sizes) add_fill_target(p.fill_targets[size_slot(s)], id, fetch, s);
    }
    // m_arrays is in level order, so each level's steps follow one another. A level costs the
    // largest hit_latency of its arrays for this port.
    for (std::uint32_t first = 0; first != p.steps.size();) {
        std::uint32_t end = first;
        unsigned latency = 0;
        for (; end != p.steps.size() && p.steps[end].level == p.steps[first].level; ++end) {
            latency = std::max(latency, p.steps[end].array->config().hit_latency);
        }
        p.miss.latency += latency;
        for (std::uint32_t i = first; i != end; ++i) p.steps[i].latency = p.miss.latency;
        first = end;
    }
}

// A lookup reaches a level when no level above answered it; then each of the level's arrays for
// its port looks. So an array's lookups are, for each port it serves, the port's lookups less
// the hits of the arrays above it.
std::vector<stats::sum_term> tlb_hierarchy::lookups_of(std::uint32_t id) const {
    std::vector<stats::sum_term> terms;
    for (const port& p : m_ports) {
        const auto step =
            std::find_if(p.steps.begin(), p.steps.end(), [id](const probe_step& s) { return s.id == id; });
        if (step == p.steps.end()) continue;
        terms.push_back({p.lookups});
        for (auto above = p.steps.begin(); above->level != step->level; ++above) {
            terms.push_back({above->hits, true});
        }
    }
    return terms;
}

void tlb_hierarchy::add_sums(const stats::scope& stats) const {
    std::vector<stats::sum_term> lookups, misses;
    for (const port& p : m_ports) {
        lookups.push_back({p.lookups});
        misses.push_back({p.lookups});
        for (const probe_step& s : p.steps) misses.push_back({s.hits, true});
    }
    stats.add_sum("lookups", "translations looked up", lookups);
    stats.add_sum("misses", "lookups that missed at every level (walks)", misses);
    static constexpr std::array<const char*, 4> miss_names{"misses_4k", "misses_2m", "misses_4m",
                                                           "misses_1g"};
    static constexpr std::array<const char*, 4> miss_descriptions{
        "fills after a walk found a 4 KiB page (misses and re-walks)",
        "fills after a walk found a 2 MiB page (misses and re-walks)",
        "fills after a walk found a 4 MiB page (misses and re-walks)",
        "fills after a walk found a 1 GiB page (misses and re-walks)"};
    for (unsigned size = 0; size < 4; ++size) {
        stats.add_sum(miss_names[size], miss_descriptions[size],
                      {{m_ports[0].fills_by_size[size]}, {m_ports[1].fills_by_size[size]}});
    }
    for (std::uint32_t id = 0; id < m_arrays.size(); ++id) {
        const tlb_array& a = m_arrays[id];
        std::vector<stats::sum_term> hits, fills{{&a.refills()}};
        for (const port& p : m_ports) {
            for (const probe_step& s : p.steps) {
                if (s.id == id) hits.push_back({s.hits});
            }
            for (unsigned size = 0; size < 4; ++size) {
                for (const fill_target& f : p.fill_targets[size]) {
                    if (f.array == &a) fills.push_back({p.fills_by_size[size]});
                }
            }
        }
        std::vector<stats::sum_term> misses_of = lookups_of(id);
        for (stats::sum_term h : hits) misses_of.push_back({h.count, true});
        std::vector<stats::sum_term> evictions = fills;
        evictions.push_back({&a.free_fills(), true});
        const stats::scope scope = stats.under(a.config().name);
        scope.add_sum("lookups", "lookups that probed this array", lookups_of(id));
        scope.add_sum("hits", "lookups this array answered", hits);
        scope.add_sum("misses", "lookups this array did not answer", misses_of);
        scope.add_sum("evictions", "valid entries evicted to make room for a fill", evictions);
        scope.add_sum("fills", "entries written: walk fills and refills from a lower level", fills);
    }
}

void tlb_hierarchy::add_fill_target(std::vector<fill_target>& targets, std::uint32_t id, bool fetch,
                                    page_size s) {
    if (!targets.empty() && targets.back().level == m_array_level[id]) {
        throw std::invalid_argument("tlb arrays '" + targets.back().array->config().name + "' and '" +
                                    m_arrays[id].config().name + "' of level " +
                                    std::to_string(m_array_level[id] + 1) + " both hold " + size_name(s) +
                                    " pages for " + (fetch ? "instruction fetches" : "data accesses"));
    }
    targets.push_back({&m_arrays[id], m_array_level[id]});
}

bool tlb_hierarchy::probe(const port& p, std::uint64_t linear, std::uint16_t pcid) {
    const probe_step* const steps = p.steps.data();
    const probe_step* const end = steps + p.steps.size();
    for (const probe_step* s = steps; s != end; ++s) {
        unsigned set = 0;
        const std::size_t slot = s->array->probe(linear, pcid, set);
        if (slot == tlb_array::none) continue;
        ++*s->hits;
        const tlb_entry& e = s->array->entry(slot);
        m_hit = {&e.t, s->level, s->latency};  // no array, if the refill below writes one above
        if (s->refills_above && refill_above(p, s->level, linear, pcid, e.t)) return true;
        m_hit.array = s->id;
        m_hit.slot = static_cast<std::uint32_t>(slot);
        m_hit.set = set;
        m_hit.step = static_cast<std::uint32_t>(s - steps);
        return true;
    }
    return false;
}

// The levels above were probed for this page and PCID and missed, so only a global entry may
// replace one of theirs.
bool tlb_hierarchy::refill_above(const port& p, unsigned level, std::uint64_t linear, std::uint16_t pcid,
                                 const translation& t) {
    const std::uint64_t key = tlb_key(linear, t.size);
    bool wrote = false;
    for (const fill_target& f : p.fill_targets[size_slot(t.size)]) {
        if (f.level >= level) break;
        f.array->refill(key, pcid, t, !t.global);
        wrote = true;
    }
    m_contents += wrote;
    return wrote;
}

// SDM Vol. 3A, 4.10.4.1, INVLPG: "invalidates any TLB entries for the page ... associated with
// the current PCID" and "any global TLB entries for the specified page, regardless of PCID".
// Other PCIDs' entries "may" go too; the minimal choice keeps them.
void tlb_hierarchy::invlpg(std::uint64_t linear, std::uint16_t pcid) {
    ++m_contents;
    invalidate_page(m_arrays, linear, tlb_flush_cause::invlpg, usable_by_pcid(pcid));
}

// SDM Vol. 3A, 4.10.4.1, MOV to CR3: with CR4.PCIDE = 0 the entries of PCID 000H, with
// CR4.PCIDE = 1 and bit 63 clear those of CR3[11:0]; both "except those for global pages".
void tlb_hierarchy::flush_pcid(std::uint16_t pcid, bool keep_global) {
    ++m_contents;
    if (keep_global) return invalidate_all(m_arrays, tlb_flush_cause::cr3, private_to(pcid));
    invalidate_all(m_arrays, tlb_flush_cause::cr3, usable_by_pcid(pcid));
}

// SDM Vol. 3A, 4.10.4.1, MOV to CR0/CR4: changing CR0.PG, CR4.PGE or CR4.PCIDE (1 to 0)
// invalidates every entry, global ones included.
void tlb_hierarchy::flush_all(bool keep_global) {
    ++m_contents;
    if (keep_global) return invalidate_all(m_arrays, tlb_flush_cause::all, non_global);
    invalidate_all(m_arrays, tlb_flush_cause::all, any_entry);
}

void tlb_hierarchy::invalidate_page_any_pcid(std::uint64_t linear) {
    ++m_contents;
    invalidate_page(m_arrays, linear, tlb_flush_cause::invlpg, any_entry);
}

// SDM Vol. 2A, INVPCID, and Vol. 3A, 4.10.4.1. Where the SDM allows more to go ("in some
// cases ... may invalidate global translations or mappings for other linear addresses"), the
// minimal set goes.
void tlb_hierarchy::invpcid(unsigned type, std::uint16_t pcid, std::uint64_t linear) {
    ++m_contents;
    switch (type) {
        case 0:  // individual address: the PCID's mappings for the page, "except global translations"
            return invalidate_page(m_arrays, linear, tlb_flush_cause::invpcid, private_to(pcid));
        case 1:  // single context: all the PCID's mappings "except global translations"
            return invalidate_all(m_arrays, tlb_flush_cause::invpcid, private_to(pcid));
        case 2:  // all contexts "including global translations"
            return invalidate_all(m_arrays, tlb_flush_cause::invpcid, any_entry);
        case 3:  // all contexts "except global translations"
            return invalidate_all(m_arrays, tlb_flush_cause::invpcid, non_global);
    }
    throw std::invalid_argument("invpcid: type " + std::to_string(type) + " is not 0..3");
}

// SDM Vol. 3A, 4.8 and 4.10.4.1 ("Page faults"): the entry that was used for the page goes,
// whichever PCID filled it, so the walk that follows is the only source of the translation.
void tlb_hierarchy::drop(std::uint64_t linear, std::uint16_t pcid, bool fetch) {
    ++m_contents;
    const auto doomed = usable_by_pcid(pcid);
    for (tlb_array& a : m_arrays) {
        if (a.serves(fetch)) a.invalidate_page(linear, tlb_flush_cause::drop, doomed);
    }
}

const translation* tlb_hierarchy::peek(std::uint64_t linear, std::uint16_t pcid, bool fetch,
                                       unsigned level) const {
    const port& p = port_for(fetch);
    for (const probe_step& s : p.steps) {
        if (s.level != level) continue;
        if (const tlb_entry* e = s.array->peek(linear, pcid)) return &e->t;
    }
    return nullptr;
}

}  // namespace memsim::mmu
