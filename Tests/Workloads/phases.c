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

#if defined(__x86_64__)
#include <x86intrin.h>
/* Spin on the TSC, inline: no call out of the phase function while it runs, so every sample's stack
 * holds it (a sample in a callee's prologue or in the vDSO can lose its caller with frame pointers). */
static double tsc_per_s;

static void calibrate(void)
{
	double t0 = now();
	unsigned long long c0 = __rdtsc();
	while (now() - t0 < 0.05)
		;
	tsc_per_s = (double)(__rdtsc() - c0) / (now() - t0);
}

static inline void spin(double seconds)
{
	unsigned long long end = __rdtsc() + (unsigned long long)(seconds * tsc_per_s);
	while (__rdtsc() < end)
		sink++;
}
#else
static void calibrate(void) {}

static void spin(double seconds)
{
	double end = now() + seconds;
	while (now() < end)
		for (int i = 0; i < 20000; i++)
			sink += i;
}
#endif

__attribute__((noinline)) void phase_a(void) { spin(0.030); }
__attribute__((noinline)) void phase_b(void) { spin(0.020); }
__attribute__((noinline)) void phase_c(void) { spin(0.010); }

int main(int argc, char **argv)
{
	double end = now() + (argc > 1 ? atof(argv[1]) : 5);
	struct timespec pause = { 0, 40 * 1000 * 1000 };
	calibrate();
	while (now() < end) {
		phase_a();
		phase_b();
		phase_c();
		nanosleep(&pause, NULL);
	}
	return 0;
}
