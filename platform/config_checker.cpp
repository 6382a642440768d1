#include "platform/config_checker.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <numeric>
#include <stdexcept>

namespace memsim::platform::detail {

// Levenshtein distance, ignoring case so that 'WARNING' still finds 'warning'.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    auto lower = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
    std::vector<std::size_t> row(b.size() + 1);
    std::iota(row.begin(), row.end(), std::size_t{0});
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (lower(a[i - 1]) != lower(b[j - 1]))});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// " (did you mean 'size'?)" when a candidate is close enough to be a typo of `word`, else "".
std::string suggestion(std::string_view word, std::span<const std::string_view> candidates) {
    std::string_view best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    for (std::string_view c : candidates) {
        std::size_t d = edit_distance(word, c);
        if (d < best_distance) {
            best = c;
            best_distance = d;
        }
    }
    if (best_distance > std::max<std::size_t>(2, word.size() / 3)) return "";
    return fmt::format(" (did you mean '{}'?)", best);
}

// Decimal or 0x-hex, nothing else.
std::uint64_t parse_integer(std::string_view text) {
    std::string_view digits = text;
    int base = 10;
    if (digits.starts_with("0x") || digits.starts_with("0X")) {
        base = 16;
        digits.remove_prefix(2);
    }
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    if (ec == std::errc::result_out_of_range)
        throw std::invalid_argument(fmt::format("'{}' is too large", text));
    if (ec != std::errc{} || end != digits.data() + digits.size())
        throw std::invalid_argument(fmt::format("expected an integer, got '{}'", text));
    return value;
}

std::uint64_t parse_address(std::string_view text) {
    std::string_view digits = text;
    int base = 10;
    if (digits.size() > 2 && digits[0] == '0') {
        switch (digits[1]) {
            case 'x':
            case 'X':
                base = 16;
                break;
            case 'o':
                base = 8;
                break;
            case 'b':
                base = 2;
                break;
        }
        if (base != 10) digits.remove_prefix(2);
    }
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    if (ec == std::errc::result_out_of_range)
        throw std::invalid_argument(fmt::format("'{}' is too large", text));
    if (ec != std::errc{} || end != digits.data() + digits.size())
        throw std::invalid_argument(fmt::format("expected an address, got '{}'", text));
    return value;
}

bool overlaps(const ram_region& a, const ram_region& b) {
    return a.base < b.base + b.size && b.base < a.base + a.size;
}

// The last byte's address, as /proc/iomem prints ranges: "0xfe000000-0xfe000fff".
std::string hex_range(const ram_region& r) { return fmt::format("{:#x}-{:#x}", r.base, r.base + r.size - 1); }

// base + size in hex, correct even where the sum passes 2^64.
std::string hex_end(const ram_region& r) {
    std::uint64_t end = r.base + r.size;
    return end >= r.base ? fmt::format("{:#x}", end) : fmt::format("0x1{:016x}", end);
}

bool fits_bits(const ram_region& r, unsigned bits) {
    if (bits >= 64) return true;
    std::uint64_t limit = std::uint64_t{1} << bits;
    return r.size <= limit && r.base <= limit - r.size;
}

std::string_view kind_of(const YAML::Node& node) {
    if (node.IsMap()) return "a mapping";
    if (node.IsSequence()) return "a list";
    return "nothing";
}

bool valid_name(std::string_view name) {
    if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::string checked_name(const checker& r, const at& node) {
    std::string name = r.scalar(node, "a name");
    if (!valid_name(name))
        r.fail(node, fmt::format("'{}' is not a valid name (a lowercase letter, then a-z, 0-9 or _)", name));
    return name;
}

}  // namespace memsim::platform::detail
