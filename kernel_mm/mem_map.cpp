#include "kernel_mm/mem_map.h"

#include <sys/mman.h>

#include <new>
#include <type_traits>

namespace memsim::kernel {

mem_map::mem_map(pfn_t end_pfn) : m_end_pfn(end_pfn), m_bytes((end_pfn + 1) * sizeof(page)) {
    static_assert(std::is_trivially_destructible_v<page>);
    // Anonymous memory reads as zeros, and a zeroed struct page is an untouched frame.
    void* p =
        mmap(nullptr, m_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    m_pages = static_cast<page*>(p);
}

mem_map::~mem_map() { munmap(m_pages, m_bytes); }

}  // namespace memsim::kernel
