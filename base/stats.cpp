#include "base/stats.h"

#include <cctype>

#include <ostream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace memsim::stats {

std::uint64_t histogram::bucket_low(unsigned k) { return k == 0 ? 0 : std::uint64_t{1} << (k - 1); }
std::uint64_t histogram::bucket_high(unsigned k) {
    return k == 0 ? 0 : k == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << k) - 1;
}

std::uint64_t histogram::min() const {
    for (std::uint64_t v = 0; v < exact_values; ++v)
        if (m_exact[v]) return v;
    return m_samples.value ? m_min : 0;
}

// Every value at or above exact_values is larger than any below.
std::uint64_t histogram::max() const {
    if (m_max) return m_max;
    for (std::uint64_t v = exact_values; v-- > 0;)
        if (m_exact[v]) return v;
    return 0;
}

std::uint64_t histogram::bucket(unsigned k) const {
    std::uint64_t n = m_buckets[k];
    for (std::uint64_t v = bucket_low(k); v < exact_values && v <= bucket_high(k); ++v) n += m_exact[v];
    return n;
}

void registry::check_name(const std::string& name) const {
    bool segment_start = true;
    for (char c : name) {
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (c == '.' && !segment_start);
        if (!ok) throw std::logic_error("stats: bad name '" + name + "'");
        segment_start = c == '.';
    }
    if (name.empty() || segment_start) throw std::logic_error("stats: bad name '" + name + "'");
    if (m_entries.count(name)) throw std::logic_error("stats: '" + name + "' registered twice");
    // Neither a group of an existing entry nor an existing group's name.
    for (std::size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1))
        if (m_entries.count(name.substr(0, dot)))
            throw std::logic_error("stats: '" + name + "' is inside entry '" + name.substr(0, dot) + "'");
    auto next = m_entries.lower_bound(name + ".");
    if (next != m_entries.end() && next->first.starts_with(name + "."))
        throw std::logic_error("stats: '" + name + "' is already a group");
}

counter& registry::add_counter(std::string name, std::string description) {
    check_name(name);
    counter& c = m_counters.emplace_back();
    m_entries.emplace(std::move(name), entry{std::move(description), &c, nullptr, {}});
    return c;
}

histogram& registry::add_histogram(std::string name, std::string description) {
    check_name(name);
    histogram& h = m_histograms.emplace_back();
    m_entries.emplace(std::move(name), entry{std::move(description), nullptr, &h, {}});
    return h;
}

scope registry::under(std::string prefix) { return scope(*this, std::move(prefix)); }

counter& registry::add_hidden_counter() { return m_counters.emplace_back(); }

void registry::add_sum(std::string name, std::string description, std::vector<sum_term> terms) {
    check_name(name);
    m_entries.emplace(std::move(name), entry{std::move(description), nullptr, nullptr, std::move(terms)});
}

std::uint64_t registry::value_of(const entry& e) {
    if (e.count) return e.count->value;
    // Unsigned arithmetic: a difference may go below zero part way, never at the end.
    std::uint64_t value = 0;
    for (const sum_term& t : e.sum) value += t.subtract ? -t.count->value : t.count->value;
    return value;
}

std::optional<std::uint64_t> registry::value(std::string_view name) const {
    auto it = m_entries.find(name);
    if (it == m_entries.end() || it->second.distribution) return std::nullopt;
    return value_of(it->second);
}

const histogram* registry::find_histogram(std::string_view name) const {
    auto it = m_entries.find(name);
    return it == m_entries.end() ? nullptr : it->second.distribution;
}

namespace {

std::vector<std::string_view> split(std::string_view name) {
    std::vector<std::string_view> parts;
    for (std::size_t dot; (dot = name.find('.')) != std::string_view::npos; name.remove_prefix(dot + 1))
        parts.push_back(name.substr(0, dot));
    parts.push_back(name);
    return parts;
}

void write_histogram_json(std::ostream& out, const histogram& h, const std::string& indent) {
    fmt::print(out,
               "{{\n{0}  \"samples\": {1},\n{0}  \"sum\": {2},\n{0}  \"min\": {3},\n{0}  \"max\": {4},\n",
               indent, h.samples(), h.sum(), h.min(), h.max());
    fmt::print(out, "{}  \"buckets\": [", indent);
    const char* sep = "";
    for (unsigned k = 0; k < histogram::bucket_count; ++k) {
        if (!h.bucket(k)) continue;
        fmt::print(out, "{}[{}, {}, {}]", sep, histogram::bucket_low(k), histogram::bucket_high(k),
                   h.bucket(k));
        sep = ", ";
    }
    fmt::print(out, "]\n{}}}", indent);
}

}  // namespace

void registry::write_json(std::ostream& out) const {
    // Sorted names keep every group contiguous, so one pass with a stack of open groups works.
    std::vector<std::string_view> open;
    bool first_in_group = true;
    out << "{";
    for (const auto& [name, e] : m_entries) {
        std::vector<std::string_view> parts = split(name);
        std::size_t common = 0;
        while (common < open.size() && common + 1 < parts.size() && open[common] == parts[common]) ++common;
        while (open.size() > common) {
            open.pop_back();
            fmt::print(out, "\n{:{}}}}", "", 2 * (open.size() + 1));
            first_in_group = false;
        }
        for (std::size_t i = common; i + 1 < parts.size(); ++i) {
            fmt::print(out, "{}\n{:{}}\"{}\": {{", first_in_group ? "" : ",", "", 2 * (open.size() + 1),
                       parts[i]);
            open.push_back(parts[i]);
            first_in_group = true;
        }
        std::string indent(2 * (open.size() + 1), ' ');
        fmt::print(out, "{}\n{}\"{}\": ", first_in_group ? "" : ",", indent, parts.back());
        if (e.distribution)
            write_histogram_json(out, *e.distribution, indent);
        else
            fmt::print(out, "{}", value_of(e));
        first_in_group = false;
    }
    while (!open.empty()) {
        open.pop_back();
        fmt::print(out, "\n{:{}}}}", "", 2 * (open.size() + 1));
    }
    out << "\n}\n";
}

void registry::write_text(std::ostream& out) const {
    auto line = [&](std::string_view name, auto value, std::string_view description) {
        fmt::print(out, "{:<48} {:>16} # {}\n", name, value, description);
    };
    for (const auto& [name, e] : m_entries) {
        if (!e.distribution) {
            line(name, value_of(e), e.description);
            continue;
        }
        const histogram& h = *e.distribution;
        line(name + "::samples", h.samples(), e.description);
        line(name + "::min", h.min(), e.description);
        line(name + "::max", h.max(), e.description);
        line(name + "::sum", h.sum(), e.description);
        for (unsigned k = 0; k < histogram::bucket_count; ++k)
            if (h.bucket(k))
                line(fmt::format("{}::{}-{}", name, histogram::bucket_low(k), histogram::bucket_high(k)),
                     h.bucket(k), e.description);
    }
}

std::string scope::full(std::string_view name) const {
    return m_prefix.empty() ? std::string(name) : m_prefix + "." + std::string(name);
}

counter& scope::add_counter(std::string_view name, std::string description) const {
    return m_registry->add_counter(full(name), std::move(description));
}

histogram& scope::add_histogram(std::string_view name, std::string description) const {
    return m_registry->add_histogram(full(name), std::move(description));
}

void scope::add_sum(std::string_view name, std::string description, std::vector<sum_term> terms) const {
    m_registry->add_sum(full(name), std::move(description), std::move(terms));
}

scope scope::under(std::string_view name) const { return scope(*m_registry, full(name)); }

std::string lower_case(std::string_view name) {
    std::string out(name);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace memsim::stats
