// Loading a workload file in either form.
#include "traces/workload.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "base/error.h"

namespace memsim::traces {

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
