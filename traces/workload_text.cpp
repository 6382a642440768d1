// Reading the text form of workload v1: one operation a line, `#` comments, a `memsim workload 1`
// header; `paging` and `map` lines expand into the stores that build page tables. Process
// operations take their system call's arguments in its order, flags spelled as in C.
#include <algorithm>
#include <bit>
#include <charconv>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/error.h"
#include "base/units.h"
#include "kernel_mm/dma/direction.h"
#include "kernel_mm/flag_names.h"
#include "kernel_mm/gfp.h"
#include "kernel_mm/slab.h"
#include "kernel_mm/vma.h"
#include "traces/page_tables.h"
#include "traces/text_words.h"
#include "traces/workload.h"

namespace memsim::traces {
namespace {

using kernel::gfp_t;
using namespace text_words;

struct token {
    std::string_view text;
    int column;
};

std::vector<token> split(std::string_view line) {
    std::vector<token> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        if (i >= line.size() || line[i] == '#') break;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '#') ++i;
        out.push_back({line.substr(start, i - start), static_cast<int>(start) + 1});
    }
    return out;
}

// One line being parsed: its tokens, and errors that point into it.
class line_parser {
public:
    line_parser(const std::string& file, int line, std::vector<token> tokens)
        : m_file(file), m_line(line), m_tokens(std::move(tokens)) {}

    [[noreturn]] void fail(std::size_t i, const std::string& what) const {
        int column = i < m_tokens.size() ? m_tokens[i].column : m_tokens.back().column;
        throw user_error(source_location{m_file, m_line, column}, what);
    }
    std::size_t count() const { return m_tokens.size(); }
    int line() const { return m_line; }
    int column(std::size_t i) const { return m_tokens[i].column; }
    std::string_view word(std::size_t i) const {
        if (i >= m_tokens.size()) fail(i, fmt::format("'{}' needs more operands", m_tokens[0].text));
        return m_tokens[i].text;
    }
    void expect_count(std::size_t low, std::size_t high) const {
        if (m_tokens.size() < low) fail(m_tokens.size(), fmt::format("'{}' needs more operands", word(0)));
        if (m_tokens.size() > high) fail(high, fmt::format("unexpected '{}'", m_tokens[high].text));
    }
    std::uint64_t number(std::size_t i) const {
        std::string_view t = word(i);
        int base = 10;
        if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
            base = 16;
            t.remove_prefix(2);
        }
        std::uint64_t v = 0;
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v, base);
        if (ec != std::errc{} || end != t.data() + t.size() || t.empty())
            fail(i, fmt::format("expected a number, got '{}'", word(i)));
        return v;
    }
    std::uint64_t number(std::size_t i, std::uint64_t high) const {
        std::uint64_t v = number(i);
        if (v > high) fail(i, fmt::format("{} is more than {}", word(i), high));
        return v;
    }
    unsigned access_size(std::size_t i) const {
        std::uint64_t v = number(i);
        if (v == 0 || v > max_access_bytes)
            fail(i, fmt::format("an access is 1 to {} bytes (got {})", max_access_bytes, v));
        return static_cast<unsigned>(v);
    }
    // ADDR or SEG:OFF, the real-mode form.
    void address(std::size_t i, op& o) const {
        std::string_view t = word(i);
        std::size_t colon = t.find(':');
        if (colon == std::string_view::npos) {
            o.address = number(i);
            return;
        }
        line_parser halves(m_file, m_line,
                           {{t.substr(0, colon), m_tokens[i].column},
                            {t.substr(colon + 1), m_tokens[i].column + int(colon) + 1}});
        o.segment = static_cast<std::int32_t>(halves.number(0, 0xffff));
        o.address = halves.number(1, 0xffff);
    }

private:
    const std::string& m_file;
    int m_line;
    std::vector<token> m_tokens;
};

std::optional<table_format> format_named(std::string_view name) {
    if (name == "bits32") return table_format::bits32;
    if (name == "pae") return table_format::pae;
    if (name == "long4") return table_format::long4;
    if (name == "long5") return table_format::long5;
    return std::nullopt;
}

std::optional<mmu::page_size> page_named(std::string_view name) {
    if (name == "4K") return mmu::page_size::size_4k;
    if (name == "2M") return mmu::page_size::size_2m;
    if (name == "4M") return mmu::page_size::size_4m;
    if (name == "1G") return mmu::page_size::size_1g;
    return std::nullopt;
}

// "'a' or 'b'", "'a', 'b' or 'c'": the words a position takes, for its error.
std::string alternatives(std::span<const std::string_view> words) {
    std::string out;
    for (std::size_t i = 0; i < words.size(); ++i)
        out += fmt::format("{}'{}'", i == 0 ? "" : i + 1 == words.size() ? " or " : ", ", words[i]);
    return out;
}

class text_parser {
public:
    explicit text_parser(workload& w)
        : m_name(w.name),
          m_handles(w.handles),
          m_devices(w.devices),
          m_device_first_use(w.device_first_use) {}

    void line(int number, std::string_view text, std::vector<op>& out) {
        std::vector<token> tokens = split(text);
        if (tokens.empty()) return;
        line_parser p(m_name, number, std::move(tokens));
        if (!m_seen_header) return expect_header(p);
        std::string_view verb = p.word(0);
        if (verb == "read" || verb == "r") return access(p, op_kind::read, out);
        if (verb == "fetch" || verb == "x") return access(p, op_kind::fetch, out);
        if (verb == "write" || verb == "w") return write(p, out);
        if (verb == "compute") return compute(p, out);
        if (verb == "cr0") return simple(p, op_kind::cr0, out);
        if (verb == "cr4") return simple(p, op_kind::cr4, out);
        if (verb == "efer") return simple(p, op_kind::efer, out);
        if (verb == "cr3") return cr3(p, out);
        if (verb == "a20") return a20(p, out);
        if (verb == "poke") return poke(p, out);
        if (verb == "invlpg") return invlpg(p, out);
        if (verb == "invpcid") return invpcid(p, out);
        if (verb == "cpl") return cpl(p, out);
        if (verb == "ac") return ac(p, out);
        if (verb == "paging") return paging(p, out);
        if (verb == "map") return map(p, out);
        if (kernel_op(p, verb, out)) return;
        if (process_op(p, verb, out)) return;
        if (dma_op(p, verb, out)) return;
        p.fail(0, fmt::format("unknown operation '{}'", verb));
    }
    void finish(int last_line) const {
        if (!m_seen_header)
            throw user_error(source_location{m_name, last_line}, fmt::format("no '{}' header", header));
    }

private:
    void expect_header(const line_parser& p) {
        if (p.count() != 3 || p.word(0) != "memsim" || p.word(1) != "workload" || p.word(2) != "1")
            p.fail(0, fmt::format("expected the header '{}'", header));
        m_seen_header = true;
    }
    void access(const line_parser& p, op_kind kind, std::vector<op>& out) {
        p.expect_count(3, 3);
        op o{kind, static_cast<std::uint8_t>(p.access_size(2))};
        address(p, 1, o);
        out.push_back(o);
    }
    void write(const line_parser& p, std::vector<op>& out) {
        p.expect_count(3, 4);
        op o{op_kind::write, static_cast<std::uint8_t>(p.access_size(2))};
        address(p, 1, o);
        if (p.count() == 4) o.value = p.number(3);
        out.push_back(o);
    }
    static void compute(const line_parser& p, std::vector<op>& out) {
        p.expect_count(2, 2);
        out.push_back({.kind = op_kind::compute, .value = p.number(1, max_compute_cycles)});
    }
    static void simple(const line_parser& p, op_kind kind, std::vector<op>& out) {
        p.expect_count(2, 2);
        out.push_back({.kind = kind, .value = p.number(1)});
    }
    static void cr3(const line_parser& p, std::vector<op>& out) {
        op o{.kind = op_kind::cr3, .value = p.number(1)};
        for (std::size_t i = 2; i < p.count(); ++i) {
            if (p.word(i) == "noflush") {
                o.value |= mmu::cr3::no_flush;
            } else if (p.word(i) == "pcid") {
                o.value = (o.value & ~mmu::cr3::pcid_mask) | p.number(++i, mmu::cr3::pcid_mask);
            } else {
                p.fail(i, fmt::format("expected 'pcid N' or 'noflush', got '{}'", p.word(i)));
            }
        }
        out.push_back(o);
    }
    static void switch_op(const line_parser& p, op_kind kind, std::vector<op>& out) {
        p.expect_count(2, 2);
        if (p.word(1) != "on" && p.word(1) != "off") p.fail(1, "expected 'on' or 'off'");
        out.push_back({.kind = kind, .value = p.word(1) == "on" ? 1u : 0u});
    }
    static void a20(const line_parser& p, std::vector<op>& out) { switch_op(p, op_kind::a20, out); }
    static void ac(const line_parser& p, std::vector<op>& out) { switch_op(p, op_kind::ac, out); }
    static void cpl(const line_parser& p, std::vector<op>& out) {
        p.expect_count(2, 2);
        out.push_back({.kind = op_kind::cpl, .value = p.number(1, 3)});
    }
    static void poke(const line_parser& p, std::vector<op>& out) {
        p.expect_count(4, 4);
        std::uint64_t size = p.number(2);
        if (size != 1 && size != 2 && size != 4 && size != 8) p.fail(2, "a poke stores 1, 2, 4 or 8 bytes");
        out.push_back({.kind = op_kind::poke,
                       .size = static_cast<std::uint8_t>(size),
                       .address = p.number(1),
                       .value = p.number(3)});
    }
    static void invlpg(const line_parser& p, std::vector<op>& out) {
        p.expect_count(2, 2);
        out.push_back({.kind = op_kind::invlpg, .address = p.number(1)});
    }
    static void invpcid(const line_parser& p, std::vector<op>& out) {
        p.expect_count(3, 4);
        out.push_back({.kind = op_kind::invpcid,
                       .size = static_cast<std::uint8_t>(p.number(1, 3)),
                       .address = p.count() == 4 ? p.number(3) : 0,
                       .value = p.number(2, mmu::cr3::pcid_mask)});
    }
    void paging(const line_parser& p, std::vector<op>& out) {
        p.expect_count(4, 4);
        std::optional<table_format> format = format_named(p.word(1));
        if (!format) p.fail(1, fmt::format("'{}' is not one of bits32, pae, long4, long5", p.word(1)));
        if (p.word(2) != "at") p.fail(2, "expected 'at PHYSICAL'");
        std::uint64_t at = p.number(3);
        if (at % 4096) p.fail(3, "page tables start 4 KiB aligned");
        m_builder = std::make_unique<page_table_builder>(*format, at);
        for (const op& o : m_builder->enable()) out.push_back(o);
    }
    void map(const line_parser& p, std::vector<op>& out) {
        p.expect_count(4, 8);
        if (!m_builder) p.fail(0, "'map' needs a 'paging MODE at PHYSICAL' line before it");
        std::optional<mmu::page_size> size = page_named(p.word(3));
        if (!size) p.fail(3, fmt::format("'{}' is not one of 4K, 2M, 4M, 1G", p.word(3)));
        mapping_flags flags;
        for (std::size_t i = 4; i < p.count(); ++i) {
            std::string_view f = p.word(i);
            if (f == "ro")
                flags.writable = false;
            else if (f == "user")
                flags.user = true;
            else if (f == "nx")
                flags.nx = true;
            else if (f == "global")
                flags.global = true;
            else
                p.fail(i, fmt::format("'{}' is not one of ro, user, nx, global", f));
        }
        try {
            m_builder->map(p.number(1), p.number(2), *size, flags, out);
        } catch (const std::invalid_argument& e) {
            p.fail(1, e.what());
        }
    }

    // ADDR, SEG:OFF, or HANDLE[+OFFSET]: handles are names, addresses start with a digit.
    void address(const line_parser& p, std::size_t i, op& o) const {
        if (!is_name_start(p.word(i).front())) return p.address(i, o);
        std::tie(o.handle, o.address) = handle_and_offset(p, i);
    }
    // HANDLE[+OFFSET]: the handle and the offset (0 without one).
    std::pair<std::int32_t, std::uint64_t> handle_and_offset(const line_parser& p, std::size_t i) const {
        std::string_view t = p.word(i);
        std::size_t plus = t.find('+');
        std::int32_t handle = use(p, i, t.substr(0, plus));
        if (plus == std::string_view::npos) return {handle, 0};
        line_parser offset(m_name, p.line(), {{t.substr(plus + 1), p.column(i) + int(plus) + 1}});
        return {handle, offset.number(0)};
    }

    static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

    // A handle an operation defines: a name it may reuse (the old object is then unreachable
    // from the workload, as a leaked pointer is).
    std::int32_t define(const line_parser& p, std::size_t i) {
        std::string_view name = p.word(i);
        bool valid = is_name_start(name.front()) && std::all_of(name.begin(), name.end(), [](char c) {
                         return is_name_start(c) || (c >= '0' && c <= '9');
                     });
        if (!valid) p.fail(i, fmt::format("'{}' is not a handle name ([A-Za-z_][A-Za-z0-9_]*)", name));
        auto it = std::find(m_handles.begin(), m_handles.end(), name);
        if (it != m_handles.end()) return static_cast<std::int32_t>(it - m_handles.begin());
        m_handles.emplace_back(name);
        return static_cast<std::int32_t>(m_handles.size() - 1);
    }
    std::int32_t use(const line_parser& p, std::size_t i, std::string_view name) const {
        auto it = std::find(m_handles.begin(), m_handles.end(), name);
        if (it == m_handles.end())
            p.fail(i, fmt::format("handle '{}' is not defined before this line", name));
        return static_cast<std::int32_t>(it - m_handles.begin());
    }
    std::int32_t use(const line_parser& p, std::size_t i) const { return use(p, i, p.word(i)); }

    static gfp_t gfp(const line_parser& p, std::size_t i) {
        std::optional<kernel::gfp_t> flags = kernel::parse_gfp(p.word(i));
        if (!flags)
            p.fail(i,
                   fmt::format("'{}' is not GFP flags (e.g. GFP_KERNEL|__GFP_ZERO or a number)", p.word(i)));
        return *flags;
    }

    static std::uint64_t slab_flags(const line_parser& p, std::size_t i) {
        std::optional<kernel::slab_flags_t> flags = kernel::parse_slab_flags(p.word(i));
        if (!flags)
            p.fail(i,
                   fmt::format("'{}' is not SLAB_* flags (e.g. SLAB_HWCACHE_ALIGN|SLAB_POISON)", p.word(i)));
        return *flags;
    }

    // The kernel operations (docs/workload-format.md); false for a verb that is none of them.
    bool kernel_op(const line_parser& p, std::string_view verb, std::vector<op>& out) {
        op o;
        if (verb == "alloc_pages") {
            p.expect_count(4, 4);
            o = {.kind = op_kind::alloc_pages,
                 .size = static_cast<std::uint8_t>(p.number(2, 10)),
                 .value = gfp(p, 3),
                 .handle = define(p, 1)};
        } else if (verb == "kmalloc") {
            p.expect_count(4, 4);
            o = {
                .kind = op_kind::kmalloc, .address = p.number(2), .value = gfp(p, 3), .handle = define(p, 1)};
        } else if (verb == "kmem_cache_create") {
            p.expect_count(3, 5);
            std::uint64_t align = p.count() > 3 ? p.number(3, 4096) : 0;
            if (align & (align - 1)) p.fail(3, "the alignment is a power of two");
            auto log2 = static_cast<std::uint8_t>(align ? std::countr_zero(align) + 1 : 0);
            std::uint64_t flags = p.count() > 4 ? slab_flags(p, 4) : 0;
            o = {.kind = op_kind::kmem_cache_create,
                 .size = log2,
                 .address = p.number(2),
                 .value = flags,
                 .handle = define(p, 1)};
        } else if (verb == "kmem_cache_alloc") {
            p.expect_count(4, 4);
            o = {.kind = op_kind::kmem_cache_alloc,
                 .address = gfp(p, 3),
                 .value = std::uint64_t(use(p, 2)),
                 .handle = define(p, 1)};
        } else if (verb == "kmem_cache_free") {
            p.expect_count(3, 3);
            o = {.kind = op_kind::kmem_cache_free, .value = std::uint64_t(use(p, 2)), .handle = use(p, 1)};
        } else if (verb == "vmalloc") {
            p.expect_count(3, 3);
            o = {.kind = op_kind::vmalloc, .address = p.number(2), .handle = define(p, 1)};
        } else if (verb == "kmap") {
            p.expect_count(3, 3);
            o = {.kind = op_kind::kmap, .value = std::uint64_t(use(p, 2)), .handle = define(p, 1)};
        } else if (std::optional<op_kind> kind = release_named(verb)) {
            p.expect_count(2, 2);
            o = {.kind = *kind, .handle = use(p, 1)};
        } else {
            return false;
        }
        out.push_back(o);
        return true;
    }

    // The system calls of a process (docs/workload-format.md); false for a verb that is none.
    bool process_op(const line_parser& p, std::string_view verb, std::vector<op>& out) {
        op o;
        if (verb == "process") {
            p.expect_count(2, 2);
            o = {.kind = op_kind::process, .value = p.number(1, max_pid)};
        } else if (verb == "mmap") {
            p.expect_count(6, 6);
            o.kind = op_kind::mmap;
            o.handle = define(p, 1);
            o.address = p.number(2);
            o.value = length(p, 3);
            o.size = prot(p, 4);
            o.flags = map_flags(p, 5);
        } else if (verb == "munmap") {
            p.expect_count(3, 3);
            o.kind = op_kind::munmap;
            linear_address(p, 1, o);
            o.value = length(p, 2);
        } else if (verb == "mprotect") {
            p.expect_count(4, 4);
            o.kind = op_kind::mprotect;
            linear_address(p, 1, o);
            o.value = length(p, 2);
            o.size = prot(p, 3);
        } else if (verb == "brk") {
            p.expect_count(2, 2);
            o.kind = op_kind::brk;
            linear_address(p, 1, o);
        } else if (verb == "fork") {
            p.expect_count(2, 2);
            std::uint64_t child = p.number(1, max_pid);
            if (child == 0) p.fail(1, fmt::format("the child's pid is 1 to {} (got 0)", max_pid));
            o = {.kind = op_kind::fork, .value = child};
        } else if (verb == "exit") {
            p.expect_count(1, 2);
            o = {.kind = op_kind::exit, .value = p.count() == 2 ? p.number(1, max_exit_status) : 0};
        } else {
            return false;
        }
        out.push_back(o);
        return true;
    }

    // A system call's address: a number, HANDLE or HANDLE+OFFSET as read and write take them.
    void linear_address(const line_parser& p, std::size_t i, op& o) const {
        address(p, i, o);
        if (o.segment >= 0) p.fail(i, "a system call takes no SEGMENT:OFFSET address");
    }

    // A length in bytes, with the size units configs take (4K, 1M, 2G, 0x1000).
    static std::uint64_t length(const line_parser& p, std::size_t i) {
        try {
            return parse_size(p.word(i));
        } catch (const std::invalid_argument& e) {
            p.fail(i, e.what());
        }
    }

    // NAME|NAME|NUMBER: each part a name from `names` or a number (decimal or 0x hex); a part
    // that is neither fails at its own column.
    std::uint64_t flag_word(const line_parser& p, std::size_t i, std::span<const kernel::flag_name> names,
                            std::string_view kind) const {
        std::string_view t = p.word(i);
        std::uint64_t flags = 0;
        for (std::size_t start = 0;;) {
            std::size_t bar = t.find('|', start);
            std::string_view part = t.substr(start, bar == std::string_view::npos ? bar : bar - start);
            line_parser one(m_name, p.line(), {{part, p.column(i) + int(start)}});
            if (!part.empty() && part.front() >= '0' && part.front() <= '9') {
                flags |= one.number(0);
            } else {
                auto named = std::find_if(names.begin(), names.end(),
                                          [&](const kernel::flag_name& n) { return n.name == part; });
                if (named == names.end()) {
                    std::string known;
                    for (const kernel::flag_name& n : names) known += fmt::format("{}, ", n.name);
                    one.fail(0, fmt::format("'{}' is not a {} flag ({}or a number)", part, kind, known));
                }
                flags |= named->mask;
            }
            if (bar == std::string_view::npos) return flags;
            start = bar + 1;
        }
    }
    std::uint8_t prot(const line_parser& p, std::size_t i) const {
        std::uint64_t prot = flag_word(p, i, prot_names, "PROT_*");
        if (prot > max_prot) p.fail(i, prot_problem(prot));
        return static_cast<std::uint8_t>(prot);
    }
    std::uint32_t map_flags(const line_parser& p, std::size_t i) const {
        std::uint64_t flags = flag_word(p, i, map_names, "MAP_*");
        if (flags > 0xffffffff) p.fail(i, fmt::format("MAP_* flags {:#x} are more than 32 bits", flags));
        return static_cast<std::uint32_t>(flags);
    }

    // The DMA driver operations (docs/workload-format.md): each names its device first; false
    // for a verb that is none of them. Uses come before definitions, so `dma_map d b b ...`
    // needs `b` defined already.
    bool dma_op(const line_parser& p, std::string_view verb, std::vector<op>& out) {
        op o;
        if (verb == "dma_set_mask") {
            p.expect_count(3, 4);
            o.kind = op_kind::dma_set_mask;
            o.value = in_range(p, 2, p.number(2), dma_mask_problem);
            if (p.count() == 4) o.size = static_cast<std::uint8_t>(1 + choice(p, 3, mask_words));
        } else if (verb == "dma_alloc_coherent") {
            p.expect_count(4, 5);
            o.kind = op_kind::dma_alloc_coherent;
            o.address = in_range(p, 3, length(p, 3), dma_buffer_problem);
            o.value = p.count() == 5 ? gfp(p, 4) : kernel::GFP_KERNEL;
            o.handle = define(p, 2);
        } else if (verb == "dma_map") {
            p.expect_count(6, 6);
            o.kind = op_kind::dma_map;
            if (!is_name_start(p.word(3).front()))
                p.fail(3,
                       fmt::format("expected the buffer's handle (BUF or BUF+OFFSET), got '{}'", p.word(3)));
            auto [buffer, offset] = handle_and_offset(p, 3);
            o.flags = static_cast<std::uint32_t>(buffer);
            o.address = offset;
            o.value = in_range(p, 4, length(p, 4), dma_buffer_problem);
            o.size = direction(p, 5);
            o.handle = define(p, 2);
        } else if (verb == "dma_sync") {
            p.expect_count(4, 4);
            o.kind = op_kind::dma_sync;
            o.handle = use(p, 2);
            o.size = choice(p, 3, sync_words);
        } else if (verb == "dma_transfer") {
            p.expect_count(5, 7);
            o.kind = op_kind::dma_transfer;
            o.handle = use(p, 2);
            o.value = static_cast<std::uint64_t>(use(p, 3));
            o.flags = transfer_size(p, 4);
            transfer_options(p, 5, o);
        } else if (verb == "dma_transfer_phys") {
            p.expect_count(5, 6);
            o.kind = op_kind::dma_transfer_phys;
            o.address = p.number(2);
            o.value = p.number(3);
            o.flags = transfer_size(p, 4);
            transfer_options(p, 5, o);
        } else if (verb == "dma_free_coherent" || verb == "dma_unmap") {
            p.expect_count(3, 3);
            o.kind = verb == "dma_unmap" ? op_kind::dma_unmap : op_kind::dma_free_coherent;
            o.handle = use(p, 2);
        } else if (verb == "dma_wait") {
            p.expect_count(2, 2);
            o.kind = op_kind::dma_wait;
        } else {
            return false;
        }
        o.device = device(p, 1);
        out.push_back(o);
        return true;
    }

    // A device by the name the machine's config gives it: its index in the workload's table,
    // which keeps the line naming it first, where check_devices reports a device it lacks.
    std::uint16_t device(const line_parser& p, std::size_t i) {
        std::string_view name = p.word(i);
        auto it = std::find(m_devices.begin(), m_devices.end(), name);
        if (it != m_devices.end()) return static_cast<std::uint16_t>(it - m_devices.begin());
        if (m_devices.size() == max_devices) p.fail(i, fmt::format("more than {} devices", max_devices));
        m_devices.emplace_back(name);
        m_device_first_use.push_back(static_cast<std::uint64_t>(p.line()));
        return static_cast<std::uint16_t>(m_devices.size() - 1);
    }

    // A number the reader's own check (problem_with's words) accepts, else an error at its column.
    static std::uint64_t in_range(const line_parser& p, std::size_t i, std::uint64_t v,
                                  std::string (*problem)(std::uint64_t)) {
        if (std::string what = problem(v); !what.empty()) p.fail(i, what);
        return v;
    }

    // One of `words`: its index.
    static std::uint8_t choice(const line_parser& p, std::size_t i, std::span<const std::string_view> words) {
        auto it = std::find(words.begin(), words.end(), p.word(i));
        if (it == words.end())
            p.fail(i, fmt::format("expected {}, got '{}'", alternatives(words), p.word(i)));
        return static_cast<std::uint8_t>(it - words.begin());
    }

    static std::uint8_t direction(const line_parser& p, std::size_t i) {
        std::string_view word = p.word(i);
        for (auto [name, dir] : dma_directions)
            if (word == name || word == kernel::dma_direction_name(dir))
                return static_cast<std::uint8_t>(dir);
        std::vector<std::string_view> known;
        for (auto [name, dir] : dma_directions) known.push_back(name);
        for (auto [name, dir] : dma_directions) known.push_back(kernel::dma_direction_name(dir));
        p.fail(i, fmt::format("'{}' is not a DMA direction ({})", word, fmt::join(known, ", ")));
    }

    static std::uint32_t transfer_size(const line_parser& p, std::size_t i) {
        return static_cast<std::uint32_t>(in_range(p, i, length(p, i), dma_transfer_problem));
    }

    // `[nowait] [irq_gfp=GFP]` in either order, each once; dma_transfer_phys takes nowait alone.
    void transfer_options(const line_parser& p, std::size_t from, op& o) const {
        bool takes_gfp = o.kind == op_kind::dma_transfer;
        for (std::size_t i = from; i < p.count(); ++i) {
            std::string_view word = p.word(i);
            bool nowait = word == "nowait";
            if (!nowait && !(takes_gfp && word.starts_with(irq_gfp_key)))
                p.fail(i, fmt::format("expected {}, got '{}'",
                                      takes_gfp ? "'nowait' or 'irq_gfp=GFP'" : "'nowait'", word));
            if (nowait ? (o.size & dma_transfer_nowait) != 0 : o.segment >= 0)
                p.fail(i, fmt::format("unexpected '{}'", word));
            if (nowait) {
                o.size |= dma_transfer_nowait;
                continue;
            }
            line_parser value(m_name, p.line(),
                              {{word.substr(irq_gfp_key.size()), p.column(i) + int(irq_gfp_key.size())}});
            gfp_t flags = gfp(value, 0);
            // `segment` holds it: 31 bits (every __GFP_* flag is far below).
            if (flags > 0x7fffffff)
                value.fail(0, fmt::format("GFP flags {:#x} are more than 31 bits", flags));
            o.segment = static_cast<std::int32_t>(flags);
        }
    }

    static std::optional<op_kind> release_named(std::string_view verb) {
        if (verb == "free_pages") return op_kind::free_pages;
        if (verb == "kfree") return op_kind::kfree;
        if (verb == "kmem_cache_destroy") return op_kind::kmem_cache_destroy;
        if (verb == "vfree") return op_kind::vfree;
        if (verb == "kunmap") return op_kind::kunmap;
        return std::nullopt;
    }

    const std::string& m_name;
    std::vector<std::string>& m_handles;
    std::vector<std::string>& m_devices;
    std::vector<std::uint64_t>& m_device_first_use;
    bool m_seen_header = false;
    std::unique_ptr<page_table_builder> m_builder;
};

}  // namespace

workload parse_text(const std::string& text, const std::string& name) {
    workload w{name, {}, {}};
    text_parser parser(w);
    std::istringstream in(text);
    int number = 0;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();  // files written on Windows
        parser.line(++number, line, w.ops);
    }
    parser.finish(number);
    return w;
}

}  // namespace memsim::traces
