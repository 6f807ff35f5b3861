/* Test workload with known proportions: each round spins 5 ms in burn_a, 3 ms in burn_b, 2 ms in
 * burn_c, so a profile must attribute 50% / 30% / 20% of samples to them. Each round is scaled by a
 * random factor (same for all three): proportions stay exact, but a sampling period can no longer
 * alias with a fixed 10 ms round and favour one phase. Other weights (ms per round) give a changed
 * profile of the same code, for `ktrace diff`.
 * usage: burn SECONDS [A B C] */
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

volatile unsigned long sink;

#define SPIN(name)                                          \
	__attribute__((noinline)) void name(double seconds) \
	{                                                   \
		double end = now() + seconds;               \
		while (now() < end)                         \
			for (int i = 0; i < 20000; i++)      \
				sink += i;                  \
	}

SPIN(burn_a)
SPIN(burn_b)
SPIN(burn_c)

int main(int argc, char **argv)
{
	double end = now() + (argc > 1 ? atof(argv[1]) : 5);
	double a = argc > 4 ? atof(argv[2]) / 1000 : 0.005, b = argc > 4 ? atof(argv[3]) / 1000 : 0.003,
	       c = argc > 4 ? atof(argv[4]) / 1000 : 0.002;
	srand(1);
	while (now() < end) {
		double k = 0.5 + (double)rand() / RAND_MAX;
		burn_a(a * k);
		burn_b(b * k);
		burn_c(c * k);
	}
	return 0;
}
