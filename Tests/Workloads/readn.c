/* --trace workload with a known answer: waits for SIGUSR1 (the tracer has attached; at most DELAY
 * seconds), makes exactly N 1-byte read()s of /dev/zero, sleeps AFTER seconds; prints "N START_NS
 * END_NS", the loop's window on CLOCK_MONOTONIC (bpf_ktime_get_ns' clock). A start by the clock alone
 * raced slow attaches under emulation. usage: readn DELAY N [AFTER] */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void on_usr1(int sig) { (void)sig; }

static struct timespec seconds(double s) { return (struct timespec){ (time_t)s, (long)((s - (time_t)s) * 1e9) }; }

int main(int argc, char **argv)
{
	double delay = argc > 1 ? atof(argv[1]) : 1, after = argc > 3 ? atof(argv[3]) : 1;
	long want = argc > 2 ? atol(argv[2]) : 1000, n = 0;
	struct timespec pause = seconds(delay), rest = seconds(after);
	/* A handler (not SIG_IGN) so that SIGUSR1 ends the sleep with EINTR. */
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	int fd = open("/dev/zero", O_RDONLY);
	char c;
	if (fd < 0)
		return 1;
	nanosleep(&pause, NULL);
	unsigned long long start = now_ns();
	for (long i = 0; i < want; i++)
		n += read(fd, &c, 1) == 1;
	unsigned long long end = now_ns();
	nanosleep(&rest, NULL);
	printf("%ld %llu %llu\n", n, start, end);
	return 0;
}
