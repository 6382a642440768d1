// Builds x86 page tables in physical memory as a stream of physical stores (poke ops), for
// workloads that run before there is a kernel to build them: `paging` and `map` lines of the
// text format, tests and benchmarks. Tables come from a bump allocator from a given address.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "mmu/paging.h"
#include "traces/workload.h"

namespace memsim::traces {

enum class table_format { bits32, pae, long4, long5 };

struct mapping_flags {
    bool writable = true;
    bool user = false;
    bool nx = false;
    bool global = false;
};

class page_table_builder {
public:
    // The root table goes at `first_table` (4 KiB aligned); later tables follow it.
    page_table_builder(table_format format, std::uint64_t first_table);

    std::uint64_t cr3() const { return m_root; }
    // The end of the tables allocated so far.
    std::uint64_t tables_end() const { return m_next_table; }

    // Appends the stores that map one page of `size` at `linear` to `physical`. Throws
    // std::invalid_argument for a size the format has no such page for, a misaligned address,
    // or a page that overlaps one already mapped at another size.
    void map(std::uint64_t linear, std::uint64_t physical, mmu::page_size size, mapping_flags flags,
             std::vector<op>& out);

    // The control-register writes that turn this paging mode on, in an order the SDM allows
    // (CR4 and EFER first, then CR3, then CR0.PG).
    std::vector<op> enable() const;

private:
    struct level {
        unsigned shift;  // linear-address bits this level's index starts at
        unsigned index_bits;
        unsigned entry_bytes;
    };
    std::vector<level> levels() const;
    std::uint64_t table_for(std::uint64_t entry_address, std::vector<op>& out);

    table_format m_format;
    std::uint64_t m_root;
    std::uint64_t m_next_table;
    // Entry address of each non-leaf entry written so far -> the table it points to; leaves -> 0.
    std::unordered_map<std::uint64_t, std::uint64_t> m_entries;
};

}  // namespace memsim::traces
