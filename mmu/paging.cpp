#include "mmu/paging.h"

namespace memsim::mmu {

// SDM Vol. 3A, 4.1.1 (Table 4-1). The processor sets EFER.LMA when paging is enabled with
// EFER.LME = 1; callers that model only one of the two bits still get IA-32e paging.
paging_mode mode_of(const control_registers& cr) {
    if (!(cr.cr0 & cr0::pg)) return paging_mode::none;
    if (!(cr.cr4 & cr4::pae)) return paging_mode::bits32;
    if (!(cr.efer & (efer::lme | efer::lma))) return paging_mode::pae;
    return (cr.cr4 & cr4::la57) ? paging_mode::ia32e_5 : paging_mode::ia32e_4;
}

}  // namespace memsim::mmu
