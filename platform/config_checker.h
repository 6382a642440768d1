// Internal to memsim_config: the typed, located reading of YAML nodes that every part of the
// loader uses (config.cpp, config_mmu.cpp). Each value is read with its dotted path, so an
// error names the file:line:col of the node at fault, or the --set that put it there.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "base/error.h"
#include "base/units.h"
#include "platform/config.h"
#include "platform/config_yaml.h"

namespace memsim::platform::detail {

// ---- Spellings of enum values ----

template <typename E>
struct named {
    std::string_view name;
    E value;
};

template <typename E, std::size_t N>
std::string_view name_of(const std::array<named<E>, N>& names, E value) {
    for (const named<E>& n : names)
        if (n.value == value) return n.name;
    return "?";
}

template <typename E, std::size_t N>
std::vector<std::string_view> names_of(const std::array<named<E>, N>& names) {
    std::vector<std::string_view> out;
    for (const named<E>& n : names) out.push_back(n.name);
    return out;
}

inline constexpr std::uint64_t page_size = 4 * KiB;
// Clocks from 1 MHz to 100 GHz keep every period, and every cycle count times a period, well
// inside 64 bits of picoseconds.
inline constexpr std::uint64_t min_frequency = 1'000'000;
inline constexpr std::uint64_t max_frequency = 100'000'000'000;
inline constexpr unsigned unsigned_max = std::numeric_limits<unsigned>::max();

// ---- Helpers (config_checker.cpp) ----

std::size_t edit_distance(std::string_view a, std::string_view b);
// " (did you mean 'size'?)" when a candidate is close enough to be a typo of `word`, else "".
std::string suggestion(std::string_view word, std::span<const std::string_view> candidates);
// Decimal or 0x-hex, nothing else.
std::uint64_t parse_integer(std::string_view text);
// An address in any of YAML's integer forms: decimal, 0x hex, 0o octal (YAML 1.2) or 0b binary
// (YAML 1.1), as a map copied from a boot log or written by hand may use.
std::uint64_t parse_address(std::string_view text);
bool overlaps(const ram_region& a, const ram_region& b);
// The last byte's address, as /proc/iomem prints ranges: "0xfe000000-0xfe000fff".
std::string hex_range(const ram_region& r);
// base + size in hex, correct even where the sum passes 2^64.
std::string hex_end(const ram_region& r);
bool fits_bits(const ram_region& r, unsigned bits);
std::string_view kind_of(const YAML::Node& node);
// A name for stats and logs: a lowercase letter, then a-z, 0-9 or _.
bool valid_name(std::string_view name);

// ---- The checker: typed reads of YAML nodes, each error at the node (or --set) at fault ----

// A node and the dotted path that names it in messages and in --set records.
struct at {
    YAML::Node node;
    std::string path;
    // An empty value ("size:") has yaml-cpp's mark of whatever follows it; its key's is clearer.
    std::optional<YAML::Mark> key_mark = std::nullopt;
};

class checker {
public:
    checker(std::string file, std::vector<set_origin> sets)
        : m_file(std::move(file)), m_sets(std::move(sets)) {}

    source_location locate(const at& where) const {
        for (auto it = m_sets.rbegin(); it != m_sets.rend(); ++it)
            if (detail::covers(it->path, where.path)) return source_location{"--set " + it->text};
        YAML::Mark mark = where.key_mark.value_or(where.node.Mark());
        if (mark.is_null()) return source_location{m_file};
        return source_location{m_file, mark.line + 1, mark.column + 1};
    }

    [[noreturn]] void fail_with(const at& where, const std::string& message) const {
        throw user_error(locate(where), message);
    }
    // "ram.size: what"
    [[noreturn]] void fail(const at& where, std::string_view what) const {
        fail_with(where, where.path.empty() ? fmt::format("{} at the top level", what)
                                            : fmt::format("{}: {}", where.path, what));
    }

    // Checks that `where` is a mapping (null counts as empty) whose keys are all in `known`.
    void expect_map(const at& where, std::span<const std::string_view> known) const {
        if (where.node.IsNull()) return;
        if (!where.node.IsMap()) fail(where, "expected a mapping");
        std::vector<std::string> seen;
        for (const auto& pair : where.node) {
            const std::string& key = pair.first.Scalar();
            at key_at{pair.first, join(where.path, key)};
            if (std::find(known.begin(), known.end(), key) == known.end())
                fail_with(key_at, fmt::format("unknown key '{}' in {}{}", key, container_name(where.path),
                                              suggestion(key, known)));
            if (std::find(seen.begin(), seen.end(), key) != seen.end())
                fail_with(key_at, fmt::format("duplicate key '{}' in {}", key, container_name(where.path)));
            seen.push_back(key);
        }
    }

    // map[key], or nothing when the key is absent.
    std::optional<at> field(const at& map, std::string_view key) const {
        if (!map.node.IsMap()) return std::nullopt;
        for (const auto& pair : map.node) {
            if (pair.first.Scalar() != key) continue;
            std::optional<YAML::Mark> key_mark;
            if (pair.second.IsNull()) key_mark = pair.first.Mark();
            return at{pair.second, join(map.path, key), key_mark};
        }
        return std::nullopt;
    }

    at required(const at& map, std::string_view key) const {
        std::optional<at> f = field(map, key);
        if (!f) fail(map, fmt::format("missing required key '{}'", key));
        return *f;
    }

    // map[key] checked as a mapping with `known` keys; an absent section reads as empty.
    at section(const at& map, std::string_view key, std::span<const std::string_view> known) const {
        at s = field(map, key).value_or(at{YAML::Node(), join(map.path, key)});
        expect_map(s, known);
        return s;
    }

    // The entries of a list (null counts as empty), named "devices[1]".
    std::vector<at> entries(const at& where) const {
        if (where.node.IsNull()) return {};
        if (!where.node.IsSequence()) fail(where, "expected a list");
        std::vector<at> out;
        for (std::size_t i = 0; i < where.node.size(); ++i)
            out.push_back(at{where.node[i], fmt::format("{}[{}]", where.path, i)});
        return out;
    }

    std::string scalar(const at& f, std::string_view noun) const {
        if (!f.node.IsScalar()) fail(f, fmt::format("expected {}, got {}", noun, kind_of(f.node)));
        return f.node.Scalar();
    }

    // A non-negative number in one of the unit syntaxes of base/units.h.
    std::uint64_t number(const at& f, std::string_view noun, std::uint64_t (*parse)(std::string_view)) const {
        std::string text = scalar(f, noun);
        if (text.starts_with('-')) fail(f, fmt::format("must not be negative (got '{}')", text));
        if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])))
            fail(f, fmt::format("expected {}, got '{}'", noun, text));
        try {
            return parse(text);
        } catch (const std::invalid_argument& e) {
            fail(f, e.what());
        }
    }

    std::uint64_t integer(const at& f, std::uint64_t low, std::uint64_t high) const {
        std::uint64_t v = number(f, "an integer", parse_integer);
        if (v >= low && v <= high) return v;
        if (high < unsigned_max) fail(f, fmt::format("must be {}..{} (got {})", low, high, v));
        // Only a lower bound of 0 or 1 matters to the user; the upper one is the field's type.
        if (v < low) fail(f, fmt::format("must be positive (got {})", v));
        fail(f, fmt::format("must be at most {} (got {})", high, v));
    }

    unsigned uint(const at& f, unsigned low, unsigned high = unsigned_max) const {
        return static_cast<unsigned>(integer(f, low, high));
    }

    unsigned power_of_two(const at& f, unsigned high = unsigned_max) const {
        unsigned v = uint(f, 1, high);
        if (!std::has_single_bit(v)) fail(f, fmt::format("must be a power of two (got {})", v));
        return v;
    }

    std::uint64_t size(const at& f) const { return number(f, "a size", parse_size); }

    std::uint64_t positive_size(const at& f) const { return positive(f, size(f)); }

    // A positive multiple of 4 KiB: RAM and device windows are mapped page by page.
    std::uint64_t pages(const at& f) const {
        std::uint64_t v = positive_size(f);
        check_page_multiple(f, v);
        return v;
    }

    void check_page_multiple(const at& f, std::uint64_t v) const {
        if (v % page_size != 0) fail(f, fmt::format("must be a multiple of 4 KiB (got {})", f.node.Scalar()));
    }

    std::uint64_t frequency(const at& f) const {
        std::uint64_t hz = number(f, "a frequency", parse_frequency);
        if (hz < min_frequency || hz > max_frequency)
            fail(f, fmt::format("must be from {} to {} (got {})", format_frequency(min_frequency),
                                format_frequency(max_frequency), f.node.Scalar()));
        return hz;
    }

    picoseconds time(const at& f) const { return number(f, "a time", parse_time); }

    template <typename E, std::size_t N>
    E choice(const at& f, const std::array<named<E>, N>& names) const {
        std::vector<std::string_view> spellings = names_of(names);
        std::string choices = fmt::format("{}", fmt::join(spellings, ", "));
        std::string text = scalar(f, "one of " + choices);
        for (const named<E>& n : names)
            if (n.name == text) return n.value;
        fail(f, fmt::format("'{}' is not one of {}{}", text, choices, suggestion(text, spellings)));
    }

    bool boolean(const at& f) const {
        std::string text = scalar(f, "true or false");
        if (text == "true") return true;
        if (text == "false") return false;
        fail(f, fmt::format("'{}' is not true or false", text));
    }

    // Checks that a window lies within `bits` address bits, which `space` names in the message.
    void check_fits(const at& f, const ram_region& r, unsigned bits, std::string_view what,
                    std::string_view space) const {
        if (!fits_bits(r, bits)) fail(f, fmt::format("{} ends at {} beyond {}", what, hex_end(r), space));
    }

private:
    std::uint64_t positive(const at& f, std::uint64_t v) const {
        if (v == 0) fail(f, fmt::format("must be positive (got {})", f.node.Scalar()));
        return v;
    }

    static std::string container_name(const std::string& path) {
        return path.empty() ? "the top level" : fmt::format("'{}'", path);
    }

    std::string m_file;
    std::vector<set_origin> m_sets;
};

std::string checked_name(const checker& r, const at& node);

// The `mmu` section (config_mmu.cpp).
void read_mmu(const checker& r, const at& top, mmu_config& mmu);

}  // namespace memsim::platform::detail
