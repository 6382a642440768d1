// Flag words spelled as the kernel prints them (lib/vsprintf.c format_flags): names from a
// table, each taken when all its bits are set, the rest as one hex number, joined by '|'; and
// the inverse, for the flags a workload file or config writes by name.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace memsim::kernel {

struct flag_name {
    std::uint64_t mask;
    std::string_view name;
};

// Names in table order, each printed when all its bits are still set and then cleared; bits no
// name covers follow as "0x..."; 0 prints as "".
std::string format_flags(std::uint64_t flags, std::span<const flag_name> names);
// Names of the table and numbers (decimal or 0x hex) joined by '|'; nullopt for anything else.
std::optional<std::uint64_t> parse_flags(std::string_view text, std::span<const flag_name> names);

}  // namespace memsim::kernel
