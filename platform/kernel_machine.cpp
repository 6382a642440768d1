#include "platform/kernel_machine.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "platform/firmware_map.h"

namespace memsim::platform {
namespace {

// The kernel moves memory in chunks of at most a page per bus transaction, as a CPU's string
// instructions stream a page through its cache.
constexpr std::size_t chunk_bytes = 4096;

kernel::kernel_arch arch_of(machine_profile p) {
    return p == machine_profile::x86_64 ? kernel::kernel_arch::x86_64 : kernel::kernel_arch::i386;
}

// numa.nodes split RAM in address order: each node takes its size from the RAM windows in turn.
std::vector<kernel::numa_memblk> numa_memblks_of(const machine_config& c) {
    std::vector<kernel::numa_memblk> blks;
    std::size_t region = 0;
    std::uint64_t used = 0;  // of the current region
    for (std::size_t nid = 0; nid < c.numa.node_sizes.size(); ++nid) {
        std::uint64_t left = c.numa.node_sizes[nid];
        while (left > 0 && region < c.ram.regions.size()) {
            const ram_region& r = c.ram.regions[region];
            std::uint64_t take = std::min(left, r.size - used);
            blks.push_back({r.base + used, r.base + used + take, static_cast<int>(nid)});
            left -= take;
            used += take;
            if (used == r.size) {
                ++region;
                used = 0;
            }
        }
    }
    return blks;
}

}  // namespace

kernel::kernel_config kernel_config_of(const machine_config& c) {
    kernel::kernel_config k;
    k.arch = arch_of(c.profile);
    k.pae = c.profile == machine_profile::i386_pae;
    if (k.arch == kernel::kernel_arch::i386) k.image = kernel::kernel_image::debian_686_pae();
    k.firmware_map = firmware_map(c);
    k.numa_memblks = numa_memblks_of(c);
    k.numa_distance = c.numa.distances;
    k.min_free_kbytes = c.kernel.min_free_kbytes;
    k.watermark_scale_factor = c.kernel.watermark_scale_factor;
    k.panic_on_bug = c.kernel.panic_on_bug;
    k.costs = c.kernel.boot_costs;
    k.alloc_costs = c.kernel.alloc_costs;
    k.pcid = c.kernel.pcid;
    k.swiotlb = c.kernel.swiotlb;
    k.swiotlb_size = c.kernel.swiotlb_size;
    return k;
}

kernel_machine::kernel_machine(hw::cpu_core& cpu, machine& board, const machine_config& config)
    : m_cpu(cpu),
      m_board(board),
      m_config(kernel_config_of(config)),
      m_mm_costs(config.kernel.mm_costs),
      m_period(clock_period(config.cpu.frequency_hz)) {
    // An engine with fewer than 32 address lines stands for an ISA device, the rest for PCI.
    for (const dma_engine_config& e : config.dma_engines)
        m_dma_resources.push_back({e.name, e.base, e.irq, e.reach_bits < 32,
                                   e.bus_dma_bits ? kernel::DMA_BIT_MASK(e.bus_dma_bits) : 0});
}

void kernel_machine::boot(hw::cpu_core&) {
    try {
        m_kernel = kernel::start_kernel(*this, m_config, m_log);
        // mm_init's later steps: kmem_cache_init (the kmalloc caches), vmalloc_init, and on i386
        // the kmap windows (kmap_init).
        m_slab = std::make_unique<kernel::slab_allocator>(m_kernel->pages(), *this, m_log);
        m_vmalloc = std::make_unique<kernel::vmalloc_space>(*m_kernel, *this);
        if (m_config.arch == kernel::kernel_arch::i386)
            m_highmem = std::make_unique<kernel::highmem>(*m_kernel, *this);
        m_processes = std::make_unique<kernel::process_table>(*m_kernel, *this, m_mm_costs,
                                                              static_cast<picoseconds>(m_period.value()));
        probe_dma_engines();
        m_free_after_boot = kernel::zone_free_pages(m_kernel->pages());
    } catch (const kernel::kernel_panic& e) {
        m_panic = e.what();
        m_log.print(now(), kernel::kern_level::emerg,
                    fmt::format("Kernel panic - not syncing: {}", e.what()));
    }
    settle();
}

void kernel_machine::probe_dma_engines() {
    m_dma = std::make_unique<kernel::dma_api>(*m_kernel, *this);
    m_dma->set_swiotlb(m_kernel->swiotlb());
    m_dma->swiotlb_force_bounce = m_kernel->swiotlb_force();
    for (const kernel::memsim_dma_resource& r : m_dma_resources)
        m_dma_drivers.push_back(std::make_unique<kernel::memsim_dma>(*m_dma, r));
}

kernel::memsim_dma* kernel_machine::driver_on_irq(unsigned irq) {
    for (auto& d : m_dma_drivers)
        if (d->irq() == irq) return d.get();
    return nullptr;
}

bool kernel_machine::wait_for_interrupt() {
    settle();
    return m_cpu.wait_for_interrupt();
}

void kernel_machine::settle() {
    if (m_context.cycles == 0) return;
    m_cpu.port.quantum.inc(m_period * static_cast<double>(m_context.cycles));
    m_context.cycles = 0;
}

picoseconds kernel_machine::now() const {
    return (m_cpu.port.now() + m_period * static_cast<double>(m_context.cycles)).value();
}

void kernel_machine::transfer(tlm::tlm_command command, kernel::phys_addr_t addr, void* data,
                              std::size_t length) {
    settle();
    auto* bytes = static_cast<unsigned char*>(data);
    for (std::size_t done = 0; done < length;) {
        auto n = static_cast<unsigned>(std::min(chunk_bytes, length - done));
        if (m_cpu.port.transport(command, addr + done, bytes + done, n) != tlm::TLM_OK_RESPONSE)
            throw kernel::kernel_panic(
                fmt::format("BUG: unable to handle a bus error at physical address {:#x}", addr + done));
        done += n;
    }
    // Uncached MMIO is serialising: what the access set off in the device (an acknowledged
    // interrupt line dropping, a transfer starting) happens at its time, before the kernel's
    // next access; under temporal decoupling a later access would otherwise overtake it.
    if (!m_board.host_address(addr, length)) m_cpu.port.quantum.sync();
}

void kernel_machine::read_phys(kernel::phys_addr_t addr, void* data, std::size_t length) {
    transfer(tlm::TLM_READ_COMMAND, addr, data, length);
}

void kernel_machine::write_phys(kernel::phys_addr_t addr, const void* data, std::size_t length) {
    transfer(tlm::TLM_WRITE_COMMAND, addr, const_cast<void*>(data), length);
}

void kernel_machine::fill_phys(kernel::phys_addr_t addr, std::uint8_t value, std::size_t length) {
    // Zeroing, by far the most common fill (every new user page), needs no pattern filled first.
    static constexpr std::array<unsigned char, chunk_bytes> zeros{};
    std::array<unsigned char, chunk_bytes> pattern;
    if (value) pattern.fill(value);
    const unsigned char* bytes = value ? pattern.data() : zeros.data();
    for (std::size_t done = 0; done < length; done += chunk_bytes)
        write_phys(addr + done, bytes, std::min(chunk_bytes, length - done));
}

void kernel_machine::copy_phys(kernel::phys_addr_t to, kernel::phys_addr_t from, std::size_t length) {
    std::array<unsigned char, chunk_bytes> buffer;
    for (std::size_t done = 0; done < length; done += chunk_bytes) {
        std::size_t n = std::min(chunk_bytes, length - done);
        read_phys(from + done, buffer.data(), n);
        write_phys(to + done, buffer.data(), n);
    }
}

unsigned char* kernel_machine::direct(kernel::phys_addr_t addr, std::size_t length) {
    return m_board.host_address(addr, length);
}

// Control registers and TLB maintenance are the core's own operations, with its checks: a #GP
// there is a kernel bug the machine cannot go on from.
void kernel_machine::perform(const traces::op& o) {
    settle();
    if (!m_cpu.perform(o))
        throw kernel::kernel_panic(fmt::format("general protection fault in {}", traces::to_text(o)));
}

void kernel_machine::write_control(kernel::control_register reg, std::uint64_t value) {
    using traces::op_kind;
    constexpr op_kind kinds[] = {op_kind::cr0, op_kind::cr3, op_kind::cr4, op_kind::efer};
    perform({.kind = kinds[static_cast<unsigned>(reg)], .value = value});
}

void kernel_machine::enable_a20() { perform({.kind = traces::op_kind::a20, .value = 1}); }
void kernel_machine::flush_tlb_page(std::uint64_t linear) {
    perform({.kind = traces::op_kind::invlpg, .address = linear});
}
// INVPCID type 1 (one PCID) and type 2 (everything, global entries too), SDM Vol. 2A.
void kernel_machine::flush_tlb_pcid(std::uint16_t pcid) {
    perform({.kind = traces::op_kind::invpcid, .size = 1, .value = pcid});
}
void kernel_machine::flush_tlb_all() { perform({.kind = traces::op_kind::invpcid, .size = 2}); }

}  // namespace memsim::platform
