// DMA pools (mm/dmapool.c, Linux 6.1): creation rules, the free-block chains in simulated RAM,
// allocation, free with its checks, destruction, and the "pools" file.
#include "kernel_mm/dma/pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace memsim::kernel {
namespace {

constexpr std::uint64_t page_size = std::uint64_t{1} << page_shift;

bool is_power_of_2(std::uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

// lib/hexdump.c hex_dump_to_buffer with 16-byte rows in groups of 1 and the ASCII column at 49.
std::string hex_row(const unsigned char* bytes, std::size_t length) {
    std::string line;
    for (std::size_t i = 0; i < length; ++i) line += fmt::format("{:02x} ", bytes[i]);
    if (!line.empty()) line.pop_back();
    line.resize(std::max<std::size_t>(line.size(), 49), ' ');
    for (std::size_t i = 0; i < length; ++i)
        line += std::isprint(bytes[i]) ? static_cast<char>(bytes[i]) : '.';
    return line;
}

}  // namespace

std::unique_ptr<dma_pool> dma_pool::create(dma_api& dma, std::string_view name, device& dev,
                                           std::uint64_t size, std::uint64_t align, std::uint64_t boundary,
                                           bool debug) {
    if (align == 0)
        align = 1;
    else if (!is_power_of_2(align))
        return nullptr;
    if (size == 0) return nullptr;
    size = std::max<std::uint64_t>(size, 4);  // room for the free-chain link
    size = (size + align - 1) & ~(align - 1);
    std::uint64_t allocation = std::max(size, page_size);
    if (boundary == 0)
        boundary = allocation;
    else if (boundary < size || !is_power_of_2(boundary))
        return nullptr;
    // char name[32] filled by strscpy.
    std::string truncated(name.substr(0, 31));
    return std::unique_ptr<dma_pool>(
        new dma_pool(dma, std::move(truncated), dev, size, boundary, allocation, debug));
}

dma_pool::dma_pool(dma_api& dma, std::string name, device& dev, std::uint64_t size, std::uint64_t boundary,
                   std::uint64_t allocation, bool debug)
    : m_dma(dma),
      m_name(std::move(name)),
      m_dev(dev),
      m_size(size),
      m_boundary(boundary),
      m_allocation(allocation),
      m_debug(debug) {
    dev.dma_pools.insert(dev.dma_pools.begin(), this);  // list_add(&retval->pools, &dev->dma_pools)
}

// dma_pool_destroy walks page_list from its head, the newest buffer first.
dma_pool::~dma_pool() {
    std::erase(m_dev.dma_pools, this);
    for (auto it = m_pages.rbegin(); it != m_pages.rend(); ++it) {
        if (it->in_use) {
            dev_err(fmt::format("dma_pool_destroy {}, {} busy", m_name, pointer(it->vaddr)));
            continue;  // "leak the still-in-use consistent memory"
        }
        if (m_debug) m_dma.machine().fill_phys(it->dma, POOL_POISON_FREED, m_allocation);
        m_dma.dma_free_coherent(m_dev, m_allocation, it->vaddr, it->dma);
    }
}

std::uint64_t dma_pool::blocks_in_use() const {
    std::uint64_t blocks = 0;
    for (const dma_page& page : m_pages) blocks += page.in_use;
    return blocks;
}

void dma_pool::dev_err(const std::string& text) {
    m_dma.kernel().log().print(m_dma.machine().now(), kern_level::err, dev_printk_prefix(m_dev) + text);
}

// %p (unhashed, as with no_hash_pointers) and %pad ("0x" and every digit of a dma_addr_t).
std::string dma_pool::pointer(std::uint64_t addr) const {
    return fmt::format("{:0{}x}", addr, m_dma.pointer_digits());
}
std::string dma_pool::pad(dma_addr_t addr) const {
    return fmt::format("0x{:0{}x}", addr, m_dma.dma_addr_digits());
}

std::uint32_t dma_pool::read_link(dma_addr_t at) {
    std::uint32_t next = 0;
    m_dma.machine().read_phys(at, &next, sizeof next);
    return next;
}

void dma_pool::write_link(dma_addr_t at, std::uint32_t next) {
    m_dma.machine().write_phys(at, &next, sizeof next);
}

// Where pool_initialise_page puts blocks: at the start of every boundary-sized stretch, then
// every `size` bytes while the block after it would still end before the next boundary
// ("next + size >= next_boundary" moves on: 6.1 leaves a stretch's last block unused when size
// divides boundary; 6.4 fixed the comparison). A block never runs past the buffer, where 6.1
// would let one when boundary exceeds the buffer (6.4 caps boundary at the allocation).
bool dma_pool::is_block(std::uint64_t offset) const {
    if (offset + m_size > m_allocation) return false;
    std::uint64_t r = offset % m_boundary;
    return r % m_size == 0 && (r == 0 || r + m_size < m_boundary);
}

// pool_initialise_page: each free block holds the offset of the next, the last one an offset
// at or past the end; the writes are real (timed) stores into the buffer.
void dma_pool::pool_initialise_page(const dma_page& page) {
    std::uint64_t offset = 0;
    std::uint64_t next_boundary = m_boundary;
    do {
        std::uint64_t next = offset + m_size;
        if (next + m_size >= next_boundary) {
            next = next_boundary;
            next_boundary += m_boundary;
        }
        if (next < m_allocation && !is_block(next)) next = m_allocation;  // see is_block
        write_link(page.dma + offset, static_cast<std::uint32_t>(next));
        offset = next;
    } while (offset < m_allocation);
}

// pool_alloc_page: a coherent buffer of `allocation` bytes, poisoned under DMAPOOL_DEBUG, its
// chain laid; Linux kmallocs the struct dma_page, memsim keeps it on the host.
dma_pool::dma_page* dma_pool::pool_alloc_page(gfp_t mem_flags) {
    dma_page page;
    page.vaddr = m_dma.dma_alloc_coherent(m_dev, m_allocation, &page.dma, mem_flags);
    if (!page.vaddr) return nullptr;
    if (m_debug) m_dma.machine().fill_phys(page.dma, POOL_POISON_FREED, m_allocation);
    pool_initialise_page(page);
    m_pages.push_back(page);  // list_add: the head of page_list
    return &m_pages.back();
}

// The link stored in a free block: the next free block, or the end of the chain. A link that
// points inside the buffer but at no block (the block was scribbled on) ends the chain.
std::uint64_t dma_pool::next_free(dma_page& page, std::uint64_t offset) {
    std::uint64_t next = read_link(page.dma + offset);
    if (next < m_allocation && !is_block(next)) {
        ++m_corrupted_links;
        return m_allocation;
    }
    return next;
}

// DMAPOOL_DEBUG on allocation: every byte after the link must still be POOL_POISON_FREED,
// else "(corrupted)" and the block dumped (print_hex_dump, DUMP_PREFIX_OFFSET).
void dma_pool::check_poison(std::uint64_t vaddr, dma_addr_t dma) {
    std::vector<unsigned char> data(m_size);
    m_dma.machine().read_phys(dma, data.data(), data.size());
    if (std::all_of(data.begin() + sizeof(std::uint32_t), data.end(),
                    [](unsigned char b) { return b == POOL_POISON_FREED; }))
        return;
    dev_err(fmt::format("dma_pool_alloc {}, {} (corrupted)", m_name, pointer(vaddr)));
    for (std::size_t row = 0; row < data.size(); row += 16)
        m_dma.kernel().log().print(
            m_dma.machine().now(), kern_level::err,
            fmt::format("{:08x}: {}", row,
                        hex_row(data.data() + row, std::min<std::size_t>(16, data.size() - row))));
}

// dma_pool_alloc: the first buffer on page_list (newest first) with a free block, else a new
// one; the block's link becomes the buffer's next free offset.
std::uint64_t dma_pool::alloc(gfp_t mem_flags, dma_addr_t* handle) {
    auto ready = std::find_if(m_pages.rbegin(), m_pages.rend(),
                              [&](const dma_page& p) { return p.offset < m_allocation; });
    dma_page* page = ready != m_pages.rend() ? &*ready : pool_alloc_page(mem_flags & ~__GFP_ZERO);
    if (!page) return 0;
    ++page->in_use;
    std::uint64_t offset = page->offset;
    page->offset = next_free(*page, offset);
    std::uint64_t retval = page->vaddr + offset;
    *handle = page->dma + offset;
    if (m_debug) {
        check_poison(retval, *handle);
        if (!(mem_flags & __GFP_ZERO)) m_dma.machine().fill_phys(*handle, POOL_POISON_ALLOCATED, m_size);
    }
    if (mem_flags & __GFP_ZERO) m_dma.machine().fill_phys(*handle, 0, m_size);  // want_init_on_alloc
    return retval;
}

// pool_find_page: the buffer holding the device address, searched newest first.
dma_pool::dma_page* dma_pool::pool_find_page(dma_addr_t dma) {
    for (auto it = m_pages.rbegin(); it != m_pages.rend(); ++it)
        if (dma >= it->dma && dma - it->dma < m_allocation) return &*it;
    return nullptr;
}

// DMAPOOL_DEBUG's walk of the buffer's free chain (bounded here: a corrupted chain could cycle).
bool dma_pool::already_free(dma_page& page, std::uint64_t offset) {
    std::uint64_t chain = page.offset;
    for (std::uint64_t steps = 0; chain < m_allocation && steps <= m_allocation / m_size; ++steps) {
        if (chain == offset) return true;
        chain = next_free(page, chain);
    }
    return false;
}

void dma_pool::free(std::uint64_t vaddr, dma_addr_t dma) {
    dma_page* page = pool_find_page(dma);
    if (!page) {
        dev_err(fmt::format("dma_pool_free {}, {}/{} (bad dma)", m_name, pointer(vaddr), pad(dma)));
        return;
    }
    std::uint64_t offset = vaddr - page->vaddr;
    bool outside = vaddr < page->vaddr || offset + sizeof(std::uint32_t) > m_allocation;
    if (outside || (m_debug && dma - page->dma != offset)) {
        dev_err(fmt::format("dma_pool_free {}, {} (bad vaddr)/{}", m_name, pointer(vaddr), pad(dma)));
        return;
    }
    if (m_debug) {
        if (already_free(*page, offset)) {
            dev_err(fmt::format("dma_pool_free {}, dma {} already free", m_name, pad(dma)));
            return;
        }
        m_dma.machine().fill_phys(page->dma + offset, POOL_POISON_FREED, m_size);
    }
    --page->in_use;
    write_link(page->dma + offset, static_cast<std::uint32_t>(page->offset));
    page->offset = offset;
    // "Resist a temptation to do if (!is_page_busy(page)) pool_free_page(pool, page);
    // Better have a few empty pages hang around."
}

// show_pools: "%-16s %4u %4zu %4zu %2u" per pool, the blocks of a buffer taken as
// allocation / size whatever the boundary wastes.
std::string show_pools(const device& dev) {
    std::string out = "poolinfo - 0.1\n";
    for (const dma_pool* pool : dev.dma_pools)
        out += fmt::format("{:<16} {:4} {:4} {:4} {:2}\n", pool->name(), pool->blocks_in_use(),
                           pool->pages() * (pool->allocation() / pool->size()), pool->size(), pool->pages());
    return out;
}

}  // namespace memsim::kernel
