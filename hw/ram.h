// Main memory as a TLM-2.0 loosely-timed target. The backing store is one sparse anonymous
// mapping, reserved but not committed, so a 1 TiB machine costs host memory only for the
// pages it touches. Each channel keeps its busy times (hw/occupancy.h) so concurrent
// initiators queue.
#pragma once

#include <cstdint>
#include <vector>

#include <systemc>
#include <tlm>

#include "base/stats.h"
#include "hw/occupancy.h"
#include "hw/transfer_time.h"

namespace memsim::hw {

// How the host backs the store: its base pages, or transparent huge pages where the host has
// them (fewer host TLB misses and first-touch faults, 2 MiB committed per region touched).
enum class host_pages { base, huge };

struct ram_timing {
    sc_core::sc_time period;          // one RAM clock cycle
    unsigned latency_cycles = 0;      // request to first data
    unsigned bytes_per_cycle = 1;     // data bus bandwidth of one channel
    unsigned channels = 1;            // power of two
    std::uint64_t interleave = 4096;  // bytes mapped to one channel before the next
};

class ram : public sc_core::sc_module, private tlm::tlm_fw_transport_if<> {
public:
    tlm::tlm_target_socket<> socket;

    ram(sc_core::sc_module_name name, std::uint64_t size, const ram_timing& timing, stats::scope stats,
        host_pages backing = host_pages::base);
    ~ram() override;
    ram(const ram&) = delete;
    ram& operator=(const ram&) = delete;

    std::uint64_t size() const { return m_size; }
    // Host view of the backing store, for loaders and tests; untimed.
    unsigned char* data() { return m_data; }

private:
    void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) override;
    bool get_direct_mem_ptr(tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi) override;
    unsigned transport_dbg(tlm::tlm_generic_payload& trans) override;
    tlm::tlm_sync_enum nb_transport_fw(tlm::tlm_generic_payload& trans, tlm::tlm_phase& phase,
                                       sc_core::sc_time& delay) override;

    bool within(const tlm::tlm_generic_payload& trans) const;
    // Checks a payload against the store; sets the error response and returns false if bad.
    bool accept(tlm::tlm_generic_payload& trans) const;
    // Copies the payload's data; returns the bytes moved.
    unsigned copy(tlm::tlm_generic_payload& trans);
    // The quantum is known now: let the channels' busy times span it.
    void end_of_elaboration() override;

    const std::uint64_t m_size;
    const ram_timing m_timing;
    const sc_core::sc_time m_latency;
    const transfer_time m_transfer;        // how long an access holds its channel
    const unsigned m_interleave_shift;     // interleave and channels are powers of two
    const sc_core::sc_simcontext* m_simc;  // its time_stamp() is inline; sc_time_stamp() is not
    unsigned char* m_data = nullptr;

    stats::counter& m_reads;
    stats::counter& m_writes;
    stats::counter& m_bytes_read;
    stats::counter& m_bytes_written;
    stats::counter& m_queue_ps;
    stats::counter& m_dmi_grants;
    stats::counter& m_errors;
    stats::counter& m_stale;
    std::vector<occupancy> m_busy;  // per channel
};

}  // namespace memsim::hw
