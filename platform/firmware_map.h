// The e820 map a PC's firmware hands the kernel for a configured machine, laid out as SeaBIOS on
// QEMU's `pc` machine does it (LINUX-FACTS.md, "Firmware map"): the legacy holes below 1 MiB,
// the top 128 KiB of RAM below 4 GiB and the firmware's own ranges reserved.
#pragma once

#include "kernel_mm/e820.h"
#include "platform/config.h"

namespace memsim::platform {

kernel::e820_table pc_firmware_map(const machine_config& config);

}  // namespace memsim::platform
