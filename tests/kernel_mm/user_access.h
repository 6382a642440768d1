// A test CPU running the current task in user mode (CPL 3): what the core does for one load,
// store or instruction fetch. It walks the page tables CR3 points to with the hardware walker
// (which sets Accessed and Dirty as the processor does), and on #PF hands CR2 and the error code
// to process_table::page_fault, retrying while the kernel resolves the fault; then it moves 8
// bytes at the physical address through the fake machine. The control registers are those the
// kernel last wrote to the machine (boot's CR0, CR4 and EFER, switch_mm's CR3), so that a wrong
// CR3 shows as wrong translations. No TLB and no paging-structure caches: every access walks.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/stats.h"
#include "kernel_mm/process.h"
#include "mmu/paging.h"
#include "mmu/pte_port.h"
#include "mmu/walker.h"
#include "tests/kernel_mm/booted_kernel.h"

namespace memsim::kernel::testing {

// The walker's view of the fake machine's RAM: 4- or 8-byte little-endian entries.
class machine_pte_port final : public mmu::pte_port {
public:
    explicit machine_pte_port(fake_machine& machine) : m_machine(machine) {}
    std::uint64_t read_entry(std::uint64_t physical, unsigned size) override {
        std::uint64_t value = 0;
        m_machine.read_phys(physical, &value, size);
        return value;
    }
    void write_entry(std::uint64_t physical, std::uint64_t value, unsigned size) override {
        m_machine.write_phys(physical, &value, size);
    }

private:
    fake_machine& m_machine;
};

class user_cpu {
public:
    user_cpu(booted_kernel& k, process_table& procs)
        : m_k(k), m_procs(procs), m_port(k.machine), m_walker(nullptr, m_registry.under("walker")) {}

    // CR0, CR3, CR4 and EFER as the kernel last wrote them; EFER.LMA follows CR0.PG with
    // EFER.LME, and CR3's no-flush bit is not part of the register (SDM Vol. 3A, 4.10.4.1).
    mmu::control_registers registers() const {
        mmu::control_registers cr;
        for (const auto& [reg, value] : m_k.machine.control_writes) switch (reg) {
                case control_register::cr0:
                    cr.cr0 = value;
                    break;
                case control_register::cr3:
                    cr.cr3 = value & ~mmu::cr3::no_flush;
                    break;
                case control_register::cr4:
                    cr.cr4 = value;
                    break;
                case control_register::efer:
                    cr.efer = value;
                    break;
            }
        if ((cr.cr0 & mmu::cr0::pg) && (cr.efer & mmu::efer::lme)) cr.efer |= mmu::efer::lma;
        return cr;
    }

    // One user-mode access of 8 bytes at `addr` (8-byte aligned): a read or fetch stores what it
    // read in *value, a write stores *value (0 when null). False when the task got a signal
    // (SIGSEGV or the OOM kill); it is then gone. Throws on what no user access may cause: a
    // kernel oops, #GP, or a fault the kernel claims to resolve forever.
    bool access(std::uint64_t addr, mmu::access_kind kind, std::uint64_t* value = nullptr) {
        if (addr & 7) throw std::invalid_argument("user_cpu: unaligned access");
        m_errors.clear();
        for (unsigned attempt = 0; attempt < 8; ++attempt) {
            const mmu::control_registers cr = registers();
            mmu::walk_result r = m_walker.walk(cr, mmu::access{addr, kind, true, false}, m_port);
            if (r.fault == mmu::fault_kind::general_protection)
                throw std::runtime_error(fmt::format("user_cpu: #GP at {:#x}", addr));
            if (r.ok()) {
                const std::uint64_t physical = r.result.frame + (addr & (mmu::page_bytes(r.result.size) - 1));
                m_last_physical = physical;
                if (kind == mmu::access_kind::write) {
                    std::uint64_t v = value ? *value : 0;
                    m_k.machine.write_phys(physical, &v, 8);
                } else {
                    std::uint64_t v = 0;
                    m_k.machine.read_phys(physical, &v, 8);
                    if (value) *value = v;
                }
                return true;
            }
            m_errors.push_back(r.error_code);
            switch (m_procs.page_fault(addr, r.error_code)) {
                case fault_outcome::retry:
                    continue;
                case fault_outcome::signalled:
                    return false;
                case fault_outcome::kernel_oops:
                    throw std::runtime_error(
                        fmt::format("user_cpu: kernel oops at {:#x} error {:#x}", addr, r.error_code));
            }
        }
        throw std::runtime_error(fmt::format("user_cpu: the fault at {:#x} never resolves", addr));
    }

    bool read(std::uint64_t addr, std::uint64_t& value) {
        return access(addr, mmu::access_kind::read, &value);
    }
    // The value read, or ~0 when the access was signalled.
    std::uint64_t load(std::uint64_t addr) {
        std::uint64_t v = 0;
        return read(addr, v) ? v : ~0ull;
    }
    bool write(std::uint64_t addr, std::uint64_t value) {
        return access(addr, mmu::access_kind::write, &value);
    }
    bool fetch(std::uint64_t addr) { return access(addr, mmu::access_kind::fetch); }

    // The page-fault error codes the last access raised, in order.
    const std::vector<std::uint32_t>& errors() const { return m_errors; }
    // The physical address the last successful access used.
    std::uint64_t last_physical() const { return m_last_physical; }

private:
    booted_kernel& m_k;
    process_table& m_procs;
    stats::registry m_registry;
    machine_pte_port m_port;
    mmu::walker m_walker;
    std::vector<std::uint32_t> m_errors;
    std::uint64_t m_last_physical = 0;
};

}  // namespace memsim::kernel::testing
