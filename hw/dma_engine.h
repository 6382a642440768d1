// A bus-master DMA engine: memory-mapped registers reached over the bus, its own initiator
// port with its own reach in address bits, an SC_THREAD that moves data in bursts (and so
// competes with the CPU for the bus), and a level-triggered completion interrupt.
// Misuse (a write to a read-only register, a bad length, a start while busy) sets the error
// status; it never stops the simulation.
#pragma once

#include <cstdint>
#include <vector>

#include <systemc>
#include <tlm>

#include "base/stats.h"
#include "hw/timed_initiator.h"

namespace memsim::hw {

struct dma_engine_params {
    sc_core::sc_time period;    // engine clock: one cycle per burst issued
    unsigned reach_bits = 32;   // address lines of the bus master port
    unsigned burst_bytes = 64;  // largest single bus transaction
    std::uint64_t max_transfer = 16 * 1024 * 1024;
};

// The register file, 64-bit registers at 8-byte strides; 4- and 8-byte aligned accesses.
namespace dma_reg {
inline constexpr std::uint64_t src = 0x00;     // rw: source physical address
inline constexpr std::uint64_t dst = 0x08;     // rw: destination physical address
inline constexpr std::uint64_t len = 0x10;     // rw: bytes to copy
inline constexpr std::uint64_t ctrl = 0x18;    // rw: ctrl_* bits; start and ack read as 0
inline constexpr std::uint64_t status = 0x20;  // ro: status_* bits, error code in 15:8
inline constexpr std::uint64_t info = 0x28;    // ro: reach bits in 7:0, burst bytes in 31:16
inline constexpr std::uint64_t window = 0x30;  // registers end here

inline constexpr std::uint64_t ctrl_start = 1 << 0;
inline constexpr std::uint64_t ctrl_irq_enable = 1 << 1;
inline constexpr std::uint64_t ctrl_ack = 1 << 2;  // clears done and error, drops the line

inline constexpr std::uint64_t status_busy = 1 << 0;
inline constexpr std::uint64_t status_done = 1 << 1;
inline constexpr std::uint64_t status_error = 1 << 2;
}  // namespace dma_reg

enum class dma_error : std::uint8_t {
    none = 0,
    read_only = 1,   // a write to status or info
    bad_length = 2,  // len 0 or above max_transfer at start
    busy = 3,        // a register write or start while a transfer runs
    bus_error = 4,   // a burst got an error response (unmapped, or beyond the engine's reach)
};

class dma_engine : public sc_core::sc_module, private tlm::tlm_fw_transport_if<> {
public:
    tlm::tlm_target_socket<> registers;  // MMIO, from the CPU over the bus
    timed_initiator master;              // data, to memory over the bus
    sc_core::sc_out<bool> irq;

    dma_engine(sc_core::sc_module_name name, const dma_engine_params& params, stats::scope stats);

    // The thread that moves the bursts, running ahead of global time as the master's keeper allows.
    const sc_core::sc_process_handle& thread() const { return m_thread; }

private:
    void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) override;
    bool get_direct_mem_ptr(tlm::tlm_generic_payload&, tlm::tlm_dmi&) override { return false; }
    unsigned transport_dbg(tlm::tlm_generic_payload& trans) override;
    tlm::tlm_sync_enum nb_transport_fw(tlm::tlm_generic_payload& trans, tlm::tlm_phase&,
                                       sc_core::sc_time&) override;

    std::uint64_t read_register(std::uint64_t offset) const;
    void write_register(std::uint64_t offset, std::uint64_t value, sc_core::sc_time delay);
    // Applies a register access of 4 or 8 bytes; false if the access itself is malformed.
    bool access(tlm::tlm_generic_payload& trans, const sc_core::sc_time& delay, bool side_effects);
    // The error shows from `delay` on: a register write's annotated time, or now on the engine's thread.
    void fail(dma_error why, const sc_core::sc_time& delay);

    void run();        // SC_THREAD: one transfer per start
    void drive_irq();  // SC_METHOD: the one writer of `irq`

    sc_core::sc_process_handle m_thread;
    const dma_engine_params m_params;
    std::vector<unsigned char> m_buffer;

    std::uint64_t m_src = 0, m_dst = 0, m_len = 0, m_ctrl = 0, m_status = 0;
    sc_core::sc_event m_start;
    sc_core::sc_event m_status_changed;

    stats::counter& m_transfers;
    stats::counter& m_bytes;
    stats::counter& m_bursts;
    stats::counter& m_errors;
    stats::histogram& m_transfer_ns;
};

}  // namespace memsim::hw
