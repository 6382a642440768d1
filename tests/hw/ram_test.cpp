// RAM: what an initiator reads back, what DMI hands out, what each access costs, and what a
// huge machine costs the host.
#include <cstring>
#include <fstream>
#include <string>

#include <doctest/doctest.h>

#include "base/units.h"
#include "hw/ram.h"
#include "testbench.h"

using namespace memsim;
using namespace memsim::test;

namespace {

// 1 GHz RAM clock: 50 cycles to first data, 16 bytes a cycle.
hw::ram_timing timing() { return {sc_time(1, SC_NS), 50, 16, 1, 4096}; }

std::uint64_t host_rss_kib() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
    return 0;
}

}  // namespace

TEST_CASE("ram: bytes written through b_transport read back") {
    bench_ground g;
    hw::ram mem("ram", 1 * MiB, timing(), g.stats.under("ram"));
    scripted_initiator cpu("cpu");
    cpu.socket.bind(mem.socket);
    char got[12] = {};
    cpu.body = [&](scripted_initiator& self) {
        CHECK(self.write(0x1234, "hello, world", 12) == tlm::TLM_OK_RESPONSE);
        CHECK(self.read(0x1234, got, 12) == tlm::TLM_OK_RESPONSE);
    };
    sc_start();
    CHECK(std::string(got, 12) == "hello, world");
    CHECK(g.count("ram.writes") == 1);
    CHECK(g.count("ram.bytes_read") == 12);
}

TEST_CASE("ram: an access past the end is an address error") {
    bench_ground g;
    hw::ram mem("ram", 4096, timing(), g.stats.under("ram"));
    scripted_initiator cpu("cpu");
    cpu.socket.bind(mem.socket);
    cpu.body = [&](scripted_initiator& self) {
        std::uint64_t v = 0;
        CHECK(self.read(4092, &v, 8) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
        CHECK(self.read(4088, &v, 8) == tlm::TLM_OK_RESPONSE);
    };
    sc_start();
    CHECK(g.count("ram.errors") == 1);
}

TEST_CASE("ram: the DMI pointer sees what b_transport wrote, with the latency annotated") {
    bench_ground g;
    hw::ram mem("ram", 1 * MiB, timing(), g.stats.under("ram"));
    scripted_initiator cpu("cpu");
    cpu.socket.bind(mem.socket);
    cpu.body = [&](scripted_initiator& self) {
        std::uint64_t value = 0x1122334455667788;
        self.write(0x8000, &value, 8);
        tlm::tlm_dmi grant;
        REQUIRE(self.dmi(0x8000, grant));
        CHECK(grant.get_start_address() == 0);
        CHECK(grant.get_end_address() == 1 * MiB - 1);
        CHECK(grant.is_read_write_allowed());
        std::uint64_t seen = 0;
        std::memcpy(&seen, grant.get_dmi_ptr() + 0x8000, 8);
        CHECK(seen == value);
        // Latency plus one beat: 51 cycles at 1 ns.
        CHECK(grant.get_read_latency() == sc_time(51, SC_NS));
        CHECK(grant.get_write_latency() == sc_time(51, SC_NS));
    };
    sc_start();
}

TEST_CASE("ram: an access costs latency plus length over bandwidth, and a busy channel queues") {
    bench_ground g;
    hw::ram mem("ram", 1 * MiB, timing(), g.stats.under("ram"));
    scripted_initiator cpu("cpu");
    cpu.socket.bind(mem.socket);
    cpu.body = [&](scripted_initiator&) {
        unsigned char line[100] = {};
        tlm::tlm_generic_payload trans;
        trans.set_command(tlm::TLM_READ_COMMAND);
        trans.set_address(0);
        trans.set_data_ptr(line);
        trans.set_data_length(100);
        trans.set_streaming_width(100);
        sc_time delay = SC_ZERO_TIME;
        cpu.socket->b_transport(trans, delay);
        // 50 cycles latency + ceil(100 / 16) = 7 cycles of transfer.
        CHECK(delay == sc_time(57, SC_NS));
        // Issued at the same moment, the second waits the 7 ns the first holds the channel.
        sc_time second = SC_ZERO_TIME;
        cpu.socket->b_transport(trans, second);
        CHECK(second == sc_time(64, SC_NS));
    };
    sc_start();
    CHECK(g.count("ram.queue_ps") == 7000);
}

TEST_CASE("ram: a 1 TiB machine starts with a small host footprint") {
    bench_ground g;
    std::uint64_t before = host_rss_kib();
    hw::ram mem("ram", 1 * TiB, timing(), g.stats.under("ram"));
    scripted_initiator cpu("cpu");
    cpu.socket.bind(mem.socket);
    std::uint64_t last = 0;
    cpu.body = [&](scripted_initiator& self) {
        // One word in each of 64 places spread over the whole terabyte.
        for (std::uint64_t i = 0; i < 64; ++i) self.write64(i * (TiB / 64) + 8, i);
        last = self.read64(63 * (TiB / 64) + 8);
    };
    sc_start();
    CHECK(mem.size() == 1 * TiB);
    CHECK(last == 63);
    CHECK(host_rss_kib() - before < 32 * 1024);
}
