// How the walker reaches paging-structure entries in physical memory: the CPU core implements
// it with timed bus reads and writes, tests with a plain map. Little-endian values of 4 bytes
// (32-bit paging) or 8 bytes (PAE and IA-32e paging).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

namespace memsim::mmu {

class pte_port {
public:
    // Inside the direct window an entry comes straight from host memory and is counted
    // (take_use()); elsewhere it is the implementation's read_entry() or write_entry(). Every
    // entry access of a walk depends on the one before, so the window keeps a virtual call and
    // a region lookup off the hostile (TLB-missing) path.
    std::uint64_t read(std::uint64_t physical, unsigned size) {
        if (unsigned char* at = direct(physical, size)) {
            ++m_use.reads;
            return size == 8 ? load<8>(at) : load<4>(at);
        }
        return read_entry(physical, size);
    }
    // Sets Accessed and Dirty flags (SDM Vol. 3A, 4.8): on hardware a locked read-modify-write;
    // the walker issues it right after its own read of the entry.
    void write(std::uint64_t physical, std::uint64_t value, unsigned size) {
        if (unsigned char* at = direct(physical, size)) {
            ++m_use.writes;
            if (size == 8)
                std::memcpy(at, &value, 8);
            else
                std::memcpy(at, &value, 4);
            return;
        }
        write_entry(physical, value, size);
    }

    // Where the window holds these bytes (1 to 8 of them; any other count is never held) on the
    // host, or nullptr: for looking ahead without an access (walk_ahead.h).
    const unsigned char* host(std::uint64_t physical, unsigned size) const {
        return size - 1 < m_reach.size() ? direct(physical, size) : nullptr;
    }

protected:
    ~pte_port() = default;

    // Host memory that holds physical [start, start + bytes).
    struct direct_window {
        unsigned char* data = nullptr;
        std::uint64_t start = 0, bytes = 0;
    };
    void open_window(const direct_window& w) {
        m_data = w.data;
        m_start = w.start;
        const auto reach = [&w](std::uint64_t size) { return w.bytes >= size ? w.bytes - size + 1 : 0; };
        // Written out, not a loop: where the window's size is known, so are the bounds.
        m_reach = {reach(1), reach(2), reach(3), reach(4), reach(5), reach(6), reach(7), reach(8)};
    }
    void close_window() { open_window({}); }
    // The accesses made in the window since the last call, for the implementation to time.
    struct window_use {
        unsigned reads = 0, writes = 0;
    };
    window_use take_use() { return std::exchange(m_use, {}); }

private:
    virtual std::uint64_t read_entry(std::uint64_t physical, unsigned size) = 0;  // size 4 or 8
    virtual void write_entry(std::uint64_t physical, std::uint64_t value, unsigned size) = 0;

    // One comparison: the offset an access of `size` bytes must start below to end in the window.
    unsigned char* direct(std::uint64_t physical, unsigned size) const {
        const std::uint64_t offset = physical - m_start;
        return offset < m_reach[size - 1] ? m_data + offset : nullptr;
    }
    template <unsigned size>
    static std::uint64_t load(const unsigned char* at) {
        std::uint64_t value = 0;
        std::memcpy(&value, at, size);
        return value;
    }

    // The window; all of m_reach 0 when it is empty: every access goes to the implementation.
    unsigned char* m_data = nullptr;
    std::uint64_t m_start = 0;
    std::array<std::uint64_t, 8> m_reach{};  // by size - 1: the offset accesses of that size start below
    window_use m_use;
};

}  // namespace memsim::mmu
