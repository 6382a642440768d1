// The CPU core running workloads: real-mode addressing and A20, paging through the TLBs and
// walker with the page tables in simulated RAM, faults with CR2 and error codes, CR3 and PCID
// semantics, page splits, and the time each access costs.
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <tlm_utils/simple_target_socket.h>

#include "base/units.h"
#include "bench/in_child.h"
#include "hw/bus.h"
#include "hw/cpu_core.h"
#include "hw/ram.h"
#include "testbench.h"
#include "traces/workload.h"

using namespace memsim;
using namespace memsim::test;

namespace {

// A trap handler that records what reached it and lets the run stop, or, with `claim_fixed`,
// says each fault was fixed without doing anything, or, with `fix`, runs it and says so.
struct recording_handler final : hw::trap_handler {
    std::vector<hw::fault_report> faults;
    std::vector<unsigned> interrupts;
    bool claim_fixed = false;
    std::function<void(hw::cpu_core&)> fix;
    bool fault(hw::cpu_core& cpu, const hw::fault_report& r) override {
        faults.push_back(r);
        if (fix) fix(cpu);
        return claim_fixed || fix;
    }
    std::vector<sc_time> interrupt_times;  // the core's time when each was taken
    void interrupt(hw::cpu_core& cpu, unsigned line) override {
        interrupts.push_back(line);
        interrupt_times.push_back(cpu.port.now());
    }
    // Kernel operations are recorded with the core's time and global time when they came;
    // every handle stands for 0x10000 plus 0x1000 per id.
    std::vector<traces::op> services;
    std::vector<sc_time> service_times, global_times;
    bool service(hw::cpu_core& cpu, const traces::op& o) override {
        services.push_back(o);
        service_times.push_back(cpu.port.now());
        global_times.push_back(sc_time_stamp());
        return true;
    }
    std::uint64_t handle_address(std::int32_t handle) const override { return 0x10000 + 0x1000 * handle; }
};

// A device that raises its interrupt line `after` the simulation starts.
struct line_raiser : sc_module {
    sc_signal<bool>& out;
    sc_time after;
    line_raiser(sc_module_name n, sc_signal<bool>& o, sc_time t) : sc_module(n), out(o), after(t) {
        SC_HAS_PROCESS(line_raiser);
        SC_THREAD(go);
    }
    void go() {
        if (after != SC_ZERO_TIME) wait(after);
        out.write(true);
    }
};

// A device register whose write rings the device's interrupt line `after` the write's time.
struct doorbell : sc_module {
    tlm_utils::simple_target_socket<doorbell> socket{"socket"};
    sc_signal<bool>& out;
    sc_time after;
    sc_event ring;
    doorbell(sc_module_name n, sc_signal<bool>& o, sc_time t) : sc_module(n), out(o), after(t) {
        socket.register_b_transport(this, &doorbell::b_transport);
        SC_HAS_PROCESS(doorbell);
        SC_METHOD(raise);
        sensitive << ring;
        dont_initialize();
    }
    void b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
        if (trans.is_write()) ring.notify(delay + after);
        trans.set_response_status(tlm::TLM_OK_RESPONSE);
    }
    void raise() { out.write(true); }
};

// 8 MiB of memory that grants DMI until a write to its last word revokes every grant; from
// then on each access goes through b_transport, and reads of page tables (below 1 MiB + 64 KiB)
// are counted.
struct revocable_memory : sc_module, tlm::tlm_fw_transport_if<> {
    static constexpr std::uint64_t size = 8 * MiB, revoke_at = size - 8, tables_end = 0x110000;
    tlm::tlm_target_socket<> socket{"socket"};
    std::vector<unsigned char> store = std::vector<unsigned char>(size);
    bool revoked = false;
    unsigned table_reads = 0;  // through b_transport

    explicit revocable_memory(sc_module_name name) : sc_module(name) { socket.bind(*this); }
    void b_transport(tlm::tlm_generic_payload& t, sc_time& delay) override {
        const std::uint64_t at = t.get_address();
        delay += sc_time(5, SC_NS);
        if (t.is_write() && at == revoke_at) {
            revoked = true;
            socket->invalidate_direct_mem_ptr(0, size - 1);
        } else if (t.is_write()) {
            std::memcpy(&store[at], t.get_data_ptr(), t.get_data_length());
        } else {
            std::memcpy(t.get_data_ptr(), &store[at], t.get_data_length());
            table_reads += at < tables_end;
        }
        t.set_response_status(tlm::TLM_OK_RESPONSE);
    }
    bool get_direct_mem_ptr(tlm::tlm_generic_payload&, tlm::tlm_dmi& dmi) override {
        if (revoked) return false;
        dmi.set_dmi_ptr(store.data());
        dmi.set_start_address(0);
        dmi.set_end_address(size - 1);
        dmi.allow_read_write();
        return true;
    }
    unsigned transport_dbg(tlm::tlm_generic_payload&) override { return 0; }
    tlm::tlm_sync_enum nb_transport_fw(tlm::tlm_generic_payload&, tlm::tlm_phase&, sc_time&) override {
        return tlm::TLM_COMPLETED;
    }
};

// 64 MiB of RAM at 0 (1 GHz, 10 cycles, 16 bytes a cycle) behind a 1 GHz, 8-byte bus with one
// cycle of latency, and a 1 GHz core with the default TLBs.
struct cpu_rig {
    bench_ground g;
    hw::ram mem{"ram", 64 * MiB, {sc_time(1, SC_NS), 10, 16, 1, 4096}, g.stats.under("ram")};
    hw::bus interconnect{
        "bus", {sc_time(1, SC_NS), 8, 1}, hw::overreach_mode::error, g.stats.under("bus"), g.log};
    hw::cpu_core cpu{
        "cpu", {sc_time(1, SC_NS), mmu::tlb_config::intel_default(), {}}, g.stats.under("cpu"), g.log};
    recording_handler handler;
    traces::workload work;

    explicit cpu_rig(const std::string& text, bool replay = true)
        : cpu("cpu", {sc_time(1, SC_NS), mmu::tlb_config::intel_default(), {}, 52, replay},
              g.stats.under("cpu"), g.log),
          work(traces::parse_text("memsim workload 1\n" + text, "test")) {
        tlm::tlm_global_quantum::instance().set(sc_time(1, SC_US));
        interconnect.bind_initiator(cpu.port.socket, "cpu", 64);
        interconnect.map(interconnect.bind_target(mem.socket, "ram"), 0, 64 * MiB);
        cpu.set_trap_handler(&handler);
        cpu.load(work);
        g.clock.follow(cpu.thread(), cpu.port.quantum);
    }
    std::uint64_t word(std::uint64_t physical, unsigned size = 8) {
        std::uint64_t v = 0;
        std::memcpy(&v, mem.data() + physical, size);
        return v;
    }
};

}  // namespace

TEST_CASE("cpu: real mode forms segment * 16 + offset and wraps at 1 MiB while A20 is masked") {
    cpu_rig rig(
        "w 0xffff:0x10 2 0xabcd\n"  // 0xffff0 + 0x10 = 0x100000: wraps to 0
        "a20 on\n"
        "w 0xffff:0x20 2 0x1234\n"  // 0x100010 with A20 enabled
        "w 0x1234:0x5 1 0x77\n");   // 0x12345
    sc_start();
    CHECK(rig.cpu.finished());
    CHECK(rig.word(0x0, 2) == 0xabcd);
    CHECK(rig.word(0x100000, 2) == 0);
    CHECK(rig.word(0x100010, 2) == 0x1234);
    CHECK(rig.word(0x12345, 1) == 0x77);
}

TEST_CASE("cpu: kernel operations go to the trap handler; h+offset accesses use the handle's address") {
    cpu_rig rig(
        "kmalloc buf 64 GFP_KERNEL\n"
        "kmalloc other 8 GFP_ATOMIC\n"
        "cr0 1\n"
        "write buf+8 4 0xdeadbeef\n"
        "write other 2 0x55aa\n"
        "kfree buf\n");
    sc_start();
    CHECK(rig.cpu.finished());
    REQUIRE(rig.handler.services.size() == 3);
    CHECK(rig.handler.services[0].kind == traces::op_kind::kmalloc);
    CHECK(rig.handler.services[1].handle == 1);
    CHECK(rig.handler.services[2].kind == traces::op_kind::kfree);
    CHECK(rig.word(0x10008, 4) == 0xdeadbeef);
    CHECK(rig.word(0x11000, 2) == 0x55aa);
}

TEST_CASE("cpu: without paging an access costs the DMI latency of bus and RAM") {
    cpu_rig rig("read 0x1000 8\nread 0x2000 8\nwrite 0x3000 8 5\ncompute 100\n");
    sc_start();
    // RAM: 10 cycles + one beat = 11 ns; the bus: 1 cycle latency + one cycle = 2 ns. Three
    // accesses at 13 ns and 100 cycles of compute at 1 ns.
    CHECK(sc_time_stamp() == sc_time(3 * 13 + 100, SC_NS));
    CHECK(rig.word(0x3000) == 5);
}

TEST_CASE("cpu: 4-level paging walks tables in RAM, sets A and D, and then hits in the TLB") {
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "map 0x400000 0x200000 4K\n"
        "write 0x400008 8 0x1122334455667788\n"
        "read 0x400010 8\n"
        "read 0x400018 8\n");
    sc_start();
    CHECK(rig.cpu.finished());
    CHECK(rig.word(0x200008) == 0x1122334455667788);
    // The PTE gained Accessed (bit 5) and Dirty (bit 6); the upper entries Accessed.
    CHECK(rig.word(0x103000) == (0x200003 | 0x20 | 0x40));
    CHECK(rig.word(0x100000) == (0x101007 | 0x20));
    CHECK(rig.g.count("cpu.walker.walks") == 1);
    CHECK(rig.g.count("cpu.tlb.l1d_4k.hits") == 2);
    CHECK(rig.g.count("cpu.tlb.misses_4k") == 1);
}

TEST_CASE("cpu: a run of TLB hits costs, counts and moves data as one access at a time") {
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "map 0x400000 0x200000 4K\n"
        "write 0x400000 8 0x1111\n"  // walks: the entry is dirty from here on
        "kmalloc before 8 GFP_KERNEL\n"
        "read 0x400008 8\nread 0x400010 8\nread 0x400018 4\n"
        "write 0x400020 4 0xabcd\nwrite 0x400024 2 0x77\n"
        "read 0x400ff8 8\nread 0x400008 1\n"
        "kmalloc after 8 GFP_KERNEL\n");
    sc_start();
    CHECK(rig.cpu.finished());
    // Seven L1 DTLB hits at 1 cycle each and seven DMI accesses at 13 ns (bus 2, RAM 11).
    REQUIRE(rig.handler.service_times.size() == 2);
    CHECK(rig.handler.service_times[1] - rig.handler.service_times[0] == sc_time(7 * (1 + 13), SC_NS));
    CHECK(rig.g.count("cpu.tlb.lookups") == 8);
    CHECK(rig.g.count("cpu.tlb.l1d_4k.hits") == 7);
    CHECK(rig.g.count("cpu.tlb.l1d_4k.misses") == 1);
    // The level's other data arrays were probed in parallel every time, and missed.
    CHECK(rig.g.count("cpu.tlb.l1d_2m.lookups") == 8);
    CHECK(rig.g.count("cpu.tlb.l1d_2m.misses") == 8);
    CHECK(rig.g.count("cpu.tlb.l2_stlb.lookups") == 1);
    CHECK(rig.g.count("cpu.reads") == 5);
    CHECK(rig.g.count("cpu.writes") == 3);
    CHECK(rig.word(0x200000) == 0x1111);
    CHECK(rig.word(0x200020) == 0x000000770000abcd);
}

TEST_CASE("cpu: runs of TLB hits leave the LRU order that single accesses would") {
    // Five pages in set 0 of the 16-set, 4-way L1 DTLB (page numbers 16 apart).
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "map 0x400000 0x200000 4K\nmap 0x410000 0x210000 4K\nmap 0x420000 0x220000 4K\n"
        "map 0x430000 0x230000 4K\nmap 0x440000 0x240000 4K\n"
        "write 0x400000 8 1\nwrite 0x410000 8 2\nread 0x420000 8\nread 0x430000 8\n"  // A B C D
        "read 0x400008 8\nread 0x400010 8\nwrite 0x400018 8 3\nread 0x400020 8\n"     // A again
        "read 0x410008 8\nwrite 0x410010 8 4\nread 0x410018 8\n"                      // B again
        "read 0x440000 8\n"    // E evicts the least recently used: C
        "read 0x430008 8\n"    // D still hits
        "read 0x420008 8\n"    // C comes back from the STLB and evicts A
        "read 0x400028 8\n");  // so A misses the L1 too
    sc_start();
    CHECK(rig.cpu.finished());
    CHECK(rig.g.count("cpu.walker.walks") == 5);
    CHECK(rig.g.count("cpu.tlb.l1d_4k.misses") == 5 + 2);
    CHECK(rig.g.count("cpu.tlb.l1d_4k.hits") == 7 + 1);
    CHECK(rig.g.count("cpu.tlb.l2_stlb.hits") == 2);
    CHECK(rig.g.count("cpu.tlb.l1d_4k.evictions") == 3);
}

namespace {

// A random workload over six consecutive 4 KiB pages and a 2 MiB page: mostly streams of
// accesses of mixed kinds and sizes (1 to 16 bytes, some across pages), with jumps, compute,
// INVLPG and CR3 reloads between them.
std::string random_workload(std::uint64_t seed, unsigned ops) {
    std::mt19937_64 random(seed);
    std::string text = "paging long4 at 0x100000\nmap 0x40000000 0x1000000 2M\n";
    for (unsigned page = 0; page < 6; ++page)
        text += fmt::format("map {:#x} {:#x} 4K\n", 0x400000 + page * 0x1000, 0x200000 + page * 0x1000);
    const auto jump = [&random] {
        return random() % 2 ? 0x400000 + random() % (6 * 0x1000 - 16)
                            : 0x40000000 + random() % (2 * MiB - 16);
    };
    constexpr unsigned sizes[] = {1, 2, 4, 8, 8, 8, 16};
    constexpr std::string_view kinds[] = {"read", "read", "read", "write", "write", "fetch"};
    std::uint64_t cursor = jump();
    for (unsigned n = 0; n < ops; ++n) {
        const unsigned pick = random() % 100;
        if (pick < 2) text += fmt::format("invlpg {:#x}\n", cursor);
        if (pick == 2) text += "cr3 0x100000\n";
        if (pick == 3) text += fmt::format("compute {}\n", random() % 50);
        if (pick >= 4 && pick < 12) cursor = jump();
        const unsigned size = sizes[random() % std::size(sizes)];
        const std::string_view kind = kinds[random() % std::size(kinds)];
        text += fmt::format("{} {:#x} {}{}\n", kind, cursor, size,
                            kind == "write" ? fmt::format(" {:#x}", random()) : "");
        cursor += size;
        if (cursor + 16 > 0x406000 && cursor < 0x40000000) cursor = jump();
    }
    return text;
}

// What a run leaves that anyone could see: its statistics, its time and the RAM it used.
struct run_outcome {
    std::uint64_t stats_hash, ram_hash, time, ops;
};

std::uint64_t fnv1a(std::string_view bytes) {
    std::uint64_t h = 0xcbf29ce484222325;
    for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3;
    return h;
}

run_outcome run_in_child(const std::string& text, bool replay) {
    return bench::in_child<run_outcome>(
        [&] {
            cpu_rig rig(text, replay);
            sc_start();
            std::ostringstream stats;
            rig.g.stats.write_text(stats);
            const std::string_view ram(reinterpret_cast<const char*>(rig.mem.data()), 0x1200000);
            return run_outcome{fnv1a(stats.str()), fnv1a(ram), sc_time_stamp().value(), rig.cpu.ops_done()};
        },
        "cpu test: a run in a child process failed");
}

}  // namespace

TEST_CASE("cpu: replaying runs of TLB hits gives the same simulation as one access at a time") {
    for (std::uint64_t seed : {1, 2, 3}) {
        const std::string text = random_workload(seed, 20000);
        const run_outcome replayed = run_in_child(text, true), single = run_in_child(text, false);
        CAPTURE(seed);
        CHECK(replayed.ops > 20000);  // every operation ran
        CHECK(replayed.ops == single.ops);
        CHECK(replayed.stats_hash == single.stats_hash);
        CHECK(replayed.ram_hash == single.ram_hash);
        CHECK(replayed.time == single.time);
    }
}

TEST_CASE("cpu: with nothing else due the core runs ahead of global time, and logs its own time") {
    cpu_rig rig(
        "compute 2500\n"
        "kmalloc marker 8 GFP_KERNEL\n"
        "compute 2500\n"
        "poke 0x80000000 8 1\n");
    sc_start();
    CHECK(rig.cpu.finished());
    // Waiting at the quantum boundaries would only have moved global time: nobody else was due.
    REQUIRE(rig.handler.global_times.size() == 1);
    CHECK(rig.handler.service_times[0] == sc_time(2500, SC_NS));
    CHECK(rig.handler.global_times[0] == SC_ZERO_TIME);
    // The bus error is stamped with the core's time, 5 us, not global time's 0.
    CHECK(rig.g.log_text.str().find("[    0.000005] cpu: bus error at physical 0x80000000") !=
          std::string::npos);
    CHECK(sc_time_stamp() >= sc_time(5, SC_US));
}

TEST_CASE("cpu: a fault reports CR2, the SDM's error code and the operation, and stops the run") {
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "map 0x400000 0x200000 4K ro\n"
        "read 0x400000 8\n"
        "write 0x400008 8 1\n"
        "read 0x500000 8\n");
    sc_start();
    REQUIRE(rig.handler.faults.size() == 1);
    const hw::fault_report& f = rig.handler.faults[0];
    CHECK(f.vector == 14);
    CHECK(f.cr2 == 0x400008);
    CHECK(f.error_code == (mmu::pf::p | mmu::pf::wr));  // present, write, supervisor (CR0.WP = 1)
    CHECK(f.op_index == 9);                             // after 4 control writes, 4 table stores and the read
    CHECK(rig.cpu.registers().cr2 == 0x400008);
    CHECK_FALSE(rig.cpu.finished());
    CHECK(rig.word(0x200008) == 0);
}

TEST_CASE(
    "cpu: a fault that comes back after its handler said it was fixed is retried 8 times, then stops the "
    "run") {
    cpu_rig rig("paging long4 at 0x100000\nread 0x500000 8\nread 0x500000 8\n");
    rig.handler.claim_fixed = true;
    sc_start();
    CHECK(rig.handler.faults.size() == 8);
    CHECK(rig.g.count("cpu.page_faults") == 8);
    CHECK(rig.g.count("cpu.walker.walks") == 8);
    CHECK_FALSE(rig.cpu.finished());
    CHECK(rig.g.log_text.str().find(
              "the fault at 0x500000 came back 8 times after its handler; the run stops") !=
          std::string::npos);
}

TEST_CASE("cpu: a handler that moves to another PCID has the access retried, walked and filled under it") {
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "map 0x400000 0x200000 4K\n"
        "cr4 0x200a0\n"  // PCIDE on (with PAE and PGE)
        "cr3 0x100000 pcid 1\n"
        "read 0x400000 8\n"
        "read 0x401000 8\n"    // not present: the handler maps it and moves to PCID 2
        "read 0x401008 8\n");  // a TLB hit under PCID 2
    rig.handler.fix = [&rig](hw::cpu_core& cpu) {
        const std::uint64_t pte = 0x201003;  // 0x401000 -> 0x201000, P and R/W, in the PT at 0x103000
        std::memcpy(rig.mem.data() + 0x103008, &pte, 8);
        cpu.perform({.kind = traces::op_kind::cr3, .value = 0x100000 | 2 | mmu::cr3::no_flush});
    };
    sc_start();
    CHECK(rig.cpu.finished());
    CHECK(rig.g.count("cpu.page_faults") == 1);
    CHECK(rig.g.count("cpu.walker.walks") == 3);
    CHECK(rig.g.count("cpu.tlb.misses") == 3);
}

TEST_CASE("cpu: a handler that turns paging off has the access retried without it, A20 masked in real mode") {
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "write 0x501000 8 0x77\n");  // not mapped: the handler clears CR0.PG and CR0.PE
    rig.handler.fix = [](hw::cpu_core& cpu) { cpu.perform({.kind = traces::op_kind::cr0, .value = 0}); };
    sc_start();
    CHECK(rig.cpu.finished());
    CHECK(rig.word(0x401000) == 0x77);  // A20M# is asserted from reset: address line 20 held low
    CHECK(rig.word(0x501000) == 0);
    CHECK(rig.g.count("cpu.walker.walks") == 1);
}

TEST_CASE("cpu: a non-canonical address is a general-protection fault") {
    cpu_rig rig("paging long4 at 0x100000\nread 0x800000000000 8\n");
    sc_start();
    REQUIRE(rig.handler.faults.size() == 1);
    CHECK(rig.handler.faults[0].vector == 13);
    CHECK(rig.g.count("cpu.gp_faults") == 1);
}

TEST_CASE("cpu: an access across a page boundary is split, each part translated on its own") {
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "map 0x400000 0x200000 4K\n"
        "map 0x401000 0x300000 4K\n"
        "write 0x400ffc 8 0x8877665544332211\n");
    sc_start();
    CHECK(rig.word(0x200ffc, 4) == 0x44332211);
    CHECK(rig.word(0x300000, 4) == 0x88776655);
    CHECK(rig.g.count("cpu.page_splits") == 1);
    CHECK(rig.g.count("cpu.walker.walks") == 2);
}

TEST_CASE("cpu: MOV to CR3 flushes the new PCID's entries unless told not to; globals survive") {
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "map 0x400000 0x200000 4K\n"
        "map 0x600000 0x210000 4K global\n"
        "cr4 0x200a0\n"  // PCIDE on (with PAE and PGE)
        "cr3 0x100000 pcid 1\n"
        "read 0x400000 8\nread 0x600000 8\n"  // two walks
        "cr3 0x100000 pcid 2\n"               // another address space: its own entries
        "read 0x400000 8\nread 0x600000 8\n"  // a walk for the PCID-2 entry, the global one hits
        "cr3 0x100000 pcid 1 noflush\n"
        "read 0x400000 8\n"  // PCID 1's entry is still there
        "cr3 0x100000 pcid 1\n"
        "read 0x400000 8\nread 0x600000 8\n");  // flushed: walk again; the global survives
    sc_start();
    CHECK(rig.cpu.finished());
    CHECK(rig.g.count("cpu.walker.walks") == 4);
}

TEST_CASE("cpu: INVLPG makes the next access walk again") {
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "map 0x400000 0x200000 4K\n"
        "read 0x400000 8\nread 0x400000 8\n"
        "invlpg 0x400000\n"
        "read 0x400000 8\n");
    sc_start();
    CHECK(rig.g.count("cpu.walker.walks") == 2);
}

// The core serves repeated accesses to one page from a memo of the last TLB hit; each case
// below goes wrong (wrong frame, wrong counts, no fault) if a stale memo answered.
TEST_CASE("cpu: after a PTE change and INVLPG the same page's next access uses the new frame") {
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "map 0x400000 0x200000 4K\n"
        "write 0x400000 8 0x11\n"  // a walk; the filled entry is dirty
        "write 0x400008 8 0x22\n"  // hits
        "poke 0x103000 8 0x210063\n"
        "write 0x400010 8 0x33\n"  // still the cached translation: the TLB is not coherent
        "invlpg 0x400000\n"
        "write 0x400018 8 0x44\n");  // walks again and finds the new frame
    sc_start();
    CHECK(rig.cpu.finished());
    CHECK(rig.word(0x200010) == 0x33);
    CHECK(rig.word(0x210018) == 0x44);
    CHECK(rig.word(0x200018) == 0);
    CHECK(rig.g.count("cpu.walker.walks") == 2);
    CHECK(rig.g.count("cpu.tlb.lookups") == 4);
    CHECK(rig.g.count("cpu.tlb.l1d_4k.lookups") == 4);
    CHECK(rig.g.count("cpu.tlb.l1d_4k.hits") == 2);
    CHECK(rig.g.count("cpu.tlb.l1d_2m.misses") == 4);
    CHECK(rig.g.count("cpu.tlb.l1d_1g.misses") == 4);
}

TEST_CASE("cpu: after MOV to CR3 with another PCID the same page is looked up for that PCID") {
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "map 0x400000 0x200000 4K\n"
        "cr4 0x200a0\n"  // PCIDE on (with PAE and PGE)
        "cr3 0x100000 pcid 1\n"
        "read 0x400000 8\nread 0x400008 8\n"  // a walk, then a hit
        "poke 0x103000 8 0x210023\n"
        "cr3 0x100000 pcid 2 noflush\n"
        "read 0x400010 8\n"        // PCID 2 has no entry: a walk finds the new frame
        "write 0x400018 8 0x55\n"  // a hit on the clean entry: walk again to set Dirty
        "read 0x400020 8\n");
    sc_start();
    CHECK(rig.cpu.finished());
    CHECK(rig.word(0x210018) == 0x55);
    CHECK(rig.word(0x200018) == 0);
    CHECK(rig.g.count("cpu.walker.walks") == 3);
    CHECK(rig.g.count("cpu.rewalks") == 1);
    CHECK(rig.g.count("cpu.tlb.l1d_4k.hits") == 3);
}

TEST_CASE("cpu: after a change to CPL 3 the same supervisor page faults") {
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "map 0x500000 0x300000 4K\n"
        "read 0x500000 8\nread 0x500008 8\n"
        "cpl 3\n"
        "read 0x500010 8\n");
    sc_start();
    REQUIRE(rig.handler.faults.size() == 1);
    CHECK(rig.handler.faults[0].cr2 == 0x500010);
    CHECK(rig.handler.faults[0].error_code == (mmu::pf::p | mmu::pf::us));
}

TEST_CASE("cpu: an interrupt is taken between operations, at the next quantum boundary") {
    cpu_rig rig("compute 600\ncompute 600\ncompute 600\n");  // 1.8 us: past one 1 us quantum
    hw::irq_controller irqs("irq", 24, rig.g.stats.under("irq"));
    rig.cpu.connect_interrupts(irqs);
    line_raiser device("device", irqs.line(5), SC_ZERO_TIME);
    sc_start();
    CHECK(rig.handler.interrupts == std::vector<unsigned>{5});
    CHECK(rig.g.count("cpu.interrupts") == 1);
}

namespace {

// `count` lines of `compute cycles`.
std::string computes(int count, unsigned cycles) {
    std::string text;
    for (int n = 0; n < count; ++n) text += fmt::format("compute {}\n", cycles);
    return text;
}

// The core's times at which it took the interrupt of a line a device raises at `rise`, running
// `text` and then a kernel operation.
std::vector<sc_time> interrupts_taken(const std::string& text, sc_time rise) {
    cpu_rig rig(text + "kmalloc marker 8 GFP_KERNEL\n");
    hw::irq_controller irqs("irq", 24, rig.g.stats.under("irq"));
    rig.cpu.connect_interrupts(irqs);
    line_raiser device("device", irqs.line(5), rise);
    sc_start();
    return rig.handler.interrupt_times;
}

}  // namespace

TEST_CASE("cpu: running ahead, the core still stops at the first quantum boundary after a device's event") {
    // 1 ns a cycle: boundaries after the 10th, 20th and 30th operation; the line rises at 2.5 us.
    // As with a wait at every boundary: taken after the 30th operation, at 3 us, not at 2.5 us.
    CHECK(interrupts_taken(computes(50, 100), sc_time(2500, SC_NS)) ==
          std::vector<sc_time>{sc_time(3, SC_US)});
}

TEST_CASE("cpu: after a step longer than a quantum, the core's quanta still end on its multiples") {
    // 1 ns a cycle: running ahead from the boundary at 1 us (nothing is due before 4.5 us), the
    // core steps from 1.5 us to 3.95 us at once, then by 100 ns; the line rises at 4.5 us. As
    // with a wait at every boundary (4 us, then 5 us): taken at the first check past 5 us, not
    // at 4.95 us, where a quantum counted from the end of the long step would end.
    const std::string text = computes(15, 100) + computes(1, 2450) + computes(20, 100);
    CHECK(interrupts_taken(text, sc_time(4500, SC_NS)) == std::vector<sc_time>{sc_time(5050, SC_NS)});
}

TEST_CASE("cpu: after a write to a device the core asks again whether it may run ahead") {
    // 1 ns a cycle: the boundary at 1 us finds nothing due, so the core may run ahead for as long
    // as nothing changes; the register write at 1.5 us sets the line to rise 700 ns later, and
    // the boundaries at 2, 3 and 4 us follow.
    cpu_rig rig(computes(15, 100) + "poke 0x8000000 4 1\n" + computes(30, 100));
    hw::irq_controller irqs("irq", 24, rig.g.stats.under("irq"));
    rig.cpu.connect_interrupts(irqs);
    doorbell device("device", irqs.line(5), sc_time(700, SC_NS));
    rig.interconnect.map(rig.interconnect.bind_target(device.socket, "device"), 0x8000000, 0x1000);
    sc_start();
    // As with a wait at every boundary: taken at the first check after the rise, where the
    // operations (shifted by the write's 2 ns) cross 3 us.
    CHECK(rig.handler.interrupt_times == std::vector<sc_time>{sc_time(3002, SC_NS)});
}

TEST_CASE("cpu: after its DMI grant is revoked, the walker reads page tables through the bus") {
    bench_ground g;
    revocable_memory memory("memory");
    hw::bus interconnect("bus", {sc_time(1, SC_NS), 8, 1}, hw::overreach_mode::error, g.stats.under("bus"),
                         g.log);
    hw::cpu_core cpu("cpu", {sc_time(1, SC_NS), mmu::tlb_config::intel_default(), {}}, g.stats.under("cpu"),
                     g.log);
    interconnect.bind_initiator(cpu.port.socket, "cpu", 64);
    interconnect.map(interconnect.bind_target(memory.socket, "memory"), 0, revocable_memory::size);
    const traces::workload work = traces::parse_text(
        "memsim workload 1\n"
        "paging long4 at 0x100000\n"
        "map 0x400000 0x200000 4K\nmap 0x401000 0x201000 4K\n"
        "read 0x400000 8\n"    // a walk by DMI
        "poke 0x7ffff8 8 1\n"  // the grant goes
        "read 0x400008 8\n"    // a TLB hit; its data access learns of the revocation
        "read 0x401000 8\n",   // a walk: its entry reads must go to the memory
        "test");
    cpu.load(work);
    sc_start();
    CHECK(cpu.finished());
    CHECK(memory.revoked);
    CHECK(memory.table_reads == 1);  // the PTE: the PDE cache holds the rest
}

TEST_CASE("cpu: user-mode accesses obey U/S; SMAP keeps the supervisor out of user pages unless AC") {
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "map 0x400000 0x200000 4K user\n"
        "map 0x500000 0x300000 4K\n"
        "cpl 3\n"
        "read 0x400000 8\n"  // user reads a user page: fine
        "cpl 0\n"
        "cr4 0x2000a0\n"  // SMAP on (with PAE and PGE)
        "ac on\n"
        "read 0x400000 8\n"  // AC = 1: allowed
        "ac off\n"
        "read 0x400000 8\n"  // SMAP: #PF, protection, read, supervisor
        "cpl 3\n"
        "read 0x500000 8\n");
    sc_start();
    REQUIRE(rig.handler.faults.size() == 1);
    CHECK(rig.handler.faults[0].cr2 == 0x400000);
    CHECK(rig.handler.faults[0].error_code == mmu::pf::p);
}

TEST_CASE("cpu: a user-mode access to a supervisor page faults with U/S set") {
    cpu_rig rig("paging long4 at 0x100000\nmap 0x500000 0x300000 4K\ncpl 3\nwrite 0x500000 8 1\n");
    sc_start();
    REQUIRE(rig.handler.faults.size() == 1);
    CHECK(rig.handler.faults[0].error_code == (mmu::pf::p | mmu::pf::wr | mmu::pf::us));
}

// SystemC allows one simulation per process, so each refused write is a case of its own.
TEST_CASE("cpu: #GP for CR0.PG with EFER.LME set and CR4.PAE clear; CR0 keeps its value") {
    {
        cpu_rig rig("efer 0x100\ncr0 0x80000001\n");
        sc_start();
        REQUIRE(rig.handler.faults.size() == 1);
        CHECK(rig.handler.faults[0].vector == 13);
        CHECK(std::string(rig.handler.faults[0].cause) == "CR0.PG set with EFER.LME set and CR4.PAE clear");
        CHECK(rig.cpu.registers().cr0 == 0);
    }
}

TEST_CASE("cpu: #GP for any write of CR0.PG = 1 with CR0.PE = 0, paging on or off") {
    cpu_rig rig("paging long4 at 0x100000\ncr0 0x80000000\n");
    sc_start();
    REQUIRE(rig.handler.faults.size() == 1);
    CHECK(rig.handler.faults[0].vector == 13);
    CHECK(std::string(rig.handler.faults[0].cause) == "CR0.PG set with CR0.PE clear");
    CHECK((rig.cpu.registers().cr0 & 1) == 1);
}

TEST_CASE("cpu: #GP for CR4.PCIDE outside IA-32e mode") {
    {
        cpu_rig rig("cr4 0x20020\n");
        sc_start();
        REQUIRE(rig.handler.faults.size() == 1);
        CHECK(std::string(rig.handler.faults[0].cause) ==
              "CR4.PCIDE set outside IA-32e mode or with CR3[11:0] not 0");
    }
}

TEST_CASE("cpu: #GP for EFER.LME cleared in long mode; LMA is not software's to write") {
    {
        cpu_rig rig("paging long4 at 0x100000\nefer 0xd00\nefer 0x800\n");
        sc_start();
        REQUIRE(rig.handler.faults.size() == 1);
        CHECK(rig.handler.faults[0].op_index == 5);
        CHECK(std::string(rig.handler.faults[0].cause) == "EFER.LME changed while CR0.PG is set");
        CHECK(rig.cpu.registers().efer == (mmu::efer::lme | mmu::efer::lma | mmu::efer::nxe));
    }
}

TEST_CASE("cpu: an access whose second page faults changes nothing in the first") {
    cpu_rig rig("paging long4 at 0x100000\nmap 0x400000 0x200000 4K\nwrite 0x400ffc 8 0x8877665544332211\n");
    sc_start();
    REQUIRE(rig.handler.faults.size() == 1);
    CHECK(rig.handler.faults[0].cr2 == 0x401000);
    CHECK(rig.word(0x200ffc, 4) == 0);
}

TEST_CASE("cpu: a store to physical memory nobody decodes is a counted bus error") {
    cpu_rig rig("poke 0x80000000 8 1\nread 0x80000000 8\n");
    sc_start();
    CHECK(rig.cpu.finished());
    CHECK(rig.g.count("cpu.bus_errors") == 2);
    CHECK(rig.g.log_text.str().find("cpu: bus error at physical 0x80000000 (poke of 8 bytes)") !=
          std::string::npos);
}

TEST_CASE("cpu: a write through a clean TLB entry walks again to set Dirty (SDM Vol. 3A, 4.8)") {
    cpu_rig rig(
        "paging long4 at 0x100000\nmap 0x400000 0x200000 4K\nread 0x400000 8\nwrite 0x400000 8 1\n"
        "write 0x400008 8 2\n");
    sc_start();
    CHECK(rig.g.count("cpu.walker.walks") == 2);
    CHECK(rig.g.count("cpu.rewalks") == 1);
    CHECK(rig.word(0x103000) == (0x200003 | 0x20 | 0x40));
    CHECK(rig.g.count("cpu.tlb.l1d_4k.hits") == 2);  // the clean hit, then the dirty one
}

TEST_CASE("cpu: toggling CR4.PGE flushes global entries too; INVPCID type 3 keeps them, type 2 does not") {
    cpu_rig rig(
        "paging long4 at 0x100000\n"
        "map 0x600000 0x210000 4K global\n"
        "read 0x600000 8\n"    // walk 1
        "cr3 0x100000\n"       // MOV to CR3 keeps the global entry
        "read 0x600000 8\n"    // hit
        "invpcid 3 0\n"        // all contexts except globals: kept
        "read 0x600000 8\n"    // hit
        "invpcid 2 0\n"        // all contexts with globals: gone
        "read 0x600000 8\n"    // walk 2
        "cr4 0x20\n"           // PGE off (PAE stays): everything flushed
        "cr4 0xa0\n"           // PGE on again: flushed again
        "read 0x600000 8\n");  // walk 3
    sc_start();
    CHECK(rig.cpu.finished());
    CHECK(rig.g.count("cpu.walker.walks") == 3);
}
