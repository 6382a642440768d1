// DMA-API debugging (kernel/dma/debug.c, CONFIG_DMA_API_DEBUG in spirit): a table of every
// device's live streaming mappings and coherent allocations, the checks Linux makes when a
// driver unmaps, frees or syncs, each reported with Linux's text in a WARN and counted, and the
// query the platform uses to tell whether a device may touch an address.
//
// Invariants: an entry lives in its device's table from the map or allocation hook to the
// unmap or free hook that matches it, and an entry a device may write (not DMA_TO_DEVICE)
// holds its first cacheline in the active-cacheline table meanwhile; error_count() is the
// number of errors found, printed or not; at most num_errors of them are printed unless
// all_errors is set (debugfs dma-api/).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "kernel_mm/dma/device.h"
#include "kernel_mm/machine_ops.h"
#include "kernel_mm/printk.h"

namespace memsim::kernel {

struct dma_debug_config {
    bool all_errors = false;    // dma-api/all_errors: print every error
    unsigned num_errors = 1;    // dma-api/num_errors: errors printed before it goes quiet
    std::string driver_filter;  // dma_debug_driver=: print only this driver's errors
};

// One segment of a scatterlist as dma_map_sg left it (sg_page, offset, sg_dma_address,
// sg_dma_len), for the sg hooks.
struct dma_debug_sg {
    pfn_t pfn = 0;
    std::uint64_t offset = 0;
    dma_addr_t dma_address = 0;
    std::uint64_t dma_length = 0;
};

// kernel/dma/debug.c type2name, Linux 6.1's spelling ("scather-gather"); dir2name is
// dma_direction_name (direction.h).
const char* dma_debug_type_name(dma_debug_type type);

// "DMA-API: <driver> <device>: " + the check's text, as err_printk's WARN prints it.
std::string dma_debug_prefix(const device& dev);
// dev_err's "<driver> <device>: " prefix (drivers/base/core.c __dev_printk).
std::string dev_printk_prefix(const device& dev);

// WARN(1, ...) as the log shows it: the cut line, the message, "WARNING: ... at <where>".
void dma_warn(printk_buffer& log, machine_ops& machine, const std::string& message, const char* where);

class dma_debug {
public:
    dma_debug(printk_buffer& log, machine_ops& machine, const dma_debug_config& config = {});

    // debug_dma_alloc_coherent: the buffer at pfn/offset of the CPU address; a NULL buffer is
    // not recorded.
    void debug_dma_alloc_coherent(device& dev, std::uint64_t size, dma_addr_t dma_addr, pfn_t pfn,
                                  std::uint64_t offset, unsigned long attrs = 0);
    // debug_dma_free_coherent: check_unmap with a coherent reference; returns the entry it
    // removed (whatever the mismatches), nullopt when nothing matched. `report` false removes
    // quietly, as Linux does not look at a CPU address outside the direct map.
    std::optional<dma_debug_entry> debug_dma_free_coherent(device& dev, std::uint64_t size, pfn_t pfn,
                                                           std::uint64_t offset, dma_addr_t dma_addr,
                                                           bool report = true);
    // debug_dma_map_page (dma_map_single and dma_map_page): an entry whose map error is not yet
    // checked; a DMA_MAPPING_ERROR address is not recorded.
    void debug_dma_map_page(device& dev, pfn_t pfn, std::uint64_t offset, std::uint64_t size,
                            dma_data_direction dir, dma_addr_t dma_addr, unsigned long attrs = 0);
    std::optional<dma_debug_entry> debug_dma_unmap_page(device& dev, dma_addr_t dma_addr, std::uint64_t size,
                                                        dma_data_direction dir);
    // debug_dma_map_sg: one entry per mapped segment, remembering nents and mapped_ents.
    void debug_dma_map_sg(device& dev, std::span<const dma_debug_sg> sg, int nents, int mapped_ents,
                          dma_data_direction dir, unsigned long attrs = 0);
    // debug_dma_map_single's check: a buffer outside the direct map ("maps memory from invalid
    // area"), its address printed as %p with `digits` hex digits.
    void debug_dma_map_invalid_area(device& dev, std::uint64_t addr, std::uint64_t len, unsigned digits);
    // debug_dma_unmap_sg: the segments dma_unmap_sg was given (nelems of them).
    void debug_dma_unmap_sg(device& dev, std::span<const dma_debug_sg> sg, dma_data_direction dir);
    // debug_dma_mapping_error: the first unchecked entry at the address counts as checked.
    void debug_dma_mapping_error(device& dev, dma_addr_t dma_addr);
    // debug_dma_sync_single_for_cpu / _for_device: check_sync against the containing entry.
    void debug_dma_sync_single(device& dev, dma_addr_t dma_addr, std::uint64_t size, dma_data_direction dir,
                               bool to_cpu);

    // The live entry of the device containing [dma_addr, dma_addr + len) (bucket_find_contain's
    // containing_match, best fit as __hash_bucket_find picks), or nullptr.
    const dma_debug_entry* find_containing(const device& dev, dma_addr_t dma_addr, std::uint64_t len) const;
    // Whether the device has a live mapping or coherent buffer covering the whole range: what
    // the platform checks before a device reads or writes memory.
    bool mapped_for_device(const device& dev, dma_addr_t dma_addr, std::uint64_t len) const {
        return len != 0 && find_containing(dev, dma_addr, len) != nullptr;
    }

    // What the driver lets the device do, checked before it starts: [dma_addr, dma_addr + len)
    // must be inside one live mapping or coherent buffer of the device, mapped for the way the
    // device uses it (a device read of DMA_FROM_DEVICE memory, or a write of DMA_TO_DEVICE
    // memory, is a direction error). Reported as err_printk reports and counted; false when bad.
    bool check_device_access(device& dev, dma_addr_t dma_addr, std::uint64_t len, bool write);

    // dma-api/error_count: every error found on any device.
    std::uint64_t error_count() const { return m_error_count; }
    const dma_debug_config& config() const { return m_config; }

private:
    void add_dma_entry(device& dev, const dma_debug_entry& entry, unsigned long attrs);
    bool active_cacheline_insert(const dma_debug_entry& entry);
    void active_cacheline_remove(const dma_debug_entry& entry);
    std::optional<dma_debug_entry> check_unmap(device& dev, const dma_debug_entry& ref, bool report = true);
    void check_sync(device& dev, const dma_debug_entry& ref, bool to_cpu);
    int nr_mapped_entries(const device& dev, const dma_debug_entry& ref) const;
    void err_printk(device& dev, dma_debug_error error, const std::string& text, const char* where);
    bool driver_filter(const device& dev) const;

    printk_buffer& m_log;
    machine_ops& m_machine;
    dma_debug_config m_config;
    std::uint64_t m_error_count = 0;
    unsigned m_show_num_errors;
    // dma_active_cacheline: the first cacheline of every mapping a device may write, with how
    // many more mappings start there (at most 7, what three radix-tree tags hold).
    std::map<std::uint64_t, unsigned> m_active_cachelines;
};

}  // namespace memsim::kernel
