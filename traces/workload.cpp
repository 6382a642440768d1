// Loading a workload file in either form.
#include "traces/workload.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/error.h"
#include "kernel_mm/dma/direction.h"

namespace memsim::traces {

namespace {

bool is_process_op(op_kind kind) { return kind >= op_kind::process && kind <= op_kind::exit; }

// The DMA operations on a buffer or mapping, which name it by its handle.
bool needs_handle(op_kind kind) {
    return is_dma_op(kind) && kind != op_kind::dma_set_mask && kind != op_kind::dma_transfer_phys &&
           kind != op_kind::dma_wait;
}

std::string dma_problem(const op& o) {
    // dma_transfer alone keeps a number in `segment`: its completion handler's gfp flags.
    if (o.kind == op_kind::dma_transfer && o.segment < -1)
        return fmt::format("irq_gfp {} is negative (-1: none)", o.segment);
    if (o.kind != op_kind::dma_transfer && o.segment != -1)
        return "a DMA operation takes no SEGMENT:OFFSET address";
    if (needs_handle(o.kind) && o.handle < 0) return "this DMA operation needs its buffer's handle";
    switch (o.kind) {
        case op_kind::dma_set_mask:
            if (o.size > static_cast<unsigned>(dma_mask_kind::coherent))
                return fmt::format(
                    "dma_set_mask's size {} is not 0 (both masks), 1 (streaming) or 2 (coherent)", o.size);
            return dma_mask_problem(o.value);
        case op_kind::dma_alloc_coherent:
            return dma_buffer_problem(o.address);
        case op_kind::dma_map:
            if (o.size > kernel::DMA_FROM_DEVICE)
                return fmt::format(
                    "DMA direction {} is not 0 (bidirectional), 1 (to_device) or 2 (from_device)", o.size);
            return dma_buffer_problem(o.value);
        case op_kind::dma_sync:
            if (o.size > static_cast<unsigned>(dma_sync_target::for_device))
                return fmt::format("dma_sync's size {} is not 0 (for_cpu) or 1 (for_device)", o.size);
            return "";
        case op_kind::dma_transfer:
        case op_kind::dma_transfer_phys:
            if (o.size & ~dma_transfer_nowait)
                return fmt::format("a DMA transfer's size {} has bits other than 1 (nowait)", o.size);
            return dma_transfer_problem(o.flags);
        default:
            return "";
    }
}

}  // namespace

std::string problem_with(const op& o) {
    if (o.flags != 0 && !has_flags(o.kind))
        return fmt::format("only mmap, dma_map, dma_transfer and dma_transfer_phys have flags (got {:#x})",
                           o.flags);
    if (o.device != 0 && !is_dma_op(o.kind))
        return fmt::format("only DMA operations name a device (got device {})", o.device);
    if (is_dma_op(o.kind)) return dma_problem(o);
    if (is_process_op(o.kind) && o.segment >= 0) return "a system call takes no SEGMENT:OFFSET address";
    switch (o.kind) {
        case op_kind::read:
        case op_kind::write:
        case op_kind::fetch:
            if (o.size == 0 || o.size > max_access_bytes)
                return fmt::format("an access is 1 to {} bytes (got {})", max_access_bytes, o.size);
            if (o.segment >= 0 && o.address > 0xffff)
                return fmt::format("offset {:#x} is more than 16 bits", o.address);
            return "";
        case op_kind::poke:
            if (o.size != 1 && o.size != 2 && o.size != 4 && o.size != 8)
                return "a poke stores 1, 2, 4 or 8 bytes";
            return "";
        case op_kind::compute:
            if (o.value > max_compute_cycles)
                return fmt::format("{} is more than {}", o.value, max_compute_cycles);
            return "";
        case op_kind::invpcid:
            if (o.size > 3) return fmt::format("INVPCID type {} is not 0-3", o.size);
            if (o.value > 0xfff) return fmt::format("PCID {:#x} is more than 12 bits", o.value);
            return "";
        case op_kind::cpl:
            if (o.value > 3) return fmt::format("privilege level {} is not 0-3", o.value);
            return "";
        case op_kind::alloc_pages:
            if (o.size > 10) return fmt::format("order {} is more than MAX_PAGE_ORDER (10)", o.size);
            return "";
        case op_kind::process:
            if (o.value > max_pid) return fmt::format("pid {} is more than {}", o.value, max_pid);
            return "";
        case op_kind::fork:
            if (o.value == 0 || o.value > max_pid)
                return fmt::format("the child's pid is 1 to {} (got {})", max_pid, o.value);
            return "";
        case op_kind::exit:
            if (o.value > max_exit_status)
                return fmt::format("exit status {} is more than {}", o.value, max_exit_status);
            return "";
        case op_kind::mmap:
            if (o.handle < 0) return "mmap needs the handle it defines";
            [[fallthrough]];
        case op_kind::mprotect:
            if (o.size > max_prot) return prot_problem(o.size);
            return "";
        default:
            return "";
    }
}

std::string prot_problem(std::uint64_t prot) {
    return fmt::format("PROT {:#x} has bits above {:#x} (PROT_READ|PROT_WRITE|PROT_EXEC|PROT_SEM)", prot,
                       max_prot);
}

std::string dma_mask_problem(std::uint64_t bits) {
    if (bits == 0 || bits > max_dma_mask_bits)
        return fmt::format("a DMA mask is 1 to {} bits (got {})", max_dma_mask_bits, bits);
    return "";
}

std::string dma_buffer_problem(std::uint64_t bytes) {
    if (bytes == 0 || bytes > max_dma_buffer)
        return fmt::format("a DMA buffer is 1 byte to 1 GiB (got {})", bytes);
    return "";
}

std::string dma_transfer_problem(std::uint64_t bytes) {
    constexpr std::uint64_t most = 0xffffffff;  // the engine's length register is 32 bits
    if (bytes == 0 || bytes > most)
        return fmt::format("a DMA transfer is 1 to {} bytes (got {})", most, bytes);
    return "";
}

bool workload::needs_kernel() const {
    return std::any_of(ops.begin(), ops.end(),
                       [](const op& o) { return is_kernel_op(o.kind) || o.handle >= 0; });
}

namespace {

// Where check_devices says a device is first named: the line, or the binary record's byte as
// the binary reader's errors name it.
[[noreturn]] void fail_at_first_use(const workload& w, std::uint16_t device, const std::string& what) {
    std::uint64_t at =
        device < w.device_first_use.size() ? w.device_first_use[device] : workload::no_location;
    if (at == workload::no_location) throw user_error(source_location{w.name}, what);
    if (w.from_binary) throw user_error(source_location{w.name}, fmt::format("byte {}: {}", at, what));
    throw user_error(source_location{w.name, static_cast<int>(at)}, what);
}

}  // namespace

void check_devices(const workload& w, std::span<const std::string> known) {
    for (const op& o : w.ops) {
        if (!is_dma_op(o.kind)) continue;
        std::string name = o.device < w.devices.size() ? w.devices[o.device] : fmt::format("#{}", o.device);
        if (std::find(known.begin(), known.end(), name) != known.end()) continue;
        std::string has = known.empty() ? " none" : fmt::format(": {}", fmt::join(known, ", "));
        fail_at_first_use(w, o.device, fmt::format("unknown device '{}' (this machine has{})", name, has));
    }
}

workload load_workload(const std::string& path) {
    std::error_code ec;
    auto status = std::filesystem::status(path, ec);
    if (ec) throw user_error(source_location{path}, fmt::format("cannot open: {}", ec.message()));
    if (!std::filesystem::is_regular_file(status))
        throw user_error(source_location{path}, "not a regular file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw user_error(source_location{path}, fmt::format("cannot open: {}", std::strerror(errno)));
    std::ostringstream bytes;
    bytes << in.rdbuf();
    std::string text = bytes.str();
    return is_binary(text) ? parse_binary(text, path) : parse_text(text, path);
}

}  // namespace memsim::traces
