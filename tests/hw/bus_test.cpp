// The bus: decoding, errors for what nobody decodes, an initiator's reach, DMI forwarding and
// invalidation, and contention between initiators.
#include <cstring>
#include <string>

#include <doctest/doctest.h>

#include "base/units.h"
#include "hw/bus.h"
#include "hw/ram.h"
#include "testbench.h"

using namespace memsim;
using namespace memsim::test;

namespace {

// RAM that costs nothing, so the bus's own timing is all a test sees.
hw::ram_timing instant_ram() { return {SC_ZERO_TIME, 0, 1, 1, 4096}; }
// 1 GHz, 8 bytes a cycle, no fixed latency.
hw::bus_timing bus_8_bytes() { return {sc_time(1, SC_NS), 8, 0}; }

// A target that grants DMI on its whole window and can take the grant back.
struct revoking_target : sc_module, tlm::tlm_fw_transport_if<> {
    tlm::tlm_target_socket<> socket{"socket"};
    unsigned char store[0x1000] = {};
    explicit revoking_target(sc_module_name name) : sc_module(name) { socket.bind(*this); }
    void b_transport(tlm::tlm_generic_payload& t, sc_time&) override {
        t.set_response_status(tlm::TLM_OK_RESPONSE);
    }
    bool get_direct_mem_ptr(tlm::tlm_generic_payload&, tlm::tlm_dmi& dmi) override {
        dmi.set_dmi_ptr(store);
        dmi.set_start_address(0);
        dmi.set_end_address(sizeof store - 1);
        dmi.allow_read_write();
        return true;
    }
    unsigned transport_dbg(tlm::tlm_generic_payload&) override { return 0; }
    tlm::tlm_sync_enum nb_transport_fw(tlm::tlm_generic_payload&, tlm::tlm_phase&, sc_time&) override {
        return tlm::TLM_COMPLETED;
    }
    void revoke(std::uint64_t start, std::uint64_t end) { socket->invalidate_direct_mem_ptr(start, end); }
};

// 32 MiB of RAM behind a bus; each test maps it and binds its own initiators.
struct bus_rig {
    bench_ground g;
    hw::ram mem{"ram", 32 * MiB, instant_ram(), g.stats.under("ram")};
    hw::bus interconnect;
    unsigned ram_port;

    explicit bus_rig(hw::overreach_mode mode = hw::overreach_mode::error)
        : interconnect("bus", bus_8_bytes(), mode, g.stats.under("bus"), g.log),
          ram_port(interconnect.bind_target(mem.socket, "ram")) {}
    std::uint64_t word_at(std::uint64_t offset) {
        std::uint64_t word = 0;
        std::memcpy(&word, mem.data() + offset, 8);
        return word;
    }
};

struct truncating_bus_rig : bus_rig {
    truncating_bus_rig() : bus_rig(hw::overreach_mode::truncate) {}
};

}  // namespace

TEST_CASE_FIXTURE(bus_rig, "bus: each range decodes to its target at the target's own offset") {
    scripted_initiator cpu("cpu");
    interconnect.bind_initiator(cpu.socket, "cpu", 64);
    // RAM's first MiB at 0, its second at 4 GiB, as the PC layout splits it.
    interconnect.map(ram_port, 0, 1 * MiB, 0);
    interconnect.map(ram_port, 4 * GiB, 1 * MiB, 1 * MiB);
    cpu.body = [&](scripted_initiator& self) {
        CHECK(self.write64(4 * GiB + 0x10, 0xfeed) == tlm::TLM_OK_RESPONSE);
        CHECK(self.write64(0x10, 0xbeef) == tlm::TLM_OK_RESPONSE);
    };
    sc_start();
    CHECK(word_at(0x10) == 0xbeef);
    CHECK(word_at(1 * MiB + 0x10) == 0xfeed);
}

TEST_CASE_FIXTURE(bus_rig, "bus: overlapping ranges are refused while wiring") {
    interconnect.map(ram_port, 0x100000, 0x100000);
    CHECK_THROWS_WITH(interconnect.map(ram_port, 0x1ff000, 0x2000),
                      "bus: 0x1ff000-0x200fff overlaps 0x100000-0x1fffff");
    CHECK_THROWS_WITH(interconnect.map(ram_port, 0xff000, 0x2000),
                      "bus: 0xff000-0x100fff overlaps 0x100000-0x1fffff");
    interconnect.map(ram_port, 0x200000, 0x1000);  // touching is fine
}

TEST_CASE_FIXTURE(bus_rig, "bus: an address nobody decodes is an address error, counted") {
    scripted_initiator cpu("cpu");
    interconnect.bind_initiator(cpu.socket, "cpu", 64);
    interconnect.map(ram_port, 0, 1 * MiB);
    cpu.body = [&](scripted_initiator& self) {
        std::uint64_t v = 0;
        CHECK(self.read(2 * MiB, &v, 8) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
        // Straddling the end of the range is no better.
        CHECK(self.read(1 * MiB - 4, &v, 8) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
    };
    sc_start();
    CHECK(g.count("bus.unmapped") == 2);
}

TEST_CASE_FIXTURE(
    bus_rig, "bus: a 24-bit initiator reaching 0x1000000 gets an error in error mode, counted and logged") {
    scripted_initiator isa("isa");
    interconnect.bind_initiator(isa.socket, "isa_dma", 24);
    interconnect.map(ram_port, 0, 32 * MiB);
    isa.body = [&](scripted_initiator& self) {
        CHECK(self.write64(0x1000000, 0xabcd) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
        CHECK(self.write64(0xfffff8, 0x1234) == tlm::TLM_OK_RESPONSE);
        // The last byte of the access is past the reach: refused too.
        CHECK(self.write64(0xfffffc, 0x1234) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
    };
    sc_start();
    CHECK(word_at(0) == 0);
    CHECK(word_at(0x1000000) == 0);
    CHECK(g.count("bus.overreach") == 2);
    CHECK(g.count("bus.initiator.isa_dma.overreach") == 2);
    CHECK(g.log_text.str().find(
              "bus: isa_dma access 0x1000000 beyond its 24-bit reach (refused; would wrap to 0x0)") !=
          std::string::npos);
}

TEST_CASE_FIXTURE(truncating_bus_rig,
                  "bus: in truncate mode a 24-bit initiator's 0x1000000 lands at 0x0, counted and logged") {
    scripted_initiator isa("isa");
    interconnect.bind_initiator(isa.socket, "isa_dma", 24);
    interconnect.map(ram_port, 0, 32 * MiB);
    isa.body = [&](scripted_initiator& self) {
        CHECK(self.write64(0x1000000, 0xabcd) == tlm::TLM_OK_RESPONSE);
        CHECK(self.read64(0x1000000) == 0xabcd);
        // Wrapped, this one would still run past the top of the reach: refused.
        CHECK(self.write64(0x1fffffc, 0x1234) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
    };
    sc_start();
    CHECK(word_at(0) == 0xabcd);
    CHECK(word_at(0x1000000) == 0);
    CHECK(g.count("bus.initiator.isa_dma.overreach") == 3);
    CHECK(g.log_text.str().find("bus: isa_dma access 0x1000000 beyond its 24-bit reach (wrapped to 0x0)") !=
          std::string::npos);
    CHECK(g.log_text.str().find(
              "bus: isa_dma access 0x1fffffc beyond its 24-bit reach (refused; would wrap to 0xfffffc)") !=
          std::string::npos);
}

TEST_CASE_FIXTURE(bus_rig, "bus: DMI is translated to bus addresses and clipped to the initiator's reach") {
    scripted_initiator cpu("cpu"), isa("isa");
    interconnect.bind_initiator(cpu.socket, "cpu", 64);
    interconnect.bind_initiator(isa.socket, "isa_dma", 24);
    interconnect.map(ram_port, 0, 24 * MiB, 0);
    interconnect.map(ram_port, 4 * GiB, 8 * MiB, 24 * MiB);
    cpu.body = [&](scripted_initiator& self) {
        tlm::tlm_dmi grant;
        REQUIRE(self.dmi(4 * GiB + 0x100, grant));
        CHECK(grant.get_start_address() == 4 * GiB);
        CHECK(grant.get_end_address() == 4 * GiB + 8 * MiB - 1);
        CHECK(grant.get_dmi_ptr() == mem.data() + 24 * MiB);
    };
    isa.body = [&](scripted_initiator& self) {
        tlm::tlm_dmi grant;
        REQUIRE(self.dmi(0x100, grant));
        CHECK(grant.get_start_address() == 0);
        CHECK(grant.get_end_address() == 0xffffff);
        tlm::tlm_dmi beyond;
        CHECK_FALSE(self.dmi(0x1000000, beyond));
    };
    sc_start();
    CHECK(g.count("bus.dmi_grants") == 2);
}

TEST_CASE("bus: a target's DMI invalidation reaches every initiator in bus addresses") {
    bench_ground g;
    revoking_target device("device");
    hw::bus interconnect("bus", bus_8_bytes(), hw::overreach_mode::error, g.stats.under("bus"), g.log);
    scripted_initiator cpu("cpu"), dma("dma");
    interconnect.bind_initiator(cpu.socket, "cpu", 64);
    interconnect.bind_initiator(dma.socket, "dma", 32);
    interconnect.map(interconnect.bind_target(device.socket, "device"), 0xfe000000, 0x1000);
    cpu.body = [&](scripted_initiator& self) {
        tlm::tlm_dmi grant;
        REQUIRE(self.dmi(0xfe000010, grant));
        CHECK(grant.get_start_address() == 0xfe000000);
        device.revoke(0x100, 0x1ff);
    };
    sc_start();
    using range = std::pair<std::uint64_t, std::uint64_t>;
    REQUIRE(cpu.invalidations.size() == 1);
    CHECK(cpu.invalidations[0] == range{0xfe000100, 0xfe0001ff});
    REQUIRE(dma.invalidations.size() == 1);
    CHECK(dma.invalidations[0] == range{0xfe000100, 0xfe0001ff});
    CHECK(g.count("bus.dmi_invalidations") == 1);
}

namespace {

// Two initiators write `count` blocks of `block` bytes each through a 1 GHz, 8-byte bus;
// returns when the last one finishes. With `pair` false only the first one runs.
sc_time hammer(bus_rig& rig, bool pair, unsigned count, unsigned block, sc_time quantum) {
    tlm::tlm_global_quantum::instance().set(quantum);
    scripted_initiator a("a"), b("b");
    rig.interconnect.bind_initiator(a.socket, "a", 64);
    rig.interconnect.bind_initiator(b.socket, "b", 64);
    rig.interconnect.map(rig.ram_port, 0, 1 * MiB);
    sc_time finished = SC_ZERO_TIME;
    auto body = [&](std::uint64_t base) {
        return [&, base](scripted_initiator& self) {
            std::vector<unsigned char> data(block, 0x5a);
            for (unsigned i = 0; i < count; ++i) self.write(base + i * block, data.data(), block);
            finished = std::max(finished, self.now());
        };
    };
    a.body = body(0);
    if (pair) b.body = body(512 * KiB);
    sc_start();
    return finished;
}

}  // namespace

TEST_CASE_FIXTURE(bus_rig, "bus: one initiator alone takes count x ceil(block / width) bus cycles") {
    // 1000 writes of 64 bytes: 8 cycles each at 1 ns.
    CHECK(hammer(*this, false, 1000, 64, sc_time(1, SC_US)) == sc_time(8000, SC_NS));
    CHECK(g.count("bus.wait_ps") == 0);
}

TEST_CASE_FIXTURE(bus_rig, "bus: two initiators hammering RAM take twice as long, under a 1 us quantum") {
    // The bus carries 2 x 1000 x 64 bytes at 8 bytes a cycle: 16000 cycles, never idle.
    CHECK(hammer(*this, true, 1000, 64, sc_time(1, SC_US)) == sc_time(16000, SC_NS));
    CHECK(g.count("bus.initiator.a.transactions") == 1000);
    CHECK(g.count("bus.initiator.b.transactions") == 1000);
    CHECK(g.count("bus.wait_ps") > 0);
}

TEST_CASE_FIXTURE(bus_rig,
                  "bus: two initiators synchronising every access alternate, each waiting one transfer") {
    CHECK(hammer(*this, true, 1000, 64, SC_ZERO_TIME) == sc_time(16000, SC_NS));
    // Every write but the very first found the other initiator's 8 ns write on the bus.
    CHECK(g.count("bus.wait_ps") == 1999 * 8000);
}

TEST_CASE_FIXTURE(bus_rig,
                  "bus: an initiator lagging under decoupling is not charged for another's later traffic") {
    tlm::tlm_global_quantum::instance().set(sc_time(1, SC_US));
    scripted_initiator leader("leader"), lagger("lagger");
    interconnect.bind_initiator(leader.socket, "leader", 64);
    interconnect.bind_initiator(lagger.socket, "lagger", 64);
    interconnect.map(ram_port, 0, 1 * MiB);
    std::vector<unsigned char> block(64, 0xa5);
    sc_time lagger_done;
    // The leader runs first, a whole quantum ahead: one 8 ns write every 100 ns.
    leader.body = [&](scripted_initiator& self) {
        for (unsigned i = 0; i < 10; ++i) {
            self.write(i * 64, block.data(), 64);
            self.quantum.inc(sc_time(92, SC_NS));
        }
    };
    // Then the lagger, from time 0: 100 back-to-back writes, 800 ns of bus alone.
    lagger.body = [&](scripted_initiator& self) {
        for (unsigned i = 0; i < 100; ++i) self.write(4096 + i * 64, block.data(), 64);
        lagger_done = self.now();
    };
    sc_start();
    // It shares the bus with the leader's ten 8 ns writes, each costing it at most its 8 ns
    // plus one 16.384 ns slot of approximation. One busy-until time for the whole bus would
    // have queued it behind the leader's last write, finishing near 1.7 us.
    CHECK(lagger_done >= sc_time(880, SC_NS));
    CHECK(lagger_done <= sc_time(800 + 10 * (8 + 16.384), SC_NS));
}

TEST_CASE_FIXTURE(truncating_bus_rig, "bus: debug transport is untimed, uncounted, and honours reach") {
    scripted_initiator isa("isa");
    interconnect.bind_initiator(isa.socket, "isa_dma", 24);
    interconnect.map(ram_port, 0, 8 * MiB);
    std::uint64_t seen = 0, wrapped = 0;
    isa.body = [&](scripted_initiator& self) {
        self.write64(0x40, 0x600d);
        auto debug_read = [&](std::uint64_t address, std::uint64_t& into) {
            tlm::tlm_generic_payload trans;
            trans.set_command(tlm::TLM_READ_COMMAND);
            trans.set_address(address);
            trans.set_data_ptr(reinterpret_cast<unsigned char*>(&into));
            trans.set_data_length(8);
            return self.socket->transport_dbg(trans);
        };
        CHECK(debug_read(0x40, seen) == 8);
        CHECK(debug_read(0x1000040, wrapped) == 8);
        std::uint64_t none = 0;
        CHECK(debug_read(0xc00000, none) == 0);  // within reach, but nothing decodes it
    };
    sc_start();
    CHECK(seen == 0x600d);
    CHECK(wrapped == 0x600d);
    CHECK(g.count("bus.transactions") == 1);
    CHECK(g.count("bus.initiator.isa_dma.overreach") == 0);
    CHECK(g.count("ram.reads") == 0);
}
