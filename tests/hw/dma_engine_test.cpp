// The DMA engine as a driver sees it: program registers over the bus, wait for the
// interrupt, find the bytes moved; and every kind of misuse leaves an error status.
#include <cstring>
#include <memory>

#include <doctest/doctest.h>

#include "base/units.h"
#include "hw/bus.h"
#include "hw/dma_engine.h"
#include "hw/irq.h"
#include "hw/ram.h"
#include "testbench.h"

using namespace memsim;
using namespace memsim::test;
using namespace memsim::hw;

namespace {

constexpr std::uint64_t regs = 0xfe000000;
constexpr unsigned irq_line = 6;

// 32 MiB of RAM (1 GHz, 10 cycles, 16 bytes a cycle) and a 24-bit engine (100 MHz, 64-byte
// bursts) on a 1 GHz, 8-byte bus with 2 cycles of latency; the CPU drives the registers.
struct dma_rig {
    bench_ground g;
    ram mem{"ram", 32 * MiB, {sc_time(1, SC_NS), 10, 16, 1, 4096}, g.stats.under("ram")};
    bus interconnect{"bus", {sc_time(1, SC_NS), 8, 2}, overreach_mode::error, g.stats.under("bus"), g.log};
    dma_engine engine{"isa_dma", {sc_time(10, SC_NS), 24, 64, 64 * KiB}, g.stats.under("isa_dma")};
    irq_controller irqs{"irq", 24, g.stats.under("irq")};
    scripted_initiator cpu{"cpu"};

    dma_rig() {
        tlm::tlm_global_quantum::instance().set(sc_time(1, SC_US));
        interconnect.bind_initiator(cpu.socket, "cpu", 64);
        interconnect.bind_initiator(engine.master.socket, "isa_dma", 24);
        interconnect.map(interconnect.bind_target(mem.socket, "ram"), 0, 32 * MiB);
        interconnect.map(interconnect.bind_target(engine.registers, "isa_dma_regs"), regs, 0x1000);
        engine.irq.bind(irqs.line(irq_line));
    }

    void program(std::uint64_t src, std::uint64_t dst, std::uint64_t len, std::uint64_t ctrl) {
        cpu.write64(regs + dma_reg::src, src);
        cpu.write64(regs + dma_reg::dst, dst);
        cpu.write64(regs + dma_reg::len, len);
        cpu.write64(regs + dma_reg::ctrl, ctrl);
    }
    void wait_for_interrupt() {
        cpu.quantum.sync();
        if (!(irqs.pending() >> irq_line & 1)) wait(irqs.raised());
    }
    std::uint64_t status() { return cpu.read64(regs + dma_reg::status); }
};

constexpr std::uint64_t start_with_irq = dma_reg::ctrl_start | dma_reg::ctrl_irq_enable;
constexpr std::uint64_t error_status(dma_error why) {
    return dma_reg::status_error | std::uint64_t(why) << 8;
}

}  // namespace

TEST_CASE("dma_engine: a copy over the bus is byte-exact and raises the interrupt") {
    dma_rig rig;
    for (unsigned i = 0; i < 10000; ++i) rig.mem.data()[0x100000 + i] = static_cast<unsigned char>(i * 7 + 3);
    std::uint64_t final_status = 0;
    rig.cpu.body = [&](scripted_initiator&) {
        rig.program(0x100000, 0x200001, 10000, start_with_irq);
        rig.wait_for_interrupt();
        final_status = rig.status();
    };
    sc_start();
    CHECK(std::memcmp(rig.mem.data() + 0x100000, rig.mem.data() + 0x200001, 10000) == 0);
    CHECK(rig.mem.data()[0x200000] == 0);
    CHECK(rig.mem.data()[0x200001 + 10000] == 0);
    CHECK(final_status == dma_reg::status_done);
    CHECK(rig.g.count("isa_dma.bytes") == 10000);
    CHECK(rig.g.count("isa_dma.bursts") == 2 * 157);  // ceil(10000 / 64) reads and writes
    CHECK(rig.g.count("irq.line6_raised") == 1);
}

TEST_CASE("dma_engine: the completion interrupt fires when the burst timing says") {
    dma_rig rig;
    sc_time started, woke;
    rig.cpu.body = [&](scripted_initiator& self) {
        rig.program(0, 0x10000, 4096, start_with_irq);
        started = self.now();  // the start lands with the CPU's write
        rig.wait_for_interrupt();
        woke = sc_time_stamp();
    };
    sc_start();
    // Each of the 64 bursts: one engine cycle (10 ns), then a read and a write, each 2 bus
    // cycles of latency + 64/8 cycles on the bus + 10 RAM cycles + 64/16 RAM cycles = 24 ns.
    sc_time expected = started + sc_time(64 * (10 + 2 * 24), SC_NS);
    CHECK(rig.irqs.last_raised(irq_line) == expected);
    CHECK(woke == expected);
}

TEST_CASE("dma_engine: no interrupt unless enabled; ack clears the status and drops the line") {
    dma_rig rig;
    std::uint64_t done = 0, acked = 0;
    rig.cpu.body = [&](scripted_initiator&) {
        rig.program(0, 0x10000, 64, dma_reg::ctrl_start);
        rig.cpu.quantum.sync();
        wait(sc_time(10, SC_US));
        done = rig.status();
        CHECK(rig.irqs.pending() == 0);
        rig.cpu.write64(regs + dma_reg::ctrl, dma_reg::ctrl_ack);
        acked = rig.status();
    };
    sc_start();
    CHECK(done == dma_reg::status_done);
    CHECK(acked == 0);
    CHECK(rig.g.count("irq.line6_raised") == 0);
}

TEST_CASE("dma_engine: register misuse sets the error status and nothing breaks") {
    dma_rig rig;
    rig.cpu.body = [&](scripted_initiator& self) {
        auto ack = [&] { self.write64(regs + dma_reg::ctrl, dma_reg::ctrl_ack); };
        CHECK(rig.status() == 0);
        CHECK(self.read64(regs + dma_reg::info) == (24 | 64 << 16));

        self.write64(regs + dma_reg::status, 0);
        CHECK(rig.status() == error_status(dma_error::read_only));
        ack();
        self.write64(regs + dma_reg::info, 1);
        CHECK(rig.status() == error_status(dma_error::read_only));
        ack();
        CHECK(rig.status() == 0);

        rig.program(0, 0x1000, 0, dma_reg::ctrl_start);
        CHECK(rig.status() == error_status(dma_error::bad_length));
        ack();
        rig.program(0, 0x1000, 64 * KiB + 1, dma_reg::ctrl_start);
        CHECK(rig.status() == error_status(dma_error::bad_length));
        ack();

        rig.program(0, 0x100000, 64 * KiB, dma_reg::ctrl_start);
        self.write64(regs + dma_reg::src, 0x5000);
        CHECK(rig.status() == (dma_reg::status_busy | error_status(dma_error::busy)));
        CHECK(self.read64(regs + dma_reg::src) == 0);
        self.write64(regs + dma_reg::ctrl, dma_reg::ctrl_start);
        CHECK(rig.status() == (dma_reg::status_busy | error_status(dma_error::busy)));

        // Accesses the register file cannot take are bus errors for the CPU.
        std::uint16_t half = 0;
        CHECK(self.read(regs + dma_reg::len, &half, 2) == tlm::TLM_BURST_ERROR_RESPONSE);
        CHECK(self.read64(regs + dma_reg::window) == ~std::uint64_t{0});
        std::uint64_t v = 0;
        CHECK(self.read(regs + dma_reg::window, &v, 8) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
    };
    sc_start();
    CHECK(rig.g.count("isa_dma.errors") == 6);
    // The transfer that was running finished regardless.
    CHECK(rig.g.count("isa_dma.bytes") == 64 * KiB);
}

TEST_CASE("dma_engine: 32-bit halves of a register read and write independently") {
    dma_rig rig;
    rig.cpu.body = [&](scripted_initiator& self) {
        std::uint32_t low = 0x89abcdef, high = 0x01234567;
        self.write(regs + dma_reg::src, &low, 4);
        self.write(regs + dma_reg::src + 4, &high, 4);
        CHECK(self.read64(regs + dma_reg::src) == 0x0123456789abcdef);
        std::uint32_t got = 0;
        self.read(regs + dma_reg::src + 4, &got, 4);
        CHECK(got == high);
    };
    sc_start();
}

TEST_CASE("dma_engine: a 24-bit engine pointed above 16 MiB stops with a bus error the bus counts") {
    dma_rig rig;
    std::uint64_t final_status = 0;
    rig.cpu.body = [&](scripted_initiator&) {
        rig.program(0x1000, 0x1000000 - 128, 1024, start_with_irq);
        rig.wait_for_interrupt();
        final_status = rig.status();
    };
    sc_start();
    CHECK(final_status == error_status(dma_error::bus_error));
    // Two bursts landed below 16 MiB before the third crossed the line.
    CHECK(rig.g.count("isa_dma.bytes") == 128);
    CHECK(rig.g.count("bus.initiator.isa_dma.overreach") == 1);
    CHECK(rig.g.count("irq.line6_raised") == 1);
}
