// The text form of workload v1: one operation a line, `#` comments, a `memsim workload 1`
// header; `paging` and `map` lines expand into the stores that build page tables.
#include <charconv>
#include <memory>
#include <optional>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "base/error.h"
#include "base/units.h"
#include "traces/page_tables.h"
#include "traces/workload.h"

namespace memsim::traces {
namespace {

constexpr std::string_view header = "memsim workload 1";

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

class text_parser {
public:
    explicit text_parser(const std::string& name) : m_name(name) {}

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
    static void access(const line_parser& p, op_kind kind, std::vector<op>& out) {
        p.expect_count(3, 3);
        op o{kind, static_cast<std::uint8_t>(p.access_size(2))};
        p.address(1, o);
        out.push_back(o);
    }
    static void write(const line_parser& p, std::vector<op>& out) {
        p.expect_count(3, 4);
        op o{op_kind::write, static_cast<std::uint8_t>(p.access_size(2))};
        p.address(1, o);
        if (p.count() == 4) o.value = p.number(3);
        out.push_back(o);
    }
    static void compute(const line_parser& p, std::vector<op>& out) {
        p.expect_count(2, 2);
        out.push_back({op_kind::compute, 0, -1, 0, p.number(1, max_compute_cycles)});
    }
    static void simple(const line_parser& p, op_kind kind, std::vector<op>& out) {
        p.expect_count(2, 2);
        out.push_back({kind, 0, -1, 0, p.number(1)});
    }
    static void cr3(const line_parser& p, std::vector<op>& out) {
        op o{op_kind::cr3, 0, -1, 0, p.number(1)};
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
        out.push_back({kind, 0, -1, 0, p.word(1) == "on" ? 1u : 0u});
    }
    static void a20(const line_parser& p, std::vector<op>& out) { switch_op(p, op_kind::a20, out); }
    static void ac(const line_parser& p, std::vector<op>& out) { switch_op(p, op_kind::ac, out); }
    static void cpl(const line_parser& p, std::vector<op>& out) {
        p.expect_count(2, 2);
        out.push_back({op_kind::cpl, 0, -1, 0, p.number(1, 3)});
    }
    static void poke(const line_parser& p, std::vector<op>& out) {
        p.expect_count(4, 4);
        std::uint64_t size = p.number(2);
        if (size != 1 && size != 2 && size != 4 && size != 8) p.fail(2, "a poke stores 1, 2, 4 or 8 bytes");
        out.push_back({op_kind::poke, static_cast<std::uint8_t>(size), -1, p.number(1), p.number(3)});
    }
    static void invlpg(const line_parser& p, std::vector<op>& out) {
        p.expect_count(2, 2);
        out.push_back({op_kind::invlpg, 0, -1, p.number(1), 0});
    }
    static void invpcid(const line_parser& p, std::vector<op>& out) {
        p.expect_count(3, 4);
        out.push_back({op_kind::invpcid, static_cast<std::uint8_t>(p.number(1, 3)), -1,
                       p.count() == 4 ? p.number(3) : 0, p.number(2, mmu::cr3::pcid_mask)});
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

    const std::string& m_name;
    bool m_seen_header = false;
    std::unique_ptr<page_table_builder> m_builder;
};

std::string_view name_of(op_kind kind) {
    constexpr std::string_view names[] = {"read", "write", "fetch", "compute", "cr0",     "cr3", "cr4",
                                          "efer", "a20",   "poke",  "invlpg",  "invpcid", "cpl", "ac"};
    return names[static_cast<unsigned>(kind)];
}

std::string address_text(const op& o) {
    if (o.segment >= 0) return fmt::format("{:#x}:{:#x}", o.segment, o.address);
    return fmt::format("{:#x}", o.address);
}

}  // namespace

workload parse_text(const std::string& text, const std::string& name) {
    workload w{name, {}};
    text_parser parser(name);
    std::istringstream in(text);
    int number = 0;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();  // files written on Windows
        parser.line(++number, line, w.ops);
    }
    parser.finish(number);
    return w;
}

std::string to_text(const op& o) {
    switch (o.kind) {
        case op_kind::read:
        case op_kind::fetch:
            return fmt::format("{} {} {}", name_of(o.kind), address_text(o), o.size);
        case op_kind::write:
            return fmt::format("write {} {} {:#x}", address_text(o), o.size, o.value);
        case op_kind::poke:
            return fmt::format("poke {:#x} {} {:#x}", o.address, o.size, o.value);
        case op_kind::invlpg:
            return fmt::format("invlpg {:#x}", o.address);
        case op_kind::invpcid:
            return fmt::format("invpcid {} {} {:#x}", o.size, o.value, o.address);
        case op_kind::ac:
        case op_kind::a20:
            return fmt::format("{} {}", name_of(o.kind), o.value ? "on" : "off");
        case op_kind::compute:
        case op_kind::cpl:
            return fmt::format("{} {}", name_of(o.kind), o.value);
        default:
            return fmt::format("{} {:#x}", name_of(o.kind), o.value);
    }
}

std::string to_text(const workload& w) {
    std::string out = fmt::format("{}\n", header);
    for (const op& o : w.ops) out += to_text(o) + "\n";
    return out;
}

}  // namespace memsim::traces
