/* CPU-bound benchmark workload: spin for SECONDS and print how many loop iterations per second were
 * done, so a tracer's overhead shows as fewer iterations. usage: loops SECONDS */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

volatile unsigned long sink;

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5, t0 = now(), t;
	unsigned long long n = 0;
	do {
		for (int i = 0; i < 100000; i++)
			sink += i;
		n += 100000;
	} while ((t = now()) - t0 < secs);
	printf("%.0f\n", n / (t - t0));
	return 0;
}
