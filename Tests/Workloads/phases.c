/* Test workload with a known order: phase_a for 30 ms, then phase_b for 20 ms, then phase_c for 10 ms,
 * then 40 ms asleep, repeated. A timeline must show A -> B -> C with those durations.
 * usage: phases SECONDS */
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

volatile unsigned long sink;

static void spin(double seconds)
{
	double end = now() + seconds;
	while (now() < end)
		for (int i = 0; i < 20000; i++)
			sink += i;
}

__attribute__((noinline)) void phase_a(void) { spin(0.030); }
__attribute__((noinline)) void phase_b(void) { spin(0.020); }
__attribute__((noinline)) void phase_c(void) { spin(0.010); }

int main(int argc, char **argv)
{
	double end = now() + (argc > 1 ? atof(argv[1]) : 5);
	struct timespec pause = { 0, 40 * 1000 * 1000 };
	while (now() < end) {
		phase_a();
		phase_b();
		phase_c();
		nanosleep(&pause, NULL);
	}
	return 0;
}
