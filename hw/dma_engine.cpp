#include "hw/dma_engine.h"

#include <algorithm>
#include <cstring>

#include "hw/loosely_timed.h"

namespace memsim::hw {

using sc_core::sc_time;

dma_engine::dma_engine(sc_core::sc_module_name name, const dma_engine_params& params, stats::scope stats)
    : sc_module(name),
      registers("registers"),
      master("master"),
      irq("irq"),
      m_params(params),
      m_buffer(params.burst_bytes),
      m_transfers(stats.add_counter("transfers", "Transfers completed or failed")),
      m_bytes(stats.add_counter("bytes", "Bytes copied")),
      m_bursts(stats.add_counter("bursts", "Bus transactions issued (a read and a write per burst)")),
      m_errors(stats.add_counter("errors", "Error statuses set (misuse or bus error)")),
      m_transfer_ns(stats.add_histogram("transfer_ns", "Time from start to completion (ns)")) {
    registers.bind(*this);
    SC_HAS_PROCESS(dma_engine);
    SC_THREAD(run);
    m_thread = sc_core::sc_get_current_process_handle();  // during elaboration: the one just made
    SC_METHOD(drive_irq);
    sensitive << m_status_changed;
}

std::uint64_t dma_engine::read_register(std::uint64_t offset) const {
    switch (offset) {
        case dma_reg::src:
            return m_src;
        case dma_reg::dst:
            return m_dst;
        case dma_reg::len:
            return m_len;
        case dma_reg::ctrl:
            return m_ctrl;
        case dma_reg::status:
            return m_status;
        case dma_reg::info:
            return m_params.reach_bits | std::uint64_t{m_params.burst_bytes} << 16;
        default:
            return 0;
    }
}

void dma_engine::fail(dma_error why, const sc_time& delay) {
    ++m_errors;
    m_status = (m_status & dma_reg::status_busy) | dma_reg::status_error | std::uint64_t(why) << 8;
    m_status_changed.notify(delay);
}

void dma_engine::write_register(std::uint64_t offset, std::uint64_t value, sc_time delay) {
    bool busy = m_status & dma_reg::status_busy;
    if (offset == dma_reg::status || offset == dma_reg::info) return fail(dma_error::read_only, delay);
    if (offset != dma_reg::ctrl) {
        if (busy) return fail(dma_error::busy, delay);
        (offset == dma_reg::src ? m_src : offset == dma_reg::dst ? m_dst : m_len) = value;
        return;
    }
    if (value & dma_reg::ctrl_ack) m_status &= dma_reg::status_busy;
    m_ctrl = value & dma_reg::ctrl_irq_enable;
    // The line follows status and enable from the moment the CPU's write lands.
    m_status_changed.notify(delay);
    if (!(value & dma_reg::ctrl_start)) return;
    if (busy) return fail(dma_error::busy, delay);
    if (m_len == 0 || m_len > m_params.max_transfer) return fail(dma_error::bad_length, delay);
    m_status = dma_reg::status_busy;
    m_start.notify(delay);
}

bool dma_engine::access(tlm::tlm_generic_payload& trans, const sc_time& delay, bool side_effects) {
    std::uint64_t offset = trans.get_address();
    unsigned length = trans.get_data_length();
    if (offset >= dma_reg::window) {
        trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return false;
    }
    if ((length != 4 && length != 8) || offset % length || trans.get_byte_enable_ptr()) {
        trans.set_response_status(tlm::TLM_BURST_ERROR_RESPONSE);
        return false;
    }
    std::uint64_t reg = offset & ~std::uint64_t{7};
    unsigned shift = (offset & 4) * 8;
    std::uint64_t lane = length == 8 ? ~std::uint64_t{0} : std::uint64_t{0xffffffff} << shift;
    std::uint64_t old = read_register(reg);
    if (trans.is_read()) {
        std::uint64_t value = (old & lane) >> shift;
        std::memcpy(trans.get_data_ptr(), &value, length);  // x86 is little-endian, as the host
    } else if (trans.is_write() && side_effects) {
        std::uint64_t value = 0;
        std::memcpy(&value, trans.get_data_ptr(), length);
        write_register(reg, (old & ~lane) | (value << shift & lane), delay);
    }
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
    return true;
}

void dma_engine::b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    // A register access costs one engine cycle.
    delay += m_params.period;
    access(trans, delay, true);
}

unsigned dma_engine::transport_dbg(tlm::tlm_generic_payload& trans) {
    if (!trans.is_read()) return 0;
    return access(trans, sc_core::SC_ZERO_TIME, false) ? trans.get_data_length() : 0;
}

tlm::tlm_sync_enum dma_engine::nb_transport_fw(tlm::tlm_generic_payload& trans, tlm::tlm_phase&, sc_time&) {
    return refuse_nb_transport(trans);
}

void dma_engine::run() {
    for (;;) {
        wait(m_start);
        sc_time began = sc_core::sc_time_stamp();
        std::uint64_t src = m_src, dst = m_dst, len = m_len, moved = 0;
        master.quantum.reset();
        bool ok = true;
        while (ok && moved < len) {
            unsigned n = std::min<std::uint64_t>(m_params.burst_bytes, len - moved);
            master.quantum.inc(m_params.period);
            ok = master.read(src + moved, m_buffer.data(), n) == tlm::TLM_OK_RESPONSE;
            ++m_bursts;
            if (!ok) break;
            ok = master.write(dst + moved, m_buffer.data(), n) == tlm::TLM_OK_RESPONSE;
            ++m_bursts;
            if (ok) moved += n;
        }
        master.quantum.sync();
        ++m_transfers;
        m_bytes += moved;
        m_transfer_ns.sample((sc_core::sc_time_stamp() - began).value() / 1000);
        m_status &= ~dma_reg::status_busy;
        if (!ok) {
            fail(dma_error::bus_error, sc_core::SC_ZERO_TIME);
            continue;
        }
        m_status |= dma_reg::status_done;
        m_status_changed.notify(sc_core::SC_ZERO_TIME);
    }
}

void dma_engine::drive_irq() {
    bool asserted =
        (m_ctrl & dma_reg::ctrl_irq_enable) && (m_status & (dma_reg::status_done | dma_reg::status_error));
    irq.write(asserted);
}

}  // namespace memsim::hw
