/* bench-stacks.sh's `split` part: ktrace's sampling program alone, as `ktrace stacks --pid PID... -F HZ`
 * loads it, with or without its kernel stacks, timed by the kernel (BPF_STATS_RUN_TIME) for SECS.
 * Prints "runs ns_per_run". The difference between the two is what the stack costs; the rest is ktrace's
 * own per-sample work (filter, task name, clock grid, count key). Mode `walk` loads walk-floor.bpf.o
 * instead: the targets compared and the kernel's unwinder run, nothing else, the floor under any tracer.
 *
 * usage: sample-cost profile.bpf.o SECS HZ stack|nostack PID...
 *        sample-cost walk-floor.bpf.o SECS HZ walk PID... */
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "ktrace.h"

static int fail(const char *what)
{
	fprintf(stderr, "sample-cost: %s\n", what);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 6)
		return fail("usage: sample-cost OBJ SECS HZ stack|nostack|walk PID...");
	int secs = atoi(argv[2]), hz = atoi(argv[3]), kstack = strcmp(argv[4], "stack") == 0;
	int walk = strcmp(argv[4], "walk") == 0;
	const char *name = walk ? "walk_floor" : "kt_sample";
	if (walk && argc - 5 > 64) /* FLOOR_MAX_PIDS: a target left out would be turned away, and cost less */
		return fail("walk: at most 64 targets");
	libbpf_set_print(NULL);
	struct bpf_object *obj = bpf_object__open(argv[1]);
	if (!obj)
		return fail("cannot open the object");
	struct bpf_program *p, *prog = NULL;
	bpf_object__for_each_program(p, obj) {
		int want = strcmp(bpf_program__name(p), name) == 0;
		bpf_program__set_autoload(p, want);
		if (want)
			prog = p;
	}
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj) {
		size_t sz;
		if (walk) { /* walk-floor.bpf.c's only option: the targets, up to 64 */
			__u32 *pids = (__u32 *)bpf_map__initial_value(m, &sz);
			for (int i = 5; pids && strstr(bpf_map__name(m), ".rodata") && i < argc && (size_t)(i - 4) * 4 <= sz; i++)
				pids[i - 5] = (__u32)atoi(argv[i]);
			continue;
		}
		/* The options `stacks --pid KSOFTIRQD` sets (ProfileConfig.bpfConfig, ProfileSession: kernel threads
		 * take no user stacks), kernel stacks on or off. */
		struct kt_profile_config *c = (struct kt_profile_config *)bpf_map__initial_value(m, &sz);
		if (!strstr(bpf_map__name(m), ".rodata") || !c || sz < sizeof(*c))
			continue;
		memset(c, 0, sizeof(*c));
		c->filter = KT_FILTER_TGID;
		c->cpu = -1;
		c->kernel_stack = kstack;
		c->user_stack = 0; /* none for kernel threads (ProfileSession), the targets here */
		c->aggregate = 1;
		c->clock_period_ns = 1000000000ULL / hz;
	}
	if (!prog || bpf_object__load(obj))
		return fail(walk ? "cannot load walk_floor" : "cannot load kt_sample");
	int pids = walk ? -1 : bpf_object__find_map_fd_by_name(obj, "kt_pids");
	for (int i = 5; pids >= 0 && i < argc; i++) {
		__u32 k = (__u32)atoi(argv[i]);
		__u8 v = 1;
		bpf_map_update_elem(pids, &k, &v, 0);
	}
	struct kt_profile_ctl ctl = { .started = 1 };
	__u32 zero = 0;
	if (!walk)
		bpf_map_update_elem(bpf_object__find_map_fd_by_name(obj, "kt_pctl"), &zero, &ctl, 0);
	for (int cpu = 0; cpu < libbpf_num_possible_cpus(); cpu++) {
		struct perf_event_attr a = { .type = PERF_TYPE_SOFTWARE, .config = PERF_COUNT_SW_CPU_CLOCK,
					     .size = sizeof(a), .freq = 1, .sample_freq = (__u64)hz };
		int fd = (int)syscall(__NR_perf_event_open, &a, -1, cpu, -1, 0);
		if (fd >= 0 && !bpf_program__attach_perf_event(prog, fd))
			return fail("cannot attach to the CPU clock");
	}
	int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	struct bpf_prog_info a = {0}, b = {0};
	__u32 len = sizeof(a);
	bpf_obj_get_info_by_fd(bpf_program__fd(prog), &a, &len);
	sleep((unsigned)secs);
	len = sizeof(b);
	bpf_obj_get_info_by_fd(bpf_program__fd(prog), &b, &len);
	unsigned long long n = b.run_cnt - a.run_cnt, t = b.run_time_ns - a.run_time_ns;
	printf("%llu %llu\n", n, n ? t / n : 0);
	if (stats >= 0)
		close(stats);
	bpf_object__close(obj);
	return 0;
}
