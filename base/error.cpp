#include "base/error.h"

#include <fmt/format.h>

namespace memsim {

std::string source_location::str() const {
    if (line <= 0) return file;
    if (column <= 0) return fmt::format("{}:{}", file, line);
    return fmt::format("{}:{}:{}", file, line, column);
}

std::string user_error::message() const {
    std::string where = m_where.str();
    if (where.empty()) return what();
    return where + ": " + what();
}

}  // namespace memsim
