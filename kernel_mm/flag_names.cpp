#include "kernel_mm/flag_names.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace memsim::kernel {

std::string format_flags(std::uint64_t flags, std::span<const flag_name> names) {
    std::string out;
    for (const flag_name& entry : names) {
        if (flags == 0) break;
        if ((flags & entry.mask) != entry.mask) continue;
        out += entry.name;
        flags &= ~entry.mask;
        if (flags != 0) out += '|';
    }
    if (flags != 0) out += fmt::format("{:#x}", flags);
    return out;
}

std::optional<std::uint64_t> parse_flags(std::string_view text, std::span<const flag_name> names) {
    std::uint64_t flags = 0;
    for (;;) {
        std::size_t bar = text.find('|');
        std::string_view word = text.substr(0, bar);
        auto named =
            std::find_if(names.begin(), names.end(), [&](const flag_name& n) { return n.name == word; });
        if (named != names.end()) {
            flags |= named->mask;
        } else {
            int base = word.starts_with("0x") ? 16 : 10;
            if (base == 16) word.remove_prefix(2);
            std::uint64_t value = 0;
            auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value, base);
            if (word.empty() || ec != std::errc{} || end != word.data() + word.size()) return std::nullopt;
            flags |= value;
        }
        if (bar == std::string_view::npos) return flags;
        text.remove_prefix(bar + 1);
    }
}

}  // namespace memsim::kernel
