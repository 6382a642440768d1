// Writing the text form of workload v1 (to_text): every operation as the line that reads back to
// it, handles and devices by name where the workload is at hand.
#include <fmt/format.h>

#include "base/units.h"
#include "kernel_mm/gfp.h"
#include "kernel_mm/slab.h"
#include "traces/text_words.h"
#include "traces/workload.h"

namespace memsim::traces {
namespace {

using kernel::gfp_t;
using namespace text_words;

std::string_view name_of(op_kind kind) {
    constexpr std::string_view names[] = {"read",
                                          "write",
                                          "fetch",
                                          "compute",
                                          "cr0",
                                          "cr3",
                                          "cr4",
                                          "efer",
                                          "a20",
                                          "poke",
                                          "invlpg",
                                          "invpcid",
                                          "cpl",
                                          "ac",
                                          "alloc_pages",
                                          "free_pages",
                                          "kmalloc",
                                          "kfree",
                                          "kmem_cache_create",
                                          "kmem_cache_alloc",
                                          "kmem_cache_free",
                                          "kmem_cache_destroy",
                                          "vmalloc",
                                          "vfree",
                                          "kmap",
                                          "kunmap",
                                          "process",
                                          "mmap",
                                          "munmap",
                                          "mprotect",
                                          "brk",
                                          "fork",
                                          "exit",
                                          "dma_set_mask",
                                          "dma_alloc_coherent",
                                          "dma_free_coherent",
                                          "dma_map",
                                          "dma_unmap",
                                          "dma_sync",
                                          "dma_transfer",
                                          "dma_transfer_phys",
                                          "dma_wait"};
    static_assert(std::size(names) == static_cast<unsigned>(last_op_kind) + 1);
    return names[static_cast<unsigned>(kind)];
}

// Handles print as h<id> where the names are not at hand (a single operation's text).
std::string handle_text(std::int32_t id, const std::vector<std::string>* names) {
    if (names && id >= 0 && static_cast<std::size_t>(id) < names->size())
        return (*names)[static_cast<std::size_t>(id)];
    return fmt::format("h{}", id);
}

// HANDLE or HANDLE+OFFSET.
std::string handle_offset_text(std::int32_t id, std::uint64_t offset, const std::vector<std::string>* names) {
    std::string h = handle_text(id, names);
    return offset ? fmt::format("{}+{:#x}", h, offset) : h;
}

// Devices print as dev<id> where the names are not at hand.
std::string device_text(std::uint16_t id, const std::vector<std::string>* names) {
    if (names && id < names->size()) return (*names)[id];
    return fmt::format("dev{}", id);
}

std::string address_text(const op& o, const std::vector<std::string>* names) {
    if (o.handle >= 0) return handle_offset_text(o.handle, o.address, names);
    if (o.segment >= 0) return fmt::format("{:#x}:{:#x}", o.segment, o.address);
    return fmt::format("{:#x}", o.address);
}

// A length as the shortest exact size with a one-letter unit (4K, 1M, 3G), else decimal bytes.
std::string length_text(std::uint64_t bytes) {
    constexpr std::pair<std::uint64_t, char> units[] = {{TiB, 'T'}, {GiB, 'G'}, {MiB, 'M'}, {KiB, 'K'}};
    for (auto [scale, letter] : units)
        if (bytes != 0 && bytes % scale == 0) return fmt::format("{}{}", bytes / scale, letter);
    return fmt::format("{}", bytes);
}

std::string prot_text(std::uint64_t prot) {
    return prot ? kernel::format_flags(prot, printed_prot_names) : "PROT_NONE";
}

std::string map_flags_text(std::uint64_t flags) {
    return flags ? kernel::format_flags(flags, printed_map_names) : "0";
}

std::string kernel_op_text(const op& o, const std::vector<std::string>* names) {
    std::string h = handle_text(o.handle, names);
    std::string other = handle_text(static_cast<std::int32_t>(o.value), names);
    std::string_view name = name_of(o.kind);
    switch (o.kind) {
        case op_kind::alloc_pages:
            return fmt::format("{} {} {} {}", name, h, o.size,
                               kernel::format_gfp(static_cast<gfp_t>(o.value)));
        case op_kind::kmalloc:
            return fmt::format("{} {} {} {}", name, h, o.address,
                               kernel::format_gfp(static_cast<gfp_t>(o.value)));
        case op_kind::kmem_cache_create:
            return fmt::format(
                "{} {} {} {} {}", name, h, o.address, o.size ? 1u << (o.size - 1) : 0,
                o.value ? kernel::format_slab_flags(static_cast<kernel::slab_flags_t>(o.value)) : "0");
        case op_kind::kmem_cache_alloc:
            return fmt::format("{} {} {} {}", name, h, other,
                               kernel::format_gfp(static_cast<gfp_t>(o.address)));
        case op_kind::kmem_cache_free:
        case op_kind::kmap:
            return fmt::format("{} {} {}", name, h, other);
        case op_kind::vmalloc:
            return fmt::format("{} {} {}", name, h, o.address);
        case op_kind::process:
        case op_kind::fork:
        case op_kind::exit:
            return fmt::format("{} {}", name, o.value);
        case op_kind::mmap:
            return fmt::format("{} {} {:#x} {} {} {}", name, h, o.address, length_text(o.value),
                               prot_text(o.size), map_flags_text(o.flags));
        case op_kind::munmap:
            return fmt::format("{} {} {}", name, address_text(o, names), length_text(o.value));
        case op_kind::mprotect:
            return fmt::format("{} {} {} {}", name, address_text(o, names), length_text(o.value),
                               prot_text(o.size));
        case op_kind::brk:
            return fmt::format("{} {}", name, address_text(o, names));
        default:
            return fmt::format("{} {}", name, h);
    }
}

// words[i], or the number where an operation nobody checked has none.
std::string word_text(std::span<const std::string_view> words, unsigned i) {
    return i < words.size() ? std::string(words[i]) : fmt::format("{}", i);
}

std::string direction_text(unsigned dir) {
    for (auto [name, value] : dma_directions)
        if (static_cast<unsigned>(value) == dir) return std::string(name);
    return fmt::format("{}", dir);
}

// The words after a DMA operation's name and device.
std::string dma_operands_text(const op& o, const std::vector<std::string>* names) {
    std::string h = handle_text(o.handle, names);
    std::string nowait = o.size & dma_transfer_nowait ? " nowait" : "";
    switch (o.kind) {
        case op_kind::dma_set_mask:
            return o.size ? fmt::format(" {} {}", o.value, word_text(mask_words, o.size - 1u))
                          : fmt::format(" {}", o.value);
        case op_kind::dma_alloc_coherent:
            return fmt::format(" {} {} {}", h, length_text(o.address),
                               kernel::format_gfp(static_cast<gfp_t>(o.value)));
        case op_kind::dma_map:
            return fmt::format(" {} {} {} {}", h,
                               handle_offset_text(static_cast<std::int32_t>(o.flags), o.address, names),
                               length_text(o.value), direction_text(o.size));
        case op_kind::dma_sync:
            return fmt::format(" {} {}", h, word_text(sync_words, o.size));
        case op_kind::dma_transfer: {
            std::string irq_gfp =
                o.segment >= 0
                    ? fmt::format(" {}{}", irq_gfp_key, kernel::format_gfp(static_cast<gfp_t>(o.segment)))
                    : "";
            return fmt::format(" {} {} {}{}{}", h, handle_text(static_cast<std::int32_t>(o.value), names),
                               length_text(o.flags), nowait, irq_gfp);
        }
        case op_kind::dma_transfer_phys:
            return fmt::format(" {:#x} {:#x} {}{}", o.address, o.value, length_text(o.flags), nowait);
        case op_kind::dma_wait:
            return "";
        default:  // dma_free_coherent, dma_unmap
            return fmt::format(" {}", h);
    }
}

std::string op_text(const op& o, const workload* w) {
    const std::vector<std::string>* names = w ? &w->handles : nullptr;
    if (is_dma_op(o.kind))
        return fmt::format("{} {}{}", name_of(o.kind), device_text(o.device, w ? &w->devices : nullptr),
                           dma_operands_text(o, names));
    if (is_kernel_op(o.kind)) return kernel_op_text(o, names);
    switch (o.kind) {
        case op_kind::read:
        case op_kind::fetch:
            return fmt::format("{} {} {}", name_of(o.kind), address_text(o, names), o.size);
        case op_kind::write:
            return fmt::format("write {} {} {:#x}", address_text(o, names), o.size, o.value);
        case op_kind::poke:
            return fmt::format("poke {:#x} {} {:#x}", o.address, o.size, o.value);
        case op_kind::invlpg:
            return fmt::format("invlpg {:#x}", o.address);
        case op_kind::invpcid:
            return fmt::format("invpcid {} {} {:#x}", o.size, o.value, o.address);
        case op_kind::ac:
        case op_kind::a20:
            return fmt::format("{} {}", name_of(o.kind), o.value ? "on" : "off");
        case op_kind::compute:
        case op_kind::cpl:
            return fmt::format("{} {}", name_of(o.kind), o.value);
        default:
            return fmt::format("{} {:#x}", name_of(o.kind), o.value);
    }
}

}  // namespace

std::string to_text(const op& o) { return op_text(o, nullptr); }

std::string to_text(const workload& w) {
    std::string out = fmt::format("{}\n", header);
    for (const op& o : w.ops) out += op_text(o, &w) + "\n";
    return out;
}

}  // namespace memsim::traces
