// The page allocator's speed in host time: alloc_pages/__free_pages pairs at order 0 (through
// the per-CPU lists) and order 3, and a random mix, each beside glibc's malloc/free of 4 KiB in
// the same run; then boot time and host memory of 4 GiB, 64 GiB and 1 TiB x86_64 machines, each
// booted in a child process so that its peak memory is its own.
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "bench/in_child.h"
#include "kernel_mm/slab.h"
#include "kernel_mm/start_kernel.h"
#include "kernel_mm/vmalloc.h"
#include "tests/kernel_mm/booted_kernel.h"

namespace {

using namespace memsim::kernel;
constexpr std::uint64_t GiB = 1ull << 30;

using testing::pc_map;

struct booted {
    testing::fake_machine machine;
    printk_buffer log;
    std::unique_ptr<kernel_state> kernel;
    explicit booted(std::uint64_t ram) {
        kernel_config config;
        config.firmware_map = pc_map(ram);
        kernel = start_kernel(machine, config, log);
    }
};

void glibc_malloc_free_4k(benchmark::State& state) {
    for (auto _ : state) {
        void* p = std::malloc(4096);
        benchmark::DoNotOptimize(p);
        std::free(p);
    }
}
BENCHMARK(glibc_malloc_free_4k);

void alloc_free_pair(benchmark::State& state) {
    booted m(4 * GiB);
    page_allocator& pages = m.kernel->pages();
    auto order = static_cast<unsigned>(state.range(0));
    for (auto _ : state) {
        page* p = pages.alloc_pages(GFP_KERNEL, order);
        benchmark::DoNotOptimize(p);
        pages.__free_pages(p, order);
    }
}
BENCHMARK(alloc_free_pair)->Arg(0)->Arg(3);

// Random orders (three quarters order 0) and a working set of a few thousand blocks.
void random_mix(benchmark::State& state) {
    booted m(4 * GiB);
    page_allocator& pages = m.kernel->pages();
    std::mt19937_64 random(1);
    std::vector<std::pair<page*, unsigned>> held;
    for (auto _ : state) {
        if (held.size() < 4096 && (held.empty() || random() % 2)) {
            unsigned order = random() % 4 ? 0 : static_cast<unsigned>(random() % 6);
            if (page* p = pages.alloc_pages(GFP_KERNEL, order)) held.emplace_back(p, order);
        } else {
            std::size_t i = random() % held.size();
            pages.__free_pages(held[i].first, held[i].second);
            held[i] = held.back();
            held.pop_back();
        }
    }
}
BENCHMARK(random_mix);

// vmalloc/vfree of 64 KiB (16 pages, 16 PTEs, 17 INVLPGs) beside glibc's malloc/free of 64 KiB.
void glibc_malloc_free_64k(benchmark::State& state) {
    for (auto _ : state) {
        void* p = std::malloc(64 * 1024);
        benchmark::DoNotOptimize(p);
        std::free(p);
    }
}
BENCHMARK(glibc_malloc_free_64k);

void vmalloc_vfree_64k(benchmark::State& state) {
    booted m(4 * GiB);
    vmalloc_space vm(*m.kernel, m.machine);
    for (auto _ : state) {
        std::uint64_t addr = vm.vmalloc(64 * 1024);
        benchmark::DoNotOptimize(addr);
        vm.vfree(addr);
        m.machine.flushed_pages.clear();  // the fake machine's record, not the kernel's work
    }
}
BENCHMARK(vmalloc_vfree_64k);

// kmalloc/kfree pairs of 64 B and 1 KiB and kmem_cache_alloc/free of a 64-byte cache, beside
// glibc's malloc/free of the same sizes (target: a kmalloc pair within 25 ns and no slower).
void glibc_malloc_free(benchmark::State& state) {
    auto size = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        void* p = std::malloc(size);
        benchmark::DoNotOptimize(p);
        std::free(p);
    }
}
BENCHMARK(glibc_malloc_free)->Arg(64)->Arg(1024);

void kmalloc_kfree(benchmark::State& state) {
    booted m(4 * GiB);
    slab_allocator slabs(m.kernel->pages(), m.machine, m.log);
    auto size = static_cast<std::uint64_t>(state.range(0));
    for (auto _ : state) {
        std::uint64_t p = slabs.kmalloc(size, GFP_KERNEL);
        benchmark::DoNotOptimize(p);
        slabs.kfree(p);
    }
}
BENCHMARK(kmalloc_kfree)->Arg(64)->Arg(1024);

void kmem_cache_alloc_free(benchmark::State& state) {
    booted m(4 * GiB);
    slab_allocator slabs(m.kernel->pages(), m.machine, m.log);
    kmem_cache* cache = slabs.kmem_cache_create("bench64", 64, 0, SLAB_HWCACHE_ALIGN);
    for (auto _ : state) {
        std::uint64_t p = slabs.kmem_cache_alloc(cache, GFP_KERNEL);
        benchmark::DoNotOptimize(p);
        slabs.kmem_cache_free(cache, p);
    }
}
BENCHMARK(kmem_cache_alloc_free);

struct boot_result {
    double seconds = 0;
    long max_rss_kib = 0;
    std::uint64_t free_pages = 0;
};

boot_result boot_in_child(std::uint64_t ram) {
    return memsim::bench::in_child<boot_result>(
        [ram] {
            auto began = std::chrono::steady_clock::now();
            booted m(ram);
            std::chrono::duration<double> took = std::chrono::steady_clock::now() - began;
            rusage usage{};
            getrusage(RUSAGE_SELF, &usage);
            return boot_result{took.count(), usage.ru_maxrss, m.kernel->pages().nr_free_pages()};
        },
        fmt::format("kernel_bench: booting {} GiB failed", ram / GiB));
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    // Target: 64 GiB boots in under a second of host time.
    fmt::print("\n{:>10} {:>12} {:>14} {:>14}\n", "x86_64 RAM", "boot (s)", "peak RSS", "free pages");
    for (std::uint64_t ram : {4 * GiB, 64 * GiB, 1024 * GiB}) {
        boot_result r = boot_in_child(ram);
        fmt::print(
            "{:>6} GiB {:>12.3f} {:>10} MiB {:>14}{}\n", ram / GiB, r.seconds, r.max_rss_kib / 1024,
            r.free_pages,
            ram == 64 * GiB ? (r.seconds < 1.0 ? "  (target < 1 s: met)" : "  (target < 1 s: MISSED)") : "");
    }
    return 0;
}
