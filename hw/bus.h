// The interconnect: an address map from physical ranges to targets, and one port per
// initiator with that initiator's reach in address bits. An access beyond an initiator's
// reach is a DMA-constraint violation: answered with an address error, or silently wrapped
// to the low bits as real hardware does; counted and logged either way. The bus's busy
// times (hw/occupancy.h) model contention between initiators under temporal decoupling.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <systemc>
#include <tlm>

#include "base/log.h"
#include "base/stats.h"
#include "hw/occupancy.h"
#include "hw/transfer_time.h"

namespace memsim::hw {

struct bus_timing {
    sc_core::sc_time period;      // one bus clock cycle
    unsigned width_bytes = 8;     // data moved per cycle
    unsigned latency_cycles = 0;  // arbitration and decode, per transaction
};

enum class overreach_mode { error, truncate };

class bus : public sc_core::sc_module {
public:
    bus(sc_core::sc_module_name name, const bus_timing& timing, overreach_mode mode, stats::scope stats,
        logger& log);
    ~bus() override;

    // Connects an initiator whose port drives `reach_bits` (1..64) address lines.
    void bind_initiator(tlm::tlm_initiator_socket<>& initiator, std::string_view name, unsigned reach_bits);
    // Connects a target; returns its index for map().
    unsigned bind_target(tlm::tlm_target_socket<>& target, std::string_view name);
    // Decodes [base, base + size) to `target`, which sees the address minus base plus
    // `offset`. Overlapping another range is a wiring error (std::invalid_argument).
    void map(unsigned target, std::uint64_t base, std::uint64_t size, std::uint64_t offset = 0);

private:
    struct initiator_port;
    struct target_port;
    struct mapping {
        std::uint64_t base;
        std::uint64_t last;  // inclusive, so a range may end at 2^64 - 1
        std::uint64_t offset;
        unsigned target;
        tlm::tlm_fw_transport_if<>* fw = nullptr;  // the target's interface, once bound
    };

    void b_transport(initiator_port& from, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
    bool get_direct_mem_ptr(initiator_port& from, tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi);
    unsigned transport_dbg(initiator_port& from, tlm::tlm_generic_payload& trans);
    void invalidate_direct_mem_ptr(const target_port& from, std::uint64_t start, std::uint64_t end);

    // Applies the initiator's reach to the payload's address; false if the access must fail.
    bool within_reach(initiator_port& from, tlm::tlm_generic_payload& trans, bool count);
    // The rare paths, kept out of line so the common one stays small.
    [[gnu::cold, gnu::noinline]] bool overreach(initiator_port& from, tlm::tlm_generic_payload& trans,
                                                bool count);
    [[gnu::cold, gnu::noinline]] void unmapped(initiator_port& from, tlm::tlm_generic_payload& trans);
    const mapping* decode(std::uint64_t address, std::uint64_t length) const;
    const mapping* decode(initiator_port& from, std::uint64_t address, std::uint64_t length) const;
    static bool contains(const mapping& m, std::uint64_t address, std::uint64_t length) {
        return address >= m.base && address <= m.last && length && length - 1 <= m.last - address;
    }
    void charge(initiator_port& from, unsigned length, sc_core::sc_time& delay);
    // The quantum is known now: let the busy times span it.
    void end_of_elaboration() override;

    const bus_timing m_timing;
    const sc_core::sc_time m_latency;
    const transfer_time m_transfer;
    const sc_core::sc_simcontext* m_simc;  // its time_stamp() is inline; sc_time_stamp() is not
    const overreach_mode m_mode;
    stats::scope m_stats;
    logger& m_log;
    std::vector<std::unique_ptr<initiator_port>> m_initiators;
    std::vector<std::unique_ptr<target_port>> m_targets;
    std::vector<mapping> m_map;  // sorted by base, disjoint

    stats::counter& m_transactions;
    stats::counter& m_bytes;
    stats::counter& m_wait_ps;
    stats::counter& m_unmapped;
    stats::counter& m_overreach;
    stats::counter& m_dmi_grants;
    stats::counter& m_dmi_invalidations;
    stats::counter& m_stale;
    hw::occupancy m_busy;
};

}  // namespace memsim::hw
