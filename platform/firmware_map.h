// The e820 map a PC's firmware hands the kernel for a configured machine: the one `ram.e820`
// lists, or else the one SeaBIOS builds on QEMU's `pc` or `q35` machine (LINUX-FACTS.md,
// "Firmware map"): the legacy holes below 1 MiB, the top 128 KiB of RAM below 4 GiB and the
// firmware's and chipset's own ranges reserved.
#pragma once

#include "kernel_mm/e820.h"
#include "platform/config.h"

namespace memsim::platform {

// Sanitised (e820__update_table), as the kernel reads it.
kernel::e820_table firmware_map(const machine_config& config);

// The name earlier callers use; the map follows ram.layout and ram.e820 all the same.
inline kernel::e820_table pc_firmware_map(const machine_config& config) { return firmware_map(config); }

}  // namespace memsim::platform
