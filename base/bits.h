// Bit and alignment helpers shared by every layer; constexpr, no dependencies.
#pragma once

#include <cstdint>

namespace memsim {

// The largest address an initiator with `bits` address lines can drive (bits in 1..64).
constexpr std::uint64_t address_mask(unsigned bits) {
    return bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
}

constexpr bool is_power_of_two(std::uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

constexpr std::uint64_t align_down(std::uint64_t x, std::uint64_t align) { return x & ~(align - 1); }

constexpr std::uint64_t div_ceil(std::uint64_t x, std::uint64_t y) { return (x + y - 1) / y; }

}  // namespace memsim
