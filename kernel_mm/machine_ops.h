// The kernel's one window on the machine it runs on (DESIGN.md §2): timed physical memory
// access, cycle charging, TLB maintenance, control registers, and which CPU runs in what
// context. The platform implements it on the CPU core; tests implement it on a byte array.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/units.h"

namespace memsim::kernel {

using phys_addr_t = std::uint64_t;

enum class control_register { cr0, cr3, cr4, efer };

// The CPU running kernel code, whether it is in interrupt context, and the cycles the kernel's
// own work has cost since the machine last took them: plain fields, so that the allocator's
// fast paths make no virtual call. The machine adds `cycles` to the CPU's clock before its next
// timed access and whenever the kernel returns to it.
struct cpu_context {
    unsigned cpu = 0;
    bool in_interrupt = false;
    std::uint64_t cycles = 0;
};

class machine_ops {
public:
    // Physical memory, each access timed on the running CPU's clock.
    virtual void read_phys(phys_addr_t addr, void* data, std::size_t length) = 0;
    virtual void write_phys(phys_addr_t addr, const void* data, std::size_t length) = 0;
    virtual void fill_phys(phys_addr_t addr, std::uint8_t value, std::size_t length) = 0;
    virtual void copy_phys(phys_addr_t to, phys_addr_t from, std::size_t length) = 0;
    // RAM as host memory, for the kernel's hot paths (slab free pointers, poison bytes): the
    // host address of [addr, addr + length), or nullptr where that is not all plain RAM. The
    // machine does not time these accesses: the caller charges them in context().cycles.
    virtual unsigned char* direct(phys_addr_t addr, std::size_t length) = 0;

    virtual cpu_context& context() = 0;
    // The running CPU's time, the kernel's pending cycles included.
    virtual picoseconds now() const = 0;

    // The CPU's mode and address space, as the boot code and the scheduler change them.
    virtual void write_control(control_register reg, std::uint64_t value) = 0;
    virtual void enable_a20() = 0;
    // INVLPG for the current PCID, INVPCID single-context, and a flush of everything.
    virtual void flush_tlb_page(std::uint64_t linear) = 0;
    virtual void flush_tlb_pcid(std::uint16_t pcid) = 0;
    virtual void flush_tlb_all() = 0;

    virtual unsigned cpu_count() const = 0;

    // HLT until a device interrupts: the interrupt's handler has run (in interrupt context) when
    // this returns true. False: nothing in the machine can interrupt any more (a driver's
    // wait_for_completion_timeout would expire). A driver waiting for its completion loops.
    virtual bool wait_for_interrupt() = 0;

protected:
    ~machine_ops() = default;
};

}  // namespace memsim::kernel
