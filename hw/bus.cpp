#include "hw/bus.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "base/bits.h"
#include "hw/loosely_timed.h"

namespace memsim::hw {

using sc_core::sc_time;

namespace {
// printk_ratelimit-like: a device looping over a bad address must not flood the log.
constexpr std::uint64_t overreach_log_limit = 8;
}  // namespace

// The bus side of one initiator's connection: its reach and its own counters. Ports are
// modules of their own so that they can be added after the bus is built (a socket may only
// be created inside a module's construction).
struct bus::initiator_port : sc_core::sc_module, tlm::tlm_fw_transport_if<> {
    initiator_port(sc_core::sc_module_name module, bus& owner, std::string_view name, unsigned reach_bits,
                   stats::scope stats)
        : sc_module(module),
          owner(owner),
          label(name),
          reach_bits(reach_bits),
          reach_mask(address_mask(reach_bits)),
          socket("socket"),
          transactions(stats.add_counter("transactions", "Transactions from this initiator")),
          overreach(stats.add_counter("overreach",
                                      "Accesses beyond this initiator's reach (DMA-constraint violations)")),
          wait_ps(stats.add_counter("wait_ps", "Time this initiator waited for the bus (ps)")),
          first_overreach(stats.add_counter("overreach_first_address",
                                            "The address of its first access beyond its reach")),
          first_overreach_landed(stats.add_counter(
              "overreach_first_landed", "Where that access landed with the address bits it lacks dropped")) {
        socket.bind(*this);
    }

    void b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) override {
        owner.b_transport(*this, trans, delay);
    }
    bool get_direct_mem_ptr(tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi) override {
        return owner.get_direct_mem_ptr(*this, trans, dmi);
    }
    unsigned transport_dbg(tlm::tlm_generic_payload& trans) override {
        return owner.transport_dbg(*this, trans);
    }
    tlm::tlm_sync_enum nb_transport_fw(tlm::tlm_generic_payload& trans, tlm::tlm_phase&, sc_time&) override {
        return refuse_nb_transport(trans);
    }

    bus& owner;
    std::string label;  // the initiator's name in logs and stats
    unsigned reach_bits;
    std::uint64_t reach_mask;
    tlm::tlm_target_socket<> socket;
    std::size_t last_mapping = 0;  // index into m_map of the range it hit last
    stats::counter& transactions;
    stats::counter& overreach;
    stats::counter& wait_ps;
    stats::counter& first_overreach;
    stats::counter& first_overreach_landed;
};

// The bus side of one target's connection; carries DMI invalidations back.
struct bus::target_port : sc_core::sc_module, tlm::tlm_bw_transport_if<> {
    target_port(sc_core::sc_module_name module, bus& owner, unsigned index)
        : sc_module(module), owner(owner), index(index), socket("socket") {
        socket.bind(*this);
    }

    tlm::tlm_sync_enum nb_transport_bw(tlm::tlm_generic_payload&, tlm::tlm_phase&, sc_time&) override {
        return tlm::TLM_COMPLETED;
    }
    void invalidate_direct_mem_ptr(sc_dt::uint64 start, sc_dt::uint64 end) override {
        owner.invalidate_direct_mem_ptr(*this, start, end);
    }

    bus& owner;
    unsigned index;
    tlm::tlm_initiator_socket<> socket;
};

bus::bus(sc_core::sc_module_name name, const bus_timing& timing, overreach_mode mode, stats::scope stats,
         logger& log)
    : sc_module(name),
      m_timing(timing),
      m_latency(sc_time::from_value(timing.period.value() * timing.latency_cycles)),
      m_transfer(timing.period, timing.width_bytes),
      m_simc(sc_core::sc_get_curr_simcontext()),
      m_mode(mode),
      m_stats(stats),
      m_log(log),
      m_transactions(stats.add_counter("transactions", "Transactions routed")),
      m_bytes(stats.add_counter("bytes", "Bytes moved by routed transactions")),
      m_wait_ps(stats.add_counter("wait_ps", "Time transactions waited for the bus (ps)")),
      m_unmapped(stats.add_counter("unmapped", "Accesses to addresses no target decodes")),
      m_overreach(stats.add_counter("overreach", "Accesses beyond an initiator's reach")),
      m_dmi_grants(stats.add_counter("dmi_grants", "Direct memory interface grants forwarded")),
      m_dmi_invalidations(stats.add_counter("dmi_invalidations", "DMI invalidations forwarded")),
      m_stale(
          stats.add_counter("stale_bookings", "Transfers older than the busy times span, charged no wait")),
      m_busy(timing.period.value(), m_stale) {}

bus::~bus() = default;

void bus::end_of_elaboration() {
    m_busy.span(tlm::tlm_global_quantum::instance().get().value());
    // Bindings are complete: the b_transport path calls each target without asking its port.
    for (mapping& m : m_map) m.fw = m_targets[m.target]->socket.get_interface(0);
}

void bus::bind_initiator(tlm::tlm_initiator_socket<>& initiator, std::string_view name, unsigned reach_bits) {
    if (reach_bits < 1 || reach_bits > 64)
        throw std::invalid_argument(fmt::format("bus: reach of '{}' must be 1..64 bits", name));
    std::string module = fmt::format("{}_from_{}", basename(), name);
    m_initiators.push_back(std::make_unique<initiator_port>(module.c_str(), *this, name, reach_bits,
                                                            m_stats.under("initiator").under(name)));
    initiator.bind(m_initiators.back()->socket);
}

unsigned bus::bind_target(tlm::tlm_target_socket<>& target, std::string_view name) {
    unsigned index = m_targets.size();
    std::string module = fmt::format("{}_to_{}", basename(), name);
    m_targets.push_back(std::make_unique<target_port>(module.c_str(), *this, index));
    m_targets.back()->socket.bind(target);
    return index;
}

void bus::map(unsigned target, std::uint64_t base, std::uint64_t size, std::uint64_t offset) {
    // The address map is fixed at elaboration, when the b_transport path resolves its targets.
    if (sc_core::sc_is_running()) throw std::logic_error("bus: map() while the simulation runs");
    if (target >= m_targets.size() || size == 0 || base + (size - 1) < base)
        throw std::invalid_argument(fmt::format("bus: bad mapping at {:#x}", base));
    mapping added{base, base + (size - 1), offset, target};
    auto next = std::upper_bound(m_map.begin(), m_map.end(), base,
                                 [](std::uint64_t a, const mapping& m) { return a < m.base; });
    bool overlaps_next = next != m_map.end() && next->base <= added.last;
    bool overlaps_prev = next != m_map.begin() && std::prev(next)->last >= base;
    if (overlaps_next || overlaps_prev) {
        const mapping& other = overlaps_next ? *next : *std::prev(next);
        throw std::invalid_argument(fmt::format("bus: {:#x}-{:#x} overlaps {:#x}-{:#x}", added.base,
                                                added.last, other.base, other.last));
    }
    m_map.insert(next, added);
}

const bus::mapping* bus::decode(std::uint64_t address, std::uint64_t length) const {
    auto next = std::upper_bound(m_map.begin(), m_map.end(), address,
                                 [](std::uint64_t a, const mapping& m) { return a < m.base; });
    if (next == m_map.begin()) return nullptr;
    const mapping& m = *std::prev(next);
    return contains(m, address, length) ? &m : nullptr;
}

const bus::mapping* bus::decode(initiator_port& from, std::uint64_t address, std::uint64_t length) const {
    // An initiator mostly stays in one range (RAM): try the one it used last first.
    if (from.last_mapping < m_map.size() && contains(m_map[from.last_mapping], address, length))
        return &m_map[from.last_mapping];
    const mapping* m = decode(address, length);
    if (m) from.last_mapping = m - m_map.data();
    return m;
}

bool bus::within_reach(initiator_port& from, tlm::tlm_generic_payload& trans, bool count) {
    std::uint64_t address = trans.get_address();
    std::uint64_t last = address + (trans.get_data_length() ? trans.get_data_length() - 1 : 0);
    if (last <= from.reach_mask && last >= address) return true;
    return overreach(from, trans, count);
}

bool bus::overreach(initiator_port& from, tlm::tlm_generic_payload& trans, bool count) {
    std::uint64_t address = trans.get_address();
    std::uint64_t wrapped = address & from.reach_mask;
    std::uint64_t length = trans.get_data_length();
    // Even wrapped, an access that runs past the top of the reach has nowhere to go.
    bool refused = m_mode == overreach_mode::error || (length && length - 1 > from.reach_mask - wrapped);
    if (count) {
        ++m_overreach;
        if (from.overreach.value == 0) {
            from.first_overreach.value = address;
            from.first_overreach_landed.value = wrapped;
        }
        if ((++from.overreach).value <= overreach_log_limit)
            m_log.log(log_level::warning, name(), "{} access {:#x} beyond its {}-bit reach ({} {:#x})",
                      from.label, address, from.reach_bits, refused ? "refused; would wrap to" : "wrapped to",
                      wrapped);
        if (from.overreach.value == overreach_log_limit)
            m_log.log(log_level::warning, name(), "further overreach by {} not logged", from.label);
    }
    if (refused) {
        trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return false;
    }
    trans.set_address(wrapped);
    return true;
}

void bus::unmapped(initiator_port& from, tlm::tlm_generic_payload& trans) {
    ++m_unmapped;
    m_log.log(log_level::info, name(), "{} access {:#x} decodes to no target", from.label,
              trans.get_address());
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
}

void bus::charge(initiator_port& from, unsigned length, sc_time& delay) {
    sc_time held = m_transfer(length);
    std::uint64_t waited = m_busy.reserve((m_simc->time_stamp() + delay).value(), held.value());
    if (waited) {
        m_wait_ps += waited;
        from.wait_ps += waited;
        delay += sc_time::from_value(waited);
    }
    delay += m_latency + held;
}

void bus::b_transport(initiator_port& from, tlm::tlm_generic_payload& trans, sc_time& delay) {
    ++m_transactions;
    ++from.transactions;
    std::uint64_t issued = trans.get_address();
    unsigned length = trans.get_data_length();
    charge(from, length, delay);
    if (!within_reach(from, trans, true)) return;
    const mapping* m = decode(from, trans.get_address(), length);
    if (!m) {
        unmapped(from, trans);
        trans.set_address(issued);
        return;
    }
    m_bytes += length;
    trans.set_address(trans.get_address() - m->base + m->offset);
    m->fw->b_transport(trans, delay);
    trans.set_address(issued);
}

bool bus::get_direct_mem_ptr(initiator_port& from, tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi) {
    std::uint64_t issued = trans.get_address();
    // Beyond reach there is no DMI: b_transport then refuses or wraps, and counts it.
    if (issued > from.reach_mask) {
        dmi.set_start_address(from.reach_mask + 1);
        dmi.set_end_address(~std::uint64_t{0});
        return false;
    }
    const mapping* m = decode(issued, 1);
    if (!m) {
        dmi.set_start_address(issued);
        dmi.set_end_address(issued);
        return false;
    }
    trans.set_address(issued - m->base + m->offset);
    bool granted = m_targets[m->target]->socket->get_direct_mem_ptr(trans, dmi);
    trans.set_address(issued);
    // The target speaks in its own addresses: translate back, and clip to this mapping and
    // to the initiator's reach, so DMI never lets a device past its address lines.
    std::uint64_t window = m->last - m->base;
    std::uint64_t start = std::max<std::uint64_t>(dmi.get_start_address(), m->offset);
    std::uint64_t end = std::min<std::uint64_t>(dmi.get_end_address(), m->offset + window);
    if (granted) {
        dmi.set_dmi_ptr(dmi.get_dmi_ptr() + (start - dmi.get_start_address()));
        dmi.set_read_latency(dmi.get_read_latency() + m_latency + m_timing.period);
        dmi.set_write_latency(dmi.get_write_latency() + m_latency + m_timing.period);
        ++m_dmi_grants;
    }
    dmi.set_start_address(start - m->offset + m->base);
    dmi.set_end_address(std::min(end - m->offset + m->base, from.reach_mask));
    return granted;
}

unsigned bus::transport_dbg(initiator_port& from, tlm::tlm_generic_payload& trans) {
    std::uint64_t issued = trans.get_address();
    if (!within_reach(from, trans, false)) return 0;
    const mapping* m = decode(trans.get_address(), trans.get_data_length());
    unsigned moved = 0;
    if (m) {
        trans.set_address(trans.get_address() - m->base + m->offset);
        moved = m_targets[m->target]->socket->transport_dbg(trans);
    }
    trans.set_address(issued);
    return moved;
}

void bus::invalidate_direct_mem_ptr(const target_port& from, std::uint64_t start, std::uint64_t end) {
    for (const mapping& m : m_map) {
        if (m.target != from.index) continue;
        std::uint64_t window_end = m.offset + (m.last - m.base);
        if (end < m.offset || start > window_end) continue;
        std::uint64_t lo = std::max(start, m.offset) - m.offset + m.base;
        std::uint64_t hi = std::min(end, window_end) - m.offset + m.base;
        ++m_dmi_invalidations;
        for (auto& port : m_initiators) port->socket->invalidate_direct_mem_ptr(lo, hi);
    }
}

}  // namespace memsim::hw
