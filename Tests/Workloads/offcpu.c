/* Off-CPU workload with known proportions. "mix": each round sleeps 7 ms in nanosleep under wait_sleep,
 * then blocks 3 ms on a pipe read under wait_pipe (a forked helper, another process, answers after
 * sleeping 3 ms), so 70% / 30% of the process's blocked time is in each. "vfork": each round blocks
 * 20 ms in uninterruptible sleep (D) under wait_vfork, waiting for a vforked child that sleeps.
 * "hotcold": each round spins 4 ms in spin, then sleeps 7 ms under wait_sleep: 36% on the CPU, 64% off.
 * "mix" prints the nanoseconds it spent in each wait, measured around the calls, and the blocked pieces
 * of its disturbed sleeps, which may block for less than 7 ms: a sleep preempted after arming its timer
 * and before blocking (it blocks for the rest only: seen on 6.1 under TCG), woken before its timer (the
 * kernel sleeps again for the rest: seen on 6.12), both counted by the thread's context switches around
 * the sleep; or one whose CPU stopped between arming the timer and blocking, unseen by the kernel (an
 * emulator running the other vCPU: single-threaded TCG runs one vCPU at a time, for up to 100 ms, while
 * the guest's clock goes on), which the thread's own CPU clock shows: it ran for part of the 7 ms, so it
 * blocked for less. Last, the time its sleeps surely blocked (wall time less its own CPU time) summed over
 * those that surely blocked 6.9 ms or more. "SLEEP_NS PIPE_NS SHORT_PIECES LONG_BLOCKED_NS".
 * "mix" also prints a line per round, "R T_NS SLEEP_NS PIPE_NS SHORT_PIECES LONG_BLOCKED_NS": the same
 * numbers so far, at T_NS on CLOCK_MONOTONIC, so that a test can take them over exactly the seconds a
 * tracer recorded (its attach can take seconds under emulation, and the waits' share moves meanwhile).
 * SIGTERM ends it early, after the round in progress, and it still prints.
 * usage: offcpu SECONDS [mix|vfork|hotcold] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

static void switches(long *voluntary, long *involuntary)
{
	struct rusage u;
	getrusage(RUSAGE_THREAD, &u);
	*voluntary = u.ru_nvcsw;
	*involuntary = u.ru_nivcsw;
}

static volatile sig_atomic_t stopped;

static void on_term(int sig) { (void)sig; stopped = 1; }

static double clock_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

/* This thread's CPU time, its running slice included (not the last tick's account, as getrusage). */
static double cpu_now(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }

/* Our frames call libc through one more of our own: libc has no frame pointers, so the frame that calls
 * into it is skipped by every frame-pointer unwinder (ktrace, perf, offcputime alike). */
__attribute__((noinline)) static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

__attribute__((noinline)) void wait_sleep(void) { sleep_ms(7); }

volatile unsigned long sink;

__attribute__((noinline)) void spin(double seconds)
{
	double end = now() + seconds;
	while (now() < end && !stopped)
		for (int i = 0; i < 20000; i++)
			sink += i;
}

__attribute__((noinline)) static void roundtrip(int to, int from)
{
	char c = 1;
	if (write(to, &c, 1) != 1 || read(from, &c, 1) != 1)
		exit(1);
}

__attribute__((noinline)) void wait_pipe(int to, int from) { roundtrip(to, from); }

__attribute__((noinline)) static pid_t start_child(void)
{
	pid_t p = vfork();
	if (p == 0) {
		struct timespec ts = { 0, 20000000L };
		nanosleep(&ts, NULL);
		_exit(0);
	}
	return p;
}

__attribute__((noinline)) void wait_vfork(void) { waitpid(start_child(), NULL, 0); }

int main(int argc, char **argv)
{
	double end = now() + (argc > 1 ? atof(argv[1]) : 5);
	const char *mode = argc > 2 ? argv[2] : "mix";

	signal(SIGTERM, on_term);

	if (strcmp(mode, "hotcold") == 0) {
		while (now() < end && !stopped) {
			spin(0.004);
			wait_sleep();
		}
		return 0;
	}
	if (strcmp(mode, "vfork") == 0) {
		while (now() < end && !stopped)
			wait_vfork();
		return 0;
	}
	int req[2], ans[2];
	if (pipe(req) || pipe(ans))
		return 1;
	pid_t helper = fork();
	if (helper == 0) {
		char c;
		close(req[1]); /* or its read never sees the end */
		close(ans[0]);
		while (read(req[0], &c, 1) == 1) {
			sleep_ms(3);
			if (write(ans[1], &c, 1) != 1)
				break;
		}
		_exit(0);
	}
	double in_sleep = 0, in_pipe = 0, long_blocked = 0;
	long split = 0;
	while (now() < end && !stopped) {
		long v0, i0, v1, i1;
		switches(&v0, &i0);
		double c0 = cpu_now(), t0 = now();
		wait_sleep();
		double t1 = now(), c1 = cpu_now();
		switches(&v1, &i1);
		/* The clock reads lie inside the CPU-time reads: wall minus CPU time is at most the time blocked. */
		double blocked_at_least = (t1 - t0) - (c1 - c0);
		if (v1 - v0 > 1 || i1 - i0 > 0)
			split += v1 - v0;
		else if (blocked_at_least < 0.0065)
			split += 1;
		if (blocked_at_least >= 0.0069)
			long_blocked += blocked_at_least;
		wait_pipe(req[1], ans[0]);
		double t2 = now();
		in_sleep += t1 - t0;
		in_pipe += t2 - t1;
		printf("R %.0f %.0f %.0f %ld %.0f\n", t2 * 1e9, in_sleep * 1e9, in_pipe * 1e9, split, long_blocked * 1e9);
	}
	close(req[1]);
	waitpid(helper, NULL, 0);
	printf("%.0f %.0f %ld %.0f\n", in_sleep * 1e9, in_pipe * 1e9, split, long_blocked * 1e9);
	return 0;
}
