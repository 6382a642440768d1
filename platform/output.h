// Writing result files so that a reader never sees half of one: each is written beside its
// place and renamed over it. Failures are user errors naming the file.
#pragma once

#include <filesystem>
#include <string>

namespace memsim::platform {

void write_output(const std::filesystem::path& dir, const std::string& name, const std::string& text);
void write_file(const std::filesystem::path& path, const std::string& text);

}  // namespace memsim::platform
