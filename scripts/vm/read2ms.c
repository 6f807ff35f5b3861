/* vmtest --trace pairing workload: one thread, one 1-byte read() of /dev/zero every 2 ms for SECONDS;
 * prints how many reads it made. usage: read2ms SECONDS */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec t0, t, pause = {0, 2000000};
	double secs = argc > 1 ? atof(argv[1]) : 2;
	int fd = open("/dev/zero", O_RDONLY);
	unsigned long n = 0;
	char c;
	if (fd < 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		n += read(fd, &c, 1) == 1;
		nanosleep(&pause, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
	printf("%lu\n", n);
	return 0;
}
