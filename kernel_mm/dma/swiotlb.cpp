// The software IO TLB as kernel/dma/swiotlb.c of Linux 6.1 keeps it: the slot search
// (swiotlb_do_find_slots), the free-run bookkeeping (swiotlb_release_slots) and the bounce copies
// (swiotlb_bounce), with one area.
#include "kernel_mm/dma/swiotlb.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace memsim::kernel {
namespace {

constexpr unsigned PAGE_SHIFT = 12;
constexpr std::uint64_t PAGE_SIZE = 1ull << PAGE_SHIFT;

// include/linux/ratelimit_types.h: DEFAULT_RATELIMIT_INTERVAL (5 * HZ), DEFAULT_RATELIMIT_BURST.
constexpr picoseconds ratelimit_interval = 5'000'000 * ps_per_us;
constexpr unsigned ratelimit_burst = 10;

// The slot's place in its segment.
constexpr std::uint64_t io_tlb_offset(std::uint64_t val) { return val & (IO_TLB_SEGSIZE - 1); }

constexpr std::uint64_t nr_slots(std::uint64_t val) { return (val + IO_TLB_SIZE - 1) / IO_TLB_SIZE; }

constexpr phys_addr_t slot_addr(phys_addr_t start, std::uint64_t idx) {
    return start + (idx << IO_TLB_SHIFT);
}

// The offset into a slot that keeps the device's min_align_mask bits of addr.
constexpr unsigned swiotlb_align_offset(unsigned min_align_mask, std::uint64_t addr) {
    return static_cast<unsigned>(addr & min_align_mask & (IO_TLB_SIZE - 1));
}

constexpr std::uint64_t align_up(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

io_tlb_mem::io_tlb_mem(phys_addr_t start, std::uint64_t nslabs, machine_ops& machine, printk_buffer& log,
                       swiotlb_costs costs)
    : m_machine(machine),
      m_log(log),
      m_costs(costs),
      m_start(start),
      m_end(start + (nslabs << IO_TLB_SHIFT)) {
    if (nslabs == 0 || nslabs % IO_TLB_SEGSIZE != 0)
        throw std::invalid_argument(fmt::format(
            "swiotlb: {} slots is not a positive multiple of IO_TLB_SEGSIZE ({})", nslabs, IO_TLB_SEGSIZE));
    if (start % PAGE_SIZE != 0)
        throw std::invalid_argument(fmt::format("swiotlb: the pool at {:#x} is not page aligned", start));
    // swiotlb_init_io_tlb_mem: every slot free, each counting to its segment's end.
    m_slots.resize(nslabs);
    m_mappings.resize(nslabs);
    for (std::uint64_t i = 0; i < nslabs; ++i)
        m_slots[i].list = static_cast<unsigned>(IO_TLB_SEGSIZE - io_tlb_offset(i));
    m_machine.fill_phys(m_start, 0, nslabs << IO_TLB_SHIFT);
}

std::size_t io_tlb_mem::swiotlb_max_mapping_size(unsigned min_align_mask) {
    // The search may skip up to roundup(min_align_mask, IO_TLB_SIZE) bytes of a segment to find
    // a slot with the right alignment bits.
    std::uint64_t min_align = min_align_mask ? align_up(min_align_mask, IO_TLB_SIZE) : 0;
    return IO_TLB_SIZE * IO_TLB_SEGSIZE - min_align;
}

void io_tlb_mem::swiotlb_print_info(unsigned digits) {
    m_log.print(m_machine.now(), kern_level::info,
                fmt::format("software IO TLB: mapped [mem 0x{:0{}x}-0x{:0{}x}] ({}MB)", m_start, digits,
                            m_end, digits, (nslabs() << IO_TLB_SHIFT) >> 20));
}

// wrap_area_index: past the area's end the search goes on from its start.
unsigned io_tlb_mem::wrap_area_index(std::uint64_t index) const {
    return index >= m_slots.size() ? 0 : static_cast<unsigned>(index);
}

// swiotlb_do_find_slots for the one area: the first run of nr_slots(alloc_size) free slots from
// `index` on, wrapping, whose first slot has orig_addr's bits of the min_align_mask above the
// slot offset; slots are tried `stride` apart, stride being the alignment the mapping needs (the
// min_align_mask's, a page for PAGE_SIZE or more, alloc_align_mask's). The loop is bounded by
// the slots checked, as 6.1's stable updates have it (commit 7c3940bf81e5: the 6.1.0 do/while
// could miss its starting index and spin forever with a min_align_mask). -1: no room.
int io_tlb_mem::swiotlb_find_slots(phys_addr_t orig_addr, std::size_t alloc_size, unsigned alloc_align_mask,
                                   unsigned min_align_mask) {
    const std::uint64_t area_nslabs = m_slots.size();
    const std::uint64_t iotlb_align_mask = min_align_mask & ~(IO_TLB_SIZE - 1);
    const std::uint64_t nslots = nr_slots(alloc_size);
    const unsigned offset = swiotlb_align_offset(min_align_mask, orig_addr);

    std::uint64_t stride = (iotlb_align_mask >> IO_TLB_SHIFT) + 1;
    if (alloc_size >= PAGE_SIZE) stride = std::max(stride, stride << (PAGE_SHIFT - IO_TLB_SHIFT));
    stride = std::max(stride, (std::uint64_t{alloc_align_mask} >> IO_TLB_SHIFT) + 1);

    if (nslots > area_nslabs - m_used) return -1;

    unsigned index = wrap_area_index(align_up(m_index, stride));
    std::uint64_t slot_index = 0;
    bool found = false;
    for (std::uint64_t slots_checked = 0; slots_checked < area_nslabs;) {
        slot_index = index;
        m_machine.context().cycles += m_costs.slot_check;
        if (orig_addr &&
            (slot_addr(m_start, slot_index) & iotlb_align_mask) != (orig_addr & iotlb_align_mask)) {
            index = wrap_area_index(index + 1ull);
            ++slots_checked;
            continue;
        }
        // A free slot whose run (counted to its segment's end) holds nslots: the mapping fits
        // and crosses no segment.
        if (m_slots[slot_index].list >= nslots) {
            found = true;
            break;
        }
        index = wrap_area_index(index + stride);
        slots_checked += stride;
    }
    if (!found) return -1;

    for (std::uint64_t i = slot_index; i < slot_index + nslots; ++i) {
        m_slots[i].list = 0;
        // Linux's arithmetic: the bytes of the mapping from this slot on. (Its last slot can
        // wrap below zero when the offset spills the mapping into it; only syncs there read it.)
        m_slots[i].alloc_size = alloc_size - (offset + ((i - slot_index) << IO_TLB_SHIFT));
    }
    // The free slots before the run, in the same segment, now count up to it.
    unsigned count = 0;
    for (std::uint64_t i = slot_index;
         i > 0 && io_tlb_offset(i - 1) != IO_TLB_SEGSIZE - 1 && m_slots[i - 1].list; --i)
        m_slots[i - 1].list = ++count;

    m_index = wrap_area_index(index + nslots);
    m_used += nslots;
    return static_cast<int>(slot_index);
}

phys_addr_t io_tlb_mem::swiotlb_tbl_map_single(phys_addr_t orig_addr, std::size_t mapping_size,
                                               std::size_t alloc_size, unsigned alloc_align_mask,
                                               dma_data_direction /*dir*/, unsigned long attrs,
                                               unsigned min_align_mask, const char* dev_name) {
    m_machine.context().cycles += m_costs.map;
    const unsigned offset = swiotlb_align_offset(min_align_mask, orig_addr);

    if (mapping_size > alloc_size) {
        if (!m_invalid_sizes_warned) {
            m_invalid_sizes_warned = true;
            dev_print(
                kern_level::warning, dev_name,
                fmt::format("Invalid sizes (mapping: {} bytes, alloc: {} bytes)", mapping_size, alloc_size));
        }
        ++m_stats.failures;
        return DMA_MAPPING_ERROR;
    }
    if (alloc_size + offset == 0) {
        // BUG_ON(!nslots) in swiotlb_do_find_slots.
        report(dev_name, "kernel BUG at kernel/dma/swiotlb.c swiotlb_do_find_slots: a mapping of 0 slots");
        ++m_stats.failures;
        return DMA_MAPPING_ERROR;
    }

    int index = swiotlb_find_slots(orig_addr, alloc_size + offset, alloc_align_mask, min_align_mask);
    if (index == -1) {
        if (!(attrs & DMA_ATTR_NO_WARN) && ratelimit(m_full_rs, "swiotlb_tbl_map_single"))
            dev_print(kern_level::warning, dev_name,
                      fmt::format("swiotlb buffer is full (sz: {} bytes), total {} (slots), used {} (slots)",
                                  alloc_size, nslabs(), m_used));
        ++m_stats.failures;
        return DMA_MAPPING_ERROR;
    }

    // Each slot remembers the original byte its first byte bounces, for the syncs.
    const auto first = static_cast<std::uint64_t>(index);
    const std::uint64_t n = nr_slots(alloc_size + offset);
    for (std::uint64_t i = 0; i < n; ++i) {
        m_slots[first + i].orig_addr = slot_addr(orig_addr, i);
        m_mappings[first + i] = {static_cast<std::uint16_t>(offset), i == 0};
    }
    ++m_stats.maps;
    m_stats.used_high_water = std::max(m_stats.used_high_water, m_used);

    // Copied in for every direction: a DMA_FROM_DEVICE transfer the device does not fully write
    // must not hand the pool's old contents (another mapping's data) to the caller on unmap.
    phys_addr_t tlb_addr = slot_addr(m_start, first) + offset;
    swiotlb_bounce(tlb_addr, mapping_size, DMA_TO_DEVICE, dev_name);
    return tlb_addr;
}

// swiotlb_release_slots: the mapping's slots become free, counting on into the free run after
// them (in the same segment) and lengthening the free run before them.
void io_tlb_mem::swiotlb_release_slots(unsigned index) {
    const std::uint64_t nslots = nr_slots(m_slots[index].alloc_size + m_mappings[index].offset);
    unsigned count = 0;
    if (index + nslots < align_up(index + 1ull, IO_TLB_SEGSIZE)) count = m_slots[index + nslots].list;

    for (std::uint64_t i = index + nslots; i-- > index;) {
        m_slots[i] = {INVALID_PHYS_ADDR, 0, ++count};
        m_mappings[i] = {};
    }
    for (std::uint64_t i = index; i > 0 && io_tlb_offset(i - 1) != IO_TLB_SEGSIZE - 1 && m_slots[i - 1].list;
         --i)
        m_slots[i - 1].list = ++count;
    m_used -= nslots;
}

void io_tlb_mem::swiotlb_tbl_unmap_single(phys_addr_t tlb_addr, std::size_t mapping_size,
                                          dma_data_direction dir, unsigned long attrs, const char* dev_name) {
    // Linux trusts tlb_addr (dma-direct checks is_swiotlb_buffer first) and a wrong one corrupts
    // the free lists; here it is reported and ignored.
    const std::uint64_t index = is_swiotlb_buffer(tlb_addr) ? (tlb_addr - m_start) >> IO_TLB_SHIFT : 0;
    if (!is_swiotlb_buffer(tlb_addr) || !m_mappings[index].head ||
        ((tlb_addr - m_start) & (IO_TLB_SIZE - 1)) != m_mappings[index].offset) {
        report(dev_name,
               fmt::format("WARNING: at kernel/dma/swiotlb.c swiotlb_tbl_unmap_single: {:#x} ({} bytes, "
                           "{}) is not a swiotlb mapping",
                           tlb_addr, mapping_size, dma_direction_name(dir)));
        return;
    }
    m_machine.context().cycles += m_costs.unmap;
    if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC) && (dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL))
        swiotlb_bounce(tlb_addr, mapping_size, DMA_FROM_DEVICE, dev_name);
    swiotlb_release_slots(static_cast<unsigned>(index));
    ++m_stats.unmaps;
}

void io_tlb_mem::swiotlb_sync_single_for_device(phys_addr_t tlb_addr, std::size_t size,
                                                dma_data_direction dir, const char* dev_name) {
    if (dir == DMA_TO_DEVICE || dir == DMA_BIDIRECTIONAL)
        swiotlb_bounce(tlb_addr, size, DMA_TO_DEVICE, dev_name);
    else if (dir != DMA_FROM_DEVICE)  // BUG_ON(dir != DMA_FROM_DEVICE)
        report(dev_name, fmt::format("kernel BUG at kernel/dma/swiotlb.c swiotlb_sync_single_for_device: {}",
                                     dma_direction_name(dir)));
}

void io_tlb_mem::swiotlb_sync_single_for_cpu(phys_addr_t tlb_addr, std::size_t size, dma_data_direction dir,
                                             const char* dev_name) {
    if (dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL)
        swiotlb_bounce(tlb_addr, size, DMA_FROM_DEVICE, dev_name);
    else if (dir != DMA_TO_DEVICE)  // BUG_ON(dir != DMA_TO_DEVICE)
        report(dev_name, fmt::format("kernel BUG at kernel/dma/swiotlb.c swiotlb_sync_single_for_cpu: {}",
                                     dma_direction_name(dir)));
}

// swiotlb_bounce: the timed copy between the bounce buffer at tlb_addr (anywhere inside a
// mapping) and the original bytes it stands for, cut to what the mapping holds from there.
void io_tlb_mem::swiotlb_bounce(phys_addr_t tlb_addr, std::size_t size, dma_data_direction dir,
                                const char* dev_name) {
    if (!is_swiotlb_buffer(tlb_addr)) {
        report(dev_name,
               fmt::format("WARNING: at kernel/dma/swiotlb.c swiotlb_bounce: {:#x} is not in the pool",
                           tlb_addr));
        return;
    }
    const std::uint64_t index = (tlb_addr - m_start) >> IO_TLB_SHIFT;
    phys_addr_t orig_addr = m_slots[index].orig_addr;
    std::size_t alloc_size = m_slots[index].alloc_size;
    if (orig_addr == INVALID_PHYS_ADDR) return;  // a free slot: Linux copies nothing, says nothing

    // Where tlb_addr is within its slot, less the mapping's own offset there (Linux:
    // swiotlb_align_offset(dev, orig_addr), the same bits).
    std::uint64_t tlb_offset = tlb_addr & (IO_TLB_SIZE - 1);
    const unsigned orig_addr_offset = m_mappings[index].offset;
    if (tlb_offset < orig_addr_offset) {
        if (!m_overflow_warned[0]) {
            m_overflow_warned[0] = true;
            dev_print(
                kern_level::warning, dev_name,
                fmt::format("Access before mapping start detected. orig offset {}, requested offset {}.",
                            orig_addr_offset, tlb_offset));
        }
        return;
    }
    tlb_offset -= orig_addr_offset;
    if (tlb_offset > alloc_size) {
        if (!m_overflow_warned[1]) {
            m_overflow_warned[1] = true;
            dev_print(kern_level::warning, dev_name,
                      fmt::format("Buffer overflow detected. Allocation size: {}. Mapping size: {}+{}.",
                                  alloc_size, size, tlb_offset));
        }
        return;
    }
    orig_addr += tlb_offset;
    alloc_size -= tlb_offset;
    if (size > alloc_size) {
        if (!m_overflow_warned[2]) {
            m_overflow_warned[2] = true;
            dev_print(kern_level::warning, dev_name,
                      fmt::format("Buffer overflow detected. Allocation size: {}. Mapping size: {}.",
                                  alloc_size, size));
        }
        size = alloc_size;
    }
    if (size == 0) return;
    if (dir == DMA_TO_DEVICE) {
        m_machine.copy_phys(tlb_addr, orig_addr, size);
        m_stats.bounced_to_device += size;
    } else {
        m_machine.copy_phys(orig_addr, tlb_addr, size);
        m_stats.bounced_from_device += size;
    }
}

// ___ratelimit (lib/ratelimit.c): `burst` messages per interval; the first call after an
// interval with suppressed messages says how many, in the caller's name.
bool io_tlb_mem::ratelimit(ratelimit_state& rs, const char* func) {
    picoseconds now = m_machine.now();
    if (!rs.started) {
        rs.started = true;
        rs.begin = now;
    }
    if (now > rs.begin + ratelimit_interval) {
        if (rs.missed) {
            m_log.print(now, kern_level::warning,
                        fmt::format("{}: {} callbacks suppressed", func, rs.missed));
            rs.missed = 0;
        }
        rs.begin = now;
        rs.printed = 0;
    }
    if (rs.printed < ratelimit_burst) {
        ++rs.printed;
        return true;
    }
    ++rs.missed;
    return false;
}

// dev_printk's "<driver> <device>: " prefix.
void io_tlb_mem::dev_print(kern_level level, const char* dev_name, const std::string& text) {
    if (dev_name && *dev_name)
        m_log.print(m_machine.now(), level, fmt::format("{}: {}", dev_name, text));
    else
        m_log.print(m_machine.now(), level, text);
}

void io_tlb_mem::report(const char* dev_name, const std::string& text) {
    ++m_stats.bad_calls;
    dev_print(kern_level::warning, dev_name, text);
}

std::string io_tlb_mem::check_invariants() const {
    std::uint64_t used = 0;
    unsigned run = 0;  // free slots from i + 1 to the first used slot or the segment's end
    for (std::uint64_t i = m_slots.size(); i-- > 0;) {
        if (io_tlb_offset(i) == IO_TLB_SEGSIZE - 1) run = 0;
        const io_tlb_slot& s = m_slots[i];
        if (s.list == 0) {
            ++used;
            run = 0;
            if (s.orig_addr == INVALID_PHYS_ADDR)
                return fmt::format("slot {} is used but bounces nothing", i);
            continue;
        }
        ++run;
        if (s.list != run) return fmt::format("free slot {} has list {}, expected {}", i, s.list, run);
        if (s.orig_addr != INVALID_PHYS_ADDR || s.alloc_size != 0 || m_mappings[i].head)
            return fmt::format("free slot {} still holds a mapping", i);
    }
    if (used != m_used) return fmt::format("used is {}, {} slots are", m_used, used);
    if (m_index >= m_slots.size()) return fmt::format("index {} is past the pool", m_index);
    return "";
}

}  // namespace memsim::kernel
