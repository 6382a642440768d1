#include "platform/firmware_map.h"

#include <algorithm>

#include "base/units.h"

namespace memsim::platform {
namespace {

using kernel::e820_type;

constexpr std::uint64_t four_gib = 4 * GiB;
// The EBDA at the top of conventional memory, the option ROMs and BIOS below 1 MiB.
constexpr std::uint64_t ebda = 0x9fc00;
constexpr std::uint64_t conventional_end = 0xa0000;
constexpr std::uint64_t bios = 0xf0000;
constexpr std::uint64_t one_mib = 0x100000;
// SeaBIOS keeps the top 128 KiB of the RAM below 4 GiB for its own tables.
constexpr std::uint64_t firmware_tables = 128 * KiB;
// The flash image at the top of the 32-bit space, and on x86_64 QEMU's HyperTransport hole.
constexpr std::uint64_t flash = 0xfffc0000;
constexpr std::uint64_t ht_hole = 0xfd00000000;
constexpr std::uint64_t ht_hole_end = 0x10000000000;

// q35's own reservations under SeaBIOS, beyond pc's (checked against a QEMU q35 guest's map,
// which shows both with 2 GiB of RAM below 4 GiB):
// - the PCIe ECAM (MMCONFIG) window SeaBIOS programs into the MCH's PCIEXBAR and reserves
//   (src/fw/pciinit.c mch_mem_addr_setup; Q35_HOST_BRIDGE_PCIEXBAR_ADDR/SIZE in src/fw/dev-q35.h):
//   256 buses of 1 MiB at 0xb0000000;
// - the ICH9 LPC's 16 KiB root complex register block SeaBIOS enables and reserves
//   (src/fw/pciinit.c mch_isa_bridge_setup, ICH9_LPC_RCBA_ADDR).
// Not here: TSEG. QEMU's MCH carves SMRAM from the top of low RAM only when the firmware enables
// TSEG (hw/pci-host/q35.c, ESMRAMC.T_EN); OVMF does and reports it, SeaBIOS keeps SMRAM in the
// legacy A-segment (src/fw/smm.c) and reports nothing. Nor the 16 KiB at 0xfeffc000 QEMU adds for
// KVM's identity map and TSS (target/i386/kvm/kvm.c): memsim's reference guest runs without KVM,
// as the `pc` map of LINUX-FACTS.md does.
constexpr std::uint64_t q35_ecam = 0xb0000000;
constexpr std::uint64_t q35_ecam_size = 256 * MiB;
constexpr std::uint64_t q35_rcba = 0xfed1c000;
constexpr std::uint64_t q35_rcba_size = 16 * KiB;

// The RAM region that starts at 0: conventional memory, the legacy holes, then RAM from 1 MiB
// up to its end below 4 GiB, whose top 128 KiB the firmware keeps.
void low_region(kernel::e820_table& map, const ram_region& r) {
    std::uint64_t end = std::min(r.base + r.size, four_gib);
    map.add(0, std::min(end, ebda), e820_type::ram);
    if (end <= ebda) return;
    map.add(ebda, conventional_end - ebda, e820_type::reserved);
    map.add(bios, one_mib - bios, e820_type::reserved);
    if (end <= one_mib) return;
    std::uint64_t kept = std::min(firmware_tables, end - one_mib);
    map.add(one_mib, end - one_mib - kept, e820_type::ram);
    map.add(end - kept, kept, e820_type::reserved);
    if (r.base + r.size > four_gib) map.add(four_gib, r.base + r.size - four_gib, e820_type::ram);
}

}  // namespace

kernel::e820_table firmware_map(const machine_config& config) {
    kernel::e820_table map;
    if (!config.ram.e820.empty()) {
        for (const kernel::e820_entry& e : config.ram.e820) map.add(e.addr, e.size, e.type);
        map.sanitize();
        return map;
    }
    for (const ram_region& r : config.ram.regions) {
        if (r.base == 0)
            low_region(map, r);
        else
            map.add(r.base, r.size, e820_type::ram);
    }
    if (config.ram.layout == ram_layout::q35) {
        map.add(q35_ecam, q35_ecam_size, e820_type::reserved);
        map.add(q35_rcba, q35_rcba_size, e820_type::reserved);
    }
    map.add(flash, four_gib - flash, e820_type::reserved);
    if (config.profile == machine_profile::x86_64)
        map.add(ht_hole, ht_hole_end - ht_hole, e820_type::reserved);
    map.sanitize();
    return map;
}

}  // namespace memsim::platform
