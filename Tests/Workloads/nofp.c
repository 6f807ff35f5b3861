/* ktrace-cflags: -O2 -g -fomit-frame-pointer -fno-optimize-sibling-calls -fno-inline
 * A workload without frame pointers, as distribution binaries are built, whose call chains are known: for
 * the table unwinder (--unwind dwarf), which must find them where frame pointers cannot.
 *
 *   nofp cpu DEPTH SECONDS   main -> outer -> chain x DEPTH -> sorter -> libc's qsort -> by_value, which
 *                            spins in every comparison: nearly every CPU sample is in by_value or qsort,
 *                            under exactly DEPTH chain frames.
 *   nofp sleep SECONDS       main -> napper -> nap -> libc's nanosleep, 5 ms at a time: off-CPU stacks
 *                            whose libc frame's caller is nap.
 * rbp is an ordinary register here, so a frame-pointer walk finds garbage past the first frame. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double deadline;
volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) int by_value(const void *a, const void *b)
{
	/* Keep rbp busy as a general register, as optimised code does. */
	unsigned long x = *(const int *)a, y = *(const int *)b;
	for (int i = 0; i < 2000; i++) {
		x = x * 6364136223846793005UL + y;
		y ^= x >> 7;
	}
	sink += x;
	return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) void sorter(void)
{
	int v[64];
	while (now() < deadline) {
		for (int i = 0; i < 64; i++)
			v[i] = (int)((i * 7919 + sink) % 101);
		qsort(v, 64, sizeof v[0], by_value);
		sink += v[0];
	}
}

__attribute__((noinline)) int chain(int n)
{
	if (n <= 0) {
		sorter();
		return 0;
	}
	int r = chain(n - 1);
	sink += r; /* work after the call (a volatile store): a real call, never turned into a loop */
	return r + 1;
}

__attribute__((noinline)) void outer(int depth) { sink += chain(depth); }

__attribute__((noinline)) void nap(void)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	sink++;
}

__attribute__((noinline)) void napper(void)
{
	while (now() < deadline)
		nap();
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "cpu") == 0) {
		deadline = now() + atof(argv[3]);
		outer(atoi(argv[2]));
	} else if (argc == 3 && strcmp(argv[1], "sleep") == 0) {
		deadline = now() + atof(argv[2]);
		napper();
	} else {
		fprintf(stderr, "usage: nofp cpu DEPTH SECONDS | nofp sleep SECONDS\n");
		return 2;
	}
	printf("%lu\n", sink);
	return 0;
}
