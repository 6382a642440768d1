#include "base/error.h"

#include <string_view>

#include <fmt/format.h>

namespace memsim {

std::string source_location::str() const {
    if (line <= 0) return file;
    if (column <= 0) return fmt::format("{}:{}", file, line);
    return fmt::format("{}:{}:{}", file, line, column);
}

namespace {

// Echoed input may hold anything; an error stays one line of printable text.
std::string printable(std::string_view text) {
    std::string out;
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (c == '\n')
            out += "\\n";
        else if (byte < 0x20 || byte == 0x7f)
            out += fmt::format("\\x{:02x}", byte);
        else
            out += c;
    }
    return out;
}

}  // namespace

std::string user_error::message() const {
    std::string where = m_where.str();
    return printable(where.empty() ? std::string(what()) : where + ": " + what());
}

}  // namespace memsim
