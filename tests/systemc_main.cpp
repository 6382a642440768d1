// The doctest runner for binaries that use SystemC: doctest runs inside sc_main, after
// SystemC's banner is turned off. CTest runs each case in its own process, since SystemC
// allows one elaboration per process.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

#include <systemc>

int sc_main(int argc, char** argv) {
    doctest::Context context(argc, argv);
    return context.run();
}

int main(int argc, char** argv) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    return sc_core::sc_elab_and_sim(argc, argv);
}
