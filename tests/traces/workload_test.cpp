// Workload format v1 as a user writes it (docs/workload-format.md): what each line becomes,
// what a mistake says, and that the text and binary forms carry the same operations.
#include <doctest/doctest.h>

#include "base/error.h"
#include "base/units.h"
#include "kernel_mm/gfp.h"
#include "mmu/paging.h"
#include "traces/workload.h"

using namespace memsim;
using namespace memsim::traces;
using namespace std::string_literals;

namespace {

std::vector<op> ops_of(const std::string& body) {
    return parse_text("memsim workload 1\n" + body, "w.txt").ops;
}

std::string error_of(const std::string& text) {
    try {
        parse_text(text, "w.txt");
    } catch (const user_error& e) {
        return e.message();
    }
    FAIL("no error for: " << text);
    return {};
}

std::string error_of_binary(const std::string& bytes) {
    try {
        parse_binary(bytes, "w.bin");
    } catch (const user_error& e) {
        return e.message();
    }
    return "no error";
}

std::string devices_error(const workload& w, const std::vector<std::string>& known) {
    try {
        check_devices(w, known);
    } catch (const user_error& e) {
        return e.message();
    }
    return "no error";
}

// A DMA error: the line after the header and `kmalloc buf 4096 GFP_KERNEL` (line 3).
std::string dma_error_of(const std::string& line) {
    return error_of("memsim workload 1\nkmalloc buf 4096 GFP_KERNEL\n" + line + "\n");
}

}  // namespace

TEST_CASE("workload text: each line is one operation") {
    std::vector<op> ops = ops_of(
        "# a comment\n"
        "read 0x1000 8\n"
        "w 0x2000 4 0xdeadbeef   # trailing comment\n"
        "x 0x3000 16\n"
        "compute 250\n"
        "cr3 0x5000 pcid 7 noflush\n"
        "cr0 0x80000011\ncr4 0x20\nefer 0x500\n"
        "a20 on\n"
        "poke 0x9000 8 0x1234\n"
        "invlpg 0x7000\n"
        "invpcid 0 7 0x7000\n"
        "r 0xf000:0xfff0 2\n"
        "cpl 3\nac on\n");
    std::vector<op> expected{
        {op_kind::read, 8, 0, -1, 0x1000, 0},
        {op_kind::write, 4, 0, -1, 0x2000, 0xdeadbeef},
        {op_kind::fetch, 16, 0, -1, 0x3000, 0},
        {op_kind::compute, 0, 0, -1, 0, 250},
        {op_kind::cr3, 0, 0, -1, 0, 0x5007 | mmu::cr3::no_flush},
        {op_kind::cr0, 0, 0, -1, 0, 0x80000011},
        {op_kind::cr4, 0, 0, -1, 0, 0x20},
        {op_kind::efer, 0, 0, -1, 0, 0x500},
        {op_kind::a20, 0, 0, -1, 0, 1},
        {op_kind::poke, 8, 0, -1, 0x9000, 0x1234},
        {op_kind::invlpg, 0, 0, -1, 0x7000, 0},
        {op_kind::invpcid, 0, 0, -1, 0x7000, 7},
        {op_kind::read, 2, 0, 0xf000, 0xfff0, 0},
        {op_kind::cpl, 0, 0, -1, 0, 3},
        {op_kind::ac, 0, 0, -1, 0, 1},
    };
    CHECK(ops == expected);
}

TEST_CASE("workload text: mistakes name file, line and column") {
    CHECK(error_of("read 0x1000 8\n") == "w.txt:1:1: expected the header 'memsim workload 1'");
    CHECK(error_of("# nothing\n") == "w.txt:1: no 'memsim workload 1' header");
    CHECK(error_of("memsim workload 12\n") == "w.txt:1:1: expected the header 'memsim workload 1'");
    CHECK(parse_text("memsim workload 1\r\nread 0x10 8\r\n", "crlf.txt").ops.size() == 1);
    CHECK(error_of("memsim workload 1\nfly 0x10\n") == "w.txt:2:1: unknown operation 'fly'");
    CHECK(error_of("memsim workload 1\nread 0x1000 0\n") == "w.txt:2:13: an access is 1 to 64 bytes (got 0)");
    CHECK(error_of("memsim workload 1\nread 0x1000 65\n") ==
          "w.txt:2:13: an access is 1 to 64 bytes (got 65)");
    CHECK(error_of("memsim workload 1\nread 0x10zz 8\n") == "w.txt:2:6: expected a number, got '0x10zz'");
    CHECK(error_of("memsim workload 1\nread 0x1000\n") == "w.txt:2:6: 'read' needs more operands");
    CHECK(error_of("memsim workload 1\nread 0x1000 8 9\n") == "w.txt:2:15: unexpected '9'");
    CHECK(error_of("memsim workload 1\nr 0x10000:0 2\n") == "w.txt:2:3: 0x10000 is more than 65535");
    CHECK(error_of("memsim workload 1\ncr3 0x1000 pcid 4096\n") == "w.txt:2:17: 4096 is more than 4095");
    CHECK(error_of("memsim workload 1\npoke 0x1000 3 1\n") == "w.txt:2:13: a poke stores 1, 2, 4 or 8 bytes");
    CHECK(error_of("memsim workload 1\nmap 0x1000 0x1000 4K\n") ==
          "w.txt:2:1: 'map' needs a 'paging MODE at PHYSICAL' line before it");
    CHECK(error_of("memsim workload 1\npaging long4 at 0x100000\nmap 0x1000 0x1000 4M\n") ==
          "w.txt:3:5: this paging mode has no pages of that size");
    CHECK(error_of("memsim workload 1\npaging long4 at 0x100000\nmap 0x1000 0x1800 4K\n") ==
          "w.txt:3:5: address not aligned to the page size");
    CHECK(error_of("memsim workload 1\npaging long4 at 0x100000\nmap 0x1000 0x1000 4K rx\n") ==
          "w.txt:3:22: 'rx' is not one of ro, user, nx, global");
    CHECK(error_of("memsim workload 1\npaging long6 at 0x100000\n") ==
          "w.txt:2:8: 'long6' is not one of bits32, pae, long4, long5");
}

TEST_CASE("workload: text and binary forms carry the same operations") {
    workload w = parse_text(
        "memsim workload 1\n"
        "paging long4 at 0x100000\n"
        "map 0x400000 0x200000 4K user nx\n"
        "write 0x400008 8 0xffffffffffffffff\n"
        "cr3 0x100000 pcid 3 noflush\n"
        "r 0xffff:0x10 2\n"
        "compute 1000000000000\n"
        "cpl 3\nac off\n",
        "w.txt");
    workload again = parse_text(to_text(w), "again.txt");
    CHECK(again.ops == w.ops);
    std::string binary = to_binary(w);
    CHECK(is_binary(binary));
    CHECK(parse_binary(binary, "w.bin").ops == w.ops);
}

TEST_CASE("workload binary: a damaged file is an error, not a crash") {
    std::string good = to_binary(workload{"w", {{op_kind::read, 8, 0, -1, 0x1000, 0}}});
    CHECK(error_of_binary("memsimW9") ==
          "w.bin: byte 0: not a memsim binary workload (no 'memsimW1', 'memsimW2' or 'memsimW3' magic)");
    CHECK(error_of_binary(good.substr(0, good.size() - 1)) ==
          "w.bin: byte 13: the trace ends inside an operation");
    std::string bad_kind = good;
    bad_kind[8] = 42;
    CHECK(error_of_binary(bad_kind) == "w.bin: byte 9: unknown operation kind 42");
    auto one_op = [](traces::op o) { return to_binary(workload{"w", {o}}); };
    CHECK(error_of_binary(one_op({op_kind::invpcid, 4, 0, -1, 0, 1})) ==
          "w.bin: byte 8: INVPCID type 4 is not 0-3");
    CHECK(error_of_binary(one_op({op_kind::poke, 255, 0, -1, 0x1000, 1})) ==
          "w.bin: byte 8: a poke stores 1, 2, 4 or 8 bytes");
    CHECK(error_of_binary(one_op({op_kind::compute, 0, 0, -1, 0, max_compute_cycles + 1})) ==
          "w.bin: byte 8: 1000000000001 is more than 1000000000000");
    CHECK(error_of_binary(one_op({op_kind::cpl, 0, 0, -1, 0, 4})) ==
          "w.bin: byte 8: privilege level 4 is not 0-3");
    std::string bad_size = good;
    bad_size[9] = 0;
    CHECK(error_of_binary(bad_size) == "w.bin: byte 8: an access is 1 to 64 bytes (got 0)");
}

TEST_CASE("workload kernel operations: handles, GFP flags as the kernel spells them, both forms") {
    // Written as to_text writes it back.
    const std::string text =
        "memsim workload 1\n"
        "alloc_pages buf 2 GFP_KERNEL|__GFP_ZERO\n"
        "kmalloc obj 96 GFP_ATOMIC\n"
        "kmem_cache_create cache 40 64 SLAB_HWCACHE_ALIGN\n"
        "kmem_cache_alloc item cache GFP_NOWAIT\n"
        "write obj+0x10 4 0xfeed\n"
        "read buf 8\n"
        "kmap m buf\n"
        "kunmap m\n"
        "kmem_cache_free item cache\n"
        "vmalloc area 65536\n"
        "vfree area\n"
        "kfree obj\n"
        "free_pages buf\n";
    workload w = parse_text(text, "w.txt");
    CHECK(w.handles == std::vector<std::string>{"buf", "obj", "cache", "item", "m", "area"});
    CHECK(w.needs_kernel());
    CHECK(w.ops[0] == op{op_kind::alloc_pages, 2, 0, -1, 0, 0xdc0, 0});
    CHECK(w.ops[2] == op{op_kind::kmem_cache_create, 7, 0, -1, 40, 0x2000, 2});  // align 64 = 2^6
    CHECK(w.ops[3] == op{op_kind::kmem_cache_alloc, 0, 0, -1, 0x2800, 2, 3});
    CHECK(w.ops[4] == op{op_kind::write, 4, 0, -1, 0x10, 0xfeed, 1});
    CHECK(to_text(w) == text);
    std::string binary = to_binary(w);
    CHECK(binary.rfind("memsimW2", 0) == 0);
    workload again = parse_binary(binary, "w.bin");
    CHECK(again.ops == w.ops);
    CHECK(again.handles == w.handles);
    CHECK_FALSE(parse_text("memsim workload 1\nread 0x1000 8\n", "w.txt").needs_kernel());
}

TEST_CASE("workload kernel operations: errors name the line and column") {
    CHECK(error_of("memsim workload 1\nkfree p\n") ==
          "w.txt:2:7: handle 'p' is not defined before this line");
    CHECK(error_of("memsim workload 1\nkmalloc p 8 GFP_KERNAL\n") ==
          "w.txt:2:13: 'GFP_KERNAL' is not GFP flags (e.g. GFP_KERNEL|__GFP_ZERO or a number)");
    CHECK(error_of("memsim workload 1\nkmalloc 9p 8 GFP_KERNEL\n") ==
          "w.txt:2:9: '9p' is not a handle name ([A-Za-z_][A-Za-z0-9_]*)");
    CHECK(error_of("memsim workload 1\nalloc_pages b 11 GFP_KERNEL\n") == "w.txt:2:15: 11 is more than 10");
    CHECK(error_of("memsim workload 1\nread q+8 4\n") ==
          "w.txt:2:6: handle 'q' is not defined before this line");
    CHECK(error_of("memsim workload 1\nkmem_cache_create c 8 48\n") ==
          "w.txt:2:23: the alignment is a power of two");
    CHECK(error_of("memsim workload 1\nkmem_cache_create c 8 8 SLAB_POSION\n") ==
          "w.txt:2:25: 'SLAB_POSION' is not SLAB_* flags (e.g. SLAB_HWCACHE_ALIGN|SLAB_POISON)");
}

TEST_CASE("workload process operations: each line is one system call with its own arguments") {
    workload w = parse_text(
        "memsim workload 1\n"
        "process 1\n"
        "mmap buf 0 1M PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS\n"
        "write buf+0x10 8 0x1234\n"
        "mprotect buf+0x1000 4K PROT_READ\n"
        "munmap buf 1M\n"
        "mmap code 0x400000 0x2000 PROT_READ|PROT_EXEC MAP_PRIVATE|MAP_ANON|MAP_FIXED\n"
        "mmap sem 0 4096 PROT_NONE|PROT_SEM 0x21\n"
        "mmap every 0 2G 15 MAP_SHARED|MAP_GROWSDOWN|MAP_NORESERVE|MAP_POPULATE|MAP_FIXED_NOREPLACE|0x40\n"
        "munmap 0x400000 8192\n"
        "mprotect 0x7000 1 0x7\n"
        "brk 0\n"
        "brk 0x800000\n"
        "brk code+0x3000\n"
        "fork 2\n"
        "process 2\n"
        "exit 3\n"
        "process 1\n"
        "exit\n"
        "process 0\n"
        "process 4194303\n",
        "w.txt");
    CHECK(w.handles == std::vector<std::string>{"buf", "code", "sem", "every"});
    CHECK(w.needs_kernel());
    std::vector<op> expected{
        {op_kind::process, 0, 0, -1, 0, 1},
        {op_kind::mmap, 3, 0, -1, 0, 0x100000, 0, 0x22},
        {op_kind::write, 8, 0, -1, 0x10, 0x1234, 0},
        {op_kind::mprotect, 1, 0, -1, 0x1000, 0x1000, 0},
        {op_kind::munmap, 0, 0, -1, 0, 0x100000, 0},
        {op_kind::mmap, 5, 0, -1, 0x400000, 0x2000, 1, 0x32},
        {op_kind::mmap, 8, 0, -1, 0, 4096, 2, 0x21},
        {op_kind::mmap, 0xf, 0, -1, 0, 0x80000000, 3, 0x10c141},
        {op_kind::munmap, 0, 0, -1, 0x400000, 8192},
        {op_kind::mprotect, 7, 0, -1, 0x7000, 1},
        {op_kind::brk, 0, 0, -1, 0, 0},
        {op_kind::brk, 0, 0, -1, 0x800000, 0},
        {op_kind::brk, 0, 0, -1, 0x3000, 0, 1},
        {op_kind::fork, 0, 0, -1, 0, 2},
        {op_kind::process, 0, 0, -1, 0, 2},
        {op_kind::exit, 0, 0, -1, 0, 3},
        {op_kind::process, 0, 0, -1, 0, 1},
        {op_kind::exit, 0, 0, -1, 0, 0},
        {op_kind::process, 0, 0, -1, 0, 0},
        {op_kind::process, 0, 0, -1, 0, 4194303},
    };
    CHECK(w.ops == expected);
    // Without the workload's names a handle prints as h<id>.
    CHECK(to_text(w.ops[1]) == "mmap h0 0x0 1M PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS");
    CHECK(to_text(w.ops[3]) == "mprotect h0+0x1000 4K PROT_READ");
}

TEST_CASE("workload process operations: text, binary and text again give the same workload") {
    // Written as to_text writes it back: flag names in the kernel's order, leftover bits as a
    // trailing number, lengths in the largest exact unit.
    const std::string text =
        "memsim workload 1\n"
        "process 1\n"
        "mmap buf 0x0 1M PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS\n"
        "mmap odd 0x7f0000000000 100 PROT_NONE MAP_PRIVATE|MAP_ANONYMOUS|0x40\n"
        "mmap all 0x0 3G PROT_READ|PROT_WRITE|PROT_EXEC|PROT_SEM "
        "MAP_SHARED|MAP_FIXED|MAP_ANONYMOUS|MAP_GROWSDOWN|MAP_NORESERVE|MAP_POPULATE|MAP_FIXED_NOREPLACE\n"
        "mmap zero 0x0 4K PROT_READ 0\n"
        "mmap huge 0x0 2T PROT_WRITE 0x80000000\n"
        "write buf+0x10 8 0x1234\n"
        "mprotect buf+0x1000 12K PROT_READ|PROT_EXEC\n"
        "munmap buf 1M\n"
        "munmap 0x7f0000000000 4097\n"
        "brk 0x0\n"
        "brk buf+0x2000\n"
        "fork 2\n"
        "process 2\n"
        "exit 255\n"
        "process 1\n"
        "exit 0\n"
        "process 0\n";
    workload w = parse_text(text, "w.txt");
    CHECK(w.ops[3] == op{op_kind::mmap, 0xf, 0, -1, 0, 3 * GiB, 2, 0x10c131});
    CHECK(w.ops[5] == op{op_kind::mmap, 2, 0, -1, 0, 2 * TiB, 4, 0x80000000});
    CHECK(to_text(w) == text);
    std::string binary = to_binary(w);
    CHECK(binary.rfind("memsimW2", 0) == 0);
    workload again = parse_binary(binary, "w.bin");
    CHECK(again.ops == w.ops);
    CHECK(again.handles == w.handles);
    CHECK(to_text(again) == text);
}

TEST_CASE("workload process operations: the binary records") {
    // The kinds follow kunmap (25); an mmap record ends with its MAP_* flags.
    workload w{"w",
               {{op_kind::process, 0, 0, -1, 0, 300},
                {op_kind::mmap, 3, 0, -1, 0, 4096, 0, 0x22},
                {op_kind::exit, 0, 0, -1, 0, 1}},
               {"b"}};
    using namespace std::string_literals;
    CHECK(to_binary(w) ==
          "memsimW2\x01\x01"
          "b"
          "\x1a\x00\x00\xac\x02\x00\x00"      // process 300
          "\x1b\x03\x00\x80\x20\x00\x01\x22"  // mmap b 0x0 4K PROT_READ|PROT_WRITE 0x22
          "\x20\x00\x00\x01\x00\x00"s);       // exit 1
    CHECK(parse_binary(to_binary(w), "w.bin").ops == w.ops);
}

TEST_CASE("workload process operations: what every reader refuses") {
    auto one_op = [](traces::op o) { return to_binary(workload{"w", {o}, {"b"}}); };
    CHECK(error_of_binary(one_op({op_kind::process, 0, 0, -1, 0, 4194304})) ==
          "w.bin: byte 11: pid 4194304 is more than 4194303");
    CHECK(error_of_binary(one_op({op_kind::fork, 0, 0, -1, 0, 0})) ==
          "w.bin: byte 11: the child's pid is 1 to 4194303 (got 0)");
    CHECK(error_of_binary(one_op({op_kind::fork, 0, 0, -1, 0, 4194304})) ==
          "w.bin: byte 11: the child's pid is 1 to 4194303 (got 4194304)");
    CHECK(error_of_binary(one_op({op_kind::exit, 0, 0, -1, 0, 256})) ==
          "w.bin: byte 11: exit status 256 is more than 255");
    CHECK(error_of_binary(one_op({op_kind::mprotect, 0x10, 0, -1, 0x1000, 4096})) ==
          "w.bin: byte 11: PROT 0x10 has bits above 0xf (PROT_READ|PROT_WRITE|PROT_EXEC|PROT_SEM)");
    CHECK(error_of_binary(one_op({op_kind::mmap, 0xff, 0, -1, 0, 4096, 0, 0x22})) ==
          "w.bin: byte 11: PROT 0xff has bits above 0xf (PROT_READ|PROT_WRITE|PROT_EXEC|PROT_SEM)");
    CHECK(error_of_binary(one_op({op_kind::mmap, 3, 0, -1, 0, 4096, -1, 0x22})) ==
          "w.bin: byte 11: mmap needs the handle it defines");
    CHECK(error_of_binary(one_op({op_kind::brk, 0, 0, 0x10, 0x20, 0})) ==
          "w.bin: byte 11: a system call takes no SEGMENT:OFFSET address");
    std::string wide = one_op({op_kind::mmap, 3, 0, -1, 0, 4096, 0, 0});
    wide.pop_back();
    wide += "\x80\x80\x80\x80\x10";  // 2^32
    CHECK(error_of_binary(wide) == "w.bin: byte 18: MAP_* flags 0x100000000 are more than 32 bits");
    // Unknown MAP_* bits are the kernel's to refuse (EINVAL), not the reader's.
    CHECK(problem_with({op_kind::mmap, 3, 0, -1, 0, 4096, 0, 0x80000000}).empty());
    CHECK(problem_with({op_kind::munmap, 0, 0, -1, 0, 4096, -1, 0x20}) ==
          "only mmap, dma_map, dma_transfer and dma_transfer_phys have flags (got 0x20)");
    CHECK(problem_with({op_kind::read, 8, 0, -1, 0, 0, -1, 1}) ==
          "only mmap, dma_map, dma_transfer and dma_transfer_phys have flags (got 0x1)");
}

TEST_CASE("workload process operations: text errors name the line and column") {
    CHECK(error_of("memsim workload 1\nmmap b 0 4K PROT_READ MAP_PRIVATE|MAP_ANONYMUS\n") ==
          "w.txt:2:35: 'MAP_ANONYMUS' is not a MAP_* flag (MAP_SHARED, MAP_PRIVATE, MAP_FIXED, "
          "MAP_ANONYMOUS, MAP_GROWSDOWN, MAP_NORESERVE, MAP_POPULATE, MAP_FIXED_NOREPLACE, MAP_ANON, or a "
          "number)");
    CHECK(error_of("memsim workload 1\nmmap b 0 4K PROT_RAED 0\n") ==
          "w.txt:2:13: 'PROT_RAED' is not a PROT_* flag (PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC, "
          "PROT_SEM, or a number)");
    CHECK(error_of("memsim workload 1\nmmap b 0 4K MAP_PRIVATE PROT_READ\n") ==
          "w.txt:2:13: 'MAP_PRIVATE' is not a PROT_* flag (PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC, "
          "PROT_SEM, or a number)");
    CHECK(error_of("memsim workload 1\nmmap b 0 4K PROT_READ|PROT_WRITE|0xz 0\n") ==
          "w.txt:2:34: expected a number, got '0xz'");
    CHECK(error_of("memsim workload 1\nmmap b 0 4K PROT_READ| 0\n") ==
          "w.txt:2:23: '' is not a PROT_* flag (PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC, PROT_SEM, or a "
          "number)");
    CHECK(error_of("memsim workload 1\nmprotect 0x1000 4K 16\n") ==
          "w.txt:2:20: PROT 0x10 has bits above 0xf (PROT_READ|PROT_WRITE|PROT_EXEC|PROT_SEM)");
    CHECK(error_of("memsim workload 1\nmmap b 0 4K PROT_READ 0x100000000\n") ==
          "w.txt:2:23: MAP_* flags 0x100000000 are more than 32 bits");
    CHECK(error_of("memsim workload 1\nmmap 9b 0 4K PROT_READ 0\n") ==
          "w.txt:2:6: '9b' is not a handle name ([A-Za-z_][A-Za-z0-9_]*)");
    CHECK(error_of("memsim workload 1\nprocess 4194304\n") == "w.txt:2:9: 4194304 is more than 4194303");
    CHECK(error_of("memsim workload 1\nprocess\n") == "w.txt:2:1: 'process' needs more operands");
    CHECK(error_of("memsim workload 1\nfork 0\n") == "w.txt:2:6: the child's pid is 1 to 4194303 (got 0)");
    CHECK(error_of("memsim workload 1\nfork 4194304\n") == "w.txt:2:6: 4194304 is more than 4194303");
    CHECK(error_of("memsim workload 1\nexit 256\n") == "w.txt:2:6: 256 is more than 255");
    CHECK(error_of("memsim workload 1\nexit 1 2\n") == "w.txt:2:8: unexpected '2'");
    CHECK(error_of("memsim workload 1\nmmap b 0 4K PROT_READ\n") == "w.txt:2:13: 'mmap' needs more operands");
    CHECK(error_of("memsim workload 1\nmunmap 0x1000\n") == "w.txt:2:8: 'munmap' needs more operands");
    CHECK(error_of("memsim workload 1\nmprotect 0x1000 4K\n") ==
          "w.txt:2:17: 'mprotect' needs more operands");
    CHECK(error_of("memsim workload 1\nbrk\n") == "w.txt:2:1: 'brk' needs more operands");
    CHECK(error_of("memsim workload 1\nmunmap p 4K\n") ==
          "w.txt:2:8: handle 'p' is not defined before this line");
    CHECK(error_of("memsim workload 1\nmprotect q+0x1000 4K PROT_READ\n") ==
          "w.txt:2:10: handle 'q' is not defined before this line");
    CHECK(error_of("memsim workload 1\nmunmap 0x1000 4Q\n") ==
          "w.txt:2:15: '4Q' has an unknown unit 'Q' for a size");
    CHECK(error_of("memsim workload 1\nbrk 0x10:0x20\n") ==
          "w.txt:2:5: a system call takes no SEGMENT:OFFSET address");
}

TEST_CASE("workload DMA operations: each line with its fields") {
    using kernel::GFP_DMA;
    using kernel::GFP_KERNEL;
    workload w = parse_text(
        "memsim workload 1\n"
        "dma_set_mask isa_dma 24\n"
        "dma_set_mask pci_dma 32 streaming\n"
        "dma_set_mask pci_dma 64 coherent\n"
        "kmalloc buf 4096 GFP_KERNEL\n"
        "dma_alloc_coherent pci_dma ring 8K\n"
        "dma_alloc_coherent isa_dma low 4096 GFP_KERNEL|GFP_DMA\n"
        "dma_map pci_dma m buf+0x100 512 to_device\n"
        "dma_map isa_dma m2 buf 4K DMA_FROM_DEVICE\n"
        "dma_map isa_dma m3 buf 1 bidirectional\n"
        "dma_map isa_dma m3 buf 1G DMA_BIDIRECTIONAL\n"
        "dma_map isa_dma m3 buf 2 DMA_TO_DEVICE\n"
        "dma_map isa_dma m3 buf 3 from_device\n"
        "dma_sync pci_dma m for_cpu\n"
        "dma_sync pci_dma m for_device\n"
        "dma_transfer pci_dma m ring 512\n"
        "dma_transfer pci_dma ring m 0x200 irq_gfp=GFP_KERNEL nowait\n"
        "dma_transfer pci_dma ring m 4294967295 nowait irq_gfp=0\n"
        "dma_transfer_phys isa_dma 0x1000 0x2000 64K nowait\n"
        "dma_transfer_phys pci_dma 0 0xffffffffffffffff 1\n"
        "dma_wait pci_dma\n"
        "dma_unmap pci_dma m\n"
        "dma_free_coherent pci_dma ring\n",
        "w.txt");
    CHECK(w.handles == std::vector<std::string>{"buf", "ring", "low", "m", "m2", "m3"});
    CHECK(w.devices == std::vector<std::string>{"isa_dma", "pci_dma"});
    CHECK(w.device_first_use == std::vector<std::uint64_t>{2, 3});
    CHECK_FALSE(w.from_binary);
    CHECK(w.needs_kernel());
    using k = op_kind;
    std::vector<op> expected{
        {.kind = k::dma_set_mask, .value = 24},
        {.kind = k::dma_set_mask, .size = 1, .device = 1, .value = 32},
        {.kind = k::dma_set_mask, .size = 2, .device = 1, .value = 64},
        {.kind = k::kmalloc, .address = 4096, .value = GFP_KERNEL, .handle = 0},
        {.kind = k::dma_alloc_coherent, .device = 1, .address = 8192, .value = GFP_KERNEL, .handle = 1},
        {.kind = k::dma_alloc_coherent, .address = 4096, .value = GFP_KERNEL | GFP_DMA, .handle = 2},
        {.kind = k::dma_map, .size = 1, .device = 1, .address = 0x100, .value = 512, .handle = 3, .flags = 0},
        {.kind = k::dma_map, .size = 2, .value = 4096, .handle = 4, .flags = 0},
        {.kind = k::dma_map, .size = 0, .value = 1, .handle = 5, .flags = 0},
        {.kind = k::dma_map, .size = 0, .value = GiB, .handle = 5, .flags = 0},
        {.kind = k::dma_map, .size = 1, .value = 2, .handle = 5, .flags = 0},
        {.kind = k::dma_map, .size = 2, .value = 3, .handle = 5, .flags = 0},
        {.kind = k::dma_sync, .size = 0, .device = 1, .handle = 3},
        {.kind = k::dma_sync, .size = 1, .device = 1, .handle = 3},
        {.kind = k::dma_transfer, .device = 1, .segment = -1, .value = 1, .handle = 3, .flags = 512},
        {.kind = k::dma_transfer,
         .size = 1,
         .device = 1,
         .segment = GFP_KERNEL,
         .value = 3,
         .handle = 1,
         .flags = 0x200},
        {.kind = k::dma_transfer,
         .size = 1,
         .device = 1,
         .segment = 0,
         .value = 3,
         .handle = 1,
         .flags = 0xffffffff},
        {.kind = k::dma_transfer_phys, .size = 1, .address = 0x1000, .value = 0x2000, .flags = 64 * KiB},
        {.kind = k::dma_transfer_phys, .device = 1, .address = 0, .value = ~std::uint64_t{0}, .flags = 1},
        {.kind = k::dma_wait, .device = 1},
        {.kind = k::dma_unmap, .device = 1, .handle = 3},
        {.kind = k::dma_free_coherent, .device = 1, .handle = 1},
    };
    CHECK(w.ops == expected);
    for (const op& o : w.ops) CHECK(problem_with(o) == "");
    CHECK(is_kernel_op(op_kind::dma_wait));
    // Without the workload's names a device prints as dev<id>, a handle as h<id>.
    CHECK(to_text(w.ops[6]) == "dma_map dev1 h3 h0+0x100 512 to_device");
    CHECK(to_text(w.ops[15]) == "dma_transfer dev1 h1 h3 512 nowait irq_gfp=GFP_KERNEL");
}

TEST_CASE("workload DMA operations: text, binary and text again give the same workload") {
    // Written as to_text writes it back: directions short, sizes in the largest exact unit, the
    // gfp flags always, nowait before irq_gfp.
    const std::string text =
        "memsim workload 1\n"
        "dma_set_mask isa_dma 24\n"
        "dma_set_mask pci_dma 32 streaming\n"
        "dma_set_mask pci_dma 64 coherent\n"
        "kmalloc buf 4096 GFP_KERNEL\n"
        "alloc_pages pages 1 GFP_DMA32\n"
        "dma_alloc_coherent pci_dma ring 8K GFP_KERNEL\n"
        "dma_alloc_coherent isa_dma low 100 GFP_ATOMIC|__GFP_ZERO\n"
        "dma_map pci_dma m buf+0x100 512 to_device\n"
        "dma_map isa_dma m2 pages 8K from_device\n"
        "dma_map isa_dma m3 buf 1G bidirectional\n"
        "dma_sync pci_dma m for_cpu\n"
        "dma_sync pci_dma m for_device\n"
        "dma_transfer pci_dma m ring 512\n"
        "dma_transfer pci_dma ring m 1K nowait\n"
        "dma_transfer isa_dma low m2 4294967295 irq_gfp=GFP_ATOMIC\n"
        "dma_transfer isa_dma low m2 64K nowait irq_gfp=GFP_KERNEL\n"
        "dma_transfer_phys isa_dma 0x1000 0xfff000 64K nowait\n"
        "dma_transfer_phys pci_dma 0x0 0xffffffffffffffff 1\n"
        "dma_wait pci_dma\n"
        "dma_unmap pci_dma m\n"
        "dma_unmap isa_dma m2\n"
        "dma_free_coherent pci_dma ring\n"
        "dma_free_coherent isa_dma low\n";
    workload w = parse_text(text, "w.txt");
    CHECK(to_text(w) == text);
    CHECK(parse_text(to_text(w), "again.txt").ops == w.ops);
    std::string binary = to_binary(w);
    CHECK(binary.rfind("memsimW3", 0) == 0);
    workload again = parse_binary(binary, "w.bin");
    CHECK(again.ops == w.ops);
    CHECK(again.handles == w.handles);
    CHECK(again.devices == w.devices);
    CHECK(again.from_binary);
    CHECK(to_text(again) == text);
    CHECK(to_binary(again) == binary);
}

TEST_CASE("workload DMA operations: the binary records") {
    // memsimW3: the handle table, then the device table. The kinds follow exit (32); a record of
    // a kind with flags ends with them, a DMA operation's record then with its device.
    workload w{
        "w",
        {{.kind = op_kind::dma_set_mask, .size = 1, .device = 1, .value = 32},
         {.kind = op_kind::dma_transfer, .size = 1, .segment = 5, .value = 0, .handle = 0, .flags = 4096},
         {.kind = op_kind::dma_wait, .device = 1}},
        {"b"},
        {"isa_dma", "pci"}};
    CHECK(to_binary(w) ==
          "memsimW3\x01\x01"
          "b"
          "\x02\x07"
          "isa_dma\x03"
          "pci"
          "\x21\x01\x00\x20\x00\x00\x01"          // dma_set_mask pci 32 streaming
          "\x27\x01\x00\x00\x06\x01\x80\x20\x00"  // dma_transfer isa_dma b b 4K nowait irq_gfp=5
          "\x29\x00\x00\x00\x00\x00\x01"s);       // dma_wait pci
    workload again = parse_binary(to_binary(w), "w.bin");
    CHECK(again.ops == w.ops);
    CHECK(again.devices == w.devices);
    CHECK(again.device_first_use == std::vector<std::uint64_t>{31, 24});  // the records' first bytes
    // A workload without devices keeps the older magics, byte for byte.
    CHECK(to_binary(workload{"w", {{.kind = op_kind::read, .size = 8}}}).rfind("memsimW1", 0) == 0);
}

TEST_CASE("workload DMA operations: what every reader refuses") {
    auto one_op = [](const op& o) { return to_binary(workload{"w", {o}, {"b"}, {"d"}}); };
    // The records start at byte 14: the magic (8), the handle table (3), the device table (3).
    using k = op_kind;
    CHECK(error_of_binary(one_op({.kind = k::dma_set_mask, .value = 65})) ==
          "w.bin: byte 14: a DMA mask is 1 to 64 bits (got 65)");
    CHECK(error_of_binary(one_op({.kind = k::dma_set_mask, .value = 0})) ==
          "w.bin: byte 14: a DMA mask is 1 to 64 bits (got 0)");
    CHECK(error_of_binary(one_op({.kind = k::dma_set_mask, .size = 3, .value = 32})) ==
          "w.bin: byte 14: dma_set_mask's size 3 is not 0 (both masks), 1 (streaming) or 2 (coherent)");
    CHECK(error_of_binary(one_op({.kind = k::dma_alloc_coherent, .address = 0, .handle = 0})) ==
          "w.bin: byte 14: a DMA buffer is 1 byte to 1 GiB (got 0)");
    CHECK(error_of_binary(one_op({.kind = k::dma_alloc_coherent, .address = GiB + 1, .handle = 0})) ==
          "w.bin: byte 14: a DMA buffer is 1 byte to 1 GiB (got 1073741825)");
    CHECK(error_of_binary(one_op({.kind = k::dma_alloc_coherent, .address = 4096})) ==
          "w.bin: byte 14: this DMA operation needs its buffer's handle");
    CHECK(error_of_binary(one_op({.kind = k::dma_map, .size = 3, .value = 8, .handle = 0})) ==
          "w.bin: byte 14: DMA direction 3 is not 0 (bidirectional), 1 (to_device) or 2 (from_device)");
    CHECK(error_of_binary(one_op({.kind = k::dma_map, .size = 1, .value = 0, .handle = 0})) ==
          "w.bin: byte 14: a DMA buffer is 1 byte to 1 GiB (got 0)");
    CHECK(error_of_binary(one_op({.kind = k::dma_sync, .size = 2, .handle = 0})) ==
          "w.bin: byte 14: dma_sync's size 2 is not 0 (for_cpu) or 1 (for_device)");
    CHECK(error_of_binary(one_op({.kind = k::dma_unmap})) ==
          "w.bin: byte 14: this DMA operation needs its buffer's handle");
    CHECK(error_of_binary(one_op({.kind = k::dma_transfer, .size = 2, .handle = 0, .flags = 8})) ==
          "w.bin: byte 14: a DMA transfer's size 2 has bits other than 1 (nowait)");
    CHECK(error_of_binary(one_op({.kind = k::dma_transfer, .handle = 0, .flags = 0})) ==
          "w.bin: byte 14: a DMA transfer is 1 to 4294967295 bytes (got 0)");
    CHECK(error_of_binary(one_op({.kind = k::dma_transfer_phys, .flags = 0})) ==
          "w.bin: byte 14: a DMA transfer is 1 to 4294967295 bytes (got 0)");
    CHECK(error_of_binary(one_op({.kind = k::dma_transfer_phys, .segment = 3, .flags = 1})) ==
          "w.bin: byte 14: a DMA operation takes no SEGMENT:OFFSET address");
    CHECK(error_of_binary(one_op({.kind = k::dma_wait, .segment = 0})) ==
          "w.bin: byte 14: a DMA operation takes no SEGMENT:OFFSET address");
    // The table indexes a record holds: its device, and the handles in other fields.
    CHECK(error_of_binary(one_op({.kind = k::dma_wait, .device = 1})) ==
          "w.bin: byte 20: device 1 is not in the table");
    CHECK(error_of_binary(one_op({.kind = k::dma_map, .value = 8, .handle = 0, .flags = 1})) ==
          "w.bin: byte 20: handle 1 is not in the table");
    CHECK(error_of_binary(one_op({.kind = k::dma_transfer, .value = 2, .handle = 0, .flags = 8})) ==
          "w.bin: byte 17: handle 2 is not in the table");
    CHECK(error_of_binary(to_binary(workload{"w", {{.kind = k::dma_wait}}})) ==
          "w.bin: byte 13: device 0 is not in the table");
    CHECK(error_of_binary(to_binary(workload{"w", {}, {}, {"a b"}})) ==
          "w.bin: byte 10: device name 'a b' has a blank, '#' or a control character");
    CHECK(error_of_binary("memsimW3\x00\x81\x80\x04"s) ==
          "w.bin: byte 12: 65537 devices are more than 65536");
    std::string wide = one_op({.kind = k::dma_transfer_phys, .flags = 1});
    wide.erase(wide.size() - 2);          // the flags and the device
    wide += "\x80\x80\x80\x80\x10\x00"s;  // 2^32 bytes
    CHECK(error_of_binary(wide) ==
          "w.bin: byte 20: a DMA transfer is 1 to 4294967295 bytes (got 4294967296)");
    // Only DMA operations name a device; dma_transfer alone keeps a number in `segment`.
    CHECK(problem_with({.kind = k::read, .size = 8, .device = 1}) ==
          "only DMA operations name a device (got device 1)");
    CHECK(problem_with({.kind = k::dma_transfer, .segment = -2, .handle = 0, .flags = 1}) ==
          "irq_gfp -2 is negative (-1: none)");
    CHECK(problem_with({.kind = k::process, .segment = 1}) ==
          "a system call takes no SEGMENT:OFFSET address");
}

TEST_CASE("workload DMA operations: text errors name the line and column") {
    CHECK(dma_error_of("dma_set_mask d 65") == "w.txt:3:16: a DMA mask is 1 to 64 bits (got 65)");
    CHECK(dma_error_of("dma_set_mask d 0") == "w.txt:3:16: a DMA mask is 1 to 64 bits (got 0)");
    CHECK(dma_error_of("dma_set_mask d 32 both") ==
          "w.txt:3:19: expected 'streaming' or 'coherent', got 'both'");
    CHECK(dma_error_of("dma_set_mask d") == "w.txt:3:14: 'dma_set_mask' needs more operands");
    CHECK(dma_error_of("dma_set_mask d 32 coherent x") == "w.txt:3:28: unexpected 'x'");
    CHECK(dma_error_of("dma_alloc_coherent d r 0") == "w.txt:3:24: a DMA buffer is 1 byte to 1 GiB (got 0)");
    CHECK(dma_error_of("dma_alloc_coherent d r 2G") ==
          "w.txt:3:24: a DMA buffer is 1 byte to 1 GiB (got 2147483648)");
    CHECK(dma_error_of("dma_alloc_coherent d r 4Q") == "w.txt:3:24: '4Q' has an unknown unit 'Q' for a size");
    CHECK(dma_error_of("dma_alloc_coherent d r 4K GFP_KERNAL") ==
          "w.txt:3:27: 'GFP_KERNAL' is not GFP flags (e.g. GFP_KERNEL|__GFP_ZERO or a number)");
    CHECK(dma_error_of("dma_alloc_coherent d 9r 4K") ==
          "w.txt:3:22: '9r' is not a handle name ([A-Za-z_][A-Za-z0-9_]*)");
    CHECK(dma_error_of("dma_free_coherent d r") == "w.txt:3:21: handle 'r' is not defined before this line");
    CHECK(dma_error_of("dma_map d m buf 4K sideways") ==
          "w.txt:3:20: 'sideways' is not a DMA direction (to_device, from_device, bidirectional, "
          "DMA_TO_DEVICE, "
          "DMA_FROM_DEVICE, DMA_BIDIRECTIONAL)");
    CHECK(dma_error_of("dma_map d m nobuf 4K to_device") ==
          "w.txt:3:13: handle 'nobuf' is not defined before this line");
    CHECK(dma_error_of("dma_map d m m 4K to_device") ==
          "w.txt:3:13: handle 'm' is not defined before this line");
    CHECK(dma_error_of("dma_map d m 0x1000 4K to_device") ==
          "w.txt:3:13: expected the buffer's handle (BUF or BUF+OFFSET), got '0x1000'");
    CHECK(dma_error_of("dma_map d m buf+0xzz 4K to_device") == "w.txt:3:17: expected a number, got '0xzz'");
    CHECK(dma_error_of("dma_map d m buf 0 to_device") ==
          "w.txt:3:17: a DMA buffer is 1 byte to 1 GiB (got 0)");
    CHECK(dma_error_of("dma_map d m buf 4K") == "w.txt:3:17: 'dma_map' needs more operands");
    CHECK(dma_error_of("dma_unmap d m") == "w.txt:3:13: handle 'm' is not defined before this line");
    CHECK(dma_error_of("dma_sync d buf sideways") ==
          "w.txt:3:16: expected 'for_cpu' or 'for_device', got 'sideways'");
    CHECK(dma_error_of("dma_transfer d buf x 4K") ==
          "w.txt:3:20: handle 'x' is not defined before this line");
    CHECK(dma_error_of("dma_transfer d buf buf 0") ==
          "w.txt:3:24: a DMA transfer is 1 to 4294967295 bytes (got 0)");
    CHECK(dma_error_of("dma_transfer d buf buf 4G") ==
          "w.txt:3:24: a DMA transfer is 1 to 4294967295 bytes (got 4294967296)");
    CHECK(dma_error_of("dma_transfer d buf buf 4K later") ==
          "w.txt:3:27: expected 'nowait' or 'irq_gfp=GFP', got 'later'");
    CHECK(dma_error_of("dma_transfer d buf buf 4K nowait nowait") == "w.txt:3:34: unexpected 'nowait'");
    CHECK(dma_error_of("dma_transfer d buf buf 4K irq_gfp=0 irq_gfp=0") ==
          "w.txt:3:37: unexpected 'irq_gfp=0'");
    CHECK(dma_error_of("dma_transfer d buf buf 4K irq_gfp=GFP_ATOMIK") ==
          "w.txt:3:35: 'GFP_ATOMIK' is not GFP flags (e.g. GFP_KERNEL|__GFP_ZERO or a number)");
    CHECK(dma_error_of("dma_transfer d buf buf 4K irq_gfp=0x80000000") ==
          "w.txt:3:35: GFP flags 0x80000000 are more than 31 bits");
    CHECK(dma_error_of("dma_transfer d buf buf 4K nowait irq_gfp=0 x") == "w.txt:3:44: unexpected 'x'");
    CHECK(dma_error_of("dma_transfer_phys d 0x1000 0x2000 4K irq_gfp=GFP_ATOMIC") ==
          "w.txt:3:38: expected 'nowait', got 'irq_gfp=GFP_ATOMIC'");
    CHECK(dma_error_of("dma_transfer_phys d 0x1000 buf 4K") == "w.txt:3:28: expected a number, got 'buf'");
    CHECK(dma_error_of("dma_wait") == "w.txt:3:1: 'dma_wait' needs more operands");
    CHECK(dma_error_of("dma_wait d d") == "w.txt:3:12: unexpected 'd'");
    CHECK(dma_error_of("dma_fly d") == "w.txt:3:1: unknown operation 'dma_fly'");
}

TEST_CASE("workload DMA operations: check_devices names the first use of a device the machine lacks") {
    const std::vector<std::string> machine{"isa_dma", "pci_dma"};
    workload w = parse_text(
        "memsim workload 1\n"
        "dma_set_mask isa_dma 24\n"
        "dma_wait isa_dma\n"
        "dma_set_mask floppy 24   # line 4\n"
        "dma_wait floppy\n"
        "dma_wait tape\n",
        "w.txt");
    CHECK(devices_error(w, machine) ==
          "w.txt:4: unknown device 'floppy' (this machine has: isa_dma, pci_dma)");
    CHECK(devices_error(w, {}) == "w.txt:2: unknown device 'isa_dma' (this machine has none)");
    CHECK(devices_error(w, {"floppy", "isa_dma"}) ==
          "w.txt:6: unknown device 'tape' (this machine has: floppy, isa_dma)");
    CHECK(devices_error(w, {"tape", "floppy", "isa_dma"}) == "no error");
    // The binary form names the byte its record starts at, as the reader's errors do.
    workload binary = parse_binary(to_binary(w), "w.bin");
    CHECK(devices_error(binary, machine) ==
          "w.bin: byte 44: unknown device 'floppy' (this machine has: isa_dma, pci_dma)");
    // A device in the table that no operation names is no error; nor is a workload without DMA.
    CHECK(devices_error(parse_binary(to_binary(workload{"w", {}, {}, {"gone"}}), "w.bin"), machine) ==
          "no error");
    CHECK(devices_error(parse_text("memsim workload 1\nread 0x1000 8\n", "w.txt"), {}) == "no error");
}
