// The busy times of a shared path: saturated traffic queues as behind one busy-until time,
// and traffic from an initiator whose local time lags finds the idle time it really had.
#include <doctest/doctest.h>

#include "hw/occupancy.h"

using memsim::hw::occupancy;
using memsim::stats::counter;

TEST_CASE("occupancy: slots hold 16 cycles, rounded up to a power of two of picoseconds") {
    counter stale;
    CHECK(occupancy(1000, stale).slot_ps() == 16384);
    CHECK(occupancy(625, stale).slot_ps() == 16384);
    CHECK(occupancy(500, stale).slot_ps() == 8192);
}

TEST_CASE("occupancy: transfers arriving together queue one behind another") {
    counter stale;
    occupancy path(1000, stale);
    for (std::uint64_t i = 0; i < 10; ++i) CHECK(path.reserve(0, 8000) == i * 8000);
}

TEST_CASE("occupancy: back-to-back transfers from one initiator never wait") {
    counter stale;
    occupancy path(1000, stale);
    for (std::uint64_t t = 0; t < 100'000; t += 8000) CHECK(path.reserve(t, 8000) == 0);
}

TEST_CASE("occupancy: a transfer arriving in the past of later bookings finds the gap between them") {
    counter stale;
    occupancy path(1000, stale);
    for (std::uint64_t t = 100'000; t < 1'000'000; t += 100'000) CHECK(path.reserve(t, 8000) == 0);
    CHECK(path.reserve(20'000, 8000) == 0);
    CHECK(path.reserve(500'000, 8000) == 8000);  // behind the one booked at 500 ns
    CHECK(path.reserve(500'000, 8000) == 16000);
}

TEST_CASE("occupancy: the ring spans four quanta, and an arrival older than it is counted stale") {
    counter stale;
    occupancy path(1000, stale);
    CHECK(path.slots() == 4096);  // at least that many, ~67 us of 16 ns slots
    path.span(1'000'000'000);     // a 1 ms quantum wants 4 x 61036 slots: capped at 64 Ki
    CHECK(path.slots() == 65536);
    path.span(100'000'000);  // 100 us: 4 x 6104 rounded up to a power of two
    CHECK(path.slots() == 32768);
    std::uint64_t ring = path.slots() * path.slot_ps();
    path.reserve(2 * ring, 8000);
    CHECK(path.reserve(ring, 8000) == 0);  // its slot now holds the booking two rings later
    CHECK(stale.value == 1);
}
