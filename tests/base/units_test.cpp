// Units as a user writes them and as memsim prints them.
#include "base/units.h"

#include <stdexcept>

#include <doctest/doctest.h>

using namespace memsim;

TEST_CASE("parse_size") {
    CHECK(parse_size("4 GiB") == 4ULL << 30);
    CHECK(parse_size("4G") == 4ULL << 30);
    CHECK(parse_size("4096") == 4096);
    CHECK(parse_size("0x1000") == 4096);
    CHECK(parse_size("16M") == 16 * MiB);
    CHECK(parse_size("64 KiB") == 64 * KiB);
    CHECK(parse_size("2 TiB") == 2 * TiB);
    CHECK(parse_size(" 7 B ") == 7);
    CHECK(parse_size("0") == 0);
    CHECK_THROWS_WITH_AS(parse_size("-1"), "size must not be negative (got '-1')", std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_size("4 XB"), "'4 XB' has an unknown unit 'XB' for a size",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_size("GiB"), "'GiB' is not a size", std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_size(""), "'' is not a size", std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_size("16777216 TiB"), "size '16777216 TiB' is too large",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_size("18446744073709551616"), "size '18446744073709551616' is too large",
                         std::invalid_argument);
    CHECK(parse_size("16777215 TiB") == 16777215 * TiB);
}

TEST_CASE("parse_time") {
    CHECK(parse_time("0") == 0);
    CHECK(parse_time("1 us") == 1'000'000);
    CHECK(parse_time("250 ns") == 250'000);
    CHECK(parse_time("1500 ps") == 1500);
    CHECK(parse_time("2 ms") == 2'000'000'000);
    CHECK(parse_time("1 s") == 1'000'000'000'000);
    CHECK_THROWS_AS(parse_time("1 min"), std::invalid_argument);
    CHECK_THROWS_AS(parse_time("-1 us"), std::invalid_argument);
}

TEST_CASE("parse_frequency") {
    CHECK(parse_frequency("2 GHz") == 2'000'000'000);
    CHECK(parse_frequency("800 MHz") == 800'000'000);
    CHECK(parse_frequency("33 kHz") == 33'000);
    CHECK(parse_frequency("1000000 Hz") == 1'000'000);
    CHECK(parse_frequency("1000000") == 1'000'000);
    CHECK_THROWS_AS(parse_frequency("2 GB"), std::invalid_argument);
}

TEST_CASE("format_size, format_time and format_frequency pick the largest exact unit") {
    CHECK(format_size(0) == "0 B");
    CHECK(format_size(4095) == "4095 B");
    CHECK(format_size(3 * GiB) == "3 GiB");
    CHECK(format_size(1536 * KiB) == "1536 KiB");
    CHECK(format_size(5 * TiB) == "5 TiB");
    CHECK(format_time(0) == "0 ps");
    CHECK(format_time(ps_per_us) == "1 us");
    CHECK(format_time(1500) == "1500 ps");
    CHECK(format_time(250 * ps_per_ns) == "250 ns");
    CHECK(format_frequency(1'600'000'000) == "1600 MHz");
    CHECK(format_frequency(2'000'000'000) == "2 GHz");
    CHECK(format_frequency(133'000'000) == "133 MHz");
    CHECK(format_frequency(7) == "7 Hz");
}

TEST_CASE("formatted values parse back") {
    for (std::uint64_t v : {std::uint64_t{0}, 4095 * KiB, 3 * GiB, 1536 * KiB, ~std::uint64_t{0}})
        CHECK(parse_size(format_size(v)) == v);
    for (picoseconds t : {picoseconds{0}, 1500 * ps_per_ns, 7 * ps_per_us})
        CHECK(parse_time(format_time(t)) == t);
}

TEST_CASE("period_of rounds to the nearest picosecond") {
    CHECK(period_of(2'000'000'000) == 500);
    CHECK(period_of(3'000'000'000) == 333);
    CHECK(period_of(1'600'000'000) == 625);
    CHECK(period_of(1'500'000'000) == 667);
    CHECK(period_of(8'000'000) == 125'000);
}

TEST_CASE("format_duration: three decimals in the largest unit that fits, truncated") {
    CHECK(memsim::format_duration(0) == "0 ps");
    CHECK(memsim::format_duration(999) == "999 ps");
    CHECK(memsim::format_duration(1000) == "1.000 ns");
    CHECK(memsim::format_duration(10'371'504'569) == "10.371 ms");
    CHECK(memsim::format_duration(2'500'000'000'000) == "2.500 s");
}
