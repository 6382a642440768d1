// A scripted initiator for hardware tests: its SC_THREAD runs the test's body, which reads
// and writes over a TLM socket with temporal decoupling, as a CPU would.
#pragma once

#include <cstdint>
#include <functional>
#include <sstream>
#include <utility>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/tlm_quantumkeeper.h>

#include "base/log.h"
#include "base/stats.h"
#include "hw/sim_time.h"

namespace memsim::test {

using namespace sc_core;

// What every hardware test needs beside its models: stats and a log it can read back.
struct bench_ground {
    stats::registry stats;
    std::ostringstream log_text;
    hw::systemc_time clock;
    logger log{log_text, log_level::info};

    bench_ground() { log.set_time_source(&clock); }
    std::uint64_t count(std::string_view name) const {
        const stats::counter* c = stats.find_counter(name);
        return c ? c->value : ~std::uint64_t{0};
    }
};

class scripted_initiator : public sc_module, public tlm::tlm_bw_transport_if<> {
public:
    tlm::tlm_initiator_socket<> socket;
    std::function<void(scripted_initiator&)> body;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> invalidations;
    tlm_utils::tlm_quantumkeeper quantum;

    explicit scripted_initiator(sc_module_name name) : sc_module(name), socket("socket") {
        socket.bind(*this);
        SC_HAS_PROCESS(scripted_initiator);
        SC_THREAD(run);
    }

    tlm::tlm_response_status transport(tlm::tlm_command command, std::uint64_t address, void* data,
                                       unsigned length) {
        tlm::tlm_generic_payload trans;
        trans.set_command(command);
        trans.set_address(address);
        trans.set_data_ptr(static_cast<unsigned char*>(data));
        trans.set_data_length(length);
        trans.set_streaming_width(length);
        trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        sc_time delay = quantum.get_local_time();
        socket->b_transport(trans, delay);
        quantum.set(delay);
        if (quantum.need_sync()) quantum.sync();
        return trans.get_response_status();
    }
    tlm::tlm_response_status write(std::uint64_t address, const void* data, unsigned length) {
        return transport(tlm::TLM_WRITE_COMMAND, address, const_cast<void*>(data), length);
    }
    tlm::tlm_response_status read(std::uint64_t address, void* data, unsigned length) {
        return transport(tlm::TLM_READ_COMMAND, address, data, length);
    }
    tlm::tlm_response_status write64(std::uint64_t address, std::uint64_t value) {
        return write(address, &value, 8);
    }
    std::uint64_t read64(std::uint64_t address) {
        std::uint64_t value = 0;
        read(address, &value, 8);
        return value;
    }
    bool dmi(std::uint64_t address, tlm::tlm_dmi& grant) {
        tlm::tlm_generic_payload trans;
        trans.set_command(tlm::TLM_READ_COMMAND);
        trans.set_address(address);
        return socket->get_direct_mem_ptr(trans, grant);
    }
    // This initiator's own notion of now: global time plus its decoupled offset.
    sc_time now() const { return quantum.get_current_time(); }

private:
    void run() {
        if (body) body(*this);
        quantum.sync();
    }
    tlm::tlm_sync_enum nb_transport_bw(tlm::tlm_generic_payload&, tlm::tlm_phase&, sc_time&) override {
        return tlm::TLM_COMPLETED;
    }
    void invalidate_direct_mem_ptr(sc_dt::uint64 start, sc_dt::uint64 end) override {
        invalidations.emplace_back(start, end);
    }
};

}  // namespace memsim::test
