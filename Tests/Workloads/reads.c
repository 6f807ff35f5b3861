/* --trace workload: read() one byte from /dev/zero in a loop for SECONDS, sleeping 1 ms every 10 reads
 * so it stays light (some thousands of reads per second); prints the number of reads (each one is one vfs_read call).
 * usage: reads SECONDS */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5, t0 = now();
	int fd = open("/dev/zero", O_RDONLY);
	unsigned long n = 0;
	char c;
	if (fd < 0)
		return 1;
	while (now() - t0 < secs) {
		for (int i = 0; i < 10; i++)
			n += read(fd, &c, 1) == 1;
		usleep(1000);
	}
	printf("%lu\n", n);
	return 0;
}
