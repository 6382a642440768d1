#include "platform/output.h"

#include <fstream>
#include <system_error>

#include <fmt/format.h>

#include "base/error.h"

namespace memsim::platform {

void write_file(const std::filesystem::path& path, const std::string& text) {
    std::filesystem::path temporary = path.parent_path() / fmt::format(".{}.tmp", path.filename().string());
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out.flush()) throw user_error(source_location{path.string()}, "cannot write");
    }
    std::error_code ec;
    std::filesystem::rename(temporary, path, ec);
    if (ec) {
        std::filesystem::remove(temporary, ec);
        throw user_error(source_location{path.string()}, fmt::format("cannot write: {}", ec.message()));
    }
}

void write_output(const std::filesystem::path& dir, const std::string& name, const std::string& text) {
    write_file(dir / name, text);
}

}  // namespace memsim::platform
