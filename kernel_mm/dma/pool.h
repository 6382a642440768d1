// DMA pools (mm/dmapool.c, Linux 6.1): small blocks of one size carved out of coherent buffers
// of a device, for descriptors and the like. Each buffer's free blocks are chained through
// their first four bytes in simulated RAM, as Linux chains them, so a device or CPU that
// scribbles on a free block corrupts the chain as it would on real hardware.
//
// Invariants: every block lies inside its buffer and never crosses a multiple of `boundary`;
// a buffer's in_use counts the blocks handed out and not freed; a buffer is given back only by
// destroying the pool, and only when none of its blocks is in use (busy ones are leaked with
// Linux's report).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_mm/dma/mapping.h"

namespace memsim::kernel {

// include/linux/poison.h: DMAPOOL_DEBUG's bytes for free and allocated blocks.
inline constexpr std::uint8_t POOL_POISON_FREED = 0xa7;
inline constexpr std::uint8_t POOL_POISON_ALLOCATED = 0xa9;

class dma_pool {
public:
    // dma_pool_create: align 0 means 1 and must otherwise be a power of two; size is at least 4
    // and rounded up to align; each buffer holds max(size, PAGE_SIZE); boundary 0 means the
    // buffer's size and must otherwise be a power of two no smaller than size. nullptr when a
    // rule is broken. `debug` is DMAPOOL_DEBUG (a kernel with slub_debug on): poisoned blocks
    // and the bad-vaddr, already-free and corruption checks. dma and dev must outlive the pool.
    static std::unique_ptr<dma_pool> create(dma_api& dma, std::string_view name, device& dev,
                                            std::uint64_t size, std::uint64_t align, std::uint64_t boundary,
                                            bool debug = false);
    // dma_pool_destroy: idle buffers go back with dma_free_coherent; a busy one is reported
    // ("dma_pool_destroy <name>, <vaddr> busy") and leaked, as Linux leaks it.
    ~dma_pool();
    dma_pool(const dma_pool&) = delete;
    dma_pool& operator=(const dma_pool&) = delete;

    // dma_pool_alloc: a block of the newest buffer that has one free, else of a new buffer
    // from dma_alloc_coherent with the caller's flags; its CPU address, its device address in
    // *handle; 0 when no buffer could be had. __GFP_ZERO zeroes the block.
    std::uint64_t alloc(gfp_t mem_flags, dma_addr_t* handle);
    std::uint64_t zalloc(gfp_t mem_flags, dma_addr_t* handle) {
        return alloc(mem_flags | __GFP_ZERO, handle);
    }
    // dma_pool_free: the block back on its buffer's chain. A device address outside every
    // buffer is reported ("(bad dma)"); so is a CPU address outside the buffer (memsim checks
    // that always, since writing the link through it would corrupt other memory).
    void free(std::uint64_t vaddr, dma_addr_t dma);

    const std::string& name() const { return m_name; }
    std::uint64_t size() const { return m_size; }
    std::uint64_t allocation() const { return m_allocation; }
    std::uint64_t boundary() const { return m_boundary; }
    const device& dev() const { return m_dev; }
    std::size_t pages() const { return m_pages.size(); }
    std::uint64_t blocks_in_use() const;
    // Links read from a chain that point inside a buffer but at no block: the chain is cut there.
    std::uint64_t corrupted_links() const { return m_corrupted_links; }

private:
    // struct dma_page: one coherent buffer; offset is the first free block (>= allocation: none).
    struct dma_page {
        std::uint64_t vaddr = 0;
        dma_addr_t dma = 0;
        unsigned in_use = 0;
        std::uint64_t offset = 0;
    };

    dma_pool(dma_api& dma, std::string name, device& dev, std::uint64_t size, std::uint64_t boundary,
             std::uint64_t allocation, bool debug);
    dma_page* pool_alloc_page(gfp_t mem_flags);
    void pool_initialise_page(const dma_page& page);
    dma_page* pool_find_page(dma_addr_t dma);
    bool is_block(std::uint64_t offset) const;
    std::uint64_t next_free(dma_page& page, std::uint64_t offset);
    bool already_free(dma_page& page, std::uint64_t offset);
    void check_poison(std::uint64_t vaddr, dma_addr_t dma);
    std::uint32_t read_link(dma_addr_t at);
    void write_link(dma_addr_t at, std::uint32_t next);
    void dev_err(const std::string& text);
    std::string pointer(std::uint64_t addr) const;
    std::string pad(dma_addr_t addr) const;

    dma_api& m_dma;
    std::string m_name;
    device& m_dev;
    std::uint64_t m_size;
    std::uint64_t m_boundary;
    std::uint64_t m_allocation;
    bool m_debug;
    std::vector<dma_page> m_pages;  // oldest first: Linux's page_list is this, newest first
    std::uint64_t m_corrupted_links = 0;
};

// The device's "pools" file (mm/dmapool.c show_pools): "poolinfo - 0.1", then per pool its
// name, blocks in use, blocks in all its buffers, block size and buffers.
std::string show_pools(const device& dev);

}  // namespace memsim::kernel
