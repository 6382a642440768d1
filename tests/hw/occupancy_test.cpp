// The busy times of a shared path: saturated traffic queues as behind one busy-until time,
// and traffic from an initiator whose local time lags finds the idle time it really had.
#include <doctest/doctest.h>

#include "hw/occupancy.h"

using memsim::hw::occupancy;

TEST_CASE("occupancy: slots hold 16 cycles, rounded up to a power of two of picoseconds") {
    CHECK(occupancy(1000).slot_ps() == 16384);
    CHECK(occupancy(625).slot_ps() == 16384);
    CHECK(occupancy(500).slot_ps() == 8192);
}

TEST_CASE("occupancy: transfers arriving together queue one behind another") {
    occupancy path(1000);
    for (std::uint64_t i = 0; i < 10; ++i) CHECK(path.reserve(0, 8000) == i * 8000);
}

TEST_CASE("occupancy: back-to-back transfers from one initiator never wait") {
    occupancy path(1000);
    for (std::uint64_t t = 0; t < 100'000; t += 8000) CHECK(path.reserve(t, 8000) == 0);
}

TEST_CASE("occupancy: a transfer arriving in the past of later bookings finds the gap between them") {
    occupancy path(1000);
    for (std::uint64_t t = 100'000; t < 1'000'000; t += 100'000) CHECK(path.reserve(t, 8000) == 0);
    CHECK(path.reserve(20'000, 8000) == 0);
    CHECK(path.reserve(500'000, 8000) == 8000);  // behind the one booked at 500 ns
    CHECK(path.reserve(500'000, 8000) == 16000);
}
