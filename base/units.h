// Size, time and frequency units as a user writes them ("4 GiB", "1 us", "2 GHz") and as
// memsim prints them. Parsers throw std::invalid_argument with a message for a user.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace memsim {

inline constexpr std::uint64_t KiB = 1024;
inline constexpr std::uint64_t MiB = 1024 * KiB;
inline constexpr std::uint64_t GiB = 1024 * MiB;
inline constexpr std::uint64_t TiB = 1024 * GiB;

// Simulated time is kept in picoseconds, SystemC's default resolution.
using picoseconds = std::uint64_t;
inline constexpr picoseconds ps_per_ns = 1000;
inline constexpr picoseconds ps_per_us = 1000 * ps_per_ns;

// "4096", "0x1000", "16 MiB", "4G" (binary units: K/KiB, M/MiB, G/GiB, T/TiB, B).
std::uint64_t parse_size(std::string_view text);
// "0", "1 us", "250 ns", "1500 ps", "2 ms".
picoseconds parse_time(std::string_view text);
// "2 GHz", "800 MHz", "33 kHz", "1000000 Hz"; a bare integer is Hz.
std::uint64_t parse_frequency(std::string_view text);

// The shortest exact spelling: "4 GiB", "1536 KiB", "4095 B"; 0 is "0 B".
std::string format_size(std::uint64_t bytes);
std::string format_time(picoseconds t);
// For people reading a summary: three decimals in the largest unit that fits, "10.371 ms".
std::string format_duration(picoseconds t);
std::string format_frequency(std::uint64_t hz);

// One cycle of a clock, rounded to the nearest picosecond (hz > 0).
picoseconds period_of(std::uint64_t hz);

}  // namespace memsim
