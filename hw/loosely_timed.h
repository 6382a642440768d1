// memsim's models speak TLM-2.0's loosely-timed base protocol only (b_transport, DMI, debug).
// A non-blocking call gets this one answer everywhere: a command the target does not support.
#pragma once

#include <tlm>

namespace memsim::hw {

inline tlm::tlm_sync_enum refuse_nb_transport(tlm::tlm_generic_payload& trans) {
    trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
    return tlm::TLM_COMPLETED;
}

}  // namespace memsim::hw
