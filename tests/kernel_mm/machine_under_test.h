// A page allocator booted on a fake machine, for kernel tests: memblock laid out as a QEMU pc's
// e820 gives it to Linux, the buddy allocator built over it and memblock released into it, and
// the zone and free-list views the tests check.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include "base/units.h"
#include "kernel_mm/page_alloc.h"
#include "tests/kernel_mm/fake_machine.h"

namespace memsim::kernel {

// The memory a PC's e820 gives Linux (page 0 trimmed) up to `ram` bytes below 4 GiB
// (QEMU pc: at most 3 GiB below, the top 128 KiB reserved, the rest from 4 GiB), with the first
// 1 MiB reserved as x86 Linux reserves it.
inline memblock pc_memblock(std::uint64_t ram, int nid = MAX_NUMNODES) {
    memblock blocks;
    std::uint64_t low = ram >= 3584 * MiB ? 3 * GiB : ram;
    blocks.add_node(0x1000, 0x9fc00 - 0x1000, nid);
    blocks.add_node(0x100000, low - 128 * 1024 - 0x100000, nid);
    if (ram > low) blocks.add_node(4 * GiB, ram - low, nid);
    blocks.reserve(0, 0x100000);
    return blocks;
}

struct machine_under_test {
    testing::fake_machine machine;
    printk_buffer log;
    memblock blocks;
    page_allocator alloc;

    explicit machine_under_test(memblock b, page_alloc_config config = {})
        : blocks(std::move(b)), alloc(config, blocks, machine, log) {
        alloc.memblock_free_all(blocks);
    }

    zone& zone_named(zone_type type, int node = 0) {
        for (zone& z : alloc.nodes()[static_cast<std::size_t>(node)].zones)
            if (z.type == type) return z;
        throw std::logic_error("no such zone");
    }
    std::vector<std::uint64_t> nr_free(zone_type type) {
        std::vector<std::uint64_t> counts;
        for (const free_area& a : zone_named(type).area) counts.push_back(a.nr_free);
        return counts;
    }
    std::uint64_t pcp_pages() const {
        std::uint64_t pages = 0;
        for (const pglist_data& n : alloc.nodes())
            for (const zone& z : n.zones)
                for (const per_cpu_pages& p : z.pcp) pages += p.count;
        return pages;
    }
};

}  // namespace memsim::kernel
