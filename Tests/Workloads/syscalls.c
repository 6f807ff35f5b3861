/* Test workload that lives in the kernel: small writes to /dev/null and getppid() in a loop.
 * usage: syscalls SECONDS */
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	int fd = open("/dev/null", O_WRONLY);
	char buf[64] = { 0 };
	time_t end = time(NULL) + (time_t)seconds + 1;
	while (time(NULL) < end) {
		for (int i = 0; i < 10000; i++) {
			if (write(fd, buf, sizeof(buf)) < 0)
				return 1;
			getppid();
		}
	}
	return 0;
}
