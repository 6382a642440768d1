// The CPU core: executes a workload's operations through the MMU (TLBs, paging-structure
// caches, page walks whose entry reads and A/D writes are timed bus accesses) and then the bus,
// under temporal decoupling. It resets into real mode; protected, PAE and long mode follow
// from the control-register writes boot code makes. Faults and interrupts go to a trap handler
// the platform binds (the kernel, once there is one).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <systemc>
#include <tlm>

#include "base/log.h"
#include "base/stats.h"
#include "hw/irq.h"
#include "hw/timed_initiator.h"
#include "mmu/paging.h"
#include "mmu/psc.h"
#include "mmu/pte_port.h"
#include "mmu/tlb.h"
#include "mmu/walk_ahead.h"
#include "mmu/walker.h"
#include "traces/workload.h"

namespace memsim::hw {

class cpu_core;

// An exception the core raised (SDM Vol. 3A, 6.15): #PF (14) with CR2 and the error code, or
// #GP (13) for a non-canonical address; and where in the workload it happened.
struct fault_report {
    unsigned vector = 0;
    std::uint64_t cr2 = 0;
    std::uint32_t error_code = 0;
    std::size_t op_index = 0;
    traces::op op;
    const char* cause = "";  // for #GP: what the SDM refuses
};

class trap_handler {
public:
    // Returns true when the handler made the access possible and it should be retried.
    virtual bool fault(cpu_core& cpu, const fault_report& report) = 0;
    virtual void interrupt(cpu_core& cpu, unsigned line) = 0;
    // A kernel operation of the workload (a driver's or a subsystem's call); false stops the
    // run. And the address a handle an earlier one defined stands for, for `h+offset` accesses.
    virtual bool service(cpu_core& cpu, const traces::op& o) = 0;
    virtual std::uint64_t handle_address(std::int32_t handle) const = 0;

protected:
    ~trap_handler() = default;
};

// Software that runs on the core before its workload, on the core's thread (the kernel's boot):
// what it does through perform() and the port is timed on the core's clock.
class firmware {
public:
    virtual void boot(cpu_core& cpu) = 0;

protected:
    ~firmware() = default;
};

struct cpu_params {
    sc_core::sc_time period;
    mmu::tlb_config tlbs;
    mmu::psc_config paging_caches;
    unsigned maxphyaddr = 52;  // physical-address width: entry bits at or above it are reserved
    // Runs of TLB hits in one loop (replay_hits); false runs every access one at a time, which
    // must give the same simulation (tests compare the two).
    bool replay = true;
};

class cpu_core : public sc_core::sc_module, private mmu::pte_port {
public:
    timed_initiator port;  // to the bus, with the CPU's full reach

    cpu_core(sc_core::sc_module_name name, const cpu_params& params, stats::scope stats, logger& log);

    void connect_interrupts(const irq_controller& interrupts) { m_interrupts = &interrupts; }
    void set_trap_handler(trap_handler* handler) { m_handler = handler; }
    void set_firmware(firmware* software) { m_firmware = software; }
    // Carries out one operation for the firmware as if the workload had it (control registers,
    // A20, INVLPG, INVPCID, ...); false when it faulted.
    bool perform(const traces::op& o) { return execute(o); }
    // For a trap handler whose fault() returns false: the faulting process is gone (a signal
    // killed it), so its operations are skipped up to the next `process` operation, and the
    // run goes on.
    void abandon_process() { m_abandoned = true; }
    // HLT with interrupts enabled (SDM Vol. 2A "HLT"): the core idles until a line it has not
    // taken rises, then takes it through the trap handler. False, at once, when nothing could
    // ever raise one: no controller or handler, or no activity left in the simulation.
    bool wait_for_interrupt();
    // The operations to run, from the first; the workload must outlive the simulation.
    void load(const traces::workload& work) { m_workload = &work; }

    // The thread that runs the firmware and the workload, for whoever needs to know it is running.
    const sc_core::sc_process_handle& thread() const { return m_thread; }
    const mmu::control_registers& registers() const { return m_cr; }
    bool user_mode() const { return m_user; }  // CPL 3
    std::size_t ops_done() const { return m_next; }
    bool finished() const { return m_finished; }

private:
    void run();
    // False when a fault stopped the run.
    bool execute(const traces::op& o);
    void take_interrupts();
    // After a call into the trap handler: the kernel may have set other processes going.
    bool serviced(bool result) {
        port.quantum.forget_quiet();
        return result;
    }
    std::uint32_t fresh_interrupts();

    // One memory operation, split where it crosses a page; false if a fault stopped the run.
    // Inline in run(), with the hit memo's part of translate(): the registers are saved once per
    // run, not per access.
    [[gnu::always_inline]] bool memory(const traces::op& o);
    struct hit_memo;
    // From the next operation on, those memory() would serve from `memo` (replayable()) and the
    // last DMI region, in one loop; true if it ran any.
    const hit_memo* replayable(const traces::op& head) const;
    bool replay_hits(const hit_memo& memo);
    traces::op at_handle(const traces::op& o) const;
    // Where an access goes: its physical address, and the bytes from there to the end of its
    // page (at least 1); 0 bytes if it faulted and was not fixed. Two words, returned in registers.
    struct placement {
        std::uint64_t physical = 0, room = 0;

        // `linear` in the page at `frame` whose offsets `offset_mask` covers.
        static placement in_page(std::uint64_t linear, std::uint64_t frame, std::uint64_t offset_mask) {
            const std::uint64_t offset = linear & offset_mask;
            return {frame + offset, offset_mask - offset + 1};
        }
    };
    [[gnu::always_inline]] placement translate(mmu::access a, const traces::op& o);
    // Without paging: the linear address, with A20 masked in real-address mode while A20M# is.
    placement unpaged(std::uint64_t linear) const;
    // With paging, past the hit memo: the TLBs, else a walk. `retries`: the faults the trap
    // handler said it fixed for this access so far. A call, with the retries out of line, so
    // that it holds no retry loop's state across the walk.
    placement translate_paged(mmu::access a, const traces::op& o, unsigned retries);
    static constexpr unsigned max_fault_retries = 8;
    // A walk that faulted: the trap handler, then another try; out of line, off the registers
    // of the walks that succeed.
    [[gnu::cold, gnu::noinline]] placement after_fault(mmu::access a, const traces::op& o,
                                                       const mmu::walk_result& walk, unsigned retries);
    bool raise(unsigned vector, std::uint64_t cr2, std::uint32_t error, const traces::op& o,
               const char* cause);
    bool general_protection(const traces::op& o, const char* cause);
    void bus_error(std::uint64_t physical, const char* what, unsigned length);
    void poke(const traces::op& o);
    // The data of an access's piece at `physical`: of a write, `length` bytes of the operation's
    // value from `offset` on.
    void move_data(std::uint64_t physical, const traces::op& o, unsigned offset, unsigned length) {
        if (o.kind == traces::op_kind::write)
            write_data(physical, o, offset, length);
        else
            read_data(physical, length);
    }
    void read_data(std::uint64_t physical, unsigned length);
    void write_data(std::uint64_t physical, const traces::op& o, unsigned offset, unsigned length);
    // Where no DMI grant covers the data (a device's registers): through the bus, out of line
    // so that the common path keeps no buffer and no transaction code.
    [[gnu::noinline]] void read_bus(std::uint64_t physical, unsigned length);
    [[gnu::noinline]] void write_bus(std::uint64_t physical, const unsigned char* data, unsigned length);
    struct dmi_region {
        std::uint64_t start, end;
        unsigned char* data;
        sc_core::sc_time read_latency, write_latency;
    };
    // The DMI grant covering an access, asked for on first use; nullptr where there is none.
    // Inline for the common case, the region the last access used.
    const dmi_region* direct(std::uint64_t physical, unsigned length) {
        const dmi_region* r = m_last_dmi;
        if (r && port.invalidations.size() == m_invalidations_seen && physical >= r->start &&
            physical + length - 1 <= r->end)
            return r;
        return find_direct(physical, length);
    }
    const dmi_region* find_direct(std::uint64_t physical, unsigned length);
    const dmi_region* cached_direct(std::uint64_t physical, std::uint64_t length) const;

    // The last TLB hit of one access kind that allowed the access, so that the next access of
    // that kind to the same page skips the search and the rights check (DESIGN.md §6). It holds
    // while the TLB contents and the paging context (control registers, CPL, EFLAGS.AC) stay
    // as they were: a lookup would then find the same entry and the check give the same answer.
    struct hit_memo {
        std::uint64_t page = 1;  // the page's linear address; 1 is no page's, so empty
        std::uint64_t offset_mask = mmu::page_bytes(mmu::page_size::size_4k) - 1;
        std::uint64_t frame = 0;
        std::uint64_t contents = 0;  // the TLBs' contents() it was taken at
        mmu::tlb_lookup hit;
        sc_core::sc_time hit_time;  // hit.latency as time

        bool serves(std::uint64_t linear, std::uint64_t tlb_contents) const {
            return (linear & ~offset_mask) == page && contents == tlb_contents;
        }
    };
    void remember(hit_memo& memo, std::uint64_t linear, const mmu::tlb_lookup& hit);
    // After any change of the paging context (control registers, CPL, EFLAGS.AC): the hits
    // remembered may no longer hold, and the paging mode and PCID are found again, once.
    void paging_changed() {
        for (hit_memo& m : m_hits) m.page = 1;
        m_mode = mmu::mode_of(m_cr);
        m_pcid = mmu::current_pcid(m_cr);
    }

    bool write_cr0(const traces::op& o);
    void write_cr3(std::uint64_t value);
    bool write_cr4(const traces::op& o);
    bool write_efer(const traces::op& o);
    void invpcid(unsigned type, std::uint16_t pcid, std::uint64_t linear);
    void flush_everything();

    // The walker's view of memory: timed, dependent bus accesses. Those in the pte_port's
    // direct window (the DMI region the last entry access outside it found) never get here.
    std::uint64_t read_entry(std::uint64_t physical, unsigned size) override;
    void write_entry(std::uint64_t physical, std::uint64_t value, unsigned size) override;
    const dmi_region* entry_region(std::uint64_t physical, unsigned size);
    void aim_window(const dmi_region* r);
    // Adds the window's accesses to the local time, one latency at a time as read_entry() does.
    void settle_window() {
        const window_use use = take_use();
        for (unsigned n = 0; n < use.reads; ++n) port.quantum.inc(m_window_latency.read);
        for (unsigned n = 0; n < use.writes; ++n) port.quantum.inc(m_window_latency.write);
    }
    mmu::walk_result walk(const mmu::access& a);
    // Host prefetches for the operations a few ahead, whose walks will likely follow this one's.
    void look_ahead();
    static constexpr std::size_t entry_ahead = 16, data_ahead = 8;
    static_assert(data_ahead < entry_ahead, "the data is asked for after the entry that locates it");
    struct ahead_entry {
        std::size_t op = ~std::size_t{0};
        std::uint64_t linear = 0;  // the operation's
        mmu::leaf_location leaf;
    };

    // Cycles as time: a table for the short counts of TLB hits, so the hit path multiplies nothing.
    sc_core::sc_time cycles(std::uint64_t n) const {
        return n < m_cycles.size() ? m_cycles[n] : sc_core::sc_time::from_value(m_period.value() * n);
    }
    void charge(std::uint64_t n) { port.quantum.inc(cycles(n)); }

    sc_core::sc_process_handle m_thread;
    const sc_core::sc_time m_period;
    const bool m_replay;
    std::array<sc_core::sc_time, 64> m_cycles;
    logger& m_log;
    mmu::control_registers m_cr;
    mmu::paging_mode m_mode = mmu::paging_mode::none;  // mode_of(m_cr), kept by paging_changed()
    std::uint16_t m_pcid = 0;                          // current_pcid(m_cr), likewise
    bool m_a20 = false;                                // the A20 line is masked at reset, as on a PC
    bool m_user = false;  // CPL 3: accesses are user-mode accesses (SDM Vol. 3A, 4.6)
    mmu::tlb_hierarchy m_tlbs;
    mmu::paging_structure_caches m_pscs;
    mmu::walker m_walker;
    std::array<hit_memo, 3> m_hits;  // by mmu::access_kind
    const irq_controller* m_interrupts = nullptr;
    std::uint32_t m_serviced = 0;  // lines whose interrupt was taken and are still high
    std::array<sc_core::sc_time, irq_controller::max_lines> m_taken_at{};  // when each was last taken
    trap_handler* m_handler = nullptr;
    firmware* m_firmware = nullptr;
    const traces::workload* m_workload = nullptr;
    std::size_t m_next = 0;
    bool m_finished = false;
    bool m_abandoned = false;  // the handler killed the running process
    bool m_skipping = false;   // its operations are skipped until the next `process`

    // What reads loaded, folded, and never read: a read must still load from the host, and a
    // result nobody keeps would let the compiler drop it.
    std::uint64_t m_loaded = 0;

    // The leaf entries look_ahead() found, by operation index modulo entry_ahead: each is used
    // data_ahead operations later, before an operation entry_ahead further takes its slot.
    std::array<ahead_entry, entry_ahead> m_ahead;
    mmu::leaf_finder m_leaf_finder;

    std::vector<dmi_region> m_dmi;
    struct {
        sc_core::sc_time read, write;
    } m_window_latency;  // of the DMI region the pte_port's window shows
    const dmi_region* m_last_dmi = nullptr;
    std::size_t m_invalidations_seen = 0;

    stats::counter& m_ops;
    std::array<stats::counter*, 3> m_accesses;  // by mmu::access_kind: reads, writes, fetches
    stats::counter& m_splits;
    stats::counter& m_rewalks;
    stats::counter& m_page_faults;
    stats::counter& m_protection_faults;
    stats::counter& m_bus_errors;
    stats::counter& m_interrupts_taken;
    stats::counter& m_halted_ps;
    stats::counter& m_skipped;
    stats::histogram& m_walk_cycles;
};

}  // namespace memsim::hw
