/* Test workload that lives in the kernel: 16 KiB writes into a memory file (the kernel copies them: most
 * of its time is in the write path, vfs_write and below) and getppid() in a loop. Writes to /dev/null
 * instead cost the kernel almost nothing beyond syscall entry and exit, whose share grows with the
 * kernel's entry code (6.12 under TCG: 6.7% of samples in the write path).
 * usage: syscalls SECONDS */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	int fd = memfd_create("ktrace-syscalls", 0);
	static char buf[16384];
	time_t end = time(NULL) + (time_t)seconds + 1;
	if (fd < 0)
		return 1;
	while (time(NULL) < end) {
		for (int i = 0; i < 1000; i++) {
			if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
				return 1;
			getppid();
		}
	}
	return 0;
}
