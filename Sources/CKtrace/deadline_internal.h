/* CLOCK_MONOTONIC deadlines, for the C files of this module that wait with a bound. */
#ifndef KT_DEADLINE_INTERNAL_H
#define KT_DEADLINE_INTERNAL_H

#include <time.h>

/* Now on CLOCK_MONOTONIC, plus ms. */
static inline struct timespec kt_deadline_after(long ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

#endif
