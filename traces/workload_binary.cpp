// The binary form of workload v1, for long traces: an 8-byte magic, then per operation its
// kind and size bytes and three LEB128 numbers (address, value, segment + 1).
#include <string_view>

#include <fmt/format.h>

#include "base/error.h"
#include "traces/workload.h"

namespace memsim::traces {
namespace {

constexpr std::string_view magic{"memsimW1", 8};
constexpr unsigned last_kind = static_cast<unsigned>(op_kind::ac);

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

}  // namespace

bool is_binary(const std::string& bytes) { return bytes.compare(0, magic.size(), magic) == 0; }

std::string to_binary(const workload& w) {
    std::string out(magic);
    for (const op& o : w.ops) {
        out.push_back(static_cast<char>(o.kind));
        out.push_back(static_cast<char>(o.size));
        put_number(out, o.address);
        put_number(out, o.value);
        put_number(out, static_cast<std::uint64_t>(o.segment + 1));
    }
    return out;
}

workload parse_binary(const std::string& bytes, const std::string& name) {
    reader in(bytes, name);
    if (!is_binary(bytes)) in.fail("not a memsim binary workload (no 'memsimW1' magic)");
    in.skip(magic.size());
    workload w{name, {}};
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
        // Errors in the operation itself name the byte its record starts at.
        if (std::string problem = problem_with(o); !problem.empty()) in.fail_at(start, problem);
        w.ops.push_back(o);
    }
    return w;
}

}  // namespace memsim::traces
