// The /proc memory files against Linux's text byte for byte (Debian's 6.1 kernel, mm/vmstat.c
// and fs/proc/meminfo.c): a 4 GiB pc x86_64 machine and a 2 GiB i386 one right after boot, then
// the same files after a few allocations. Trailing spaces on buddyinfo and pagetypeinfo lines are
// part of Linux's format.
#include <doctest/doctest.h>

#include <string>

#include "kernel_mm/procfs.h"
#include "tests/kernel_mm/machine_under_test.h"

namespace memsim::kernel {
namespace {

page_alloc_config i386_config() {
    page_alloc_config config;
    config.arch = kernel_arch::i386;
    config.pageblock_order = 10;  // 686 without PAE: 4 MiB pageblocks and huge pages
    config.page_offset = 0xc0000000;
    return config;
}

// The line of `text` that starts with `prefix`, or "" when there is none.
std::string line_of(const std::string& text, const std::string& prefix) {
    for (std::size_t at = 0; at < text.size();) {
        std::size_t end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        if (text.compare(at, prefix.size(), prefix) == 0) return text.substr(at, end - at);
        at = end + 1;
    }
    return "";
}

}  // namespace

// x86_64 pc, 4 GiB (LINUX-FACTS.md): DMA spanned 4095, present 3998, managed 3840; DMA32
// spanned 1044480, present = managed 782304; Normal 262144. totalram = 1048288 pages.

TEST_CASE("x86_64 4 GiB after boot: /proc/buddyinfo lists the populated zones' free blocks per order") {
    machine_under_test m(pc_memblock(4 * GiB));
    // DMA: pfn 0x100..0x1000 freed as 0x100 (order 8), 0x200 (9), 0x400, 0x800, 0xc00 (10).
    // DMA32: 763 order-10 blocks, then orders 9..5 up to pfn 0xbffe0. Normal: 1 GiB = 256 x 4 MiB.
    // One line of the file per line here.
    // clang-format off
    CHECK(proc_buddyinfo(m.alloc) ==
          "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n"
          "Node 0, zone    DMA32      0      0      0      0      0      1      1      1      1      1    763 \n"
          "Node 0, zone   Normal      0      0      0      0      0      0      0      0      0      0    256 \n");
    // clang-format on
}

TEST_CASE("x86_64 4 GiB after boot: /proc/pagetypeinfo") {
    machine_under_test m(pc_memblock(4 * GiB));
    // Every pageblock starts Movable. Blocks are counted by stepping 512 pfns from the zone's
    // start: DMA 1, 513, ..., 3585 (8); DMA32 4096 + 512k while the 2 MiB subsection holds
    // memory, i.e. below 3 GiB: (786432 - 4096) / 512 = 1528 (the hole up to 4 GiB has no
    // memory map); Normal 262144 / 512 = 512. Debian has no CONFIG_CMA: five migratetypes.
    // One line of the file per line here.
    // clang-format off
    CHECK(proc_pagetypeinfo(m.alloc, m.blocks) ==
          "Page block order: 9\n"
          "Pages per block:  512\n"
          "\n"
          "Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10 \n"
          "Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0      0      0      1      0      0 \n"
          "Node    0, zone      DMA, type      Movable      0      0      0      0      0      0      0      0      0      1      3 \n"
          "Node    0, zone      DMA, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone      DMA, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone      DMA, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone    DMA32, type    Unmovable      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone    DMA32, type      Movable      0      0      0      0      0      1      1      1      1      1    763 \n"
          "Node    0, zone    DMA32, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone    DMA32, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone    DMA32, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone   Normal, type    Unmovable      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone   Normal, type      Movable      0      0      0      0      0      0      0      0      0      0    256 \n"
          "Node    0, zone   Normal, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone   Normal, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone   Normal, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 \n"
          "\n"
          "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate \n"
          "Node 0, zone      DMA            1            7            0            0            0 \n"
          "Node 0, zone    DMA32            0         1528            0            0            0 \n"
          "Node 0, zone   Normal            0          512            0            0            0 \n");
    // clang-format on
}

TEST_CASE("x86_64 4 GiB after boot: /proc/zoneinfo prints every zone, the empty Movable and Device too") {
    machine_under_test m(pc_memblock(4 * GiB));
    // min_free_kbytes = int_sqrt(1048288 * 4 * 16) = 8190, pages_min 2047 (page_alloc_test.cpp):
    // DMA 7/10/13, DMA32 1527/2309/3091, Normal 511/773/1035. Movable: managed / 1024 clamped
    // to [32, 128] = 32 with a gap of 0, so 32/32/32 as on real machines; Device 0/0/0.
    // protection: DMA (0, 782304 / 256, 1044448 / 256, same, same) = (0, 3055, 4079, 4079, 4079);
    // DMA32 (0, 0, 262144 / 256, ...) = 1024; Normal's ratio 32 over empty zones gives 0.
    // vm stats threshold (calculate_normal_threshold, 1 CPU): 2 * fls(1) * (1 + fls(managed >> 15)):
    // DMA 2 * 1 * (1 + 0) = 2; DMA32 fls(23) = 5 -> 12; Normal fls(8) = 4 -> 10.
    // CONFIG_NUMA: the numa_* counters follow the zone counters. The node's stats go with DMA.
    CHECK(proc_zoneinfo(m.alloc) == R"txt(Node 0, zone      DMA
  per-node stats
      nr_inactive_anon 0
      nr_active_anon 0
      nr_inactive_file 0
      nr_active_file 0
      nr_unevictable 0
      nr_slab_reclaimable 0
      nr_slab_unreclaimable 0
      nr_isolated_anon 0
      nr_isolated_file 0
      workingset_nodes 0
      workingset_refault_anon 0
      workingset_refault_file 0
      workingset_activate_anon 0
      workingset_activate_file 0
      workingset_restore_anon 0
      workingset_restore_file 0
      workingset_nodereclaim 0
      nr_anon_pages 0
      nr_mapped    0
      nr_file_pages 0
      nr_dirty     0
      nr_writeback 0
      nr_writeback_temp 0
      nr_shmem     0
      nr_shmem_hugepages 0
      nr_shmem_pmdmapped 0
      nr_file_hugepages 0
      nr_file_pmdmapped 0
      nr_anon_transparent_hugepages 0
      nr_vmscan_write 0
      nr_vmscan_immediate_reclaim 0
      nr_dirtied   0
      nr_written   0
      nr_throttled_written 0
      nr_kernel_misc_reclaimable 0
      nr_foll_pin_acquired 0
      nr_foll_pin_released 0
      nr_kernel_stack 0
      nr_page_table_pages 0
      nr_sec_page_table_pages 0
      nr_swapcached 0
      pgpromote_success 0
      pgpromote_candidate 0
  pages free     3840
        boost    0
        min      7
        low      10
        high     13
        spanned  4095
        present  3998
        managed  3840
        cma      0
        protection: (0, 3055, 4079, 4079, 4079)
      nr_free_pages 3840
      nr_zone_inactive_anon 0
      nr_zone_active_anon 0
      nr_zone_inactive_file 0
      nr_zone_active_file 0
      nr_zone_unevictable 0
      nr_zone_write_pending 0
      nr_mlock     0
      nr_bounce    0
      nr_zspages   0
      nr_free_cma  0
      numa_hit     0
      numa_miss    0
      numa_foreign 0
      numa_interleave 0
      numa_local   0
      numa_other   0
  pagesets
    cpu: 0
              count: 0
              high:  10
              batch: 1
  vm stats threshold: 2
  node_unreclaimable:  0
  start_pfn:           1
Node 0, zone    DMA32
  pages free     782304
        boost    0
        min      1527
        low      2309
        high     3091
        spanned  1044480
        present  782304
        managed  782304
        cma      0
        protection: (0, 0, 1024, 1024, 1024)
      nr_free_pages 782304
      nr_zone_inactive_anon 0
      nr_zone_active_anon 0
      nr_zone_inactive_file 0
      nr_zone_active_file 0
      nr_zone_unevictable 0
      nr_zone_write_pending 0
      nr_mlock     0
      nr_bounce    0
      nr_zspages   0
      nr_free_cma  0
      numa_hit     0
      numa_miss    0
      numa_foreign 0
      numa_interleave 0
      numa_local   0
      numa_other   0
  pagesets
    cpu: 0
              count: 0
              high:  2309
              batch: 63
  vm stats threshold: 12
  node_unreclaimable:  0
  start_pfn:           4096
Node 0, zone   Normal
  pages free     262144
        boost    0
        min      511
        low      773
        high     1035
        spanned  262144
        present  262144
        managed  262144
        cma      0
        protection: (0, 0, 0, 0, 0)
      nr_free_pages 262144
      nr_zone_inactive_anon 0
      nr_zone_active_anon 0
      nr_zone_inactive_file 0
      nr_zone_active_file 0
      nr_zone_unevictable 0
      nr_zone_write_pending 0
      nr_mlock     0
      nr_bounce    0
      nr_zspages   0
      nr_free_cma  0
      numa_hit     0
      numa_miss    0
      numa_foreign 0
      numa_interleave 0
      numa_local   0
      numa_other   0
  pagesets
    cpu: 0
              count: 0
              high:  773
              batch: 63
  vm stats threshold: 10
  node_unreclaimable:  0
  start_pfn:           1048576
Node 0, zone  Movable
  pages free     0
        boost    0
        min      32
        low      32
        high     32
        spanned  0
        present  0
        managed  0
        cma      0
        protection: (0, 0, 0, 0, 0)
Node 0, zone   Device
  pages free     0
        boost    0
        min      0
        low      0
        high     0
        spanned  0
        present  0
        managed  0
        cma      0
        protection: (0, 0, 0, 0, 0)
)txt");
}

TEST_CASE("x86_64 4 GiB after boot: /proc/vmstat has every Debian 6.1 amd64 line in Linux's order") {
    machine_under_test m(pc_memblock(4 * GiB));
    // totalreserve_pages = DMA min(4079 + 13, 3840) = 3840 + DMA32 1024 + 3091 = 4115 + Normal
    // 0 + 1035 = 1035 (+ Movable min(32, 0) = 0) = 8990. Dirtyable memory = 1048288 - 8990 + 1 =
    // 1039299 pages: nr_dirty_threshold = 819 * 1039299 / 4096 = 207809, background
    // 409 * 1039299 / 4096 = 103777 (ratios 20% and 10% as 819 and 409 per 4096).
    CHECK(totalreserve_pages(m.alloc) == 8990);
    CHECK(proc_vmstat(m.alloc) == R"txt(nr_free_pages 1048288
nr_zone_inactive_anon 0
nr_zone_active_anon 0
nr_zone_inactive_file 0
nr_zone_active_file 0
nr_zone_unevictable 0
nr_zone_write_pending 0
nr_mlock 0
nr_bounce 0
nr_zspages 0
nr_free_cma 0
numa_hit 0
numa_miss 0
numa_foreign 0
numa_interleave 0
numa_local 0
numa_other 0
nr_inactive_anon 0
nr_active_anon 0
nr_inactive_file 0
nr_active_file 0
nr_unevictable 0
nr_slab_reclaimable 0
nr_slab_unreclaimable 0
nr_isolated_anon 0
nr_isolated_file 0
workingset_nodes 0
workingset_refault_anon 0
workingset_refault_file 0
workingset_activate_anon 0
workingset_activate_file 0
workingset_restore_anon 0
workingset_restore_file 0
workingset_nodereclaim 0
nr_anon_pages 0
nr_mapped 0
nr_file_pages 0
nr_dirty 0
nr_writeback 0
nr_writeback_temp 0
nr_shmem 0
nr_shmem_hugepages 0
nr_shmem_pmdmapped 0
nr_file_hugepages 0
nr_file_pmdmapped 0
nr_anon_transparent_hugepages 0
nr_vmscan_write 0
nr_vmscan_immediate_reclaim 0
nr_dirtied 0
nr_written 0
nr_throttled_written 0
nr_kernel_misc_reclaimable 0
nr_foll_pin_acquired 0
nr_foll_pin_released 0
nr_kernel_stack 0
nr_page_table_pages 0
nr_sec_page_table_pages 0
nr_swapcached 0
pgpromote_success 0
pgpromote_candidate 0
nr_dirty_threshold 207809
nr_dirty_background_threshold 103777
pgpgin 0
pgpgout 0
pswpin 0
pswpout 0
pgalloc_dma 0
pgalloc_dma32 0
pgalloc_normal 0
pgalloc_movable 0
pgalloc_device 0
allocstall_dma 0
allocstall_dma32 0
allocstall_normal 0
allocstall_movable 0
allocstall_device 0
pgskip_dma 0
pgskip_dma32 0
pgskip_normal 0
pgskip_movable 0
pgskip_device 0
pgfree 1048288
pgactivate 0
pgdeactivate 0
pglazyfree 0
pgfault 0
pgmajfault 0
pglazyfreed 0
pgrefill 0
pgreuse 0
pgsteal_kswapd 0
pgsteal_direct 0
pgdemote_kswapd 0
pgdemote_direct 0
pgscan_kswapd 0
pgscan_direct 0
pgscan_direct_throttle 0
pgscan_anon 0
pgscan_file 0
pgsteal_anon 0
pgsteal_file 0
zone_reclaim_failed 0
pginodesteal 0
slabs_scanned 0
kswapd_inodesteal 0
kswapd_low_wmark_hit_quickly 0
kswapd_high_wmark_hit_quickly 0
pageoutrun 0
pgrotated 0
drop_pagecache 0
drop_slab 0
oom_kill 0
numa_pte_updates 0
numa_huge_pte_updates 0
numa_hint_faults 0
numa_hint_faults_local 0
numa_pages_migrated 0
pgmigrate_success 0
pgmigrate_fail 0
thp_migration_success 0
thp_migration_fail 0
thp_migration_split 0
compact_migrate_scanned 0
compact_free_scanned 0
compact_isolated 0
compact_stall 0
compact_fail 0
compact_success 0
compact_daemon_wake 0
compact_daemon_migrate_scanned 0
compact_daemon_free_scanned 0
htlb_buddy_alloc_success 0
htlb_buddy_alloc_fail 0
unevictable_pgs_culled 0
unevictable_pgs_scanned 0
unevictable_pgs_rescued 0
unevictable_pgs_mlocked 0
unevictable_pgs_munlocked 0
unevictable_pgs_cleared 0
unevictable_pgs_stranded 0
thp_fault_alloc 0
thp_fault_fallback 0
thp_fault_fallback_charge 0
thp_collapse_alloc 0
thp_collapse_alloc_failed 0
thp_file_alloc 0
thp_file_fallback 0
thp_file_fallback_charge 0
thp_file_mapped 0
thp_split_page 0
thp_split_page_failed 0
thp_deferred_split_page 0
thp_split_pmd 0
thp_scan_exceed_none_pte 0
thp_scan_exceed_swap_pte 0
thp_scan_exceed_share_pte 0
thp_split_pud 0
thp_zero_page_alloc 0
thp_zero_page_alloc_failed 0
thp_swpout 0
thp_swpout_fallback 0
balloon_inflate 0
balloon_deflate 0
balloon_migrate 0
swap_ra 0
swap_ra_hit 0
ksm_swpin_copy 0
cow_ksm 0
zswpin 0
zswpout 0
direct_map_level2_splits 0
direct_map_level3_splits 0
nr_unstable 0
)txt");
}

TEST_CASE("x86_64 4 GiB after boot: /proc/meminfo") {
    machine_under_test m(pc_memblock(4 * GiB));
    // MemTotal 1048288 pages = 4193152 kB, all free. MemAvailable = 1048288 - 8990 = 1039298
    // pages = 4157192 kB. CommitLimit = 1048288 / 2 = 524144 pages = 2096576 kB.
    // The extras are the platform's: 4-level VMALLOC_TOTAL, and a direct map of 4 KiB pages
    // below 2 MiB and above 0xbfe00000 (512 + 480 = 992), 2 MiB pages up to 1 GiB and from 2 GiB
    // (511 + 511) and 1 GiB pages for [1 GiB, 2 GiB) and [4 GiB, 5 GiB).
    meminfo_extras extras;
    extras.vmalloc_total_kb = x86_64_vmalloc_total_kb;
    extras.direct_map_4k = 992;
    extras.direct_map_large = 1022;
    extras.direct_map_1g = 2;
    extras.direct_gbpages = true;
    CHECK(si_mem_available(m.alloc) == 1039298);
    CHECK(proc_meminfo(m.alloc, extras) == R"txt(MemTotal:        4193152 kB
MemFree:         4193152 kB
MemAvailable:    4157192 kB
Buffers:               0 kB
Cached:                0 kB
SwapCached:            0 kB
Active:                0 kB
Inactive:              0 kB
Active(anon):          0 kB
Inactive(anon):        0 kB
Active(file):          0 kB
Inactive(file):        0 kB
Unevictable:           0 kB
Mlocked:               0 kB
SwapTotal:             0 kB
SwapFree:              0 kB
Zswap:                 0 kB
Zswapped:              0 kB
Dirty:                 0 kB
Writeback:             0 kB
AnonPages:             0 kB
Mapped:                0 kB
Shmem:                 0 kB
KReclaimable:          0 kB
Slab:                  0 kB
SReclaimable:          0 kB
SUnreclaim:            0 kB
KernelStack:           0 kB
PageTables:            0 kB
SecPageTables:         0 kB
NFS_Unstable:          0 kB
Bounce:                0 kB
WritebackTmp:          0 kB
CommitLimit:     2096576 kB
Committed_AS:          0 kB
VmallocTotal:   34359738367 kB
VmallocUsed:           0 kB
VmallocChunk:          0 kB
Percpu:                0 kB
HardwareCorrupted:     0 kB
AnonHugePages:         0 kB
ShmemHugePages:        0 kB
ShmemPmdMapped:        0 kB
FileHugePages:         0 kB
FilePmdMapped:         0 kB
HugePages_Total:       0
HugePages_Free:        0
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       2048 kB
Hugetlb:               0 kB
DirectMap4k:        3968 kB
DirectMap2M:     2093056 kB
DirectMap1G:     2097152 kB
)txt");
}

// i386, 2 GiB (3G/1G split): DMA 1..4096 (managed 3840), Normal 4096..max_low_pfn 0x36ffe
// (221182 pages), HighMem 0x36ffe..0x7ffe0 (298978 pages). lowmem = 225022 pages:
// min_free_kbytes = int_sqrt(225022 * 64) = 3794, pages_min = 948.

TEST_CASE("i386 2 GiB after boot: buddyinfo, pagetypeinfo and zoneinfo with HighMem") {
    machine_under_test m(pc_memblock(2 * GiB), i386_config());
    // One line of the file per line here.
    // clang-format off
    CHECK(proc_buddyinfo(m.alloc) ==
          "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n"
          "Node 0, zone   Normal      0      1      1      1      1      1      1      1      1      1    215 \n"
          "Node 0, zone  HighMem      0      1      0      0      0      1      1      1      1      1    291 \n");
    // clang-format on
    // 1024-page blocks, FLATMEM (every pfn below max_pfn has a struct page): DMA 1, 1025, 2049,
    // 3073 (4); Normal ceil(221182 / 1024) = 216; HighMem ceil(298978 / 1024) = 292.
    // One line of the file per line here.
    // clang-format off
    CHECK(proc_pagetypeinfo(m.alloc, m.blocks) ==
          "Page block order: 10\n"
          "Pages per block:  1024\n"
          "\n"
          "Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10 \n"
          "Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0      0      0      1      1      0 \n"
          "Node    0, zone      DMA, type      Movable      0      0      0      0      0      0      0      0      0      0      3 \n"
          "Node    0, zone      DMA, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone      DMA, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone      DMA, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone   Normal, type    Unmovable      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone   Normal, type      Movable      0      1      1      1      1      1      1      1      1      1    215 \n"
          "Node    0, zone   Normal, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone   Normal, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone   Normal, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone  HighMem, type    Unmovable      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone  HighMem, type      Movable      0      1      0      0      0      1      1      1      1      1    291 \n"
          "Node    0, zone  HighMem, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone  HighMem, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone  HighMem, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 \n"
          "\n"
          "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate \n"
          "Node 0, zone      DMA            1            3            0            0            0 \n"
          "Node 0, zone   Normal            0          216            0            0            0 \n"
          "Node 0, zone  HighMem            0          292            0            0            0 \n");
    // clang-format on
    // DMA share 948 * 3840 / 225022 = 16, gap max(4, 3) = 4: 16/20/24. Normal share 931, gap
    // max(232, 221) = 232: 931/1163/1395. HighMem: min clamp(298978 / 1024, 32, 128) = 128 but
    // the gap comes from its share 1259: max(314, 298) = 314: 128/442/756.
    // protection: DMA (0, 221182 / 256, 520160 / 256, same) = (0, 863, 2031, 2031); Normal
    // (0, 0, 298978 / 32, same) = 9343. Thresholds: Normal fls(6) = 3 -> 8, HighMem fls(9) = 4 -> 10.
    // No CONFIG_NUMA: no numa_* counters and no per-node pgpromote_* items.
    CHECK(proc_zoneinfo(m.alloc) == R"txt(Node 0, zone      DMA
  per-node stats
      nr_inactive_anon 0
      nr_active_anon 0
      nr_inactive_file 0
      nr_active_file 0
      nr_unevictable 0
      nr_slab_reclaimable 0
      nr_slab_unreclaimable 0
      nr_isolated_anon 0
      nr_isolated_file 0
      workingset_nodes 0
      workingset_refault_anon 0
      workingset_refault_file 0
      workingset_activate_anon 0
      workingset_activate_file 0
      workingset_restore_anon 0
      workingset_restore_file 0
      workingset_nodereclaim 0
      nr_anon_pages 0
      nr_mapped    0
      nr_file_pages 0
      nr_dirty     0
      nr_writeback 0
      nr_writeback_temp 0
      nr_shmem     0
      nr_shmem_hugepages 0
      nr_shmem_pmdmapped 0
      nr_file_hugepages 0
      nr_file_pmdmapped 0
      nr_anon_transparent_hugepages 0
      nr_vmscan_write 0
      nr_vmscan_immediate_reclaim 0
      nr_dirtied   0
      nr_written   0
      nr_throttled_written 0
      nr_kernel_misc_reclaimable 0
      nr_foll_pin_acquired 0
      nr_foll_pin_released 0
      nr_kernel_stack 0
      nr_page_table_pages 0
      nr_sec_page_table_pages 0
      nr_swapcached 0
  pages free     3840
        boost    0
        min      16
        low      20
        high     24
        spanned  4095
        present  3998
        managed  3840
        cma      0
        protection: (0, 863, 2031, 2031)
      nr_free_pages 3840
      nr_zone_inactive_anon 0
      nr_zone_active_anon 0
      nr_zone_inactive_file 0
      nr_zone_active_file 0
      nr_zone_unevictable 0
      nr_zone_write_pending 0
      nr_mlock     0
      nr_bounce    0
      nr_zspages   0
      nr_free_cma  0
  pagesets
    cpu: 0
              count: 0
              high:  20
              batch: 1
  vm stats threshold: 2
  node_unreclaimable:  0
  start_pfn:           1
Node 0, zone   Normal
  pages free     221182
        boost    0
        min      931
        low      1163
        high     1395
        spanned  221182
        present  221182
        managed  221182
        cma      0
        protection: (0, 0, 9343, 9343)
      nr_free_pages 221182
      nr_zone_inactive_anon 0
      nr_zone_active_anon 0
      nr_zone_inactive_file 0
      nr_zone_active_file 0
      nr_zone_unevictable 0
      nr_zone_write_pending 0
      nr_mlock     0
      nr_bounce    0
      nr_zspages   0
      nr_free_cma  0
  pagesets
    cpu: 0
              count: 0
              high:  1163
              batch: 63
  vm stats threshold: 8
  node_unreclaimable:  0
  start_pfn:           4096
Node 0, zone  HighMem
  pages free     298978
        boost    0
        min      128
        low      442
        high     756
        spanned  298978
        present  298978
        managed  298978
        cma      0
        protection: (0, 0, 0, 0)
      nr_free_pages 298978
      nr_zone_inactive_anon 0
      nr_zone_active_anon 0
      nr_zone_inactive_file 0
      nr_zone_active_file 0
      nr_zone_unevictable 0
      nr_zone_write_pending 0
      nr_mlock     0
      nr_bounce    0
      nr_zspages   0
      nr_free_cma  0
  pagesets
    cpu: 0
              count: 0
              high:  442
              batch: 63
  vm stats threshold: 10
  node_unreclaimable:  0
  start_pfn:           225278
Node 0, zone  Movable
  pages free     0
        boost    0
        min      32
        low      32
        high     32
        spanned  0
        present  0
        managed  0
        cma      0
        protection: (0, 0, 0, 0)
)txt");
}

TEST_CASE("i386 2 GiB after boot: vmstat and meminfo with HighMem") {
    machine_under_test m(pc_memblock(2 * GiB), i386_config());
    // totalreserve = DMA min(2031 + 24, 3840) = 2055 + Normal 9343 + 1395 = 10738 + HighMem 756
    // = 13549. Dirtyable = 524000 - 13549 - HighMem's (298978 - 756) + 1 = 212230 pages:
    // dirty 819 * 212230 / 4096 = 42435, background 409 * 212230 / 4096 = 21191.
    CHECK(totalreserve_pages(m.alloc) == 13549);
    CHECK(proc_vmstat(m.alloc) == R"txt(nr_free_pages 524000
nr_zone_inactive_anon 0
nr_zone_active_anon 0
nr_zone_inactive_file 0
nr_zone_active_file 0
nr_zone_unevictable 0
nr_zone_write_pending 0
nr_mlock 0
nr_bounce 0
nr_zspages 0
nr_free_cma 0
nr_inactive_anon 0
nr_active_anon 0
nr_inactive_file 0
nr_active_file 0
nr_unevictable 0
nr_slab_reclaimable 0
nr_slab_unreclaimable 0
nr_isolated_anon 0
nr_isolated_file 0
workingset_nodes 0
workingset_refault_anon 0
workingset_refault_file 0
workingset_activate_anon 0
workingset_activate_file 0
workingset_restore_anon 0
workingset_restore_file 0
workingset_nodereclaim 0
nr_anon_pages 0
nr_mapped 0
nr_file_pages 0
nr_dirty 0
nr_writeback 0
nr_writeback_temp 0
nr_shmem 0
nr_shmem_hugepages 0
nr_shmem_pmdmapped 0
nr_file_hugepages 0
nr_file_pmdmapped 0
nr_anon_transparent_hugepages 0
nr_vmscan_write 0
nr_vmscan_immediate_reclaim 0
nr_dirtied 0
nr_written 0
nr_throttled_written 0
nr_kernel_misc_reclaimable 0
nr_foll_pin_acquired 0
nr_foll_pin_released 0
nr_kernel_stack 0
nr_page_table_pages 0
nr_sec_page_table_pages 0
nr_swapcached 0
nr_dirty_threshold 42435
nr_dirty_background_threshold 21191
pgpgin 0
pgpgout 0
pswpin 0
pswpout 0
pgalloc_dma 0
pgalloc_normal 0
pgalloc_high 0
pgalloc_movable 0
allocstall_dma 0
allocstall_normal 0
allocstall_high 0
allocstall_movable 0
pgskip_dma 0
pgskip_normal 0
pgskip_high 0
pgskip_movable 0
pgfree 524000
pgactivate 0
pgdeactivate 0
pglazyfree 0
pgfault 0
pgmajfault 0
pglazyfreed 0
pgrefill 0
pgreuse 0
pgsteal_kswapd 0
pgsteal_direct 0
pgdemote_kswapd 0
pgdemote_direct 0
pgscan_kswapd 0
pgscan_direct 0
pgscan_direct_throttle 0
pgscan_anon 0
pgscan_file 0
pgsteal_anon 0
pgsteal_file 0
pginodesteal 0
slabs_scanned 0
kswapd_inodesteal 0
kswapd_low_wmark_hit_quickly 0
kswapd_high_wmark_hit_quickly 0
pageoutrun 0
pgrotated 0
drop_pagecache 0
drop_slab 0
oom_kill 0
pgmigrate_success 0
pgmigrate_fail 0
thp_migration_success 0
thp_migration_fail 0
thp_migration_split 0
compact_migrate_scanned 0
compact_free_scanned 0
compact_isolated 0
compact_stall 0
compact_fail 0
compact_success 0
compact_daemon_wake 0
compact_daemon_migrate_scanned 0
compact_daemon_free_scanned 0
htlb_buddy_alloc_success 0
htlb_buddy_alloc_fail 0
unevictable_pgs_culled 0
unevictable_pgs_scanned 0
unevictable_pgs_rescued 0
unevictable_pgs_mlocked 0
unevictable_pgs_munlocked 0
unevictable_pgs_cleared 0
unevictable_pgs_stranded 0
thp_fault_alloc 0
thp_fault_fallback 0
thp_fault_fallback_charge 0
thp_collapse_alloc 0
thp_collapse_alloc_failed 0
thp_file_alloc 0
thp_file_fallback 0
thp_file_fallback_charge 0
thp_file_mapped 0
thp_split_page 0
thp_split_page_failed 0
thp_deferred_split_page 0
thp_split_pmd 0
thp_scan_exceed_none_pte 0
thp_scan_exceed_swap_pte 0
thp_scan_exceed_share_pte 0
thp_zero_page_alloc 0
thp_zero_page_alloc_failed 0
thp_swpout 0
thp_swpout_fallback 0
balloon_inflate 0
balloon_deflate 0
balloon_migrate 0
swap_ra 0
swap_ra_hit 0
ksm_swpin_copy 0
cow_ksm 0
zswpin 0
zswpout 0
direct_map_level2_splits 0
direct_map_level3_splits 0
nr_unstable 0
)txt");
    // MemTotal 524000 pages = 2096000 kB; MemAvailable (524000 - 13549) * 4 = 2041804 kB;
    // HighTotal 298978 * 4 = 1195912 kB, LowTotal 225022 * 4 = 900088 kB; 4 MiB huge pages and
    // DirectMap4M without PAE.
    CHECK(proc_meminfo(m.alloc) == R"txt(MemTotal:        2096000 kB
MemFree:         2096000 kB
MemAvailable:    2041804 kB
Buffers:               0 kB
Cached:                0 kB
SwapCached:            0 kB
Active:                0 kB
Inactive:              0 kB
Active(anon):          0 kB
Inactive(anon):        0 kB
Active(file):          0 kB
Inactive(file):        0 kB
Unevictable:           0 kB
Mlocked:               0 kB
HighTotal:       1195912 kB
HighFree:        1195912 kB
LowTotal:         900088 kB
LowFree:          900088 kB
SwapTotal:             0 kB
SwapFree:              0 kB
Zswap:                 0 kB
Zswapped:              0 kB
Dirty:                 0 kB
Writeback:             0 kB
AnonPages:             0 kB
Mapped:                0 kB
Shmem:                 0 kB
KReclaimable:          0 kB
Slab:                  0 kB
SReclaimable:          0 kB
SUnreclaim:            0 kB
KernelStack:           0 kB
PageTables:            0 kB
SecPageTables:         0 kB
NFS_Unstable:          0 kB
Bounce:                0 kB
WritebackTmp:          0 kB
CommitLimit:     1048000 kB
Committed_AS:          0 kB
VmallocTotal:          0 kB
VmallocUsed:           0 kB
VmallocChunk:          0 kB
Percpu:                0 kB
HardwareCorrupted:     0 kB
AnonHugePages:         0 kB
ShmemHugePages:        0 kB
ShmemPmdMapped:        0 kB
FileHugePages:         0 kB
FilePmdMapped:         0 kB
HugePages_Total:       0
HugePages_Free:        0
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       4096 kB
Hugetlb:               0 kB
DirectMap4k:           0 kB
DirectMap4M:           0 kB
)txt");
}

TEST_CASE("after a few allocations the files count what changed, per-CPU pages not free") {
    machine_under_test m(pc_memblock(4 * GiB));
    // One GFP_DMA page (split from the order-8 block at 0x100, in DMA's first pageblock, which
    // is Unmovable as pfn 0 is no RAM) freed back to the per-CPU list; an order-3 GFP_KERNEL block from
    // Normal and an order-2 GFP_DMA32 one (each steals an order-10 block: two more Unmovable
    // pageblocks each); one movable page from Normal, which fills the per-CPU list with a batch
    // of 63 (62 stay there).
    page* dma = m.alloc.alloc_pages(GFP_DMA, 0);
    REQUIRE(m.alloc.alloc_pages(GFP_KERNEL, 3) != nullptr);
    REQUIRE(m.alloc.alloc_pages(GFP_DMA32, 2) != nullptr);
    REQUIRE(m.alloc.alloc_pages(GFP_HIGHUSER_MOVABLE, 0) != nullptr);
    m.alloc.__free_pages(dma, 0);

    // Normal: 1024 - 63 pages of the movable block left as orders 9, 8, 7, 6 and one page.
    // One line of the file per line here.
    // clang-format off
    CHECK(proc_buddyinfo(m.alloc) ==
          "Node 0, zone      DMA      1      1      1      1      1      1      1      1      0      1      3 \n"
          "Node 0, zone    DMA32      0      0      1      1      1      2      2      2      2      2    762 \n"
          "Node 0, zone   Normal      1      0      0      1      1      1      2      2      2      2    254 \n");
    // clang-format on
    // One line of the file per line here.
    // clang-format off
    CHECK(proc_pagetypeinfo(m.alloc, m.blocks) ==
          "Page block order: 9\n"
          "Pages per block:  512\n"
          "\n"
          "Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10 \n"
          "Node    0, zone      DMA, type    Unmovable      1      1      1      1      1      1      1      1      0      0      0 \n"
          "Node    0, zone      DMA, type      Movable      0      0      0      0      0      0      0      0      0      1      3 \n"
          "Node    0, zone      DMA, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone      DMA, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone      DMA, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone    DMA32, type    Unmovable      0      0      1      1      1      1      1      1      1      1      0 \n"
          "Node    0, zone    DMA32, type      Movable      0      0      0      0      0      1      1      1      1      1    762 \n"
          "Node    0, zone    DMA32, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone    DMA32, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone    DMA32, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone   Normal, type    Unmovable      0      0      0      1      1      1      1      1      1      1      0 \n"
          "Node    0, zone   Normal, type      Movable      1      0      0      0      0      0      1      1      1      1    254 \n"
          "Node    0, zone   Normal, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone   Normal, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 \n"
          "Node    0, zone   Normal, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 \n"
          "\n"
          "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate \n"
          "Node 0, zone      DMA            1            7            0            0            0 \n"
          "Node 0, zone    DMA32            2         1526            0            0            0 \n"
          "Node 0, zone   Normal            2          510            0            0            0 \n");
    // clang-format on

    // Free: DMA 3840 - 1 (on the per-CPU list), DMA32 782304 - 4, Normal 262144 - 8 - 63
    // = 3839 + 782300 + 262073 = 1048212.
    std::string zoneinfo = proc_zoneinfo(m.alloc);
    CHECK(zoneinfo.find("Node 0, zone      DMA\n") != std::string::npos);
    CHECK(zoneinfo.find("  pages free     3839\n") != std::string::npos);
    CHECK(zoneinfo.find("  pages free     782300\n") != std::string::npos);
    CHECK(zoneinfo.find("  pages free     262073\n") != std::string::npos);
    CHECK(zoneinfo.find("    cpu: 0\n              count: 1\n              high:  10\n") !=
          std::string::npos);
    CHECK(zoneinfo.find("    cpu: 0\n              count: 62\n              high:  773\n") !=
          std::string::npos);

    std::string vmstat = proc_vmstat(m.alloc);
    CHECK(vmstat.starts_with("nr_free_pages 1048212\n"));
    CHECK(vmstat.find("\npgalloc_dma 1\npgalloc_dma32 4\npgalloc_normal 9\npgalloc_movable 0\n") !=
          std::string::npos);
    // Boot freed 1048288 pages into the buddy lists (__free_pages_ok counts them), then one more.
    CHECK(line_of(vmstat, "pgfree ") == "pgfree 1048289");
    // Dirtyable 1048212 - 8990 + 1 = 1039223: 819 * 1039223 / 4096 = 207793; 409 * ... = 103770.
    CHECK(line_of(vmstat, "nr_dirty_threshold ") == "nr_dirty_threshold 207793");
    CHECK(line_of(vmstat, "nr_dirty_background_threshold ") == "nr_dirty_background_threshold 103770");

    // MemFree leaves out the 63 per-CPU pages, as NR_FREE_PAGES does: 1048212 * 4 kB.
    std::string meminfo = proc_meminfo(m.alloc);
    CHECK(line_of(meminfo, "MemFree:") == "MemFree:         4192848 kB");
    CHECK(line_of(meminfo, "MemAvailable:") == "MemAvailable:    4156888 kB");  // (1048212 - 8990) * 4
    CHECK(line_of(meminfo, "MemTotal:") == "MemTotal:        4193152 kB");
}

TEST_CASE("i386: a GFP_HIGHUSER page counts in pgalloc_high and HighFree") {
    machine_under_test m(pc_memblock(2 * GiB), i386_config());
    REQUIRE(m.alloc.alloc_pages(GFP_HIGHUSER, 0) != nullptr);
    // A batch of 63 leaves HighMem's free lists for the per-CPU list: 298978 - 63 = 298915.
    CHECK(line_of(proc_vmstat(m.alloc), "pgalloc_high ") == "pgalloc_high 1");
    std::string meminfo = proc_meminfo(m.alloc);
    CHECK(line_of(meminfo, "HighFree:") == "HighFree:        1195660 kB");
    CHECK(line_of(meminfo, "LowFree:") == "LowFree:          900088 kB");
    CHECK(line_of(meminfo, "MemFree:") == "MemFree:         2095748 kB");
}

TEST_CASE("pagetypeinfo stops counting a free list at 100000 and marks it with '>'") {
    machine_under_test m(pc_memblock(64 * MiB));
    // Only the count is read: set it as a list that long would leave it.
    page_list& list = m.zone_named(zone_type::dma32).area[0].free_list[MIGRATE_MOVABLE];
    const std::uint64_t real = list.count;
    list.count = 123456;
    std::string text = proc_pagetypeinfo(m.alloc, m.blocks);
    CHECK(line_of(text, "Node    0, zone    DMA32, type      Movable ")
              .starts_with("Node    0, zone    DMA32, type      Movable >100000      "));
    list.count = 99999;
    text = proc_pagetypeinfo(m.alloc, m.blocks);
    CHECK(line_of(text, "Node    0, zone    DMA32, type      Movable ")
              .starts_with("Node    0, zone    DMA32, type      Movable  99999      "));
    list.count = real;
}

}  // namespace memsim::kernel
