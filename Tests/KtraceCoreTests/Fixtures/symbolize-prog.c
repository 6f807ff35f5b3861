/* Fixture for SymbolizeTests, built once and committed (commands in SymbolizeTests.swift).
 * noinline + aligned(64) keep each function separate with padding between them, so the
 * tests can check that padding is not attributed to the function before it. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline, aligned(64))) int leaf_add(int a, int b) { return a * 3 + b; }

__attribute__((noinline, aligned(64))) static int middle_static(int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += leaf_add(i, s);
    return s;
}

__attribute__((noinline, aligned(64), weak)) int weak_entry(int n) { return middle_static(n) + 1; }

/* One address, two names: a local one and a global alias; the global must win. */
__attribute__((noinline, aligned(64))) static int local_impl(int n) { return weak_entry(n) ^ 0x55; }
extern int exported_alias(int n) __attribute__((alias("local_impl")));

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10;
    printf("%d\n", exported_alias(n));
    return 0;
}
