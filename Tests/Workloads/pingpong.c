/* Context-switch-heavy workload: two processes pinned to one CPU pass a byte back and forth over two
 * pipes, so each round trip is two blocking reads and two context switches. Prints the wall-clock
 * nanoseconds per round trip (the CPU is theirs alone, so wall time is their CPU time plus whatever runs
 * at each switch: a tracer's programs).
 * usage: pingpong ROUNDTRIPS CPU */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(argc > 2 ? atoi(argv[2]) : 0, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return 1;
	int ab[2], ba[2];
	if (pipe(ab) || pipe(ba))
		return 1;
	char c = 0;
	pid_t child = fork();
	if (child == 0) {
		close(ab[1]); /* or its read never sees the end */
		close(ba[0]);
		while (read(ab[0], &c, 1) == 1 && write(ba[1], &c, 1) == 1)
			;
		_exit(0);
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
		if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
			return 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(ab[1]);
	waitpid(child, NULL, 0);
	printf("%.0f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n);
	return 0;
}
