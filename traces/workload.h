// A workload: the stream of operations the CPU core executes (format v1, docs/workload-format.md).
// Memory operations, compute time, control-register writes (an address space switch is a CR3
// write), TLB maintenance, physical stores for boot code that builds page tables, the kernel
// operations a driver or subsystem performs (allocations named by handles), the system calls
// of user processes (process, mmap, munmap, mprotect, brk, fork, exit), and the DMA driver
// operations on the machine's devices (the DMA API and the DMA engine's registers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace memsim::traces {

enum class op_kind : std::uint8_t {
    read,     // address: linear (or offset when segment >= 0); size bytes
    write,    // the same, storing `value` (little-endian, at most 8 bytes of it)
    fetch,    // an instruction fetch of size bytes
    compute,  // value: cycles of work without memory
    cr0,      // value: the new CR0
    cr3,      // value: the new CR3, PCID in bits 11:0 and the no-flush bit 63 as MOV to CR3 takes them
    cr4,      // value: the new CR4
    efer,     // value: the new IA32_EFER
    a20,      // value: 1 enables the A20 line, 0 masks it
    poke,     // address: physical; stores size bytes of value without translation
    invlpg,   // address: linear
    invpcid,  // size: the type (0-3); value: the PCID; address: linear (type 0)
    cpl,      // value: the privilege level accesses run at (3: user-mode accesses, SDM 4.6)
    ac,       // value: EFLAGS.AC, which lets supervisor accesses reach user pages under SMAP
    // Kernel operations; `handle` is the handle the operation defines or uses.
    alloc_pages,         // size: the order; value: the gfp flags
    free_pages,          // the block alloc_pages gave `handle`
    kmalloc,             // address: the size in bytes; value: the gfp flags
    kfree,               //
    kmem_cache_create,   // address: the object size; value: SLAB_* flags; size: log2(align) + 1, 0 none
    kmem_cache_alloc,    // value: the cache's handle; address: the gfp flags
    kmem_cache_free,     // value: the cache's handle
    kmem_cache_destroy,  //
    vmalloc,             // address: the size in bytes
    vfree,               //
    kmap,                // value: the handle of the page (an alloc_pages block) to map
    kunmap,              //
    // Process operations: the system calls of a process. Memory operations after `process N`
    // (N > 0) run in that process's address space at CPL 3.
    process,   // value: the pid to run from here on (1..max_pid; the first `process N` of a pid that
               // does not exist creates it, as fork+exec of an empty program); 0: the kernel itself
               // (swapper: the kernel's page tables, ring 0)
    mmap,      // handle: the handle it defines (the address mmap returned, or its negative errno);
               // address: the hint (0: none); value: the length in bytes; size: PROT_* bits;
               // flags: MAP_* flags
    munmap,    // address (plus the handle's, as read/write take H+OFFSET): the start; value: length
    mprotect,  // address (plus the handle's): the start; value: the length; size: PROT_* bits
    brk,       // address (plus the handle's): the new break (0 asks for the current one)
    fork,      // value: the child's pid (1..max_pid)
    exit,      // value: the exit status (0..255)
    // DMA driver operations: `device` indexes workload::devices; handles as kernel operations.
    dma_set_mask,        // value: the mask's bits (1..64); size: which masks (dma_mask_kind)
    dma_alloc_coherent,  // handle: defined; address: the size in bytes; value: the gfp flags
    dma_free_coherent,   // handle: the dma_alloc_coherent buffer
    dma_map,             // handle: the mapping it defines; flags: the buffer's handle; address: the
                         // offset into it; value: the size in bytes; size: the dma_data_direction
    dma_unmap,           // handle: the mapping
    dma_sync,            // handle: the mapping; size: dma_sync_target
    dma_transfer,        // handle: the source (mapping or coherent buffer); value: the destination's
                         // handle; flags: the bytes; size: dma_transfer_nowait or 0; segment: the
                         // gfp flags the completion handler allocates with, -1 none
    dma_transfer_phys,   // address: the source's bus address; value: the destination's; flags: the
                         // bytes; size: dma_transfer_nowait or 0 (the DMA API bypassed)
    dma_wait,            // until the device's outstanding transfer completed and its irq was handled
};

inline constexpr op_kind last_op_kind = op_kind::dma_wait;

// Whether an operation is the kernel's (the workload then runs on a booted kernel).
constexpr bool is_kernel_op(op_kind kind) { return kind >= op_kind::alloc_pages; }
// Whether an operation is a DMA driver's: it names a device (op::device).
constexpr bool is_dma_op(op_kind kind) { return kind >= op_kind::dma_set_mask; }
// Whether an operation carries op::flags.
constexpr bool has_flags(op_kind kind) {
    return kind == op_kind::mmap || kind == op_kind::dma_map || kind == op_kind::dma_transfer ||
           kind == op_kind::dma_transfer_phys;
}

// dma_set_mask's size: the masks it sets, as the three calls of include/linux/dma-mapping.h.
enum class dma_mask_kind : std::uint8_t {
    both = 0,       // dma_set_mask_and_coherent
    streaming = 1,  // dma_set_mask
    coherent = 2,   // dma_set_coherent_mask
};
// dma_sync's size: dma_sync_single_for_cpu or dma_sync_single_for_device.
enum class dma_sync_target : std::uint8_t { for_cpu = 0, for_device = 1 };
// dma_transfer's and dma_transfer_phys's size bit: the CPU goes on without waiting for the
// completion interrupt.
inline constexpr std::uint8_t dma_transfer_nowait = 1;

struct op {
    op_kind kind = op_kind::compute;
    std::uint8_t size = 0;
    std::uint16_t device = 0;   // DMA operations: workload::devices index (in padding: 32 bytes stay)
    std::int32_t segment = -1;  // real-mode segment for segment:offset addresses, else -1
    std::uint64_t address = 0;
    std::uint64_t value = 0;
    // read/write/fetch: the address is this handle's plus `address`; kernel operations: the
    // handle they define or use. -1: none.
    std::int32_t handle = -1;
    std::uint32_t flags = 0;  // mmap's MAP_* flags, DMA operations as above; else 0 (has_flags)

    bool operator==(const op&) const = default;
};
static_assert(sizeof(op) == 32);

inline constexpr unsigned max_access_bytes = 64;  // one cache line: the widest access v1 allows
// 10^12 cycles (500 s at 2 GHz) keeps any clock's cycles times its period within 64-bit picoseconds.
inline constexpr std::uint64_t max_compute_cycles = 1'000'000'000'000;
// The highest pid (PID_MAX_LIMIT - 1 on 64-bit Linux); pid 0 is the kernel's (swapper).
inline constexpr std::uint64_t max_pid = 4'194'303;
// The PROT_* bits a process operation may give: PROT_READ|PROT_WRITE|PROT_EXEC|PROT_SEM.
inline constexpr unsigned max_prot = 0xf;
inline constexpr std::uint64_t max_exit_status = 255;
// The largest coherent buffer or streaming mapping a DMA operation asks for (1 GiB).
inline constexpr std::uint64_t max_dma_buffer = std::uint64_t{1} << 30;
// The widest DMA mask (DMA_BIT_MASK(64)).
inline constexpr std::uint64_t max_dma_mask_bits = 64;
// How many devices a workload can name (op::device is 16 bits).
inline constexpr std::size_t max_devices = 65536;

// What is wrong with an operation a file gave, for a user ("" when nothing is): the limits
// every reader enforces, so the CPU core never sees an operation it cannot carry out.
std::string problem_with(const op& o);
// What problem_with says of PROT_* bits above max_prot (the text form says it too).
std::string prot_problem(std::uint64_t prot);
// What problem_with says of out-of-range DMA numbers ("" when in range); the text form says
// the same at the number's column.
std::string dma_mask_problem(std::uint64_t bits);
std::string dma_buffer_problem(std::uint64_t bytes);
std::string dma_transfer_problem(std::uint64_t bytes);

struct workload {
    std::string name;  // where it came from, for reports
    std::vector<op> ops;
    std::vector<std::string> handles = {};  // op::handle indexes it
    std::vector<std::string> devices = {};  // op::device indexes it: the names the file gives
    // Where each device is first named, for check_devices: the text form's line, or the byte
    // the binary form's record starts at (from_binary); no_location when no operation names it.
    std::vector<std::uint64_t> device_first_use = {};
    bool from_binary = false;

    static constexpr std::uint64_t no_location = ~std::uint64_t{0};

    bool needs_kernel() const;
};

// Throws user_error at the first operation naming a device that is not in `known` (the
// machine's devices by name): "FILE:LINE: unknown device 'foo' (this machine has: a, b)".
void check_devices(const workload& w, std::span<const std::string> known);

// Text form (hand-written, `memsim workload 1` header) and binary form (compact, for long
// traces); both throw user_error naming file:line for bad input. load() tells them apart.
workload load_workload(const std::string& path);
workload parse_text(const std::string& text, const std::string& name);
std::string to_text(const workload& w);
// One operation as its text line, without the newline.
std::string to_text(const op& o);
std::string to_binary(const workload& w);
workload parse_binary(const std::string& bytes, const std::string& name);
bool is_binary(const std::string& bytes);

}  // namespace memsim::traces
