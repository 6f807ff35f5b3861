// loopsend N CPU: send N UDP datagrams to itself over loopback, pinned to CPU, reading each back. Each
// send runs NET_RX inline (softirq raise, entry, exit) in this thread's context, so a tracer's cost per
// softirq event shows up in this process's CPU time. Prints this process's CPU nanoseconds per datagram.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(argc > 2 ? atoi(argv[2]) : 0, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) { perror("sched_setaffinity"); return 2; }
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) || getsockname(s, (struct sockaddr *)&a, &len)) {
		perror("socket"); return 2;
	}
	char buf[64] = "ktrace";
	struct timespec t0, t1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (long i = 0; i < n; i++) {
		if (sendto(s, buf, sizeof(buf), 0, (struct sockaddr *)&a, sizeof(a)) < 0) { perror("sendto"); return 2; }
		if (recv(s, buf, sizeof(buf), 0) < 0) { perror("recv"); return 2; }
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	printf("%.1f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n);
	return 0;
}
