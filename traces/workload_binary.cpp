// The binary form of workload v1, for long traces: an 8-byte magic, then per operation its
// kind and size bytes and three LEB128 numbers (address, value, segment + 1). A workload with
// handles is written as `memsimW2`: the handle names first, and a fourth number per operation
// (handle + 1). An mmap record ends with one more number, its MAP_* flags.
#include <string_view>

#include <fmt/format.h>

#include "base/error.h"
#include "traces/workload.h"

namespace memsim::traces {
namespace {

constexpr std::string_view magic{"memsimW1", 8};
constexpr std::string_view magic_handles{"memsimW2", 8};
constexpr unsigned last_kind = static_cast<unsigned>(last_op_kind);
constexpr std::uint64_t max_handle_name = 256;

void put_number(std::string& out, std::uint64_t v) {
    do {
        auto byte = static_cast<unsigned char>(v & 0x7f);
        v >>= 7;
        out.push_back(static_cast<char>(byte | (v ? 0x80 : 0)));
    } while (v);
}

class reader {
public:
    reader(const std::string& bytes, const std::string& name) : m_bytes(bytes), m_name(name) {}

    bool done() const { return m_at == m_bytes.size(); }
    [[noreturn]] void fail(const std::string& what) const { fail_at(m_at, what); }
    [[noreturn]] void fail_at(std::size_t at, const std::string& what) const {
        throw user_error(source_location{m_name}, fmt::format("byte {}: {}", at, what));
    }
    std::size_t position() const { return m_at; }
    unsigned byte() {
        if (done()) fail("the trace ends inside an operation");
        return static_cast<unsigned char>(m_bytes[m_at++]);
    }
    std::uint64_t number() {
        std::uint64_t v = 0;
        for (unsigned shift = 0;; shift += 7) {
            if (shift > 63) fail("a number longer than 64 bits");
            unsigned b = byte();
            v |= std::uint64_t{b & 0x7f} << shift;
            if (!(b & 0x80)) return v;
        }
    }
    void skip(std::size_t n) { m_at += n; }

private:
    const std::string& m_bytes;
    const std::string& m_name;
    std::size_t m_at = 0;
};

void read_handles(reader& in, std::vector<std::string>& names) {
    std::uint64_t count = in.number();
    for (std::uint64_t i = 0; i < count; ++i) {
        std::uint64_t length = in.number();
        if (length == 0 || length > max_handle_name)
            in.fail(fmt::format("a handle name of {} bytes", length));
        std::string name;
        for (std::uint64_t k = 0; k < length; ++k) name.push_back(static_cast<char>(in.byte()));
        names.push_back(std::move(name));
    }
}

}  // namespace

bool is_binary(const std::string& bytes) {
    return bytes.compare(0, magic.size(), magic) == 0 || bytes.compare(0, magic.size(), magic_handles) == 0;
}

std::string to_binary(const workload& w) {
    bool handles = !w.handles.empty();
    std::string out(handles ? magic_handles : magic);
    if (handles) {
        put_number(out, w.handles.size());
        for (const std::string& name : w.handles) {
            put_number(out, name.size());
            out += name;
        }
    }
    for (const op& o : w.ops) {
        out.push_back(static_cast<char>(o.kind));
        out.push_back(static_cast<char>(o.size));
        put_number(out, o.address);
        put_number(out, o.value);
        put_number(out, static_cast<std::uint64_t>(o.segment + 1));
        if (handles) put_number(out, static_cast<std::uint64_t>(o.handle + 1));
        if (o.kind == op_kind::mmap) put_number(out, o.flags);
    }
    return out;
}

workload parse_binary(const std::string& bytes, const std::string& name) {
    reader in(bytes, name);
    if (!is_binary(bytes)) in.fail("not a memsim binary workload (no 'memsimW1' or 'memsimW2' magic)");
    bool handles = bytes.compare(0, magic.size(), magic_handles) == 0;
    in.skip(magic.size());
    workload w{name, {}, {}};
    if (handles) read_handles(in, w.handles);
    while (!in.done()) {
        std::size_t start = in.position();
        unsigned kind = in.byte();
        if (kind > last_kind) in.fail(fmt::format("unknown operation kind {}", kind));
        op o{static_cast<op_kind>(kind), static_cast<std::uint8_t>(in.byte())};
        o.address = in.number();
        o.value = in.number();
        std::uint64_t segment = in.number();
        if (segment > 0x10000) in.fail(fmt::format("segment {:#x} is more than 16 bits", segment - 1));
        o.segment = static_cast<std::int32_t>(segment) - 1;
        if (handles) {
            std::uint64_t handle = in.number();
            if (handle > w.handles.size()) in.fail(fmt::format("handle {} is not in the table", handle - 1));
            o.handle = static_cast<std::int32_t>(handle) - 1;
        }
        if (o.kind == op_kind::mmap) {
            std::size_t at = in.position();
            std::uint64_t flags = in.number();
            if (flags > 0xffffffff)
                in.fail_at(at, fmt::format("MAP_* flags {:#x} are more than 32 bits", flags));
            o.flags = static_cast<std::uint32_t>(flags);
        }
        // Errors in the operation itself name the byte its record starts at.
        if (std::string problem = problem_with(o); !problem.empty()) in.fail_at(start, problem);
        w.ops.push_back(o);
    }
    return w;
}

}  // namespace memsim::traces
