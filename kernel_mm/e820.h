// The firmware's physical memory map as the kernel reads it (arch/x86/kernel/e820.c): typed
// ranges, sanitised into sorted, disjoint, merged entries, and printed as the boot log's
// "BIOS-e820:" lines.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_mm/memblock.h"

namespace memsim::kernel {

// arch/x86/include/asm/e820/types.h
enum class e820_type : std::uint32_t {
    ram = 1,
    reserved = 2,
    acpi = 3,
    nvs = 4,
    unusable = 5,
    pmem = 7,
    pram = 12,
    soft_reserved = 0xefffffff,
};

struct e820_entry {
    std::uint64_t addr = 0;
    std::uint64_t size = 0;
    e820_type type = e820_type::ram;

    std::uint64_t end() const { return addr + size; }  // exclusive
    bool operator==(const e820_entry&) const = default;
};

class e820_table {
public:
    // e820__range_add: appends as given; sanitize() puts the table in order.
    void add(std::uint64_t addr, std::uint64_t size, e820_type type);
    // e820__range_update: the part of [addr, addr + size) now of type `from` becomes `to` (as
    // trim_bios_range does to page 0: "usable ==> reserved"); the table is sanitised after.
    void update_range(std::uint64_t addr, std::uint64_t size, e820_type from, e820_type to);
    // e820__range_remove with its type check: the part of [addr, addr + size) of type `type`
    // leaves the table (as trim_bios_range takes RAM out of 640 KiB-1 MiB).
    void remove_range(std::uint64_t addr, std::uint64_t size, e820_type type);
    // e820__update_table: sorted by address, overlaps resolved in favour of the higher type
    // number (reserved beats usable, as the kernel does), touching entries of a type merged.
    void sanitize();

    const std::vector<e820_entry>& entries() const { return m_entries; }
    std::uint64_t total(e820_type type) const;
    // "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable", one per entry
    // (e820__print_table with the firmware's name for the map).
    std::vector<std::string> boot_lines() const;

private:
    std::vector<e820_entry> m_entries;
};

// arch/x86/kernel/setup.c trim_bios_range: page 0 belongs to the BIOS ("usable ==> reserved"),
// and RAM reported in the legacy hole 0xa0000-0xfffff is not RAM.
void trim_bios_range(e820_table& table);

// e820__memblock_setup: every usable range becomes memblock memory, except one whose end does
// not fit a physical address of `phys_bits` (resource_size_t is 32 bits on i386 without PAE).
void add_to_memblock(const e820_table& table, memblock& blocks, unsigned phys_bits = 64);

// e820_print_type's words: "usable", "reserved", "ACPI data", "ACPI NVS", "unusable",
// "persistent (type 7)", "persistent (type 12)", "soft reserved".
std::string e820_type_name(e820_type type);

}  // namespace memsim::kernel
