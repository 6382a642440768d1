// mem_map: the struct page of every frame from pfn 0 to the end of RAM, indexed by pfn (Linux's
// FLATMEM pfn_to_page). Backed by one reserved, uncommitted host mapping: a 1 TiB machine costs
// host memory only for the struct pages the kernel touches, as SPARSEMEM_VMEMMAP spends real
// memory only on present sections.
#pragma once

#include <cstddef>

#include "kernel_mm/page.h"

namespace memsim::kernel {

class mem_map {
public:
    explicit mem_map(pfn_t end_pfn);
    ~mem_map();
    mem_map(const mem_map&) = delete;
    mem_map& operator=(const mem_map&) = delete;

    page* pfn_to_page(pfn_t pfn) const { return m_pages + pfn; }
    pfn_t page_to_pfn(const page* p) const { return static_cast<pfn_t>(p - m_pages); }
    page& operator[](page_link link) const { return m_pages[link]; }
    pfn_t end_pfn() const { return m_end_pfn; }

private:
    page* m_pages;
    pfn_t m_end_pfn;
    std::size_t m_bytes;
};

}  // namespace memsim::kernel
