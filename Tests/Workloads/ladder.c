/* ktrace-cflags: -O1 -g -fno-omit-frame-pointer -fno-optimize-sibling-calls
 * Off-CPU user stacks of every depth in a range, each known frame for frame, for the limits at 32 frames
 * (a stack of at most 32 frames goes to the short stack maps; the scheduler's tracepoints first ask for 32
 * frames and ask again for the whole depth only when all 32 came back).
 *
 *   ladder FROM TO LANES SECONDS
 *       main -> climb -> lane_L -> rung x (K + 1) -> nap, which sleeps 2 ms, for every depth K from FROM to
 *       TO and, at each, every lane L below LANES (at most 3), round and round until SECONDS have passed:
 *       every stack sleeps as long. The lanes multiply the distinct stacks: 25 depths in 3 lanes are more
 *       stacks than ktrace reads one at a time (it reads its maps whole, in batches, past 64).
 *
 * nap makes its nanosleep with its own syscall instruction: no libc frame under it, so frame pointers
 * (this file keeps them) and unwind tables both walk every frame above main. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if !defined(__x86_64__)
#error "ladder makes its syscall in x86-64 assembly"
#endif

volatile unsigned long sink;

__attribute__((noinline)) void nap(void)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	long ret;
	/* nanosleep(&ts, NULL): syscall 35 on x86-64. */
	__asm__ volatile("syscall" : "=a"(ret) : "0"(35L), "D"(&ts), "S"(0L) : "rcx", "r11", "memory");
	sink += (unsigned long)ret;
}

__attribute__((noinline)) int rung(int n)
{
	if (n <= 0)
		nap();
	else
		sink += rung(n - 1); /* work after the call: a real call, never a loop */
	return n;
}

/* Three callers of rung, each its own frame (and unlike the others, so that no pass folds them into one). */
__attribute__((noinline)) void lane_0(int k) { sink += rung(k); }
__attribute__((noinline)) void lane_1(int k) { sink += rung(k) + 1; }
__attribute__((noinline)) void lane_2(int k) { sink += rung(k) + 2; }

__attribute__((noinline)) void climb(int from, int to, int lanes, double seconds)
{
	void (*const lane[])(int) = { lane_0, lane_1, lane_2 };
	struct timespec start, t;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int k = from;; k = k == to ? from : k + 1) {
		for (int l = 0; l < lanes; l++)
			lane[l](k);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - start.tv_sec) + (t.tv_nsec - start.tv_nsec) / 1e9 >= seconds)
			return;
	}
}

int main(int argc, char **argv)
{
	int from = argc == 5 ? atoi(argv[1]) : 0, to = argc == 5 ? atoi(argv[2]) : 0;
	int lanes = argc == 5 ? atoi(argv[3]) : 0;
	double seconds = argc == 5 ? atof(argv[4]) : 0;
	if (argc != 5 || from < 0 || to < from || lanes < 1 || lanes > 3 || !(seconds > 0)) {
		fprintf(stderr, "usage: ladder FROM TO LANES SECONDS (0 <= FROM <= TO, 1 <= LANES <= 3, SECONDS > 0)\n");
		return 2;
	}
	climb(from, to, lanes, seconds);
	printf("%lu\n", sink);
	return 0;
}
