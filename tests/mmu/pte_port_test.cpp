// The pte_port's direct window: entries inside it come from host memory and are counted for the
// implementation to time; everything else, a partial overlap included, goes to the implementation.
#include <cstring>

#include <doctest/doctest.h>

#include "window_memory.h"

using namespace memsim::mmu;
using testing::window_memory;

TEST_CASE("pte_port: an entry inside the window is read from host memory and counted") {
    window_memory memory(0x10000, 0x1000);
    memory.store(0x10008, 0x1234'5678'9abc'def0);
    CHECK(memory.read(0x10008, 8) == 0x1234'5678'9abc'def0);
    CHECK(memory.read(0x1000c, 4) == 0x1234'5678);  // little-endian, as x86
    const auto use = memory.take_use();
    CHECK(use.reads == 2);
    CHECK(use.writes == 0);
    CHECK(memory.outside.empty());
    CHECK(memory.take_use().reads == 0);  // taken
}

TEST_CASE("pte_port: a write inside the window lands in host memory and is counted") {
    window_memory memory(0x10000, 0x1000);
    memory.store(0x10ff8, ~std::uint64_t{0});
    memory.write(0x10ff8, 0x21, 8);
    memory.write(0x10000, 0xabcd, 4);
    CHECK(memory.load(0x10ff8) == 0x21);
    CHECK(memory.load(0x10000) == 0xabcd);
    CHECK(memory.take_use().writes == 2);
    CHECK(memory.outside.empty());
}

TEST_CASE("pte_port: accesses not wholly inside the window go to the implementation") {
    window_memory memory(0x10000, 0x1000);
    memory.read(0xfff8, 8);               // below
    memory.read(0x10ffc, 8);              // its last 4 bytes lie past the end
    CHECK(memory.read(0x10ffc, 4) == 0);  // a 4-byte entry there is inside
    memory.write(0x11000, 1, 8);          // just past the end
    CHECK(memory.outside == std::vector<std::uint64_t>{0xfff8, 0x10ffc, 0x11000});
    CHECK(memory.take_use().reads == 1);
    CHECK(memory.host(0x10fff, 1) == memory.at(0x10fff));  // the last byte
    CHECK(memory.host(0x10fff, 2) == nullptr);
    CHECK(memory.host(0x10000, 0) == nullptr);  // no bytes, or more than an entry: never held
    CHECK(memory.host(0x10000, 9) == nullptr);
    memory.close_window();
    memory.read(0x10008, 8);
    CHECK(memory.outside.back() == 0x10008);
    CHECK(memory.host(0x10008, 8) == nullptr);
}

TEST_CASE("pte_port: a window smaller than an entry serves only what fits in it") {
    window_memory memory(0x10000, 4);
    const std::uint32_t entry = 0x89abcdef;
    std::memcpy(memory.at(0x10000), &entry, 4);
    CHECK(memory.read(0x10000, 4) == 0x89abcdef);
    memory.read(0x10000, 8);
    CHECK(memory.outside == std::vector<std::uint64_t>{0x10000});
    CHECK(memory.take_use().reads == 1);
}
