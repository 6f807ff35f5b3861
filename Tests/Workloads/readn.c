/* --trace workload with a known answer: sleeps DELAY seconds (so the tracer attaches), makes exactly N
 * 1-byte read()s of /dev/zero, sleeps DELAY seconds again; prints "N START_NS END_NS", the loop's window
 * on CLOCK_MONOTONIC (bpf_ktime_get_ns' clock). usage: readn DELAY N */
#include <fcntl.h>
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

int main(int argc, char **argv)
{
	double delay = argc > 1 ? atof(argv[1]) : 1;
	long want = argc > 2 ? atol(argv[2]) : 1000, n = 0;
	struct timespec pause = { (time_t)delay, (long)((delay - (time_t)delay) * 1e9) };
	int fd = open("/dev/zero", O_RDONLY);
	char c;
	if (fd < 0)
		return 1;
	nanosleep(&pause, NULL);
	unsigned long long start = now_ns();
	for (long i = 0; i < want; i++)
		n += read(fd, &c, 1) == 1;
	unsigned long long end = now_ns();
	nanosleep(&pause, NULL);
	printf("%ld %llu %llu\n", n, start, end);
	return 0;
}
