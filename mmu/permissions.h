// Page-level access rights (SDM Vol. 3A, 4.6) and the page-fault error code (4.7): whether an
// access may use a translation, shared by the walker and by TLB hits. Protection keys and
// shadow stacks are not modelled.
#pragma once

#include <cstdint>

#include "mmu/paging.h"

namespace memsim::mmu {

// The error-code bits that describe the access itself (W/R, U/S, I/D), whatever the fault.
std::uint32_t access_error_bits(const control_registers& cr, const access& a);

// 0 if `a` may use translation `t`, else the page-fault error code (P = 1 plus access_error_bits).
std::uint32_t access_fault(const control_registers& cr, const access& a, const translation& t);

}  // namespace memsim::mmu
