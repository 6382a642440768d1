// Workload format v1 as a user writes it (docs/workload-format.md): what each line becomes,
// what a mistake says, and that the text and binary forms carry the same operations.
#include <doctest/doctest.h>

#include "base/error.h"
#include "base/units.h"
#include "mmu/paging.h"
#include "traces/workload.h"

using namespace memsim;
using namespace memsim::traces;

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
        {op_kind::read, 8, -1, 0x1000, 0},
        {op_kind::write, 4, -1, 0x2000, 0xdeadbeef},
        {op_kind::fetch, 16, -1, 0x3000, 0},
        {op_kind::compute, 0, -1, 0, 250},
        {op_kind::cr3, 0, -1, 0, 0x5007 | mmu::cr3::no_flush},
        {op_kind::cr0, 0, -1, 0, 0x80000011},
        {op_kind::cr4, 0, -1, 0, 0x20},
        {op_kind::efer, 0, -1, 0, 0x500},
        {op_kind::a20, 0, -1, 0, 1},
        {op_kind::poke, 8, -1, 0x9000, 0x1234},
        {op_kind::invlpg, 0, -1, 0x7000, 0},
        {op_kind::invpcid, 0, -1, 0x7000, 7},
        {op_kind::read, 2, 0xf000, 0xfff0, 0},
        {op_kind::cpl, 0, -1, 0, 3},
        {op_kind::ac, 0, -1, 0, 1},
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
    auto error_of_binary = [](const std::string& bytes) {
        try {
            parse_binary(bytes, "w.bin");
        } catch (const user_error& e) {
            return e.message();
        }
        return std::string("no error");
    };
    std::string good = to_binary(workload{"w", {{op_kind::read, 8, -1, 0x1000, 0}}});
    CHECK(error_of_binary("memsimW3") ==
          "w.bin: byte 0: not a memsim binary workload (no 'memsimW1' or 'memsimW2' magic)");
    CHECK(error_of_binary(good.substr(0, good.size() - 1)) ==
          "w.bin: byte 13: the trace ends inside an operation");
    std::string bad_kind = good;
    bad_kind[8] = 42;
    CHECK(error_of_binary(bad_kind) == "w.bin: byte 9: unknown operation kind 42");
    auto one_op = [](traces::op o) { return to_binary(workload{"w", {o}}); };
    CHECK(error_of_binary(one_op({op_kind::invpcid, 4, -1, 0, 1})) ==
          "w.bin: byte 8: INVPCID type 4 is not 0-3");
    CHECK(error_of_binary(one_op({op_kind::poke, 255, -1, 0x1000, 1})) ==
          "w.bin: byte 8: a poke stores 1, 2, 4 or 8 bytes");
    CHECK(error_of_binary(one_op({op_kind::compute, 0, -1, 0, max_compute_cycles + 1})) ==
          "w.bin: byte 8: 1000000000001 is more than 1000000000000");
    CHECK(error_of_binary(one_op({op_kind::cpl, 0, -1, 0, 4})) ==
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
    CHECK(w.ops[0] == op{op_kind::alloc_pages, 2, -1, 0, 0xdc0, 0});
    CHECK(w.ops[2] == op{op_kind::kmem_cache_create, 7, -1, 40, 0x2000, 2});  // align 64 = 2^6
    CHECK(w.ops[3] == op{op_kind::kmem_cache_alloc, 0, -1, 0x2800, 2, 3});
    CHECK(w.ops[4] == op{op_kind::write, 4, -1, 0x10, 0xfeed, 1});
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
        {op_kind::process, 0, -1, 0, 1},
        {op_kind::mmap, 3, -1, 0, 0x100000, 0, 0x22},
        {op_kind::write, 8, -1, 0x10, 0x1234, 0},
        {op_kind::mprotect, 1, -1, 0x1000, 0x1000, 0},
        {op_kind::munmap, 0, -1, 0, 0x100000, 0},
        {op_kind::mmap, 5, -1, 0x400000, 0x2000, 1, 0x32},
        {op_kind::mmap, 8, -1, 0, 4096, 2, 0x21},
        {op_kind::mmap, 0xf, -1, 0, 0x80000000, 3, 0x10c141},
        {op_kind::munmap, 0, -1, 0x400000, 8192},
        {op_kind::mprotect, 7, -1, 0x7000, 1},
        {op_kind::brk, 0, -1, 0, 0},
        {op_kind::brk, 0, -1, 0x800000, 0},
        {op_kind::brk, 0, -1, 0x3000, 0, 1},
        {op_kind::fork, 0, -1, 0, 2},
        {op_kind::process, 0, -1, 0, 2},
        {op_kind::exit, 0, -1, 0, 3},
        {op_kind::process, 0, -1, 0, 1},
        {op_kind::exit, 0, -1, 0, 0},
        {op_kind::process, 0, -1, 0, 0},
        {op_kind::process, 0, -1, 0, 4194303},
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
    CHECK(w.ops[3] == op{op_kind::mmap, 0xf, -1, 0, 3 * GiB, 2, 0x10c131});
    CHECK(w.ops[5] == op{op_kind::mmap, 2, -1, 0, 2 * TiB, 4, 0x80000000});
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
               {{op_kind::process, 0, -1, 0, 300},
                {op_kind::mmap, 3, -1, 0, 4096, 0, 0x22},
                {op_kind::exit, 0, -1, 0, 1}},
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
    auto error_of_binary = [](const std::string& bytes) {
        try {
            parse_binary(bytes, "w.bin");
        } catch (const user_error& e) {
            return e.message();
        }
        return std::string("no error");
    };
    auto one_op = [](traces::op o) { return to_binary(workload{"w", {o}, {"b"}}); };
    CHECK(error_of_binary(one_op({op_kind::process, 0, -1, 0, 4194304})) ==
          "w.bin: byte 11: pid 4194304 is more than 4194303");
    CHECK(error_of_binary(one_op({op_kind::fork, 0, -1, 0, 0})) ==
          "w.bin: byte 11: the child's pid is 1 to 4194303 (got 0)");
    CHECK(error_of_binary(one_op({op_kind::fork, 0, -1, 0, 4194304})) ==
          "w.bin: byte 11: the child's pid is 1 to 4194303 (got 4194304)");
    CHECK(error_of_binary(one_op({op_kind::exit, 0, -1, 0, 256})) ==
          "w.bin: byte 11: exit status 256 is more than 255");
    CHECK(error_of_binary(one_op({op_kind::mprotect, 0x10, -1, 0x1000, 4096})) ==
          "w.bin: byte 11: PROT 0x10 has bits above 0xf (PROT_READ|PROT_WRITE|PROT_EXEC|PROT_SEM)");
    CHECK(error_of_binary(one_op({op_kind::mmap, 0xff, -1, 0, 4096, 0, 0x22})) ==
          "w.bin: byte 11: PROT 0xff has bits above 0xf (PROT_READ|PROT_WRITE|PROT_EXEC|PROT_SEM)");
    CHECK(error_of_binary(one_op({op_kind::mmap, 3, -1, 0, 4096, -1, 0x22})) ==
          "w.bin: byte 11: mmap needs the handle it defines");
    CHECK(error_of_binary(one_op({op_kind::brk, 0, 0x10, 0x20, 0})) ==
          "w.bin: byte 11: a system call takes no SEGMENT:OFFSET address");
    std::string wide = one_op({op_kind::mmap, 3, -1, 0, 4096, 0, 0});
    wide.pop_back();
    wide += "\x80\x80\x80\x80\x10";  // 2^32
    CHECK(error_of_binary(wide) == "w.bin: byte 18: MAP_* flags 0x100000000 are more than 32 bits");
    // Unknown MAP_* bits are the kernel's to refuse (EINVAL), not the reader's.
    CHECK(problem_with({op_kind::mmap, 3, -1, 0, 4096, 0, 0x80000000}).empty());
    CHECK(problem_with({op_kind::munmap, 0, -1, 0, 4096, -1, 0x20}) == "only mmap has flags (got 0x20)");
    CHECK(problem_with({op_kind::read, 8, -1, 0, 0, -1, 1}) == "only mmap has flags (got 0x1)");
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
