// The binary form of workload v1, for long traces: an 8-byte magic, then per operation its
// kind and size bytes and three LEB128 numbers (address, value, segment + 1). A workload with
// handles is written as `memsimW2`: the handle names first, and a fourth number per operation
// (handle + 1); one with devices as `memsimW3`: the handle names, then the device names. A
// record of a kind with flags (mmap, dma_map, dma_transfer, dma_transfer_phys) ends with one more
// number, its flags, and a DMA operation's record then with its device.
#include <algorithm>
#include <string_view>

#include <fmt/format.h>

#include "base/error.h"
#include "traces/workload.h"

namespace memsim::traces {
namespace {

// Each version adds a table: W1 none, W2 the handles, W3 the handles and the devices.
constexpr std::string_view magics[] = {{"memsimW1", 8}, {"memsimW2", 8}, {"memsimW3", 8}};
constexpr std::size_t magic_size = 8;
constexpr unsigned last_kind = static_cast<unsigned>(last_op_kind);
constexpr std::uint64_t max_name = 256;

// 1, 2 or 3 by the magic; 0 for bytes that are no binary workload.
unsigned version_of(const std::string& bytes) {
    for (unsigned v = 0; v < std::size(magics); ++v)
        if (bytes.compare(0, magic_size, magics[v]) == 0) return v + 1;
    return 0;
}

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

// A device name goes into the text form as one word: no blanks, no '#', nothing unprintable.
bool fits_text(std::string_view name) {
    return std::all_of(name.begin(), name.end(), [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte > 0x20 && byte != 0x7f && c != '#';
    });
}

// What a table of names holds, for its errors and limits.
struct name_table {
    std::string_view what;
    std::uint64_t max_count;  // as many as an op field can index
    bool one_word;            // the text form writes each name as a word of its own
};
constexpr name_table handle_table{"handle", 0x7fffffff, false};
constexpr name_table device_table{"device", max_devices, true};

// A table of names: their count, then each as its length and bytes.
std::vector<std::string> read_names(reader& in, const name_table& table) {
    std::vector<std::string> names;
    std::uint64_t count = in.number();
    if (count > table.max_count)
        in.fail(fmt::format("{} {}s are more than {}", count, table.what, table.max_count));
    for (std::uint64_t i = 0; i < count; ++i) {
        std::size_t start = in.position();
        std::uint64_t length = in.number();
        if (length == 0 || length > max_name)
            in.fail(fmt::format("a {} name of {} bytes", table.what, length));
        std::string name;
        for (std::uint64_t k = 0; k < length; ++k) name.push_back(static_cast<char>(in.byte()));
        if (table.one_word && !fits_text(name))
            in.fail_at(start,
                       fmt::format("{} name '{}' has a blank, '#' or a control character", table.what, name));
        names.push_back(std::move(name));
    }
    return names;
}

// segment + 1: a real-mode segment (16 bits), or dma_transfer's gfp flags (31 bits).
void read_segment(reader& in, op& o) {
    std::uint64_t segment = in.number();
    if (o.kind == op_kind::dma_transfer) {
        if (segment > 0x80000000) in.fail(fmt::format("irq_gfp {:#x} is more than 31 bits", segment - 1));
    } else if (segment > 0x10000) {
        in.fail(fmt::format("segment {:#x} is more than 16 bits", segment - 1));
    }
    o.segment = static_cast<std::int32_t>(segment) - 1;
}

void put_names(std::string& out, const std::vector<std::string>& names) {
    put_number(out, names.size());
    for (const std::string& name : names) {
        put_number(out, name.size());
        out += name;
    }
}

// A number that names a handle (a handle + 1 when `plus_one`: 0 is none), checked against the table.
std::int32_t handle_number(reader& in, const workload& w, bool plus_one) {
    std::size_t at = in.position();
    std::uint64_t n = in.number();
    if (plus_one && n == 0) return -1;
    std::uint64_t id = plus_one ? n - 1 : n;
    if (id >= w.handles.size()) in.fail_at(at, fmt::format("handle {} is not in the table", id));
    return static_cast<std::int32_t>(id);
}

// The fields past the common ones: flags for the kinds that have them, a DMA operation's device.
void read_tail(reader& in, workload& w, op& o) {
    if (o.kind == op_kind::dma_map) {
        o.flags = static_cast<std::uint32_t>(handle_number(in, w, false));  // its buffer's handle
    } else if (has_flags(o.kind)) {
        std::size_t at = in.position();
        std::uint64_t flags = in.number();
        if (flags > 0xffffffff)
            in.fail_at(at, o.kind == op_kind::mmap
                               ? fmt::format("MAP_* flags {:#x} are more than 32 bits", flags)
                               : dma_transfer_problem(flags));
        o.flags = static_cast<std::uint32_t>(flags);
    }
    if (!is_dma_op(o.kind)) return;
    std::size_t at = in.position();
    std::uint64_t device = in.number();
    if (device >= w.devices.size()) in.fail_at(at, fmt::format("device {} is not in the table", device));
    o.device = static_cast<std::uint16_t>(device);
}

}  // namespace

bool is_binary(const std::string& bytes) { return version_of(bytes) != 0; }

std::string to_binary(const workload& w) {
    unsigned version = !w.devices.empty() ? 3 : !w.handles.empty() ? 2 : 1;
    std::string out(magics[version - 1]);
    if (version >= 2) put_names(out, w.handles);
    if (version >= 3) put_names(out, w.devices);
    for (const op& o : w.ops) {
        out.push_back(static_cast<char>(o.kind));
        out.push_back(static_cast<char>(o.size));
        put_number(out, o.address);
        put_number(out, o.value);
        put_number(out, static_cast<std::uint64_t>(o.segment + 1));
        if (version >= 2) put_number(out, static_cast<std::uint64_t>(o.handle + 1));
        if (has_flags(o.kind)) put_number(out, o.flags);
        if (is_dma_op(o.kind)) put_number(out, o.device);
    }
    return out;
}

workload parse_binary(const std::string& bytes, const std::string& name) {
    reader in(bytes, name);
    unsigned version = version_of(bytes);
    if (version == 0) in.fail("not a memsim binary workload (no 'memsimW1', 'memsimW2' or 'memsimW3' magic)");
    in.skip(magic_size);
    workload w{name, {}, {}};
    w.from_binary = true;
    if (version >= 2) w.handles = read_names(in, handle_table);
    if (version >= 3) w.devices = read_names(in, device_table);
    w.device_first_use.assign(w.devices.size(), workload::no_location);
    while (!in.done()) {
        std::size_t start = in.position();
        unsigned kind = in.byte();
        if (kind > last_kind) in.fail(fmt::format("unknown operation kind {}", kind));
        op o{static_cast<op_kind>(kind), static_cast<std::uint8_t>(in.byte())};
        o.address = in.number();
        // dma_transfer's value is its destination's handle.
        o.value = o.kind == op_kind::dma_transfer ? std::uint64_t(handle_number(in, w, false)) : in.number();
        read_segment(in, o);
        if (version >= 2) o.handle = handle_number(in, w, true);
        read_tail(in, w, o);
        // Errors in the operation itself name the byte its record starts at.
        if (std::string problem = problem_with(o); !problem.empty()) in.fail_at(start, problem);
        if (is_dma_op(o.kind) && w.device_first_use[o.device] == workload::no_location)
            w.device_first_use[o.device] = start;
        w.ops.push_back(o);
    }
    return w;
}

}  // namespace memsim::traces
