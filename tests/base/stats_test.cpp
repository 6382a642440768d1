// The stats registry: counters, histogram buckets, and the two output formats, exactly.
#include "base/stats.h"

#include <sstream>
#include <stdexcept>

#include <doctest/doctest.h>

using namespace memsim;

TEST_CASE("counters count") {
    stats::registry reg;
    stats::counter& c = reg.add_counter("bus.reads", "reads");
    ++c;
    c += 41;
    CHECK(c.value == 42);
    CHECK(reg.value("bus.reads") == 42);
    ++c;
    CHECK(reg.value("bus.reads") == 43);  // a value, read when asked
    CHECK_FALSE(reg.value("bus.writes"));
    CHECK(reg.find_histogram("bus.reads") == nullptr);
}

TEST_CASE("histogram buckets are powers of two") {
    stats::histogram h;
    CHECK(h.min() == 0);
    CHECK(h.max() == 0);
    for (std::uint64_t v : {0, 1, 2, 3, 4, 7, 8, 1000}) h.sample(v);
    h.sample(~std::uint64_t{0});
    CHECK(h.samples() == 9);
    CHECK(h.min() == 0);
    CHECK(h.max() == ~std::uint64_t{0});
    CHECK(h.bucket(0) == 1);   // 0
    CHECK(h.bucket(1) == 1);   // 1
    CHECK(h.bucket(2) == 2);   // 2..3
    CHECK(h.bucket(3) == 2);   // 4..7
    CHECK(h.bucket(4) == 1);   // 8..15
    CHECK(h.bucket(10) == 1);  // 512..1023
    CHECK(h.bucket(64) == 1);  // 2^63..2^64-1
    CHECK(stats::histogram::bucket_low(0) == 0);
    CHECK(stats::histogram::bucket_high(0) == 0);
    CHECK(stats::histogram::bucket_low(3) == 4);
    CHECK(stats::histogram::bucket_high(3) == 7);
    CHECK(stats::histogram::bucket_low(64) == std::uint64_t{1} << 63);
    CHECK(stats::histogram::bucket_high(64) == ~std::uint64_t{0});
}

// Small values are counted one by one (histogram::exact_values) and larger ones as they come:
// both read the same, across the boundary too.
TEST_CASE("histogram: minimum, maximum and buckets across small and large values") {
    static_assert(stats::histogram::exact_values == 1024);
    stats::histogram small;
    for (std::uint64_t v : {700, 3, 1023}) small.sample(v);
    CHECK(small.min() == 3);
    CHECK(small.max() == 1023);
    CHECK(small.bucket(10) == 2);  // 700 and 1023 in 512..1023
    CHECK(small.bucket(11) == 0);

    stats::histogram large;
    for (std::uint64_t v : {5000, 1024, 2000}) large.sample(v);
    CHECK(large.min() == 1024);
    CHECK(large.max() == 5000);
    CHECK(large.bucket(11) == 2);  // 1024 and 2000
    CHECK(large.bucket(13) == 1);  // 5000 in 4096..8191

    stats::histogram mixed;
    for (std::uint64_t v : {1024, 1023, 5}) mixed.sample(v);
    CHECK(mixed.samples() == 3);
    CHECK(mixed.sum() == 2052);
    CHECK(mixed.min() == 5);
    CHECK(mixed.max() == 1024);
    CHECK(mixed.bucket(3) == 1);
    CHECK(mixed.bucket(10) == 1);
    CHECK(mixed.bucket(11) == 1);
}

namespace {

// A small machine's worth of stats: nested groups, a counter at depth three, a histogram.
void fill(stats::registry& reg) {
    stats::scope bus = reg.under("bus");
    bus.add_counter("reads", "read transactions") += 3;
    bus.under("isa_dma").add_counter("overreach", "addresses beyond the reach") += 1;
    reg.add_counter("ram.bytes", "bytes moved") += 4096;
    stats::histogram& latency = reg.add_histogram("ram.latency", "cycles per access");
    for (std::uint64_t v : {1, 5, 6}) latency.sample(v);
}

}  // namespace

TEST_CASE("scopes prefix names") {
    stats::registry reg;
    fill(reg);
    CHECK(reg.value("bus.isa_dma.overreach") == 1);
    CHECK(reg.under("bus").under("isa_dma").prefix() == "bus.isa_dma");
}

TEST_CASE("write_json nests by name") {
    stats::registry reg;
    fill(reg);
    std::ostringstream out;
    reg.write_json(out);
    CHECK(out.str() == R"({
  "bus": {
    "isa_dma": {
      "overreach": 1
    },
    "reads": 3
  },
  "ram": {
    "bytes": 4096,
    "latency": {
      "samples": 3,
      "sum": 12,
      "min": 1,
      "max": 6,
      "buckets": [[1, 1, 1], [4, 7, 2]]
    }
  }
}
)");
}

TEST_CASE("write_json of an empty registry") {
    std::ostringstream out;
    stats::registry().write_json(out);
    CHECK(out.str() == "{\n}\n");
}

TEST_CASE("write_text is gem5-like") {
    stats::registry reg;
    fill(reg);
    std::ostringstream out;
    reg.write_text(out);
    CHECK(out.str() ==
          "bus.isa_dma.overreach                                           1 # addresses beyond the reach\n"
          "bus.reads                                                       3 # read transactions\n"
          "ram.bytes                                                    4096 # bytes moved\n"
          "ram.latency::samples                                            3 # cycles per access\n"
          "ram.latency::min                                                1 # cycles per access\n"
          "ram.latency::max                                                6 # cycles per access\n"
          "ram.latency::sum                                               12 # cycles per access\n"
          "ram.latency::1-1                                                1 # cycles per access\n"
          "ram.latency::4-7                                                2 # cycles per access\n");
}

TEST_CASE("a sum of hidden counters is taken when it is read, in every output") {
    stats::registry reg;
    stats::counter& lookups = reg.add_hidden_counter();
    stats::counter& hits = reg.add_hidden_counter();
    reg.under("tlb").add_sum("misses", "lookups not answered", {{&lookups}, {&hits, true}});
    lookups += 5;
    ++hits;
    CHECK(reg.value("tlb.misses") == 4);
    hits += 2;
    CHECK(reg.value("tlb.misses") == 2);
    std::ostringstream json, text;
    reg.write_json(json);
    reg.write_text(text);
    CHECK(json.str() == "{\n  \"tlb\": {\n    \"misses\": 2\n  }\n}\n");
    CHECK(text.str() ==
          "tlb.misses                                                      2 # lookups not answered\n");
    CHECK_THROWS_AS(reg.add_sum("tlb.misses", "", {}), std::logic_error);
}

TEST_CASE("bad, duplicate and conflicting names are programming errors") {
    stats::registry reg;
    fill(reg);
    const char* twice = "stats: 'bus.reads' registered twice";
    CHECK_THROWS_WITH_AS(reg.add_counter("bus.reads", ""), twice, std::logic_error);
    CHECK_THROWS_WITH_AS(reg.add_histogram("bus.reads", ""), twice, std::logic_error);
    CHECK_THROWS_WITH_AS(reg.add_counter("bus", ""), "stats: 'bus' is already a group", std::logic_error);
    CHECK_THROWS_WITH_AS(reg.add_counter("ram.bytes.low", ""),
                         "stats: 'ram.bytes.low' is inside entry 'ram.bytes'", std::logic_error);
    for (const char* bad : {"", "Bus", "bus..reads", ".bus", "bus.", "bus-reads"})
        CHECK_THROWS_AS(reg.add_counter(bad, ""), std::logic_error);
}
