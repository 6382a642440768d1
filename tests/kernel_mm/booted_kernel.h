// A kernel booted with start_kernel on a fake machine with QEMU pc's firmware map, for the tests
// of what runs after boot (vmalloc, highmem), and the free-page count they conserve.
#pragma once

#include <cstdint>
#include <memory>

#include "kernel_mm/start_kernel.h"
#include "tests/kernel_mm/fake_machine.h"

namespace memsim::kernel::testing {

// QEMU pc with SeaBIOS (LINUX-FACTS.md): RAM below the PCI hole, at most 3 GiB of it from 3.5 GiB
// of RAM on, its top 128 KiB reserved; the rest from 4 GiB. As start_kernel_test.cpp builds it.
inline e820_table pc_map(std::uint64_t ram) {
    constexpr std::uint64_t MiB = 1 << 20, GiB = 1ull << 30;
    std::uint64_t low = ram >= 3584 * MiB ? 3 * GiB : ram;
    e820_table map;
    map.add(0, 0x9fc00, e820_type::ram);
    map.add(0x9fc00, 0x400, e820_type::reserved);
    map.add(0xf0000, 0x10000, e820_type::reserved);
    map.add(0x100000, low - 0x20000 - 0x100000, e820_type::ram);
    map.add(low - 0x20000, 0x20000, e820_type::reserved);
    map.add(0xfffc0000, 0x40000, e820_type::reserved);
    if (ram > low) map.add(4 * GiB, ram - low, e820_type::ram);
    map.sanitize();
    return map;
}

// The config of a PC-like machine of the profile with `ram` bytes, for tests to change further.
inline kernel_config pc_config(kernel_arch arch, std::uint64_t ram, bool pae = false, bool la57 = false) {
    kernel_config config;
    config.arch = arch;
    config.pae = pae;
    config.la57 = la57;
    if (arch == kernel_arch::i386) config.image = kernel_image::debian_686_pae();
    config.firmware_map = pc_map(ram);
    return config;
}

struct booted_kernel {
    fake_machine machine;
    printk_buffer log;
    std::unique_ptr<kernel_state> kernel;

    explicit booted_kernel(const kernel_config& config) : kernel(start_kernel(machine, config, log)) {}
    // x86_64 (4-level unless la57) or i386 (2-level unless pae) with `ram` bytes.
    booted_kernel(kernel_arch arch, std::uint64_t ram, bool pae = false, bool la57 = false)
        : booted_kernel(pc_config(arch, ram, pae, la57)) {}

    // Every free page: the buddy lists and the per-CPU lists.
    std::uint64_t free_pages() const {
        std::uint64_t pages = kernel->pages().nr_free_pages();
        for (const pglist_data& node : kernel->pages().nodes())
            for (const zone& z : node.zones)
                for (const per_cpu_pages& pcp : z.pcp) pages += pcp.count;
        return pages;
    }
};

}  // namespace memsim::kernel::testing
