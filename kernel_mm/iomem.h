// The kernel's tree of physical address ranges behind /proc/iomem (kernel/resource.c): resources
// nest inside the ones that contain them, the firmware map seeds the tree as
// arch/x86/kernel/e820.c does, and the text prints byte for byte as Linux prints it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernel_mm/e820.h"

namespace memsim::kernel {

// struct resource without its flags: an inclusive range and the name /proc/iomem shows.
struct resource {
    std::uint64_t start = 0;
    std::uint64_t end = 0;  // inclusive, as Linux keeps it
    std::string name;

    bool operator==(const resource&) const = default;
};

// What insert_resource() did: inserted, or refused because of `conflict` (a resource that
// overlaps the new one only partly, or the root itself when the new one is empty or outside it).
struct insert_result {
    bool inserted = false;
    resource conflict;

    explicit operator bool() const { return inserted; }
};

// A resource tree such as iomem_resource: a root spanning [0, end] whose children are sorted by
// address and disjoint, each holding its own children the same way.
class resource_tree {
public:
    // iomem_resource is "PCI mem" over the whole 64-bit space.
    explicit resource_tree(std::string name = "PCI mem", std::uint64_t end = ~std::uint64_t{0});

    // insert_resource: the new resource goes as deep as the resources that contain it lead, and
    // adopts as children those it contains (also one of exactly its own range). A partial
    // overlap with any of them refuses it and leaves the tree as it was.
    insert_result insert(const resource& r);
    // insert_resource_expand_to_fit: on a partial overlap the new resource grows to cover the
    // resource in its way and tries again (e820__reserve_resources_late does this).
    insert_result insert_expand_to_fit(resource r);

    const resource& root() const { return m_nodes[0].res; }
    // Every resource in the order /proc/iomem prints them, with its depth below the root (0 for
    // the root's children).
    struct entry {
        resource res;
        unsigned depth = 0;
        bool operator==(const entry&) const = default;
    };
    std::vector<entry> walk() const;
    // The text of /proc/iomem as root reads it (r_show): two spaces per level, both addresses
    // %0*llx with width 8 (4 for a root that ends below 0x10000, as /proc/ioports), " : name".
    std::string text() const;

private:
    struct node {
        resource res;
        std::vector<std::size_t> children;  // indices into m_nodes, sorted by start
    };
    void walk_from(std::size_t index, unsigned depth, std::vector<entry>& out) const;

    std::vector<node> m_nodes;  // m_nodes[0] is the root
};

// e820_type_to_string: "System RAM", "Reserved", "ACPI Tables", "ACPI Non-volatile Storage",
// "Unusable memory", "Persistent Memory (legacy)" (type 12), "Persistent Memory" (type 7),
// "Soft Reserved".
std::string e820_resource_name(e820_type type);

// e820__reserve_resources: the entries Linux registers at once (everything below 1 MiB, and RAM,
// ACPI and unusable memory anywhere), each under its e820_resource_name.
void e820_reserve_resources(resource_tree& iomem, const e820_table& table);
// e820__reserve_resources_late: the rest (reserved, soft-reserved and persistent memory from
// 1 MiB up), inserted after the devices so that they wrap what they overlap. Linux's "RAM buffer"
// padding after RAM that ends off a 64 MiB-class boundary is not modelled.
void e820_reserve_resources_late(resource_tree& iomem, const e820_table& table);

// The boot's whole sequence on a firmware map: trim_bios_range (page 0 reserved, no RAM in the
// legacy hole), then both steps above with nothing in between. Callers that model devices call
// the steps themselves and insert their windows between them.
resource_tree iomem_from_e820(const e820_table& firmware);

}  // namespace memsim::kernel
