// An initiator socket with temporal decoupling: the timed reads and writes a CPU-like master
// issues, each annotated with its local time and synchronised once per quantum. Callers must
// run in an SC_THREAD, since a sync may wait.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/tlm_quantumkeeper.h>

namespace memsim::hw {

// A tlm_quantumkeeper whose need_sync() asks SystemC nothing, so the hot path of an initiator
// makes no call into the library: while the owning thread runs, global time stands still, so
// the local time left before the next sync point is fixed at each reset() (which sync() calls).
// After any other wait(), call reset(), as TLM-2.0 asks of a quantum keeper's user anyway.
class quantum_keeper : public tlm_utils::tlm_quantumkeeper {
public:
    bool need_sync() const override { return m_local_time >= m_budget; }
    // The local time at which need_sync() turns true, for a caller that keeps its own count.
    sc_core::sc_time budget() const { return m_budget; }
    void reset() override {
        tlm_quantumkeeper::reset();
        m_budget = m_next_sync_point - sc_core::sc_time_stamp();
        forget_quiet();
    }
    // Where need_sync() says the quantum is over. The wait of sync() is there to let the other
    // processes catch up; when none has anything due by this initiator's local time, none would
    // run in it, so the next quantum starts where the wait would have started it, without the
    // wait: the same simulation, while global time stays behind until the next real sync().
    // What this initiator's thread does meanwhile must take its time from get_current_time(), and
    // its notifications must carry their delays: a zero-time one fires at the lagging global
    // time. Processes that wake at the very same time may take turns in another order than
    // after real waits. SystemC cannot tell it about an sc_start() time limit, which memsim never
    // sets. Out of line: the callers' paths, once an access, only test need_sync().
    [[gnu::noinline]] void end_quantum() {
        if (m_local_time >= m_quiet && !quiet()) {
            sync();
            return;
        }
        const sc_core::sc_time now = m_global + m_local_time;
        m_next_sync_point = next_boundary(now);
        m_budget = m_next_sync_point - m_global;
    }
    // The owning thread may have given another process something to do (it called into another
    // module, which may notify an event): the next end_quantum() asks SystemC again. A wait does
    // the same through reset(); timed_initiator::transport() calls this after each transaction.
    void forget_quiet() { m_quiet = sc_core::SC_ZERO_TIME; }

private:
    // Whether no other process has anything due by the local time. If so, it stays so up to the
    // next activity SystemC knows of, since only this thread runs until it waits or notifies
    // (forget_quiet()): later end_quantum()s before that time need not ask again.
    bool quiet() {
        if (sc_core::sc_pending_activity_at_current_time()) return false;
        const sc_core::sc_time due = sc_core::sc_time_to_pending_activity();
        if (due <= m_local_time) return false;
        m_quiet = due;
        m_global = sc_core::sc_time_stamp();
        m_quantum = tlm::tlm_global_quantum::instance().get();
        return true;
    }

    // The sync point after `now`: as tlm_global_quantum's compute_local_quantum() finds it from
    // global time, the next multiple of the global quantum (as quiet() last found it: memsim sets
    // it before the simulation starts), or `now` itself with a zero quantum. Sync points are such multiples,
    // and a quantum ends within one quantum past its sync point unless one step of the thread took longer:
    // only then a division.
    sc_core::sc_time next_boundary(const sc_core::sc_time& now) const {
        if (m_quantum == sc_core::SC_ZERO_TIME) return now;
        if (const sc_core::sc_time next = m_next_sync_point + m_quantum;
            m_next_sync_point <= now && now < next)
            return next;
        return now + (m_quantum - now % m_quantum);
    }

    sc_core::sc_time m_budget;   // zero until the first reset(): the first check synchronises
    sc_core::sc_time m_quantum;  // the global quantum when m_quiet was found
    sc_core::sc_time m_quiet;    // local time before which no other process has anything due; 0: unknown
    sc_core::sc_time m_global;   // global time when m_quiet was found
};

class timed_initiator : private tlm::tlm_bw_transport_if<> {
public:
    tlm::tlm_initiator_socket<> socket;
    quantum_keeper quantum;
    // DMI ranges the interconnect took back, in order, for whoever caches grants.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> invalidations;

    explicit timed_initiator(const char* name) : socket(name) { socket.bind(*this); }

    tlm::tlm_response_status transport(tlm::tlm_command command, std::uint64_t address, void* data,
                                       unsigned length) {
        m_trans.set_command(command);
        m_trans.set_address(address);
        m_trans.set_data_ptr(static_cast<unsigned char*>(data));
        m_trans.set_data_length(length);
        m_trans.set_streaming_width(length);
        m_trans.set_byte_enable_ptr(nullptr);
        m_trans.set_dmi_allowed(false);
        m_trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        sc_core::sc_time delay = quantum.get_local_time();
        socket->b_transport(m_trans, delay);
        quantum.forget_quiet();
        quantum.set(delay);
        if (quantum.need_sync()) quantum.end_quantum();
        return m_trans.get_response_status();
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
    // A failed read reads as all ones, as an unclaimed PC bus cycle does.
    std::uint64_t read64(std::uint64_t address) {
        std::uint64_t value = 0;
        return read(address, &value, 8) == tlm::TLM_OK_RESPONSE ? value : ~std::uint64_t{0};
    }
    bool dmi(std::uint64_t address, tlm::tlm_dmi& grant) {
        tlm::tlm_generic_payload trans;
        trans.set_command(tlm::TLM_READ_COMMAND);
        trans.set_address(address);
        return socket->get_direct_mem_ptr(trans, grant);
    }
    // This initiator's own now: global time plus its decoupled offset.
    sc_core::sc_time now() const { return m_simc->time_stamp() + quantum.get_local_time(); }

private:
    tlm::tlm_sync_enum nb_transport_bw(tlm::tlm_generic_payload&, tlm::tlm_phase&,
                                       sc_core::sc_time&) override {
        return tlm::TLM_COMPLETED;
    }
    void invalidate_direct_mem_ptr(sc_dt::uint64 start, sc_dt::uint64 end) override {
        invalidations.emplace_back(start, end);
    }

    tlm::tlm_generic_payload m_trans;
    const sc_core::sc_simcontext* m_simc = sc_core::sc_get_curr_simcontext();  // time_stamp() is inline
};

}  // namespace memsim::hw
