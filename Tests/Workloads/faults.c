/* Page-fault workload with known proportions: each round maps 4 fresh anonymous pages, touches 3 of
 * them in touch_three and 1 in touch_one (one fault per page), then unmaps them: 75% / 25% of the
 * page faults, and one mmap per round in map_round. IDLE_BEFORE and IDLE_AFTER seconds of sleep around
 * the work keep do_mmap quiet while a tracer patches a probe into it; SIGUSR1 ends the first sleep (the
 * tracer has attached: a start by the clock alone raced slow attaches under emulation), SIGTERM the work.
 * usage: faults SECONDS [IDLE_BEFORE IDLE_AFTER] */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long page;
static unsigned long rounds;

/* Called by the touch functions so that they are not leaves: GCC gives leaves no frame pointer, and
 * the unwinder then skips their caller. */
__attribute__((noinline)) void count_round(void) { rounds++; asm volatile(""); }

__attribute__((noinline)) void touch_three(volatile char *p)
{
	for (int i = 0; i < 3; i++)
		p[i * page] = 1;
	count_round();
}

__attribute__((noinline)) void touch_one(volatile char *p)
{
	p[3 * page] = 1;
	count_round();
}

__attribute__((noinline)) char *map_round(void)
{
	char *p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		exit(1);
	return p;
}

static void on_usr1(int sig) { (void)sig; }

/* Sleeps that many seconds, or until a signal with a handler arrives. */
static void pause_for(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	if (argc > 2)
		pause_for(atof(argv[2]));
	double end = now() + (argc > 1 ? atof(argv[1]) : 5);
	page = sysconf(_SC_PAGESIZE);
	while (now() < end) {
		for (int k = 0; k < 100; k++) {
			char *p = map_round();
			touch_three(p);
			touch_one(p);
			munmap(p, 4 * page);
		}
		usleep(1000); /* a few thousand faults a second, not a flood */
	}
	if (argc > 3)
		pause_for(atof(argv[3]));
	return 0;
}
