// The entry point: SystemC's banner off before its kernel starts, then the command line.
#include <cstdlib>

#include <systemc>

#include "platform/cli.h"

int sc_main(int argc, char** argv) { return memsim::platform::run_cli(argc, argv); }

int main(int argc, char** argv) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    return sc_core::sc_elab_and_sim(argc, argv);
}
