/* Fixture for the unwind tests (Tests/KtraceCoreTests/UnwindTests). Built without frame pointers:
 *   cc -O2 -fomit-frame-pointer -o unwind-o2.elf unwind-fixture.c
 * and, for .debug_frame instead of .eh_frame in its own functions:
 *   cc -O2 -fomit-frame-pointer -fno-asynchronous-unwind-tables -g -o unwind-debugframe.elf unwind-fixture.c
 *
 * `unwind-o2.elf snapshot DIR` walks main -> level1 -> level2 (alloca: an rbp-based CFA) -> level3 ->
 * qsort (libc, no frame pointers) -> cmp -> capture, and capture writes, at a known pc:
 *   DIR/regs   rip rsp rbp, then the return addresses each function read with __builtin_return_address
 *   DIR/stack  the stack from rsp to the top of its mapping
 *   DIR/maps   /proc/self/maps
 * so a test can unwind from those registers and memory and know the exact answer. */
#define _GNU_SOURCE
#include <alloca.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAME __attribute__((noinline, noclone))

static const char *outdir;
static void *ra_capture, *ra_cmp, *ra_level3, *ra_level2, *ra_level1, *ra_main;
static int captured;
volatile int sink;
static unsigned char stack_copy[1 << 20];

static void copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "r"), *out = fopen(to, "w");
    char buf[4096];
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    if (in) fclose(in);
    if (out) fclose(out);
}

FRAME static void capture(void) {
    uint64_t rip, rsp, rbp;
    ra_capture = __builtin_return_address(0);
    __asm__ volatile("1: lea 1b(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(rip), "=r"(rsp), "=r"(rbp));
    /* The top of the stack mapping, from /proc/self/maps. */
    uint64_t top = 0;
    FILE *m = fopen("/proc/self/maps", "r");
    char line[512];
    while (m && fgets(line, sizeof line, m)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && rsp >= lo && rsp < hi) top = hi;
    }
    if (m) fclose(m);
    size_t n = top - rsp < sizeof stack_copy ? top - rsp : sizeof stack_copy;
    memcpy(stack_copy, (void *)rsp, n);
    char path[4096];
    snprintf(path, sizeof path, "%s/stack", outdir);
    FILE *s = fopen(path, "w");
    fwrite(stack_copy, 1, n, s);
    fclose(s);
    snprintf(path, sizeof path, "%s/maps", outdir);
    copy_file("/proc/self/maps", path);
    snprintf(path, sizeof path, "%s/regs", outdir);
    FILE *r = fopen(path, "w");
    fprintf(r, "%lx %lx %lx\n%p %p %p %p %p %p\n", rip, rsp, rbp, ra_capture, ra_cmp, ra_level3, ra_level2,
            ra_level1, ra_main);
    fclose(r);
}

static int cmp(const void *a, const void *b) {
    if (!captured) {
        captured = 1;
        ra_cmp = __builtin_return_address(0);
        capture();
    }
    return *(const int *)a - *(const int *)b;
}

FRAME void level3(int n) {
    int v[64];
    ra_level3 = __builtin_return_address(0);
    for (int i = 0; i < 64; i++) v[i] = (i * 7919 + n) % 101;
    qsort(v, 64, sizeof v[0], cmp);
    sink = v[0] + v[63];
}

FRAME void level2(int n) {
    ra_level2 = __builtin_return_address(0);
    char *p = alloca(n);
    memset(p, n, n);
    level3(n);
    sink += p[n / 2];
}

FRAME uint64_t level1(int n) {
    ra_level1 = __builtin_return_address(0);
    uint64_t a = n, b = n * 3, c = n ^ 5, d = n + 11, e = n * n;
    for (int i = 0; i < n; i++) { a = a * 31 + b; b ^= c << 1; c += d; d = d * 7 + e; e ^= a >> 3; }
    level2(n + 16);
    return a + b + c + d + e + sink;
}

/* A function with a big frame (past one page: a stack probe on some compilers). */
FRAME int big_frame(int n) {
    volatile char buf[70000];
    buf[n] = 1;
    return buf[n / 2] + sink;
}

int main(int argc, char **argv) {
    ra_main = __builtin_return_address(0);
    if (argc == 3 && strcmp(argv[1], "snapshot") == 0) {
        outdir = argv[2];
        sink = (int)level1(argc * 16);
        return 0;
    }
    return big_frame(argc) + (int)level1(argc);
}
