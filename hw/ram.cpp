#include "hw/ram.h"

#include <bit>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <sys/mman.h>

#include <fmt/format.h>

#include "hw/loosely_timed.h"

#include "base/bits.h"
#include "base/error.h"
#include "base/units.h"

namespace memsim::hw {

using sc_core::sc_time;

ram::ram(sc_core::sc_module_name name, std::uint64_t size, const ram_timing& timing, stats::scope stats,
         host_pages backing)
    : sc_module(name),
      socket("socket"),
      m_size(size),
      m_timing(timing),
      m_latency(sc_time::from_value(timing.period.value() * timing.latency_cycles)),
      m_transfer(timing.period, timing.bytes_per_cycle),
      m_interleave_shift(std::countr_zero(timing.interleave)),
      m_simc(sc_core::sc_get_curr_simcontext()),
      m_reads(stats.add_counter("reads", "Read transactions")),
      m_writes(stats.add_counter("writes", "Write transactions")),
      m_bytes_read(stats.add_counter("bytes_read", "Bytes read through b_transport")),
      m_bytes_written(stats.add_counter("bytes_written", "Bytes written through b_transport")),
      m_queue_ps(stats.add_counter("queue_ps", "Time transactions waited for a busy channel (ps)")),
      m_dmi_grants(stats.add_counter("dmi_grants", "Direct memory interface grants")),
      m_errors(stats.add_counter("errors", "Transactions answered with an error response")),
      m_stale(
          stats.add_counter("stale_bookings", "Transfers older than the busy times span, charged no wait")),
      m_busy(timing.channels, occupancy(timing.period.value(), m_stale)) {
    if (!is_power_of_two(timing.channels) || !is_power_of_two(timing.interleave) ||
        timing.bytes_per_cycle == 0)
        throw std::invalid_argument("ram: channels and interleave must be powers of two, bandwidth positive");
    // MAP_NORESERVE: reserve address space only; the host commits a page on first touch and
    // the kernel hands out zero pages, which is also what RAM reads as at power-on here.
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        throw user_error(fmt::format("ram: cannot reserve {} of host address space for the machine's RAM: {}",
                                     format_size(size), std::strerror(errno)));
    m_data = static_cast<unsigned char*>(p);
    // Advice only: a host without transparent huge pages keeps its base pages, which is no error.
    if (backing == host_pages::huge) madvise(p, size, MADV_HUGEPAGE);
    socket.bind(*this);
}

ram::~ram() { munmap(m_data, m_size); }

void ram::end_of_elaboration() {
    for (occupancy& channel : m_busy) channel.span(tlm::tlm_global_quantum::instance().get().value());
}

bool ram::within(const tlm::tlm_generic_payload& trans) const {
    std::uint64_t address = trans.get_address();
    std::uint64_t length = trans.get_data_length();
    return length != 0 && address < m_size && length <= m_size - address;
}

bool ram::accept(tlm::tlm_generic_payload& trans) const {
    if (!within(trans)) {
        trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return false;
    }
    if (trans.get_byte_enable_ptr()) {
        trans.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
        return false;
    }
    if (trans.get_streaming_width() < trans.get_data_length()) {
        trans.set_response_status(tlm::TLM_BURST_ERROR_RESPONSE);
        return false;
    }
    return true;
}

unsigned ram::copy(tlm::tlm_generic_payload& trans) {
    unsigned length = trans.get_data_length();
    unsigned char* cell = m_data + trans.get_address();
    if (trans.is_read())
        std::memcpy(trans.get_data_ptr(), cell, length);
    else if (trans.is_write())
        std::memcpy(cell, trans.get_data_ptr(), length);
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
    return length;
}

void ram::b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    if (!accept(trans)) {
        ++m_errors;
        return;
    }
    unsigned length = copy(trans);
    if (trans.is_read()) {
        ++m_reads;
        m_bytes_read += length;
    } else if (trans.is_write()) {
        ++m_writes;
        m_bytes_written += length;
    }
    // The channel's data bus is held for the transfer; the access latency is pipelined.
    unsigned channel = (trans.get_address() >> m_interleave_shift) & (m_timing.channels - 1);
    sc_time transfer = m_transfer(length);
    std::uint64_t waited = m_busy[channel].reserve((m_simc->time_stamp() + delay).value(), transfer.value());
    if (waited) {
        m_queue_ps += waited;
        delay += sc_time::from_value(waited);
    }
    delay += m_latency + transfer;
    trans.set_dmi_allowed(true);
}

bool ram::get_direct_mem_ptr(tlm::tlm_generic_payload&, tlm::tlm_dmi& dmi) {
    ++m_dmi_grants;
    dmi.set_dmi_ptr(m_data);
    dmi.set_start_address(0);
    dmi.set_end_address(m_size - 1);
    dmi.allow_read_write();
    // A DMI user sees no queueing: latency plus one beat, per access.
    dmi.set_read_latency(m_latency + m_timing.period);
    dmi.set_write_latency(m_latency + m_timing.period);
    return true;
}

unsigned ram::transport_dbg(tlm::tlm_generic_payload& trans) {
    // Debug transport ignores byte enables and streaming width (IEEE 1666-2011, the debug
    // transport interface).
    if (!within(trans)) return 0;
    return copy(trans);
}

tlm::tlm_sync_enum ram::nb_transport_fw(tlm::tlm_generic_payload& trans, tlm::tlm_phase&, sc_time&) {
    return refuse_nb_transport(trans);
}

}  // namespace memsim::hw
