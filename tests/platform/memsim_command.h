// Running the `memsim` binary as a user runs it, for the CLI tests: a scratch directory per test,
// the command's exit status, standard output and standard error.
#pragma once

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

namespace memsim::testing {

namespace fs = std::filesystem;

struct outcome {
    int status;
    std::string out;
    std::string err;
};

inline std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// A scratch directory per test, removed afterwards.
struct scratch {
    fs::path dir;
    scratch() {
        std::string pattern = (fs::temp_directory_path() / "memsim-cli-XXXXXX").string();
        dir = mkdtemp(pattern.data());
    }
    ~scratch() { fs::remove_all(dir); }
    fs::path write(const std::string& name, const std::string& text) const {
        std::ofstream(dir / name) << text;
        return dir / name;
    }

    outcome memsim(const std::string& args) const {
        std::string command = std::string(MEMSIM_BINARY) + " " + args + " >" + (dir / "stdout").string() +
                              " 2>" + (dir / "stderr").string();
        int raw = std::system(command.c_str());
        return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, slurp(dir / "stdout"), slurp(dir / "stderr")};
    }
    // A bad input: exit status 2 and exactly one line on stderr, which is returned.
    std::string error_of(const std::string& args) const {
        outcome o = memsim(args);
        CHECK(o.status == 2);
        CHECK(o.out.empty());
        CHECK(std::count(o.err.begin(), o.err.end(), '\n') == 1);
        return o.err;
    }
};

}  // namespace memsim::testing
