// Loading a workload file in either form.
#include "traces/workload.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "base/error.h"

namespace memsim::traces {

namespace {

bool is_process_op(op_kind kind) { return kind >= op_kind::process; }

}  // namespace

std::string problem_with(const op& o) {
    if (o.flags != 0 && o.kind != op_kind::mmap)
        return fmt::format("only mmap has flags (got {:#x})", o.flags);
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

bool workload::needs_kernel() const {
    return std::any_of(ops.begin(), ops.end(),
                       [](const op& o) { return is_kernel_op(o.kind) || o.handle >= 0; });
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
