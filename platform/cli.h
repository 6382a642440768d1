// The `memsim` command line: `run`, `config check`, `config show`. Every error a user can
// cause ends here as one line "memsim: error: ..." and exit status 2.
#pragma once

namespace memsim::platform {

// Runs the command; called from sc_main, since `run` elaborates and simulates.
int run_cli(int argc, char** argv);

}  // namespace memsim::platform
