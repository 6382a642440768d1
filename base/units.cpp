#include "base/units.h"

#include <array>
#include <cctype>
#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

namespace memsim {
namespace {

struct unit {
    std::string_view name;
    std::uint64_t scale;
};

constexpr std::array size_units{unit{"B", 1},     unit{"K", KiB},   unit{"KiB", KiB},
                                unit{"M", MiB},   unit{"MiB", MiB}, unit{"G", GiB},
                                unit{"GiB", GiB}, unit{"T", TiB},   unit{"TiB", TiB}};
constexpr std::array time_units{unit{"ps", 1}, unit{"ns", ps_per_ns}, unit{"us", ps_per_us},
                                unit{"ms", 1000 * ps_per_us}, unit{"s", 1000'000 * ps_per_us}};
constexpr std::array frequency_units{unit{"Hz", 1}, unit{"kHz", 1000}, unit{"MHz", 1000'000},
                                     unit{"GHz", 1000'000'000}};

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

// A non-negative integer (decimal or 0x-hex) followed by an optional unit from `units`.
template <std::size_t N>
std::uint64_t parse_with_units(std::string_view text, const std::array<unit, N>& units,
                               std::string_view what) {
    std::string_view s = trim(text);
    if (!s.empty() && s.front() == '-')
        throw std::invalid_argument(fmt::format("{} must not be negative (got '{}')", what, text));
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s.remove_prefix(2);
    }
    std::uint64_t number = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), number, base);
    if (ec == std::errc::result_out_of_range)
        throw std::invalid_argument(fmt::format("{} '{}' is too large", what, text));
    if (ec != std::errc{} || end == s.data())
        throw std::invalid_argument(fmt::format("'{}' is not a {}", text, what));
    std::string_view suffix = trim(std::string_view(end, s.data() + s.size() - end));
    if (suffix.empty()) return number;
    for (const unit& u : units) {
        if (u.name != suffix) continue;
        if (number > ~std::uint64_t{0} / u.scale)
            throw std::invalid_argument(fmt::format("{} '{}' is too large", what, text));
        return number * u.scale;
    }
    throw std::invalid_argument(fmt::format("'{}' has an unknown unit '{}' for a {}", text, suffix, what));
}

// The largest unit that divides `value` exactly.
template <std::size_t N>
std::string format_with_units(std::uint64_t value, const std::array<unit, N>& units) {
    const unit* best = &units[0];
    for (const unit& u : units)
        if (value != 0 && value % u.scale == 0 && u.scale >= best->scale) best = &u;
    return fmt::format("{} {}", value / best->scale, best->name);
}

}  // namespace

std::uint64_t parse_size(std::string_view text) { return parse_with_units(text, size_units, "size"); }
picoseconds parse_time(std::string_view text) { return parse_with_units(text, time_units, "time"); }
std::uint64_t parse_frequency(std::string_view text) {
    return parse_with_units(text, frequency_units, "frequency");
}

std::string format_size(std::uint64_t bytes) {
    // Only the IEC spellings are printed; the one-letter ones are accepted as input.
    constexpr std::array printed{unit{"B", 1}, unit{"KiB", KiB}, unit{"MiB", MiB}, unit{"GiB", GiB},
                                 unit{"TiB", TiB}};
    return format_with_units(bytes, printed);
}
std::string format_time(picoseconds t) { return format_with_units(t, time_units); }
std::string format_duration(picoseconds t) {
    const unit* best = &time_units[0];
    for (const unit& u : time_units)
        if (t >= u.scale) best = &u;
    if (best->scale == 1) return fmt::format("{} ps", t);
    return fmt::format("{}.{:03} {}", t / best->scale, t % best->scale * 1000 / best->scale, best->name);
}
std::string format_frequency(std::uint64_t hz) { return format_with_units(hz, frequency_units); }

picoseconds period_of(std::uint64_t hz) { return (1000'000'000'000ULL + hz / 2) / hz; }

}  // namespace memsim
