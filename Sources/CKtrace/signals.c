#define _GNU_SOURCE
#include "ckt.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "deadline_internal.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

void kt_install_signal_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: a sleep ends early on Ctrl-C */
	sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends ktrace at once (the kernel detaches all) */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A parent may have spawned us with these blocked (the mask survives exec): unblock them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int kt_stop_requested(void) { return stop_requested; }

int kt_wait_ms(long ms)
{
	struct timespec end = kt_deadline_after(ms);
	while (!stop_requested) {
		if ((errno = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL)) == 0)
			break;
		if (errno != EINTR)
			break;
	}
	return stop_requested;
}

uint64_t kt_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
