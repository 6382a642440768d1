// The `memsim` command as a user meets it: the default run, its outputs, determinism, and one
// clear line with exit status 2 for every bad input, with nothing written.
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "tests/platform/memsim_command.h"

namespace {

namespace fs = std::filesystem;
using memsim::testing::outcome;
using memsim::testing::scratch;
using memsim::testing::slurp;

std::string fmt_args(const char* profile, const fs::path& work, const fs::path& out) {
    return std::string("run --set profile=") + profile + " --set ram.size=2GiB --workload " + work.string() +
           " --out " + out.string();
}

}  // namespace

TEST_CASE("memsim --version names the program and its version") {
    scratch s;
    outcome o = s.memsim("--version");
    CHECK(o.status == 0);
    CHECK(o.out == "memsim 0.1.0\n");
}

TEST_CASE("memsim run with no options runs the built-in processes and a driver's DMA, and passes") {
    scratch s;
    outcome o = s.memsim("run");
    CHECK(o.status == 0);
    CHECK(o.err.empty());
    CHECK(o.out.find("machine: x86_64, 4 GiB RAM") != std::string::npos);
    CHECK(o.out.find("workload traces/samples/default.txt: ") != std::string::npos);
    CHECK(o.out.find("processes: 3 (2 exited, 1 killed by SIGSEGV, 0 by the OOM killer, 0 still running)") !=
          std::string::npos);
    for (const char* kind : {"zero_page", "anonymous", "cow_copy", "cow_reuse", "shmem"})
        CHECK(o.out.find(std::string("\n  ") + kind + " ") != std::string::npos);
    CHECK(o.out.find("coherent: 2 allocated (by zone: DMA 2), 0 failed, 0 retried lower, 0 live (0 B)") !=
          std::string::npos);
    CHECK(
        o.out.find("streaming: 1 mapped (1 bounced), 0 mapping errors; bounce copies 64 KiB to the device") !=
        std::string::npos);
    CHECK(o.out.find("transfers: 1 (0 failed), 16 KiB moved") != std::string::npos);
    CHECK(o.out.find("transfers: 1 (0 failed), 64 KiB moved") != std::string::npos);
    CHECK(o.out.find("0.DMA 3840 -> 3840 -> 3840 0.DMA32 758126 -> 758126 -> 758126 0.Normal 245497 -> "
                     "245497 -> 245497") != std::string::npos);
}

TEST_CASE("memsim run --out writes stats, log and config, the same bytes every time") {
    scratch s;
    REQUIRE(s.memsim("run --out " + (s.dir / "a").string()).status == 0);
    REQUIRE(s.memsim("run --out " + (s.dir / "b").string()).status == 0);
    for (const char* name : {"stats.json", "stats.txt", "dmesg.log", "config.yaml"}) {
        CAPTURE(name);
        CHECK(!slurp(s.dir / "a" / name).empty());
        CHECK(slurp(s.dir / "a" / name) == slurp(s.dir / "b" / name));
    }
    CHECK(slurp(s.dir / "a" / "stats.json").find("\"bounced_maps\": 1") != std::string::npos);  // pci_dma's
    CHECK(slurp(s.dir / "a" / "stats.txt").find("kernel.dma.pci_dma.bounced_maps") != std::string::npos);
    CHECK(slurp(s.dir / "a" / "dmesg.log")
              .find("software IO TLB: mapped [mem 0x00000000bbfe0000-0x00000000bffe0000] (64MB)") !=
          std::string::npos);
}

TEST_CASE("memsim run --out writes the kernel's /proc files after the run") {
    scratch s;
    REQUIRE(s.memsim("run --out " + (s.dir / "a").string()).status == 0);
    for (const char* name : {"buddyinfo", "iomem", "meminfo", "pagetypeinfo", "vmstat", "zoneinfo"}) {
        CAPTURE(name);
        CHECK(!slurp(s.dir / "a" / "proc" / name).empty());
    }
    CHECK(slurp(s.dir / "a" / "proc" / "zoneinfo").starts_with("Node 0, zone      DMA\n  per-node stats\n"));
    CHECK(slurp(s.dir / "a" / "proc" / "iomem").find("fe000000-fe000fff : isa_dma\n") != std::string::npos);
    std::string dmesg = slurp(s.dir / "a" / "dmesg.log");
    // The default machine has 1 GiB above 4 GiB: the swiotlb pool (64 MiB, its slot array and
    // area array, 16577 pages = 66308K) is reserved at boot, 4093488K - 66308K.
    CHECK(dmesg.find("] Memory: 4027180K/4193784K available") != std::string::npos);
    CHECK(dmesg.find("] software IO TLB: mapped [mem 0x00000000bbfe0000-0x00000000bffe0000] (64MB)\n") !=
          std::string::npos);
    CHECK(slurp(s.dir / "a" / "stats.txt").find("kernel.totalram_pages") != std::string::npos);
}

TEST_CASE("memsim boot prints the boot log; --proc prints one file; both deterministic") {
    scratch s;
    outcome boot = s.memsim("boot");
    CHECK(boot.status == 0);
    CHECK(boot.err.empty());
    CHECK(boot.out.find("] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n") !=
          std::string::npos);
    CHECK(boot.out.find("]   DMA32    [mem 0x0000000001000000-0x00000000ffffffff]\n") != std::string::npos);
    CHECK(boot.out == s.memsim("boot").out);
    outcome buddy = s.memsim("boot --proc buddyinfo --set ram.size=2GiB --set profile=i386");
    CHECK(buddy.status == 0);
    CHECK(buddy.out.starts_with("Node 0, zone      DMA "));
    CHECK(buddy.out.find("Node 0, zone  HighMem ") != std::string::npos);
    CHECK(s.error_of("boot --proc cpuinfo") ==
          "memsim: error: --proc: no /proc file 'cpuinfo' (one of buddyinfo, iomem, meminfo, pagetypeinfo, "
          "slabinfo, vmallocinfo, vmstat, zoneinfo)\n");
}

TEST_CASE("a workload with kernel operations runs on the booted kernel, through its page tables") {
    scratch s;
    fs::path work = s.write("k.txt",
                            "memsim workload 1\n"
                            "alloc_pages buf 1 GFP_DMA|__GFP_ZERO\n"
                            "write buf+0x1ff8 8 0x1122334455667788\n"
                            "read buf+0x1ff8 8\n"
                            "free_pages buf\n");
    outcome o = s.memsim("run --workload " + work.string() + " --out " + (s.dir / "out").string());
    CHECK(o.status == 0);
    CHECK(o.out.find("kernel: booted; Memory: ") != std::string::npos);
    CHECK(o.out.find(": 4 of 4 operations\n") != std::string::npos);
    std::string vmstat = slurp(s.dir / "out" / "proc" / "vmstat");
    CHECK(vmstat.find("\npgalloc_dma 2\n") != std::string::npos);
    // An access through a NULL handle (HighMem pages have no address) is a kernel oops.
    fs::path oops = s.write("oops.txt", "memsim workload 1\nalloc_pages h 0 GFP_HIGHUSER\nread h+8 8\n");
    outcome bad = s.memsim("run --set profile=i386 --set ram.size=2GiB --workload " + oops.string());
    CHECK(bad.status == 0);
    CHECK(bad.out.find(
              "stopped by a page fault at 0x8 (error 0x0: not present, read, supervisor) in operation 2 "
              "(read 0x8 8): a kernel oops") != std::string::npos);
}

TEST_CASE("vmalloc and kmap from a workload: memory the CPU reaches through the kernel's page tables") {
    scratch s;
    fs::path work = s.write("v.txt",
                            "memsim workload 1\n"
                            "vmalloc v 16384\n"
                            "write v+0x3000 8 0x42\n"
                            "alloc_pages hp 0 GFP_HIGHUSER\n"
                            "kmap m hp\n"
                            "write m+16 8 0x77\n"
                            "read m+16 8\n"
                            "kunmap m\n");
    for (const char* profile : {"x86_64", "i386"}) {
        CAPTURE(profile);
        fs::path out = s.dir / profile;
        outcome o = s.memsim(fmt_args(profile, work, out));
        CHECK(o.status == 0);
        CHECK(o.out.find(": 7 of 7 operations\n") != std::string::npos);
        // The area is still there at the end: 4 pages and the guard page.
        CHECK(slurp(out / "proc" / "vmallocinfo").find(" 20480 vmalloc pages=4 vmalloc") !=
              std::string::npos);
    }
}

TEST_CASE("the guard page after a vmalloc area faults, a kernel oops with the area's next address") {
    scratch s;
    fs::path work = s.write("g.txt", "memsim workload 1\nvmalloc v 4096\nread v+4088 8\nread v+4096 8\n");
    outcome o = s.memsim("run --workload " + work.string());
    CHECK(o.status == 0);
    // The first area starts at VMALLOC_START (0xffffc90000000000 with 4-level paging).
    CHECK(o.out.find(
              "stopped by a page fault at 0xffffc90000001000 (error 0x0: not present, read, supervisor) in "
              "operation 3") != std::string::npos);
}

TEST_CASE("slab operations from a workload: objects in RAM, a double free reported, slabtop and slabinfo") {
    scratch s;
    fs::path work = s.write("s.txt",
                            "memsim workload 1\n"
                            "kmalloc a 18 GFP_KERNEL\n"
                            "write a+16 4 0xdeadbeef\n"
                            "kmem_cache_create my_objects 40 64 0x2000\n"
                            "kmem_cache_alloc o my_objects GFP_KERNEL\n"
                            "write o 8 0x1122\n"
                            "kfree a\n"
                            "kfree a\n");
    outcome o = s.memsim("run --workload " + work.string() + " --out " + (s.dir / "out").string());
    CHECK(o.status == 0);
    CHECK(o.out.find(": 7 of 7 operations\n") != std::string::npos);
    CHECK(o.out.find("kernel: 1 bugs reported (see dmesg.log)\n") != std::string::npos);
    CHECK(o.out.find("  my_objects                  64        64      64        4K\n") != std::string::npos);
    CHECK(slurp(s.dir / "out" / "dmesg.log").find("] BUG kmalloc-32 (Not tainted): Object already free\n") !=
          std::string::npos);
    CHECK(slurp(s.dir / "out" / "proc" / "slabinfo").find("\nmy_objects ") != std::string::npos);
    CHECK(slurp(s.dir / "out" / "stats.txt")
              .find("kernel.bugs                                                     1 ") !=
          std::string::npos);
}

TEST_CASE("a machine too small for its kernel panics at boot: reported, exit status 1") {
    scratch s;
    outcome o = s.memsim("boot --set ram.size=16MiB");
    CHECK(o.status == 1);
    CHECK(o.err.find("memsim: kernel panic: ") == 0);
}

TEST_CASE("memsim config show prints a config that config check accepts") {
    scratch s;
    outcome shown = s.memsim("config show --set ram.size=8GiB");
    REQUIRE(shown.status == 0);
    CHECK(shown.out.find("size: 8 GiB") != std::string::npos);
    fs::path file = s.write("shown.yaml", shown.out);
    outcome checked = s.memsim("config check " + file.string());
    CHECK(checked.status == 0);
    CHECK(checked.out == file.string() + ": ok\n");
    CHECK(s.memsim("config show " + file.string()).out == shown.out);
}

TEST_CASE("every subcommand has --help") {
    scratch s;
    for (const char* args :
         {"--help", "run --help", "config --help", "config check --help", "config show --help"}) {
        CAPTURE(args);
        outcome o = s.memsim(args);
        CHECK(o.status == 0);
        CHECK(o.out.find("Usage:") != std::string::npos);
    }
}

TEST_CASE("bad command lines: one line, exit 2") {
    scratch s;
    CHECK(s.error_of("") == "memsim: error: A subcommand is required\n");
    CHECK(s.error_of("run --bogus") == "memsim: error: The following argument was not expected: --bogus\n");
    CHECK(s.error_of("run --seed -3") ==
          "memsim: error: --seed: '-3' is not an integer from 0 to 18446744073709551615\n");
    CHECK(s.error_of("run --seed 18446744073709551616") ==
          "memsim: error: --seed: '18446744073709551616' is not an integer from 0 to 18446744073709551615\n");
    CHECK(s.error_of("run --set ram.size") == "memsim: error: --set ram.size: expected key.path=value\n");
    CHECK(s.error_of("run --set ram.sise=1G") ==
          "memsim: error: --set ram.sise=1G: unknown key 'sise' in 'ram' (did you mean 'size'?)\n");
    CHECK(s.error_of("run --set ram.size=-1G") ==
          "memsim: error: --set ram.size=-1G: ram.size: must not be negative (got '-1G')\n");
    CHECK(s.error_of("run --config /no/such.yaml") ==
          "memsim: error: /no/such.yaml: cannot open: No such file or directory\n");
    CHECK(s.error_of("config check /no/such.yaml") ==
          "memsim: error: /no/such.yaml: cannot open: No such file or directory\n");
}

TEST_CASE("a machine the host cannot build is an error before anything is written") {
    scratch s;
    fs::path out = s.dir / "out";
    // 256 TiB of RAM is a valid x86_64 machine, but more address space than a host process has.
    CHECK(s.error_of("run --set ram.size=256TiB --out " + out.string()) ==
          "memsim: error: ram: cannot reserve 256 TiB of host address space for the machine's RAM: Cannot "
          "allocate memory\n");
    CHECK_FALSE(fs::exists(out));
}

TEST_CASE("bad config files name file, line and column; nothing is written") {
    scratch s;
    fs::path out = s.dir / "out";
    auto run_with = [&](const std::string& name, const std::string& yaml) {
        fs::path file = s.write(name, yaml);
        std::string line = s.error_of("run --config " + file.string() + " --out " + out.string());
        CHECK_FALSE(fs::exists(out));
        std::string prefix = "memsim: error: " + file.string() + ":";
        REQUIRE(line.rfind(prefix, 0) == 0);
        return line.substr(prefix.size());
    };
    CHECK(run_with("unknown.yaml", "ram:\n  sise: 4 GiB\n") ==
          "2:3: unknown key 'sise' in 'ram' (did you mean 'size'?)\n");
    CHECK(run_with("type.yaml", "ram:\n  latency_cycles: soon\n") ==
          "2:19: ram.latency_cycles: expected an integer, got 'soon'\n");
    CHECK(run_with("zero.yaml", "ram:\n  size: 0\n") == "2:9: ram.size: must be positive (got 0)\n");
    CHECK(run_with("reach.yaml", "devices:\n  - name: d\n    base: 0xfe000000\n    reach_bits: 0\n") ==
          "4:17: devices[0].reach_bits: must be 1..64 (got 0)\n");
    CHECK(run_with("reach65.yaml", "devices:\n  - name: d\n    base: 0xfe000000\n    reach_bits: 65\n") ==
          "4:17: devices[0].reach_bits: must be 1..64 (got 65)\n");
}

TEST_CASE("memsim workload convert: text to binary and back gives the same operations") {
    scratch s;
    fs::path text = s.write(
        "w.txt", "memsim workload 1\npaging long4 at 0x100000\nmap 0x400000 0x200000 4K\nread 0x400000 8\n");
    outcome to_binary = s.memsim("workload convert " + text.string() + " " + (s.dir / "w.bin").string());
    CHECK(to_binary.status == 0);
    CHECK(to_binary.out == (s.dir / "w.bin").string() + ": 9 operations written as binary\n");
    CHECK(slurp(s.dir / "w.bin").rfind("memsimW1", 0) == 0);
    REQUIRE(s.memsim("workload convert " + (s.dir / "w.bin").string() + " " + (s.dir / "back.txt").string())
                .status == 0);
    CHECK(slurp(s.dir / "back.txt") ==
          "memsim workload 1\ncr4 0xa0\nefer 0x900\ncr3 0x100000\ncr0 0x80010001\npoke 0x100000 8 0x101007\n"
          "poke 0x101000 8 0x102007\npoke 0x102010 8 0x103007\npoke 0x103000 8 0x200003\nread 0x400000 8\n");
    fs::path bad = s.write("bad.txt", "memsim workload 1\nread 0x1000 99\n");
    CHECK(s.error_of("workload convert " + bad.string() + " " + (s.dir / "x.bin").string()) ==
          "memsim: error: " + bad.string() + ":2:13: an access is 1 to 64 bytes (got 99)\n");
    CHECK_FALSE(fs::exists(s.dir / "x.bin"));
}

TEST_CASE("memsim run --workload runs it through the TLBs and prints what they saw") {
    scratch s;
    outcome o = s.memsim("run --workload " + std::string(MEMSIM_SOURCE_DIR) +
                         "/traces/samples/paging-long4.txt --out " + (s.dir / "out").string());
    CHECK(o.status == 0);
    CHECK(o.out.find("paging-long4.txt: 24 of 24 operations\n") != std::string::npos);
    CHECK(o.out.find("  l1d_4k               9           2           7   22.22%\n") != std::string::npos);
    CHECK(o.out.find("  walks 5, ") != std::string::npos);
    std::string json = slurp(s.dir / "out" / "stats.json");
    CHECK(json.find("\"l2_stlb\": {") != std::string::npos);
    CHECK(json.find("\"walk_cycles\": {") != std::string::npos);
}

TEST_CASE("memsim run --workload: a fault with no kernel ends the run with a report") {
    scratch s;
    fs::path w = s.write("fault.txt",
                         "memsim workload 1\npaging long4 at 0x100000\nmap 0x400000 0x200000 4K ro\n"
                         "read 0x400000 8\nwrite 0x400010 4 7\nread 0x400000 8\n");
    outcome o = s.memsim("run --workload " + w.string());
    CHECK(o.status == 0);
    CHECK(o.out.find(
              ": 9 of 11 operations, stopped\n  stopped by a page fault at 0x400010 (error 0x3: protection "
              "violation, write, supervisor) in operation 10 (write 0x400010 4 0x7); no kernel to handle "
              "it\n") != std::string::npos);
}

TEST_CASE("memsim run --workload: a bad workload is one line, exit 2, nothing run") {
    scratch s;
    fs::path w = s.write("bad.txt", "memsim workload 1\nread 0x1000 8\njump 0x2000\n");
    CHECK(s.error_of("run --workload " + w.string()) ==
          "memsim: error: " + w.string() + ":3:1: unknown operation 'jump'\n");
    CHECK(s.error_of("run --workload /no/such/workload") ==
          "memsim: error: /no/such/workload: cannot open: No such file or directory\n");
}

namespace {

// A stats.txt counter's value, or -1 when the run did not write it.
long long stat_of(const std::string& stats, const std::string& name) {
    std::size_t at = stats.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stoll(stats.substr(stats.find_first_not_of(' ', at + name.size() + 1)));
}

// Two processes through the CPU: a read of untouched memory maps the zero page, writing it
// copies it, fork shares the pages copy-on-write, the parent writes a page its child already
// copied (reuse), then stores past its area: SIGSEGV, its next operation skipped.
constexpr const char* fork_workload =
    "memsim workload 1\n"
    "process 1\n"
    "mmap buf 0 16K PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS\n"
    "read buf 8\n"
    "write buf 8 1\n"
    "write buf+0x1000 8 2\n"
    "fork 2\n"
    "write buf 8 3\n"
    "process 2\n"
    "write buf+0x1000 8 4\n"
    "process 1\n"
    "write buf+0x1000 8 5\n"
    "write buf+0x4000 8 6\n"
    "read buf 8\n"
    "process 2\n"
    "exit\n"
    "process 0\n";

}  // namespace

TEST_CASE("processes from a workload: demand paging, copy-on-write, SIGSEGV, and every page given back") {
    scratch s;
    fs::path work = s.write("fork.txt", fork_workload);
    struct profile {
        const char* name;
        long long segv_addr;  // 16 KiB below mmap_base: 0x7ffff7fff000 or 0xb8000000
        const char* segfault;
    };
    for (profile p :
         {profile{"x86_64", 0x7ffff7fff000,
                  "task1[1]: segfault at 7ffff7fff000 ip 0000000000000000 sp 00007fffffffe000 error 6"},
          profile{"i386", 0xb8000000, "task1[1]: segfault at b8000000 ip 00000000 sp bffff000 error 6"},
          profile{"i386-pae", 0xb8000000,
                  "task1[1]: segfault at b8000000 ip 00000000 sp bffff000 error 6"}}) {
        CAPTURE(p.name);
        fs::path out = s.dir / p.name;
        outcome o = s.memsim(fmt_args(p.name, work, out));
        REQUIRE(o.status == 0);
        CHECK(o.out.find(
                  "processes: 2 (1 exited, 1 killed by SIGSEGV, 0 by the OOM killer, 0 still running); 4 "
                  "context switches; pgfault 6") != std::string::npos);
        std::string stats = slurp(out / "stats.txt");
        CHECK(stat_of(stats, "kernel.faults.zero_page.cycles::samples") == 1);
        CHECK(stat_of(stats, "kernel.faults.anonymous.cycles::samples") == 1);
        CHECK(stat_of(stats, "kernel.faults.cow_copy.cycles::samples") == 3);
        CHECK(stat_of(stats, "kernel.faults.cow_reuse.cycles::samples") == 1);
        CHECK(stat_of(stats, "cpu.page_faults") == 7);  // the six resolved and the SIGSEGV
        CHECK(stat_of(stats, "cpu.ops_skipped") == 1);
        // Each COW copy invalidates the old translation with INVLPG; fork flushes the parent's PCID.
        CHECK(stat_of(stats, "kernel.tlb.local_flush_one") == 3);
        CHECK(stat_of(stats, "kernel.tlb.local_flush_all") == 1);
        CHECK(stat_of(stats, "kernel.processes.1.min_flt") == 5);
        CHECK(stat_of(stats, "kernel.processes.2.min_flt") == 1);
        CHECK(stat_of(stats, "kernel.processes.1.exit_signal") == 11);
        CHECK(stat_of(stats, "kernel.processes.1.segv_code") == 1);  // SEGV_MAPERR
        CHECK(stat_of(stats, "kernel.processes.1.segv_addr") == p.segv_addr);
        CHECK(stat_of(stats, "kernel.processes.2.exit_signal") == 0);
        CHECK(slurp(out / "dmesg.log").find(p.segfault) != std::string::npos);
        CHECK(slurp(out / "proc" / "vmstat").find("\npgfault 6\n") != std::string::npos);
        // Every page the processes took came back: free counts (per-CPU lists included) as before.
        for (const char* zone : {"dma", "dma32", "normal", "highmem"}) {
            std::string z = std::string("kernel.zones.node0.") + zone;
            CHECK(stat_of(stats, z + ".free_after") == stat_of(stats, z + ".free_before"));
        }
        std::string meminfo = slurp(out / "proc" / "meminfo");
        for (const char* line :
             {"AnonPages:             0 kB", "KernelStack:           0 kB", "PageTables:            0 kB"})
            CHECK(meminfo.find(line) != std::string::npos);
    }
}

TEST_CASE(
    "PCIDs: switching back to a process keeps its TLB entries; with kernel.pcid false CR3 flushes them") {
    scratch s;
    fs::path work = s.write("fork.txt", fork_workload);
    REQUIRE(s.memsim(fmt_args("x86_64", work, s.dir / "pcid")).status == 0);
    REQUIRE(s.memsim(fmt_args("x86_64", work, s.dir / "nopcid") + " --set kernel.pcid=false").status == 0);
    std::string pcid = slurp(s.dir / "pcid" / "stats.txt"), nopcid = slurp(s.dir / "nopcid" / "stats.txt");
    // With PCIDs each process has its own ASID: no CR3 write drops an entry.
    CHECK(stat_of(pcid, "cpu.tlb.l1d_4k.flushes_cr3") == 0);
    CHECK(stat_of(nopcid, "cpu.tlb.l1d_4k.flushes_cr3") > 0);
    CHECK(stat_of(pcid, "kernel.processes.1.min_flt") == stat_of(nopcid, "kernel.processes.1.min_flt"));
}

TEST_CASE("a process's privileged instruction or non-canonical access is SIGSEGV; the run goes on") {
    scratch s;
    fs::path work = s.write("gp.txt",
                            "memsim workload 1\n"
                            "process 1\n"
                            "cr3 0x0\n"        // MOV to CR3 at CPL 3: #GP
                            "read 0x1000 8\n"  // skipped
                            "process 2\n"
                            "read 0x0000800000000000 8\n"  // not canonical: #GP
                            "process 3\n"
                            "mmap a 0 4K PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS\n"
                            "write a 8 1\n"
                            "exit\n"
                            "read a 8\n"  // after exit: skipped, not a kernel access
                            "process 0\n");
    fs::path out = s.dir / "out";
    outcome o = s.memsim("run --workload " + work.string() + " --out " + out.string());
    REQUIRE(o.status == 0);
    CHECK(o.out.find(": 11 of 11 operations\n") != std::string::npos);
    CHECK(o.out.find("processes: 3 (1 exited, 2 killed by SIGSEGV") != std::string::npos);
    std::string stats = slurp(out / "stats.txt");
    CHECK(stat_of(stats, "kernel.processes.1.segv_code") == 0x80);  // SI_KERNEL
    CHECK(stat_of(stats, "kernel.processes.2.segv_code") == 0x80);
    CHECK(stat_of(stats, "kernel.processes.3.exit_signal") == 0);
    CHECK(stat_of(stats, "cpu.ops_skipped") == 2);
    std::string dmesg = slurp(out / "dmesg.log");
    CHECK(dmesg.find("traps: task1[1] general protection fault ip:0 sp:7fffffffe000 error:0 (a privileged "
                     "instruction at CPL 3)") != std::string::npos);
    CHECK(dmesg.find("traps: task2[2] general protection fault") != std::string::npos);
}
