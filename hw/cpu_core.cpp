#include "hw/cpu_core.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "mmu/permissions.h"

namespace memsim::hw {

using sc_core::sc_time;
using traces::op;
using traces::op_kind;

namespace {

// Real-address mode (SDM Vol. 3A, 20.1.1): linear = segment * 16 + offset.
std::uint64_t real_mode_linear(const op& o) {
    return o.segment >= 0 ? (static_cast<std::uint64_t>(o.segment) << 4) + o.address : o.address;
}

// MOV to a control register, WRMSR (EFER), INVLPG and INVPCID are #GP(0) above CPL 0 (SDM
// Vol. 2); so are the A20 port write and the physical store boot code makes.
bool privileged(op_kind kind) {
    switch (kind) {
        case op_kind::cr0:
        case op_kind::cr3:
        case op_kind::cr4:
        case op_kind::efer:
        case op_kind::a20:
        case op_kind::poke:
        case op_kind::invlpg:
        case op_kind::invpcid:
            return true;
        default:
            return false;
    }
}

bool is_memory(op_kind kind) {
    return kind == op_kind::read || kind == op_kind::write || kind == op_kind::fetch;
}

// Of a memory operation: the two enumerations list the kinds in the same order.
mmu::access_kind kind_of(const op& o) {
    static_assert(static_cast<unsigned>(op_kind::read) == static_cast<unsigned>(mmu::access_kind::read) &&
                  static_cast<unsigned>(op_kind::write) == static_cast<unsigned>(mmu::access_kind::write) &&
                  static_cast<unsigned>(op_kind::fetch) == static_cast<unsigned>(mmu::access_kind::fetch));
    return static_cast<mmu::access_kind>(o.kind);
}

// A memcpy whose common sizes the compiler turns into single moves, not a library call.
void copy_bytes(unsigned char* to, const unsigned char* from, unsigned length) {
    switch (length) {
        case 8:
            std::memcpy(to, from, 8);
            return;
        case 4:
            std::memcpy(to, from, 4);
            return;
        case 2:
            std::memcpy(to, from, 2);
            return;
        case 1:
            *to = *from;
            return;
        default:
            std::memcpy(to, from, length);
            return;
    }
}

// The `length` bytes at `from`, loaded a word at a time and folded into one.
std::uint64_t load_folded(const unsigned char* from, unsigned length) {
    std::uint64_t folded = 0, word = 0;
    for (; length > sizeof word; from += sizeof word, length -= sizeof word) {
        std::memcpy(&word, from, sizeof word);
        folded ^= word;
    }
    word = 0;
    copy_bytes(reinterpret_cast<unsigned char*>(&word), from, length);
    return folded ^ word;
}

// A run of operations replay_hits() can serve, as values the compiler keeps in registers: the
// stores into simulated memory could otherwise alias the members they come from.
struct hit_run {
    op_kind kind;
    std::uint64_t page, offset_mask;
    unsigned char* frame;        // the page's bytes on the host
    std::uint64_t step, budget;  // sc_time values: one access's time, the quantum's end
};
struct replay_state {
    std::uint64_t local;   // the quantum keeper's local time, as an sc_time value
    std::uint64_t loaded;  // what the reads loaded, folded
};

// The operations from `o` that belong to the run, up to the end of the quantum; where it stopped.
template <bool write>
const op* replay_run(const op* o, const op* end, const hit_run run, replay_state& state) {
    std::uint64_t local = state.local, loaded = 0;
    for (; o != end && local < run.budget; ++o) {
        const std::uint64_t offset = o->address & run.offset_mask;
        if (o->kind != run.kind || o->handle >= 0 || o->size > sizeof o->value ||
            (o->address & ~run.offset_mask) != run.page || offset + o->size > run.offset_mask + 1)
            break;
        if constexpr (write) {
            copy_bytes(run.frame + offset, reinterpret_cast<const unsigned char*>(&o->value), o->size);
        } else {
            std::uint64_t word = 0;
            copy_bytes(reinterpret_cast<unsigned char*>(&word), run.frame + offset, o->size);
            loaded ^= word;
        }
        local += run.step;
    }
    state = {local, loaded};
    return o;
}

}  // namespace

cpu_core::cpu_core(sc_core::sc_module_name name, const cpu_params& params, stats::scope stats, logger& log)
    : sc_module(name),
      port("port"),
      m_period(params.period),
      m_replay(params.replay),
      m_log(log),
      m_tlbs(params.tlbs, stats.under("tlb")),
      m_pscs(params.paging_caches, stats.under("psc")),
      m_walker(&m_pscs, stats.under("walker"), params.maxphyaddr),
      m_ops(stats.add_counter("ops", "Workload operations executed")),
      m_accesses{&stats.add_counter("reads", "Data reads"), &stats.add_counter("writes", "Data writes"),
                 &stats.add_counter("fetches", "Instruction fetches")},
      m_splits(stats.add_counter("page_splits", "Accesses split because they cross a page boundary")),
      m_rewalks(stats.add_counter("rewalks",
                                  "TLB hits dropped and walked again: a write to a clean entry, or rights")),
      m_page_faults(stats.add_counter("page_faults", "Page faults (#PF) raised")),
      m_protection_faults(stats.add_counter("gp_faults", "General-protection faults (#GP) raised")),
      m_bus_errors(stats.add_counter("bus_errors", "Accesses the bus answered with an error")),
      m_interrupts_taken(stats.add_counter("interrupts", "Interrupts taken between operations")),
      m_halted_ps(stats.add_counter("halted_ps", "Time the core idled in HLT waiting for an interrupt (ps)")),
      m_skipped(stats.add_counter("ops_skipped", "Operations of killed processes, skipped")),
      m_walk_cycles(stats.add_histogram("walk_cycles", "Cycles from a TLB miss to its translation")) {
    for (unsigned n = 0; n < m_cycles.size(); ++n) m_cycles[n] = sc_time::from_value(m_period.value() * n);
    SC_HAS_PROCESS(cpu_core);
    SC_THREAD(run);
    m_thread = sc_core::sc_get_current_process_handle();  // during elaboration: the one just made
    // The core's thread runs the workload (and, later, the kernel's handlers) on its own stack.
    set_stack_size(16 * 1024 * 1024);
}

void cpu_core::run() {
    if (m_firmware) m_firmware->boot(*this);
    port.quantum.forget_quiet();  // the boot may have set devices going
    if (!m_workload) {
        port.quantum.sync();
        return;
    }
    const std::vector<op>& ops = m_workload->ops;
    while (m_next < ops.size()) {
        take_interrupts();
        if (const hit_memo* memo = m_replay && !m_skipping ? replayable(ops[m_next]) : nullptr;
            memo && replay_hits(*memo))
            continue;
        const op& o = ops[m_next];
        if (m_skipping && o.kind != op_kind::process) {
            ++m_skipped;
            ++m_next;
            continue;
        }
        m_skipping = false;
        ++m_ops;
        bool done = !is_memory(o.kind) ? execute(o) : o.handle < 0 ? memory(o) : memory(at_handle(o));
        if (!done && !m_abandoned) break;
        m_skipping = std::exchange(m_abandoned, false);
        ++m_next;
        if (port.quantum.need_sync()) port.quantum.end_quantum();
    }
    port.quantum.sync();
    m_finished = m_next == ops.size();
}

// Lines to take: high and not taken since they last rose. A line the handler acknowledged
// drops a delta later and may rise again before the core looks, so "still high" alone would
// miss the second interrupt: its rise time tells.
std::uint32_t cpu_core::fresh_interrupts() {
    std::uint32_t pending = m_interrupts->pending();
    m_serviced &= pending;
    std::uint32_t fresh = pending & ~m_serviced;
    for (std::uint32_t taken = m_serviced; taken; taken &= taken - 1) {
        auto line = static_cast<unsigned>(std::countr_zero(taken));
        if (m_interrupts->last_raised(line) > m_taken_at[line]) fresh |= 1u << line;
    }
    return fresh;
}

// Between operations, as a real core takes them between instructions.
void cpu_core::take_interrupts() {
    if (!m_interrupts || !m_handler) return;
    std::uint32_t fresh = fresh_interrupts();
    if (!fresh) return;
    port.quantum.sync();
    for (unsigned line = 0; fresh; ++line, fresh >>= 1) {
        if (!(fresh & 1)) continue;
        m_serviced |= 1u << line;
        m_taken_at[line] = sc_core::sc_time_stamp();
        ++m_interrupts_taken;
        m_handler->interrupt(*this, line);
        port.quantum.forget_quiet();
    }
}

bool cpu_core::wait_for_interrupt() {
    if (!m_interrupts || !m_handler) return false;
    port.quantum.sync();
    sc_time began = sc_core::sc_time_stamp();
    // HLT itself has no timeout: this one only notices that nothing is left to wake the core.
    const sc_time watchdog(1, sc_core::SC_MS);
    bool fresh = false;
    while (!(fresh = fresh_interrupts() != 0) && sc_core::sc_pending_activity())
        wait(watchdog, m_interrupts->raised());
    port.quantum.reset();
    m_halted_ps.value += (sc_core::sc_time_stamp() - began).value();
    take_interrupts();
    return fresh;
}

bool cpu_core::execute(const op& o) {
    if (m_user && privileged(o.kind)) return general_protection(o, "a privileged instruction at CPL 3");
    switch (o.kind) {
        case op_kind::compute:
            charge(o.value);
            return true;
        case op_kind::cr0:
            return write_cr0(o);
        case op_kind::cr3:
            write_cr3(o.value);
            return true;
        case op_kind::cr4:
            return write_cr4(o);
        case op_kind::efer:
            return write_efer(o);
        case op_kind::a20:
            m_a20 = o.value != 0;
            return true;
        case op_kind::poke:
            poke(o);
            return true;
        case op_kind::invlpg:
            // SDM Vol. 3A, 4.10.4.1: the page's TLB entries for the current PCID (and global
            // ones), and every paging-structure-cache entry of the current PCID.
            m_tlbs.invlpg(o.address, m_pcid);
            m_pscs.invalidate_pcid(m_pcid);
            return true;
        case op_kind::cpl:
            m_user = o.value == 3;
            paging_changed();
            return true;
        case op_kind::ac:
            m_cr.eflags_ac = o.value != 0;
            paging_changed();
            return true;
        case op_kind::invpcid:
            invpcid(o.size, static_cast<std::uint16_t>(o.value), o.address);
            return true;
        default:
            if (!traces::is_kernel_op(o.kind)) return true;
            return m_handler && serviced(m_handler->service(*this, o));
    }
}

// `h+offset`: the handle's address now, as the kernel operation that defined it left it.
op cpu_core::at_handle(const op& o) const {
    op resolved = o;
    resolved.address += m_handler ? m_handler->handle_address(o.handle) : 0;
    resolved.handle = -1;
    return resolved;
}

void cpu_core::poke(const op& o) {
    if (port.write(o.address, &o.value, o.size) == tlm::TLM_OK_RESPONSE) return;
    bus_error(o.address, "poke", o.size);
}

void cpu_core::bus_error(std::uint64_t physical, const char* what, unsigned length) {
    // printk_ratelimit-like: a workload looping over a hole must not flood the log.
    constexpr std::uint64_t logged = 8;
    if ((++m_bus_errors).value <= logged)
        m_log.log(log_level::warning, name(), "bus error at physical {:#x} ({} of {} bytes)", physical, what,
                  length);
    if (m_bus_errors.value == logged) m_log.log(log_level::warning, name(), "further bus errors not logged");
}

// Setting CR0.PG with EFER.LME = 1 but CR4.PAE = 0, or with CR0.PE = 0, is #GP (SDM Vol. 3A,
// 10.8.5 and 2.5). IA32_EFER.LMA follows CR0.PG when long mode is enabled. A change of CR0.PG
// flushes the TLBs and paging-structure caches (SDM Vol. 3A, 4.10.4.1 requires it for 1 -> 0;
// turning paging on from stale entries would be as wrong).
bool cpu_core::write_cr0(const op& o) {
    std::uint64_t value = o.value;
    bool enabling = (value & mmu::cr0::pg) && !(m_cr.cr0 & mmu::cr0::pg);
    // MOV to CR0 (SDM Vol. 2B): any write of PG = 1 with PE = 0, not only the one that sets PG.
    if ((value & mmu::cr0::pg) && !(value & mmu::cr0::pe))
        return general_protection(o, "CR0.PG set with CR0.PE clear");
    if (enabling && (m_cr.efer & mmu::efer::lme) && !(m_cr.cr4 & mmu::cr4::pae))
        return general_protection(o, "CR0.PG set with EFER.LME set and CR4.PAE clear");
    bool pg_toggled = (value ^ m_cr.cr0) & mmu::cr0::pg;
    m_cr.cr0 = value;
    bool long_mode = (value & mmu::cr0::pg) && (m_cr.efer & mmu::efer::lme);
    m_cr.efer = long_mode ? m_cr.efer | mmu::efer::lma : m_cr.efer & ~mmu::efer::lma;
    paging_changed();
    if (pg_toggled) flush_everything();
    return true;
}

// EFER.LMA is read-only to software; LME may not change while paging is on (SDM Vol. 3A,
// 10.8.5).
bool cpu_core::write_efer(const op& o) {
    if ((m_cr.cr0 & mmu::cr0::pg) && ((o.value ^ m_cr.efer) & mmu::efer::lme))
        return general_protection(o, "EFER.LME changed while CR0.PG is set");
    m_cr.efer = (o.value & ~mmu::efer::lma) | (m_cr.efer & mmu::efer::lma);
    paging_changed();
    return true;
}

// SDM Vol. 3A, 4.10.4.1, MOV to CR3: without PCIDs all non-global entries go; with PCIDE the
// new PCID's non-global entries go unless bit 63 says not to. Bit 63 is not part of CR3.
void cpu_core::write_cr3(std::uint64_t value) {
    bool keep = (m_cr.cr4 & mmu::cr4::pcide) && (value & mmu::cr3::no_flush);
    m_cr.cr3 = value & ~mmu::cr3::no_flush;
    paging_changed();
    if (keep) return;
    // Without PCIDE every entry is PCID 0's, so this is the whole non-global flush.
    m_tlbs.flush_pcid(m_pcid, true);
    m_pscs.invalidate_pcid(m_pcid);
}

// SDM Vol. 3A, 2.5 and 4.10.4.1, MOV to CR4: in IA-32e mode PAE may not be cleared nor LA57
// changed, and PCIDE may be set only in IA-32e mode with CR3[11:0] = 0 (else #GP). Toggling PGE
// or clearing PCIDE invalidates everything, globals included; a change of PAE, PSE, LA57 or
// SMEP changes what the cached entries mean, so this model flushes everything then too (the
// SDM allows invalidating more than it requires).
bool cpu_core::write_cr4(const op& o) {
    std::uint64_t value = o.value;
    std::uint64_t changed = value ^ m_cr.cr4;
    bool ia32e = m_cr.efer & mmu::efer::lma;
    if (ia32e && !(value & mmu::cr4::pae)) return general_protection(o, "CR4.PAE cleared in IA-32e mode");
    if (ia32e && (changed & mmu::cr4::la57)) return general_protection(o, "CR4.LA57 changed in IA-32e mode");
    if ((changed & value & mmu::cr4::pcide) && (!ia32e || (m_cr.cr3 & mmu::cr3::pcid_mask)))
        return general_protection(o, "CR4.PCIDE set outside IA-32e mode or with CR3[11:0] not 0");
    bool pcide_cleared = changed & m_cr.cr4 & mmu::cr4::pcide;
    m_cr.cr4 = value;
    paging_changed();
    constexpr std::uint64_t structural =
        mmu::cr4::pge | mmu::cr4::pae | mmu::cr4::pse | mmu::cr4::la57 | mmu::cr4::smep;
    if ((changed & structural) || pcide_cleared) flush_everything();
    return true;
}

// SDM Vol. 2, INVPCID: 0 one address in a PCID, 1 a PCID, 2 everything, 3 everything but globals.
void cpu_core::invpcid(unsigned type, std::uint16_t pcid, std::uint64_t linear) {
    m_tlbs.invpcid(type, pcid, linear);
    if (type <= 1)
        m_pscs.invalidate_pcid(pcid);
    else
        m_pscs.invalidate_all();
}

void cpu_core::flush_everything() {
    m_tlbs.flush_all(false);
    m_pscs.invalidate_all();
}

bool cpu_core::raise(unsigned vector, std::uint64_t cr2, std::uint32_t error, const op& o,
                     const char* cause) {
    ++(vector == 14 ? m_page_faults : m_protection_faults);
    if (vector == 14) m_cr.cr2 = cr2;  // CR2 holds the faulting linear address (SDM Vol. 3A, 4.7)
    port.quantum.sync();
    if (!m_handler) return false;
    return serviced(m_handler->fault(*this, fault_report{vector, cr2, error, m_next, o, cause}));
}

// A control-register write the SDM refuses: #GP, and the register keeps its value. A handler
// that returns true goes on with the next operation.
bool cpu_core::general_protection(const op& o, const char* cause) { return raise(13, 0, 0, o, cause); }

inline cpu_core::placement cpu_core::unpaged(std::uint64_t linear) const {
    // A20M# holds address line 20 low in real-address mode, so addresses wrap at 1 MiB as on the
    // 8086 (SDM Vol. 3A, 20.1.1).
    const bool a20_masked = !m_a20 && !(m_cr.cr0 & mmu::cr0::pe);
    const std::uint64_t physical = a20_masked ? linear & ~(std::uint64_t{1} << 20) : linear;
    const std::uint64_t offset_mask = mmu::page_bytes(mmu::page_size::size_4k) - 1;
    return placement::in_page(linear, physical & ~offset_mask, offset_mask);
}

inline cpu_core::placement cpu_core::translate(mmu::access a, const op& o) {
    const hit_memo& memo = m_hits[static_cast<unsigned>(a.kind)];
    if (memo.serves(a.linear, m_tlbs.contents())) {
        m_tlbs.rehit(memo.hit, a.kind == mmu::access_kind::fetch);
        charge(memo.hit.latency);
        return placement::in_page(a.linear, memo.frame, memo.offset_mask);
    }
    if (m_mode == mmu::paging_mode::none) return unpaged(a.linear);
    return translate_paged(a, o, 0);
}

inline cpu_core::placement cpu_core::translate_paged(mmu::access a, const op& o, unsigned retries) {
    const bool fetch = a.kind == mmu::access_kind::fetch;
    const mmu::tlb_lookup& hit = m_tlbs.lookup(a.linear, m_pcid, fetch);
    charge(hit.latency);
    if (hit.hit) {
        const mmu::translation& t = *hit.hit;
        std::uint32_t denied = mmu::access_fault(m_cr, a, t);
        // A TLB entry that forbids the access, or a write through a clean entry, is dropped
        // and the paging structures consulted again (SDM Vol. 3A, 4.8 and 4.10.4.3).
        if (!denied && (a.kind != mmu::access_kind::write || t.dirty)) {
            if (hit.array != mmu::tlb_lookup::no_array)
                remember(m_hits[static_cast<unsigned>(a.kind)], a.linear, hit);
            return placement::in_page(a.linear, t.frame, mmu::page_bytes(t.size) - 1);
        }
        m_tlbs.drop(a.linear, m_pcid, fetch);
        ++m_rewalks;
    }
    // A DMI grant revoked since the window opened: the entries go the long way until
    // read_entry() finds the new grant, and nothing looks ahead through the old one.
    if (port.invalidations.size() != m_invalidations_seen) close_window();
    look_ahead();
    mmu::walk_result walk = this->walk(a);
    if (!walk.ok()) return after_fault(a, o, walk, retries);
    // The walk's translation serves this access; the fill serves the next ones.
    m_tlbs.fill(a.linear, m_pcid, fetch, walk.result);
    return placement::in_page(a.linear, walk.result.frame, mmu::page_bytes(walk.result.size) - 1);
}

cpu_core::placement cpu_core::after_fault(mmu::access a, const op& o, const mmu::walk_result& walk,
                                          unsigned retries) {
    const bool general = walk.fault == mmu::fault_kind::general_protection;
    if (!raise(general ? 13 : 14, a.linear, walk.error_code, o, general ? "non-canonical address" : ""))
        return {};
    // A handler that keeps saying "retry" without changing what the walk finds would spin for
    // ever: a few rounds is what any real fix takes.
    if (++retries == max_fault_retries) {
        m_log.log(log_level::error, name(),
                  "the fault at {:#x} came back {} times after its handler; the run stops", a.linear,
                  retries);
        return {};
    }
    // A handler that turned paging off has the access retried without it.
    if (m_mode == mmu::paging_mode::none) return unpaged(a.linear);
    return translate_paged(a, o, retries);
}

void cpu_core::remember(hit_memo& memo, std::uint64_t linear, const mmu::tlb_lookup& hit) {
    const std::uint64_t offset_mask = mmu::page_bytes(hit.hit->size) - 1;
    memo = {linear & ~offset_mask, offset_mask, hit.hit->frame, m_tlbs.contents(), hit, cycles(hit.latency)};
}

// The hit memo that could serve a run from `head` on; small enough to be inlined into run(), so an
// operation that cannot start a run costs no call.
const cpu_core::hit_memo* cpu_core::replayable(const op& head) const {
    // Real-address mode forms linear addresses from segments and may mask A20 (memory()); paging
    // implies protected mode (write_cr0), but the loop does not lean on that.
    if (!is_memory(head.kind) || !(m_cr.cr0 & mmu::cr0::pe)) return nullptr;
    const hit_memo& memo = m_hits[static_cast<unsigned>(kind_of(head))];
    return memo.serves(head.address, m_tlbs.contents()) ? &memo : nullptr;
}

// What memory() does for each operation (counts, the TLB's replacement update, the data, the
// time), for a run of operations of one kind in the page a hit memo holds, up to the end of the
// quantum (DESIGN.md §6: the hit path in one tight loop). Nothing in the loop can change the
// TLBs, the DMI grants or the interrupt lines, so the checks made once hold throughout; the
// run's lookups are counted and its entry touched once at the end, which leaves every
// replacement policy as touches one by one would.
bool cpu_core::replay_hits(const hit_memo& memo) {
    const std::vector<op>& ops = m_workload->ops;
    const op& head = ops[m_next];
    const mmu::access_kind kind = kind_of(head);
    const dmi_region* r = cached_direct(memo.frame, memo.offset_mask + 1);
    if (!r) return false;
    const bool write = kind == mmu::access_kind::write;
    const hit_run run{head.kind,
                      memo.page,
                      memo.offset_mask,
                      r->data + (memo.frame - r->start),
                      (memo.hit_time + (write ? r->write_latency : r->read_latency)).value(),
                      port.quantum.budget().value()};
    replay_state state{port.quantum.get_local_time().value(), 0};
    const op* from = &head;
    const op* end = ops.data() + ops.size();
    const op* stop =
        write ? replay_run<true>(from, end, run, state) : replay_run<false>(from, end, run, state);
    const auto ran = static_cast<std::uint64_t>(stop - from);
    if (!ran) return false;
    m_loaded ^= state.loaded;  // kept only so that the compiler keeps the loads
    m_ops += ran;
    *m_accesses[static_cast<unsigned>(kind)] += ran;
    m_tlbs.rehit(memo.hit, kind == mmu::access_kind::fetch, ran);
    port.quantum.set(sc_time::from_value(state.local));
    m_next += ran;
    if (port.quantum.need_sync()) port.quantum.end_quantum();
    return true;
}

// The DMI grant already held that covers the range, asking the bus nothing.
const cpu_core::dmi_region* cpu_core::cached_direct(std::uint64_t physical, std::uint64_t length) const {
    if (port.invalidations.size() != m_invalidations_seen) return nullptr;
    for (const dmi_region& r : m_dmi)
        if (physical >= r.start && physical + length - 1 <= r.end) return &r;
    return nullptr;
}

const cpu_core::dmi_region* cpu_core::find_direct(std::uint64_t physical, unsigned length) {
    if (port.invalidations.size() != m_invalidations_seen) {
        m_dmi.clear();
        m_last_dmi = nullptr;
        close_window();  // it may show a region just revoked
        m_invalidations_seen = port.invalidations.size();
    }
    if (const dmi_region* r = cached_direct(physical, length)) return m_last_dmi = r;
    tlm::tlm_dmi grant;
    if (!port.dmi(physical, grant) || !grant.is_read_write_allowed() ||
        physical + length - 1 > grant.get_end_address())
        return nullptr;
    m_dmi.push_back({grant.get_start_address(), grant.get_end_address(), grant.get_dmi_ptr(),
                     grant.get_read_latency(), grant.get_write_latency()});
    return m_last_dmi = &m_dmi.back();
}

// A read's bytes go nowhere, but the host loads them all the same.
inline void cpu_core::read_data(std::uint64_t physical, unsigned length) {
    const dmi_region* r = direct(physical, length);
    if (!r) return read_bus(physical, length);
    m_loaded ^= load_folded(r->data + (physical - r->start), length);
    port.quantum.inc(r->read_latency);
    if (port.quantum.need_sync()) port.quantum.end_quantum();
}

void cpu_core::read_bus(std::uint64_t physical, unsigned length) {
    unsigned char bytes[traces::max_access_bytes];
    if (port.read(physical, bytes, length) != tlm::TLM_OK_RESPONSE) bus_error(physical, "read", length);
}

// A write stores the operation's value, zero-extended to its size.
void cpu_core::write_data(std::uint64_t physical, const op& o, unsigned offset, unsigned length) {
    unsigned char bytes[traces::max_access_bytes];
    std::memset(bytes, 0, o.size);
    std::memcpy(bytes, &o.value, std::min<unsigned>(sizeof o.value, o.size));
    const dmi_region* r = direct(physical, length);
    if (!r) return write_bus(physical, bytes + offset, length);
    copy_bytes(r->data + (physical - r->start), bytes + offset, length);
    port.quantum.inc(r->write_latency);
    if (port.quantum.need_sync()) port.quantum.end_quantum();
}

void cpu_core::write_bus(std::uint64_t physical, const unsigned char* data, unsigned length) {
    if (port.write(physical, data, length) != tlm::TLM_OK_RESPONSE) bus_error(physical, "write", length);
}

// Both pieces of an access that crosses a page are translated before any data moves, so one
// whose second page faults changes nothing and can be restarted (SDM Vol. 3A, 6.5). At most
// 64 bytes cross at most one page boundary.
inline bool cpu_core::memory(const op& o) {
    const mmu::access_kind kind = kind_of(o);
    ++*m_accesses[static_cast<unsigned>(kind)];
    const std::uint64_t linear = m_cr.cr0 & mmu::cr0::pe ? o.address : real_mode_linear(o);
    const placement first = translate({linear, kind, m_user, false}, o);
    if (!first.room) return false;
    if (first.room >= o.size) {
        move_data(first.physical, o, 0, o.size);
        return true;
    }
    const placement second = translate({linear + first.room, kind, m_user, false}, o);
    if (!second.room) return false;
    ++m_splits;
    const auto split = static_cast<unsigned>(first.room);
    move_data(first.physical, o, 0, split);
    move_data(second.physical, o, split, o.size - split);
    return true;
}

inline mmu::walk_result cpu_core::walk(const mmu::access& a) {
    // Global plus local time: a walk's own reads may synchronise the quantum keeper.
    const sc_time began = port.now();
    mmu::walk_result walk = m_walker.walk(m_mode, m_cr, a, *this);
    settle_window();
    m_walk_cycles.sample((port.now() - began).value() / m_period.value());
    return walk;
}

// The entry a walk reads last is the one most likely to miss the host's caches (the tables above
// it are few and stay cached): it is asked for far enough ahead to arrive in time, and the data
// later, once that entry is there to say where. The distances are the middle of a flat optimum
// (8 to 24 operations) on the MMU benchmark's hostile trace.
inline void cpu_core::look_ahead() {
    if (!m_workload) return;
    const std::vector<op>& ops = m_workload->ops;
    if (const std::size_t far = m_next + entry_ahead;
        far < ops.size() && is_memory(ops[far].kind) && ops[far].handle < 0) {
        const std::uint64_t linear = ops[far].address;
        const mmu::leaf_location leaf = m_leaf_finder.find(m_mode, m_cr.cr3, linear, *this);
        if (const unsigned char* at = leaf.shift ? host(leaf.entry, 8) : nullptr) __builtin_prefetch(at);
        m_ahead[far % m_ahead.size()] = {far, linear, leaf};
    }
    // The entry found for this operation entry_ahead - data_ahead operations ago, if one was.
    const std::size_t near = m_next + data_ahead;
    if (const ahead_entry& e = m_ahead[near % m_ahead.size()]; e.op == near)
        if (const unsigned char* at = mmu::find_data(e.leaf, e.linear, *this)) __builtin_prefetch(at);
}

// The DMI region of an entry outside the window, which the window shows from now on; the
// window's accesses so far are timed first.
const cpu_core::dmi_region* cpu_core::entry_region(std::uint64_t physical, unsigned size) {
    settle_window();
    const dmi_region* r = direct(physical, size);
    aim_window(r);
    return r;
}

void cpu_core::aim_window(const dmi_region* r) {
    if (!r) return close_window();
    open_window({r->data, r->start, r->end - r->start + 1});
    m_window_latency = {r->read_latency, r->write_latency};
}

// Each entry read is a dependent access whose latency adds up in the walk, by DMI where RAM
// grants it (its latency includes the bus's), else through b_transport, which may synchronise:
// the window's time is added first, so the local time is the same as one access at a time.
std::uint64_t cpu_core::read_entry(std::uint64_t physical, unsigned size) {
    std::uint64_t value = 0;
    if (const dmi_region* r = entry_region(physical, size)) {
        copy_bytes(reinterpret_cast<unsigned char*>(&value), r->data + (physical - r->start), size);
        port.quantum.inc(r->read_latency);
        return value;
    }
    if (port.read(physical, &value, size) != tlm::TLM_OK_RESPONSE)
        bus_error(physical, "page-table read", size);
    return value;
}

void cpu_core::write_entry(std::uint64_t physical, std::uint64_t value, unsigned size) {
    if (const dmi_region* r = entry_region(physical, size)) {
        copy_bytes(r->data + (physical - r->start), reinterpret_cast<const unsigned char*>(&value), size);
        port.quantum.inc(r->write_latency);
        return;
    }
    if (port.write(physical, &value, size) != tlm::TLM_OK_RESPONSE)
        bus_error(physical, "page-table write", size);
}

}  // namespace memsim::hw
