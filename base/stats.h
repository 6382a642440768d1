// The stats registry: hierarchical named counters and histograms that every model registers
// into at construction and bumps on its own paths; written as stats.json and a gem5-like
// stats.txt. One registry per machine (no global state); entries live as long as it does.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <deque>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memsim::stats {

// A plain count; bumping it is one add, so models keep a reference and use it on hot paths.
struct counter {
    std::uint64_t value = 0;

    counter& operator++() {
        ++value;
        return *this;
    }
    counter& operator+=(std::uint64_t n) {
        value += n;
        return *this;
    }
};

// A distribution in power-of-two buckets: bucket 0 holds 0, bucket k holds [2^(k-1), 2^k).
class histogram {
public:
    static constexpr unsigned bucket_count = 65;
    // Values below this are counted one by one, which is all such a sample costs: the minimum,
    // the maximum and the buckets take them in when read. The walker's samples (references and
    // cycles per walk, twice on every TLB miss) are such values.
    static constexpr std::uint64_t exact_values = 1024;

    // Inline: models sample on their hot paths (the walker once per walk).
    void sample(std::uint64_t v) {
        ++m_samples;
        m_sum += v;
        if (v < exact_values) {
            ++m_exact[v];
            return;
        }
        m_min = std::min(m_min, v);
        m_max = std::max(m_max, v);
        ++m_buckets[std::bit_width(v)];
    }

    std::uint64_t samples() const { return m_samples.value; }
    std::uint64_t sum() const { return m_sum.value; }
    // The two as counters, for sums (registry::add_sum) of what a model need not count twice.
    const counter& samples_counter() const { return m_samples; }
    const counter& sum_counter() const { return m_sum; }
    std::uint64_t min() const;
    std::uint64_t max() const;
    std::uint64_t bucket(unsigned k) const;
    // Smallest and largest value bucket k holds.
    static std::uint64_t bucket_low(unsigned k);
    static std::uint64_t bucket_high(unsigned k);

private:
    counter m_samples;
    counter m_sum;
    std::array<std::uint64_t, exact_values> m_exact{};  // samples by value, of values below exact_values
    // Of the samples at or above exact_values:
    std::uint64_t m_min = ~std::uint64_t{0};
    std::uint64_t m_max = 0;
    std::array<std::uint64_t, bucket_count> m_buckets{};
};

// One term of a sum counter (registry::add_sum): a counter's value, added or subtracted.
struct sum_term {
    const counter* count;
    bool subtract = false;
};

class scope;

class registry {
public:
    // Names are dot-separated segments of [a-z0-9_]; a name may not be registered twice nor
    // be both an entry and a group of entries. Breaking either is a programming error
    // (std::logic_error), since names come from code and validated config.
    counter& add_counter(std::string name, std::string description);
    histogram& add_histogram(std::string name, std::string description);
    scope under(std::string prefix);
    // A count no reader sees by its own name: a model bumps it on a hot path, and sums present it.
    counter& add_hidden_counter();
    // A counter whose value is the sum of `terms`, taken when it is read: a model's hot path bumps
    // the few counts it knows at once (a TLB: lookups by port, hits by array), and the counts its
    // readers expect (every array's lookups and misses) are derived from them.
    void add_sum(std::string name, std::string description, std::vector<sum_term> terms);

    // The value of the counter or sum of that name now; none where no counter or sum has it. A
    // value, not the counter itself: a sum is only ever taken when it is read.
    std::optional<std::uint64_t> value(std::string_view name) const;
    const histogram* find_histogram(std::string_view name) const;

    // Entries nest by name: {"bus": {"transactions": 3, ...}, ...}, sorted, deterministic.
    void write_json(std::ostream& out) const;
    // gem5-like: "name value # description", one line per counter and histogram field.
    void write_text(std::ostream& out) const;

private:
    struct entry {
        std::string description;
        const counter* count = nullptr;
        histogram* distribution = nullptr;
        std::vector<sum_term> sum;  // a sum's terms (neither count nor distribution)
    };
    void check_name(const std::string& name) const;
    // A counter's or a sum's value.
    static std::uint64_t value_of(const entry& e);

    std::map<std::string, entry, std::less<>> m_entries;
    std::deque<counter> m_counters;
    std::deque<histogram> m_histograms;
};

// A registry seen from one component's prefix: scope("bus").add_counter("reads") is "bus.reads".
class scope {
public:
    scope(registry& reg, std::string prefix) : m_registry(&reg), m_prefix(std::move(prefix)) {}

    counter& add_counter(std::string_view name, std::string description) const;
    histogram& add_histogram(std::string_view name, std::string description) const;
    counter& add_hidden_counter() const { return m_registry->add_hidden_counter(); }
    void add_sum(std::string_view name, std::string description, std::vector<sum_term> terms) const;
    scope under(std::string_view name) const;
    const std::string& prefix() const { return m_prefix; }

private:
    std::string full(std::string_view name) const;

    registry* m_registry;
    std::string m_prefix;
};

// A name as it is displayed ("DMA32") as a segment of a stats name ("dma32"): lower case.
std::string lower_case(std::string_view name);

}  // namespace memsim::stats
