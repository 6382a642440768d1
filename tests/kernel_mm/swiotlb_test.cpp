// The software IO TLB as Linux 6.1's kernel/dma/swiotlb.c keeps it: 2 KiB slots, mappings that
// never cross a 128-slot segment, the device's min_align_mask bits kept, page-aligned large
// mappings, the search index wrapping, "swiotlb buffer is full" word for word, the bounce copies
// of each direction byte for byte, bad unmaps reported, and 100k random operations against a
// bitmap of used slots.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "kernel_mm/dma/swiotlb.h"
#include "tests/kernel_mm/fake_machine.h"

namespace memsim::kernel {
namespace {

constexpr phys_addr_t S = 0x4000000;  // the pool: 64 MiB up, page aligned
constexpr std::uint64_t K = 1024;
constexpr const char* nvme = "nvme 0000:01:00.0";

struct pool_under_test {
    testing::fake_machine machine;
    printk_buffer log;
    io_tlb_mem mem;

    explicit pool_under_test(std::uint64_t nslabs) : mem(S, nslabs, machine, log) {}

    phys_addr_t map(phys_addr_t orig, std::size_t size, dma_data_direction dir = DMA_TO_DEVICE,
                    unsigned min_align_mask = 0, unsigned alloc_align_mask = 0, unsigned long attrs = 0) {
        return mem.swiotlb_tbl_map_single(orig, size, size, alloc_align_mask, dir, attrs, min_align_mask,
                                          nvme);
    }
    void unmap(phys_addr_t tlb, std::size_t size, dma_data_direction dir = DMA_TO_DEVICE) {
        mem.swiotlb_tbl_unmap_single(tlb, size, dir, 0, nvme);
    }
    unsigned list(unsigned i) const { return mem.slots()[i].list; }
    void pattern(phys_addr_t addr, std::size_t size, std::uint8_t seed) { machine.pattern(addr, size, seed); }
    bool holds(phys_addr_t addr, std::size_t size, std::uint8_t seed) {
        return machine.holds(addr, size, seed);
    }
};

std::string full(std::size_t size, std::uint64_t total, std::uint64_t used) {
    return "nvme 0000:01:00.0: swiotlb buffer is full (sz: " + std::to_string(size) + " bytes), total " +
           std::to_string(total) + " (slots), used " + std::to_string(used) + " (slots)";
}

}  // namespace

TEST_CASE("swiotlb geometry: 2 KiB slots, 128-slot segments, a 64 MiB default pool") {
    CHECK(IO_TLB_SIZE == 2048);
    CHECK(IO_TLB_SEGSIZE == 128);
    CHECK(io_tlb_default_size == 64 * K * K);
    CHECK(io_tlb_default_nslabs == 32768);
    // 256 KiB, less what a min_align_mask may make the search skip (NVMe: a page).
    CHECK(io_tlb_mem::swiotlb_max_mapping_size() == 262144);
    CHECK(io_tlb_mem::swiotlb_max_mapping_size(0xfff) == 258048);
    CHECK(io_tlb_mem::swiotlb_max_mapping_size(0x7ff) == 260096);

    pool_under_test p(io_tlb_default_nslabs);
    CHECK(p.mem.nslabs() == 32768);
    CHECK(p.mem.end() == S + 64 * K * K);
    CHECK(p.machine.filled == 64 * K * K);  // cleared, as swiotlb_init_io_tlb_mem does
    // Each free slot counts the free slots to its segment's end.
    CHECK(p.list(0) == 128);
    CHECK(p.list(1) == 127);
    CHECK(p.list(127) == 1);
    CHECK(p.list(128) == 128);
    CHECK(p.list(32767) == 1);
    CHECK(p.mem.used() == 0);
    CHECK(p.mem.index() == 0);
    CHECK(p.mem.is_swiotlb_buffer(S));
    CHECK(p.mem.is_swiotlb_buffer(S + 64 * K * K - 1));
    CHECK_FALSE(p.mem.is_swiotlb_buffer(S - 1));
    CHECK_FALSE(p.mem.is_swiotlb_buffer(S + 64 * K * K));
    p.mem.swiotlb_print_info();
    CHECK(p.log.lines() == std::vector<std::string>{
                               "software IO TLB: mapped [mem 0x0000000004000000-0x0000000008000000] (64MB)"});
    CHECK(p.mem.check_invariants() == "");
}

TEST_CASE("a pool is a positive number of whole segments, page aligned") {
    testing::fake_machine machine;
    printk_buffer log;
    CHECK_THROWS_AS(io_tlb_mem(S, 0, machine, log), std::invalid_argument);
    CHECK_THROWS_AS(io_tlb_mem(S, 200, machine, log), std::invalid_argument);
    CHECK_THROWS_AS(io_tlb_mem(S + 0x800, 128, machine, log), std::invalid_argument);
    CHECK_NOTHROW(io_tlb_mem(S, 384, machine, log));
}

TEST_CASE("slot arithmetic: 1, 2048, 2049 and 4096 bytes, 256 KiB, and the free runs on release") {
    pool_under_test p(256);
    const phys_addr_t o = 0x10000000;
    phys_addr_t a = p.map(o, 1);
    CHECK(a == S);
    CHECK(p.mem.used() == 1);
    CHECK(p.mem.index() == 1);
    CHECK(p.mem.slots()[0].orig_addr == o);
    CHECK(p.mem.slots()[0].alloc_size == 1);
    CHECK(p.list(0) == 0);
    CHECK(p.list(1) == 127);

    phys_addr_t b = p.map(o + 0x1000, 2048);  // exactly one slot
    CHECK(b == S + 0x800);
    CHECK(p.mem.used() == 2);

    phys_addr_t c = p.map(o + 0x2000, 2049);  // one byte into a second slot
    CHECK(c == S + 0x1000);
    CHECK(p.mem.used() == 4);
    CHECK(p.mem.slots()[2].alloc_size == 2049);
    CHECK(p.mem.slots()[3].alloc_size == 1);
    CHECK(p.mem.slots()[3].orig_addr == o + 0x2800);
    CHECK(p.mem.index() == 4);

    phys_addr_t d = p.map(o + 0x4000, 1);
    CHECK(d == S + 0x2000);
    CHECK(p.mem.index() == 5);

    // PAGE_SIZE or more searches from ALIGN(index, 2) in steps of 2: slot 6, page aligned; the
    // free slot 5 before it now counts only itself.
    phys_addr_t e = p.map(o + 0x5000, 4096);
    CHECK(e == S + 0x3000);
    CHECK(e % 4096 == 0);
    CHECK(p.list(5) == 1);
    CHECK(p.list(8) == 120);
    CHECK(p.mem.used() == 7);
    CHECK(p.mem.index() == 8);

    // 128 slots, a whole segment: slot 8's run of 120 is too short, slot 128's is not.
    phys_addr_t f = p.map(o + 0x100000, 256 * K);
    CHECK(f == S + 0x40000);
    CHECK(p.mem.used() == 135);
    CHECK(p.mem.index() == 0);  // 128 + 128 wraps
    CHECK(p.mem.stats().used_high_water == 135);

    // Releasing merges with the free run after the mapping and lengthens the one before it.
    p.unmap(c, 2049);  // slot 4 is used: nothing after to merge
    CHECK(p.list(2) == 2);
    CHECK(p.list(3) == 1);
    p.unmap(d, 1);  // slot 5's run of 1 follows; slots 2, 3 before
    CHECK(p.list(2) == 4);
    CHECK(p.list(3) == 3);
    CHECK(p.list(4) == 2);
    CHECK(p.list(5) == 1);
    p.unmap(e, 4096);  // slot 8's 120 follow
    CHECK(p.list(2) == 126);
    CHECK(p.list(7) == 121);
    p.unmap(b, 2048);
    CHECK(p.list(1) == 127);
    p.unmap(a, 1);
    CHECK(p.list(0) == 128);
    p.unmap(f, 256 * K);  // the segment's end: nothing after; slot 127 ends the previous one
    CHECK(p.list(128) == 128);
    CHECK(p.list(255) == 1);
    CHECK(p.mem.used() == 0);
    CHECK(p.mem.stats().maps == 6);
    CHECK(p.mem.stats().unmaps == 6);
    CHECK(p.mem.check_invariants() == "");
    CHECK(p.log.lines().empty());
}

TEST_CASE("more than 128 slots fails as 'buffer is full', even in an empty pool") {
    pool_under_test p(256);
    CHECK(p.map(0x10000000, 256 * K + 1) == DMA_MAPPING_ERROR);
    CHECK(p.log.lines() == std::vector<std::string>{full(262145, 256, 0)});
    CHECK(p.mem.used() == 0);
    CHECK(p.mem.stats().failures == 1);
    CHECK(p.mem.stats().bounced_to_device == 0);
    CHECK(p.mem.check_invariants() == "");
}

TEST_CASE("the device's min_align_mask bits of the original are kept (NVMe: 4 KiB - 1)") {
    pool_under_test p(256);
    SUBCASE("a small mapping takes the first slot with the original's bit 11") {
        const phys_addr_t o = 0x20000a10;  // bit 11 set, 0x210 into its 2 KiB
        p.pattern(o, 512, 1);
        phys_addr_t t = p.map(o, 512, DMA_TO_DEVICE, 0xfff);
        CHECK(t == S + 0xa10);  // slot 1 (slot 0 has bit 11 clear) + 0x210
        CHECK((t & 0xfff) == (o & 0xfff));
        CHECK(p.mem.slots()[1].orig_addr == o);
        CHECK(p.mem.slots()[1].alloc_size == 512);
        CHECK(p.list(0) == 1);
        CHECK(p.holds(t, 512, 1));
        CHECK(p.mem.stats().bounced_to_device == 512);
        p.unmap(t, 512);
        CHECK(p.mem.used() == 0);
        CHECK(p.list(0) == 128);
    }
    SUBCASE("a page or more: stride 4 from ALIGN(index, 4), then the first slot that matches") {
        CHECK(p.map(0x10000000, 4096) == S);  // index 2
        const phys_addr_t o = 0x20003a10;
        p.pattern(o, 8192, 2);
        phys_addr_t t = p.map(o, 8192, DMA_FROM_DEVICE, 0xfff);
        CHECK(t == S + 5 * 0x800 + 0x210);
        CHECK((t & 0xfff) == 0xa10);
        CHECK(p.mem.used() == 2 + 5);  // 0x210 + 8 KiB spills into a fifth slot
        CHECK(p.mem.slots()[5].alloc_size == 8192);
        CHECK(p.mem.slots()[9].alloc_size == 0);
        CHECK(p.mem.slots()[9].orig_addr == o + 4 * 0x800);
        CHECK(p.holds(t, 8192, 2));  // copied in for DMA_FROM_DEVICE too
        p.unmap(t, 8192, DMA_FROM_DEVICE);
        CHECK(p.mem.used() == 2);
        CHECK(p.mem.check_invariants() == "");
    }
    SUBCASE("swiotlb_max_mapping_size fits the worst offset") {
        const phys_addr_t o = 0x20000fff;
        phys_addr_t t = p.map(o, 258048, DMA_TO_DEVICE, 0xfff);
        CHECK(t == S + 0xfff);
        CHECK(p.mem.used() == 127);
    }
}

TEST_CASE("alloc_align_mask aligns the slot") {
    pool_under_test p(256);
    CHECK(p.map(0x10000000, 1) == S);
    // 16 KiB alignment: stride 8 from ALIGN(1, 8).
    CHECK(p.map(0x10001000, 100, DMA_TO_DEVICE, 0, 0x3fff) == S + 0x4000);
    CHECK(p.list(1) == 7);
    CHECK(p.mem.index() == 9);
}

TEST_CASE("no mapping crosses a 128-slot segment") {
    pool_under_test p(256);
    auto slot = [](phys_addr_t t) { return (t - S) >> IO_TLB_SHIFT; };
    phys_addr_t a = p.map(0x10000000, 100 * 2048);
    CHECK(slot(a) == 0);
    // Slots 100..127 are free but end at the segment: 50 slots go to the next one.
    phys_addr_t b = p.map(0x10000000, 50 * 2048);
    CHECK(slot(b) == 128);
    CHECK(p.list(100) == 28);
    phys_addr_t c = p.map(0x10000000, 28 * 2048);
    CHECK(slot(c) == 178);
    phys_addr_t d = p.map(0x10000000, 50 * 2048);
    CHECK(slot(d) == 206);  // up to the pool's last slot
    CHECK(p.mem.index() == 0);
    phys_addr_t e = p.map(0x10000000, 28 * 2048);
    CHECK(slot(e) == 100);  // the first segment's tail, exactly
    CHECK(p.mem.used() == 256);
    CHECK(p.map(0x10000000, 1) == DMA_MAPPING_ERROR);
    CHECK(p.mem.check_invariants() == "");
}

TEST_CASE(
    "exhaustion: DMA_MAPPING_ERROR, the warning with slot counts, ratelimited; freeing gives room back") {
    pool_under_test p(256);
    phys_addr_t x = p.map(0x10000000, 256 * K);
    phys_addr_t y = p.map(0x10100000, 256 * K);
    CHECK(x == S);
    CHECK(y == S + 0x40000);
    CHECK(p.mem.used() == 256);
    CHECK(p.map(0x10200000, 1) == DMA_MAPPING_ERROR);
    CHECK(p.log.lines() == std::vector<std::string>{full(1, 256, 256)});
    CHECK(p.log.records().back().level == kern_level::warning);
    CHECK(p.mem.stats().failures == 1);

    p.unmap(x, 256 * K);
    CHECK(p.mem.used() == 128);
    phys_addr_t z = p.map(0x10200000, 1);
    CHECK(z == S);
    p.unmap(z, 1);
    CHECK(p.mem.used() == 128);
    // The same mapping again, at the same place.
    CHECK(p.map(0x10000000, 256 * K) == S);
    CHECK(p.mem.used() == 256);
    CHECK(p.mem.stats().used_high_water == 256);

    // dev_warn_ratelimited: ten lines per five seconds, then a count of the rest.
    for (int i = 0; i < 11; ++i) CHECK(p.map(0x10200000, 4096) == DMA_MAPPING_ERROR);
    CHECK(p.log.lines().size() == 10);
    CHECK(p.log.lines().back() == full(4096, 256, 256));
    CHECK(p.map(0x10200000, 1, DMA_TO_DEVICE, 0, 0, DMA_ATTR_NO_WARN) == DMA_MAPPING_ERROR);
    CHECK(p.log.lines().size() == 10);
    p.machine.cpu.cycles += 11'000'000'000;  // 5.5 s at 2 GHz
    CHECK(p.map(0x10200000, 2048) == DMA_MAPPING_ERROR);
    std::vector<std::string> lines = p.log.lines();
    REQUIRE(lines.size() == 12);
    CHECK(lines[10] == "swiotlb_tbl_map_single: 2 callbacks suppressed");
    CHECK(lines[11] == full(2048, 256, 256));
    CHECK(p.mem.stats().failures == 14);
    CHECK(p.mem.check_invariants() == "");
}

TEST_CASE("the search index wraps around the pool") {
    pool_under_test p(256);
    std::vector<phys_addr_t> t;
    for (unsigned i = 0; i < 255; ++i) t.push_back(p.map(0x10000000 + i * 0x1000, 1));
    CHECK(t.back() == S + 254 * 0x800);
    CHECK(p.mem.index() == 255);
    for (unsigned i = 0; i < 10; ++i) p.unmap(t[i], 1);
    CHECK(p.list(0) == 10);
    // Slot 255 is the last: the index wraps to 0 after it.
    CHECK(p.map(0x10200000, 1) == S + 255 * 0x800);
    CHECK(p.mem.index() == 0);
    p.unmap(S + 255 * 0x800, 1);
    CHECK(p.mem.index() == 0);
    for (unsigned i = 0; i < 10; ++i) CHECK(p.map(0x10300000, 1) == S + i * 0x800);
    CHECK(p.mem.index() == 10);
    // 2 slots from index 10: nothing until slot 255's run of 1, then round to the start... which
    // is full too: the search gives up after looking at every slot once.
    CHECK(p.map(0x10400000, 2049) == DMA_MAPPING_ERROR);
    p.unmap(S + 3 * 0x800, 1);
    p.unmap(S + 4 * 0x800, 1);
    // From index 10, wrapping past the pool's end, to slots 3-4.
    CHECK(p.map(0x10400000, 2049) == S + 3 * 0x800);
    CHECK(p.mem.index() == 5);
    CHECK(p.mem.check_invariants() == "");
}

TEST_CASE("bounce copies, byte for byte, in each direction") {
    pool_under_test p(256);
    const phys_addr_t o = 0x30000123;
    const std::size_t n = 3000;
    p.pattern(o - 16, n + 32, 0x11);  // the original, with 16 bytes either side
    const std::uint8_t before = p.machine.byte(o - 1), after = p.machine.byte(o + n);
    auto device_writes = [&](phys_addr_t t, std::uint8_t seed) { p.pattern(t, n, seed); };

    SUBCASE("DMA_TO_DEVICE: copied in on map; nothing comes back") {
        phys_addr_t t = p.map(o, n, DMA_TO_DEVICE);
        CHECK(p.holds(t, n, 0x11 + 16 * 7));
        CHECK(p.machine.byte(t + n) == 0);  // only mapping_size bytes are copied
        // The CPU changes the buffer and syncs it for the device.
        p.pattern(o, n, 0x40);
        p.mem.swiotlb_sync_single_for_device(t, n, DMA_TO_DEVICE);
        CHECK(p.holds(t, n, 0x40));
        device_writes(t, 0x77);
        p.mem.swiotlb_sync_single_for_cpu(t, n, DMA_TO_DEVICE);
        p.unmap(t, n, DMA_TO_DEVICE);
        CHECK(p.holds(o, n, 0x40));
        CHECK(p.mem.stats().bounced_to_device == 2 * n);
        CHECK(p.mem.stats().bounced_from_device == 0);
    }
    SUBCASE("DMA_FROM_DEVICE: copied in on map too; back on sync_for_cpu and unmap") {
        phys_addr_t t = p.map(o, n, DMA_FROM_DEVICE);
        CHECK(p.holds(t, n, 0x11 + 16 * 7));
        device_writes(t, 0x22);
        p.mem.swiotlb_sync_single_for_cpu(t, n, DMA_FROM_DEVICE);
        CHECK(p.holds(o, n, 0x22));
        // sync_for_device copies nothing for DMA_FROM_DEVICE.
        p.pattern(o, n, 0x50);
        p.mem.swiotlb_sync_single_for_device(t, n, DMA_FROM_DEVICE);
        CHECK(p.holds(t, n, 0x22));
        device_writes(t, 0x33);
        p.unmap(t, n, DMA_FROM_DEVICE);
        CHECK(p.holds(o, n, 0x33));
        CHECK(p.mem.stats().bounced_to_device == n);
        CHECK(p.mem.stats().bounced_from_device == 2 * n);
    }
    SUBCASE("DMA_BIDIRECTIONAL: both ways") {
        phys_addr_t t = p.map(o, n, DMA_BIDIRECTIONAL);
        CHECK(p.holds(t, n, 0x11 + 16 * 7));
        device_writes(t, 0x44);
        p.mem.swiotlb_sync_single_for_cpu(t, n, DMA_BIDIRECTIONAL);
        CHECK(p.holds(o, n, 0x44));
        p.pattern(o, n, 0x55);
        p.mem.swiotlb_sync_single_for_device(t, n, DMA_BIDIRECTIONAL);
        CHECK(p.holds(t, n, 0x55));
        device_writes(t, 0x66);
        p.unmap(t, n, DMA_BIDIRECTIONAL);
        CHECK(p.holds(o, n, 0x66));
        CHECK(p.mem.stats().bounced_to_device == 2 * n);
        CHECK(p.mem.stats().bounced_from_device == 2 * n);
    }
    SUBCASE("DMA_ATTR_SKIP_CPU_SYNC: unmap copies nothing back") {
        phys_addr_t t = p.map(o, n, DMA_FROM_DEVICE);
        device_writes(t, 0x22);
        p.mem.swiotlb_tbl_unmap_single(t, n, DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
        CHECK(p.holds(o, n, 0x11 + 16 * 7));
        CHECK(p.mem.used() == 0);
    }
    SUBCASE("a sync inside the mapping copies from there on") {
        phys_addr_t t = p.map(o, n, DMA_FROM_DEVICE);
        device_writes(t, 0x22);
        p.mem.swiotlb_sync_single_for_cpu(t + 2100, 100, DMA_FROM_DEVICE);
        CHECK(p.machine.byte(o + 2099) == static_cast<std::uint8_t>(0x11 + (16 + 2099) * 7));
        CHECK(p.machine.byte(o + 2100) == static_cast<std::uint8_t>(0x22 + 2100 * 7));
        CHECK(p.machine.byte(o + 2199) == static_cast<std::uint8_t>(0x22 + 2199 * 7));
        CHECK(p.machine.byte(o + 2200) == static_cast<std::uint8_t>(0x11 + (16 + 2200) * 7));
        CHECK(p.mem.stats().bounced_from_device == 100);
    }
    // Bytes outside the original are never touched.
    CHECK(p.machine.byte(o - 1) == before);
    CHECK(p.machine.byte(o + n) == after);
    CHECK(p.log.lines().empty());
}

TEST_CASE("bad unmaps and syncs are reported, counted, and change nothing") {
    pool_under_test p(256);
    phys_addr_t t = p.map(0x10000000, 4096);
    REQUIRE(t == S);
    const std::string at = "nvme 0000:01:00.0: WARNING: at kernel/dma/swiotlb.c swiotlb_tbl_unmap_single: ";
    p.unmap(0x10000000, 4096);  // the original, not the bounce buffer
    p.unmap(t + 0x800, 2048);   // inside the mapping
    p.unmap(t + 1, 4095);       // not where it starts
    p.unmap(S + 0x10000, 1);    // a free slot
    p.unmap(S + 0x80000, 1);    // just past the pool
    CHECK(p.log.lines() ==
          std::vector<std::string>{at + "0x10000000 (4096 bytes, DMA_TO_DEVICE) is not a swiotlb mapping",
                                   at + "0x4000800 (2048 bytes, DMA_TO_DEVICE) is not a swiotlb mapping",
                                   at + "0x4000001 (4095 bytes, DMA_TO_DEVICE) is not a swiotlb mapping",
                                   at + "0x4010000 (1 bytes, DMA_TO_DEVICE) is not a swiotlb mapping",
                                   at + "0x4080000 (1 bytes, DMA_TO_DEVICE) is not a swiotlb mapping"});
    CHECK(p.mem.stats().bad_calls == 5);
    CHECK(p.mem.used() == 2);
    p.unmap(t, 4096);
    p.unmap(t, 4096);  // twice
    CHECK(p.mem.stats().bad_calls == 6);
    CHECK(p.mem.stats().unmaps == 1);
    CHECK(p.mem.used() == 0);

    p.mem.swiotlb_sync_single_for_cpu(t, 16, DMA_NONE, nvme);
    p.mem.swiotlb_sync_single_for_device(0x1000, 16, DMA_TO_DEVICE, nvme);
    CHECK(p.log.lines().back() ==
          "nvme 0000:01:00.0: WARNING: at kernel/dma/swiotlb.c swiotlb_bounce: 0x1000 is not in the pool");
    CHECK(p.log.lines()[6] ==
          "nvme 0000:01:00.0: kernel BUG at kernel/dma/swiotlb.c swiotlb_sync_single_for_cpu: DMA_NONE");
    CHECK(p.mem.stats().bad_calls == 8);
    // A sync of a free slot copies nothing and says nothing, as in Linux.
    p.mem.swiotlb_sync_single_for_cpu(t, 16, DMA_FROM_DEVICE, nvme);
    CHECK(p.mem.stats().bounced_from_device == 0);
    CHECK(p.log.lines().size() == 8);
    CHECK(p.mem.check_invariants() == "");
}

TEST_CASE("a mapping larger than its allocation is refused once with Linux's warning") {
    pool_under_test p(256);
    CHECK(p.mem.swiotlb_tbl_map_single(0x10000000, 4096, 2048, 0, DMA_TO_DEVICE, 0, 0, nvme) ==
          DMA_MAPPING_ERROR);
    CHECK(p.mem.swiotlb_tbl_map_single(0x10000000, 4096, 2048, 0, DMA_TO_DEVICE, 0, 0, nvme) ==
          DMA_MAPPING_ERROR);
    CHECK(p.log.lines() == std::vector<std::string>{
                               "nvme 0000:01:00.0: Invalid sizes (mapping: 4096 bytes, alloc: 2048 bytes)"});
    CHECK(p.mem.stats().failures == 2);
    // A mapping smaller than its allocation copies only mapping_size bytes but holds the slots.
    phys_addr_t t = p.mem.swiotlb_tbl_map_single(0x10000000, 100, 5000, 0, DMA_TO_DEVICE);
    CHECK(t == S);
    CHECK(p.mem.used() == 3);
    CHECK(p.mem.stats().bounced_to_device == 100);
    p.mem.swiotlb_tbl_unmap_single(t, 100, DMA_TO_DEVICE);
    CHECK(p.mem.used() == 0);
}

TEST_CASE("100k random maps and unmaps keep the free runs exact against a bitmap of used slots") {
    constexpr unsigned nslabs = 512;
    pool_under_test p(nslabs);
    std::mt19937_64 rng(20240601);  // mt19937_64's outputs are fixed by the standard
    auto below = [&](std::uint64_t n) { return rng() % n; };

    struct live {
        phys_addr_t tlb;
        std::size_t size;
        dma_data_direction dir;
        unsigned first, nslots;
    };
    std::vector<live> mappings;
    std::vector<bool> used(nslabs, false);
    std::uint64_t failures = 0, maps = 0;

    auto expected_list = [&](std::vector<unsigned>& out) {
        unsigned run = 0;
        for (unsigned i = nslabs; i-- > 0;) {
            if (i % IO_TLB_SEGSIZE == IO_TLB_SEGSIZE - 1) run = 0;
            run = used[i] ? 0 : run + 1;
            out[i] = run;
        }
    };
    // With no min_align_mask the search visits every slot a multiple of the stride apart, so a
    // failure means no such slot starts a free run long enough.
    auto room_at_stride = [&](unsigned nslots, unsigned stride) {
        std::vector<unsigned> lists(nslabs);
        expected_list(lists);
        for (unsigned i = 0; i < nslabs; i += stride)
            if (lists[i] >= nslots) return true;
        return false;
    };

    std::vector<unsigned> lists(nslabs);
    for (int op = 0; op < 100000; ++op) {
        if (mappings.empty() || below(100) < 55) {
            std::size_t size;
            switch (below(10)) {
                case 0:
                    size = 1 + below(256 * K);  // up to a whole segment
                    break;
                case 1:
                case 2:
                case 3:
                    size = 1 + below(16 * K);
                    break;
                default:
                    size = 1 + below(2048);
            }
            const unsigned min_align_mask = below(4) == 0 ? 0xfff : 0;
            const unsigned alloc_align_mask = below(8) == 0 ? 0x3fff : 0;
            const phys_addr_t orig = 0x40000000 + below(0x10000000);
            const auto dir = static_cast<dma_data_direction>(below(3));
            const unsigned offset = static_cast<unsigned>(orig & min_align_mask & 0x7ff);
            const auto nslots = static_cast<unsigned>((size + offset + IO_TLB_SIZE - 1) / IO_TLB_SIZE);
            phys_addr_t t = p.map(orig, size, dir, min_align_mask, alloc_align_mask, DMA_ATTR_NO_WARN);
            if (t == DMA_MAPPING_ERROR) {
                ++failures;
                if (min_align_mask == 0) {
                    unsigned stride = std::max(size >= 4096 ? 2u : 1u, (alloc_align_mask >> 11) + 1);
                    REQUIRE_FALSE(room_at_stride(nslots, stride));
                }
            } else {
                ++maps;
                REQUIRE(p.mem.is_swiotlb_buffer(t));
                const auto first = static_cast<unsigned>((t - S) >> IO_TLB_SHIFT);
                REQUIRE((t & min_align_mask) == (orig & min_align_mask));
                REQUIRE(first / IO_TLB_SEGSIZE == (first + nslots - 1) / IO_TLB_SEGSIZE);
                if (min_align_mask == 0 && size >= 4096) REQUIRE(t % 4096 == 0);
                if (min_align_mask == 0) REQUIRE(((t - S) & alloc_align_mask) == 0);
                for (unsigned i = first; i < first + nslots; ++i) {
                    REQUIRE_FALSE(used[i]);
                    used[i] = true;
                }
                mappings.push_back({t, size, dir, first, nslots});
            }
        } else {
            const std::size_t k = below(mappings.size());
            const live m = mappings[k];
            mappings[k] = mappings.back();
            mappings.pop_back();
            p.unmap(m.tlb, m.size, m.dir);
            for (unsigned i = m.first; i < m.first + m.nslots; ++i) used[i] = false;
        }
        expected_list(lists);
        std::uint64_t in_use = 0;
        for (unsigned i = 0; i < nslabs; ++i) {
            in_use += used[i];
            if (p.list(i) != lists[i]) {
                CAPTURE(op);
                CAPTURE(i);
                REQUIRE(p.list(i) == lists[i]);
            }
        }
        REQUIRE(p.mem.used() == in_use);
    }
    for (const live& m : mappings) p.unmap(m.tlb, m.size, m.dir);
    CHECK(p.mem.used() == 0);
    CHECK(p.mem.check_invariants() == "");
    CHECK(p.mem.stats().maps == maps);
    CHECK(p.mem.stats().unmaps == maps);
    CHECK(p.mem.stats().failures == failures);
    CHECK(p.mem.stats().bad_calls == 0);
    // The seed's exact outcome: both paths exercised plenty, the pool nearly full at its peak.
    CHECK(maps == 45193);
    CHECK(failures == 9798);
    CHECK(p.mem.stats().used_high_water == 446);
    CHECK(p.mem.stats().bounced_to_device == 114055380);
    CHECK(p.mem.stats().bounced_from_device == 76364312);
    CHECK(p.log.lines().empty());
}

}  // namespace memsim::kernel
