/* CPU-bound benchmark workload: spin for SECONDS and print how many loop iterations were done per second
 * of this process's CPU time. Time the hypervisor steals is not charged to the process, but interrupt
 * work (a tracer's sampling and BPF programs) is charged to the task it interrupts, so a tracer's
 * overhead shows as fewer iterations per CPU second while a noisy VM neighbour does not.
 * usage: loops SECONDS */
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
	struct timespec cpu;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	printf("%.0f\n", n / (cpu.tv_sec + cpu.tv_nsec / 1e9));
	return 0;
}
