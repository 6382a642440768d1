// The four DMA-constraint experiments of experiments/, run as their READMEs say, with the
// numbers that answer their questions checked: where the buffers came from and when the zone ran
// dry, what bouncing cost, where a bypassing driver's bytes landed, why a fragmented ZONE_DMA
// refuses a 32 KiB request.
#include <doctest/doctest.h>

#include <string>

#include "tests/platform/memsim_command.h"

namespace {

using memsim::testing::outcome;
using memsim::testing::scratch;

// `memsim run` on experiments/NAME: its summary, after checking that it ran cleanly.
std::string run_experiment(const scratch& s, const std::string& name) {
    std::string dir = std::string(MEMSIM_SOURCE_DIR) + "/experiments/" + name;
    outcome o = s.memsim("run --config " + dir + "/config.yaml --workload " + dir + "/workload.txt");
    CHECK(o.status == 0);
    CHECK(o.err.empty());
    return o.out;
}

bool says(const std::string& summary, const std::string& line) {
    bool found = summary.find(line) != std::string::npos;
    if (!found) MESSAGE("missing: " << line);
    return found;
}

TEST_CASE("experiment 1: a 24-bit device's coherent buffers come from ZONE_DMA until it runs dry") {
    scratch s;
    std::string out = run_experiment(s, "1-isa-zone-dma");
    CHECK(says(out, "coherent: 239 allocated (by zone: DMA 239), 21 failed"));
    CHECK(says(out,
               "first allocation failure: swapper/0: page allocation failure: order:4, "
               "mode:0xcc1(GFP_KERNEL|GFP_DMA), nodemask=(null)"));
    // Ordinary allocations emptied DMA32 and Normal but never touched ZONE_DMA: lowmem_reserve.
    CHECK(
        says(out, "0.DMA 3840 -> 3840 -> 16 0.DMA32 758126 -> 3438 -> 3438 0.Normal 245497 -> 1785 -> 1785"));
    CHECK(says(out,
               "ZONE_DMA (node 0): 3840 pages managed, watermarks min 7 low 10 high 13, "
               "protection (0, 2958, 3917, 3917, 3917)"));
}

TEST_CASE("experiment 2: a 32-bit device bounces every mapping above 4 GiB, and pays for the copies") {
    scratch s;
    std::string out = run_experiment(s, "2-bounce-buffers");
    CHECK(says(out,
               "streaming: 128 mapped (64 bounced), 0 mapping errors; bounce copies 4 MiB to the device, "
               "2 MiB back"));
    CHECK(says(out,
               "swiotlb: 32768 slots (64 MiB) at 0xbbfe0000: 64 mappings, 0 in use at the end, "
               "high water 64 slots, 0 failed"));
    CHECK(says(out, "a mapping's map + unmap: 16.46 us bounced, 0.05 us in place"));
    CHECK(says(out, "transfers: 64 (0 failed), 4 MiB moved, 123.57 us mean from start to interrupt"));
}

TEST_CASE("experiment 3: bypassing the DMA API on a truncating bus writes low memory, and is caught") {
    scratch s;
    std::string out = run_experiment(s, "3-api-bypass");
    CHECK(says(out,
               "bus: 64 accesses beyond the engine's reach, the first to 0x100200000, which its address "
               "lines carry as 0x200000"));
    CHECK(says(out, "transfers: 2 (0 failed)"));
    CHECK(says(out, "dma-debug errors 2"));
    CHECK(says(out, "streaming: 1 mapped (1 bounced)"));
}

TEST_CASE("experiment 4: a fragmented ZONE_DMA refuses 32 KiB with seven eighths of it free") {
    scratch s;
    std::string out = run_experiment(s, "4-zone-dma-fragmentation");
    CHECK(says(out, "0.DMA 3840 -> 3360 -> 3359"));
    CHECK(
        says(out,
             "buddyinfo: Node 0, zone      DMA    480    480    478      0      0      0      0      0      "
             "0      0      0 \n"));
    CHECK(says(out,
               "first allocation failure: swapper/0: page allocation failure: order:3, "
               "mode:0xcc1(GFP_KERNEL|GFP_DMA)"));
    CHECK(says(out, "coherent: 0 allocated (by zone: none), 1 failed"));
}

}  // namespace
