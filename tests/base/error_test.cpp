// What a user reads when their input is wrong: where, then what, on one line.
#include <doctest/doctest.h>

#include "base/error.h"

using memsim::source_location;
using memsim::user_error;

TEST_CASE("user_error: file:line:col, then the problem") {
    CHECK(user_error(source_location{"m.yaml", 3, 9}, "ram.size: must be positive (got 0)").message() ==
          "m.yaml:3:9: ram.size: must be positive (got 0)");
    CHECK(user_error(source_location{"--set ram.size=0"}, "ram.size: must be positive (got 0)").message() ==
          "--set ram.size=0: ram.size: must be positive (got 0)");
    CHECK(user_error("a subcommand is required").message() == "a subcommand is required");
}

TEST_CASE("user_error: echoed control characters cannot break the one line") {
    CHECK(user_error(source_location{"m.yaml", 1, 1}, "unknown key 'a\nb\tc\x7f'").message() ==
          "m.yaml:1:1: unknown key 'a\\nb\\x09c\\x7f'");
}
