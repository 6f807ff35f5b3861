#define _GNU_SOURCE
#include "ckt.h"
#include "loader_internal.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <sys/utsname.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <unistd.h>

extern const unsigned char ktrace_profile_bpf[];
extern const unsigned char ktrace_profile_bpf_end[];

#define KT_MAX_CPUS 1024

_Static_assert((int)KT_SW_CPU_CLOCK == (int)PERF_COUNT_SW_CPU_CLOCK && (int)KT_SW_PAGE_FAULTS == (int)PERF_COUNT_SW_PAGE_FAULTS &&
	       (int)KT_SW_CONTEXT_SWITCHES == (int)PERF_COUNT_SW_CONTEXT_SWITCHES, "enum kt_sw_event is PERF_COUNT_SW_*");

struct kt_profile {
	struct kt_loaded l;
	const struct kt_profile_opts *o; /* valid during open only */
	int pmu_fds[KT_MAX_CPUS];
	struct bpf_link *pmu_links[KT_MAX_CPUS];
	int npmu;
	/* Every map and program used by name, bound once per load (kt_bind_maps): a missing one fails. */
	struct {
		struct bpf_map *pctl, *pstats, *pids, *stacks, *ustacks, *stacks_short, *ustacks_short, *counts, *events,
			*func_states, *offstart, *unwind_rows, *unwind_procs, *unwind_state;
	} map;
	struct bpf_program *sample_prog, *event_tp, *event_kprobe;
	struct bpf_link *event_link;   /* --event tracepoint or kprobe */
	struct bpf_program *fentry[KT_TRACE_MAX], *fexit[KT_TRACE_MAX], *kprobe[KT_TRACE_MAX], *kretprobe[KT_TRACE_MAX];
	struct bpf_link *kprobe_links[2 * KT_TRACE_MAX];
	int nkprobe_links;
	int stats_fd, counts_fd;
	int stack_fds[2][2];           /* the stack maps, [user][short]: see KT_STACK_SHORT_BIT */
	struct kt_unwind_row *rows_mem; /* kt_unwind_rows mapped (BPF_F_MMAPABLE), once rows are first written */
	size_t rows_len;
	struct ring_buffer *rb;
	struct kt_event *events;
	int nevents, capevents;
	char trace[KT_TRACE_MAX][128]; /* --trace functions, by slot */
	int ntrace;
	char config_err[256];          /* why the object cannot be set up (a --trace function, a missing map), set before load */
	int prealloc;                  /* stack maps preallocated (see KT_PREALLOC_STACKS) */
	int switch_state_arg;          /* sched_switch passes prev_state (asked of the kernel's BTF once per open) */
	struct kt_profile_ctl ctl;     /* what kt_pctl holds */
};

/* Kernels before 6.1 refuse hash maps allocated on demand in perf_event programs (no NMI-safe
 * allocator yet). 6.1's allocator, the first, lost stacks at the start of runs ("no memory in interrupt
 * context": 1 of 50 samples on 6.1, 1 of 68 on 6.1-rt, where irq_work refills run in a thread), while
 * 6.18 lost none of 6018. There, and on PREEMPT_RT, the stack maps are preallocated, sized down to keep
 * memory bounded. */
#define KT_PREALLOC_STACKS 16384

static int kernel_is_rt(void)
{
	FILE *f = fopen("/sys/kernel/realtime", "r");
	int rt = 0;
	if (f) {
		rt = fgetc(f) == '1';
		fclose(f);
	}
	return rt;
}

static int kernel_older_than(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;
	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return 0;
	return ma < major || (ma == major && mi < minor);
}

/* `used`: a map no program writes (the user stacks', when none are taken; the kernel stacks', with
 * --user-only and no wakers) is one entry, never preallocated in thousands. */
static int size_stack_map(struct kt_profile *p, struct bpf_map *m, int used)
{
	unsigned int n = used && p->o->sizes.stack_storage ? p->o->sizes.stack_storage : 1;
	if (!p->prealloc)
		return bpf_map__set_max_entries(m, n);
	return bpf_map__set_map_flags(m, bpf_map__map_flags(m) & ~BPF_F_NO_PREALLOC)
		?: bpf_map__set_max_entries(m, n < KT_PREALLOC_STACKS ? n : KT_PREALLOC_STACKS);
}

/* Split "f,g" into p->trace; the CLI has validated it, this only guards the C API. */
static int parse_trace(struct kt_profile *p, const char *list, char *err, size_t errlen)
{
	const char *s = list;
	while (s && *s) {
		size_t n = strcspn(s, ",");
		if (n == 0 || p->ntrace == KT_TRACE_MAX) {
			snprintf(err, errlen, "--trace %s: give 1 to %d comma-separated function names", list, KT_TRACE_MAX);
			return -EINVAL;
		}
		if (n >= sizeof(p->trace[0])) {
			snprintf(err, errlen, "--trace: a function name is longer than %zu characters", sizeof(p->trace[0]) - 1);
			return -EINVAL;
		}
		memcpy(p->trace[p->ntrace], s, n);
		p->trace[p->ntrace++][n] = 0;
		s += n + (s[n] == ',');
	}
	return 0;
}

/* Point the used fentry/fexit slots at their functions; the others are not loaded at all, so without
 * --trace the object loads exactly as before they existed. With kprobes, the used kprobe/kretprobe
 * slots load instead; they are attached by name after load (attach_kprobes). */
static int setup_trace(struct kt_profile *p)
{
	for (int i = 0; i < KT_TRACE_MAX; i++) {
		bpf_program__set_autoload(p->kprobe[i], p->o->timeline.trace_kprobes && i < p->ntrace);
		bpf_program__set_autoload(p->kretprobe[i], p->o->timeline.trace_kprobes && i < p->ntrace);
		struct bpf_program *progs[2] = { p->fentry[i], p->fexit[i] };
		for (int k = 0; k < 2; k++) {
			if (i >= p->ntrace || p->o->timeline.trace_kprobes) {
				bpf_program__set_autoload(progs[k], false);
				continue;
			}
			/* libbpf looks the function up in the kernel's BTF (vmlinux, then modules) here. */
			int rc = bpf_program__set_attach_target(progs[k], 0, p->trace[i]);
			if (rc) {
				if (rc == -ESRCH || rc == -ENOENT)
					snprintf(p->config_err, sizeof(p->config_err), "--trace %s: no such kernel function in BTF "
						 "(static or inlined functions may have no BTF entry)", p->trace[i]);
				else
					snprintf(p->config_err, sizeof(p->config_err), "--trace %s: cannot target it: %s",
						 p->trace[i], strerror(-rc));
				return rc;
			}
		}
	}
	return 0;
}

/* The object's handles, by name, in one table. */
static int bind_handles(struct kt_profile *p, struct bpf_object *obj)
{
	const struct kt_map_ref maps[] = {
		{ "kt_pctl", &p->map.pctl }, { "kt_pstats", &p->map.pstats }, { "kt_pids", &p->map.pids },
		{ "kt_stacks", &p->map.stacks }, { "kt_ustacks", &p->map.ustacks },
		{ "kt_stacks_short", &p->map.stacks_short }, { "kt_ustacks_short", &p->map.ustacks_short },
		{ "kt_counts", &p->map.counts },
		{ "kt_events", &p->map.events }, { "kt_func_states", &p->map.func_states },
		{ "kt_offstart", &p->map.offstart }, { "kt_unwind_rows", &p->map.unwind_rows },
		{ "kt_unwind_procs", &p->map.unwind_procs }, { "kt_unwind_state", &p->map.unwind_state },
	};
	struct kt_prog_ref progs[3 + 4 * KT_TRACE_MAX];
	char names[4 * KT_TRACE_MAX][20];
	struct bpf_program **slots[4] = { p->fentry, p->fexit, p->kprobe, p->kretprobe };
	static const char *kinds[4] = { "kt_fentry", "kt_fexit", "kt_kprobe", "kt_kretprobe" };
	int n = 0;
	/* The programs user space attaches itself: those of the unwinder when it is on (see features). */
	const int uw = p->o->config.unwind != 0;
	progs[n++] = (struct kt_prog_ref){ uw ? "kt_sample_unwound" : "kt_sample", &p->sample_prog };
	progs[n++] = (struct kt_prog_ref){ uw ? "kt_event_tracepoint_unwound" : "kt_event_tracepoint", &p->event_tp };
	progs[n++] = (struct kt_prog_ref){ uw ? "kt_event_kprobe_unwound" : "kt_event_kprobe", &p->event_kprobe };
	for (int k = 0; k < 4; k++) {
		for (int i = 0; i < KT_TRACE_MAX; i++) {
			char *name = names[k * KT_TRACE_MAX + i];
			snprintf(name, sizeof(names[0]), "%s%d", kinds[k], i);
			progs[n++] = (struct kt_prog_ref){ name, &slots[k][i] };
		}
	}
	int rc = kt_bind_maps(obj, maps, (int)(sizeof(maps) / sizeof(maps[0])));
	if (rc == 0)
		rc = kt_bind_progs(obj, progs, n);
	if (rc)
		kt_bind_error(p->config_err, sizeof(p->config_err));
	return rc;
}

/* Which programs load for which feature: the one table of this object (see struct kt_feature). The program
 * lists are static: the table outlives this function. */
static const char *const sampling_progs[] = { "kt_sample", NULL };
static const char *const sampling_unwound_progs[] = { "kt_sample_unwound", NULL };
static const char *const event_tp_progs[] = { "kt_event_tracepoint", NULL };
static const char *const event_tp_unwound_progs[] = { "kt_event_tracepoint_unwound", NULL };
static const char *const event_kprobe_progs[] = { "kt_event_kprobe", NULL };
static const char *const event_kprobe_unwound_progs[] = { "kt_event_kprobe_unwound", NULL };
static const char *const softirq_progs[] = { "softirq_entry", "softirq_exit", NULL };
static const char *const switch_progs[] = { "sched_switch", NULL };
static const char *const switch_unwound_progs[] = { "sched_switch_unwound", NULL };
static const char *const waking_progs[] = { "sched_waking", NULL };
static const char *const work_progs[] = { "kt_work_start", "kt_work_end", NULL };
static const char *const trace_progs[] = {
	"kt_sys_exit", "kt_task_exit",
	"kt_fentry0", "kt_fentry1", "kt_fentry2", "kt_fentry3", "kt_fentry4", "kt_fentry5", "kt_fentry6", "kt_fentry7",
	"kt_fexit0", "kt_fexit1", "kt_fexit2", "kt_fexit3", "kt_fexit4", "kt_fexit5", "kt_fexit6", "kt_fexit7",
	"kt_kprobe0", "kt_kprobe1", "kt_kprobe2", "kt_kprobe3", "kt_kprobe4", "kt_kprobe5", "kt_kprobe6", "kt_kprobe7",
	"kt_kretprobe0", "kt_kretprobe1", "kt_kretprobe2", "kt_kretprobe3", "kt_kretprobe4", "kt_kretprobe5", "kt_kretprobe6",
	"kt_kretprobe7", NULL,
};
_Static_assert(KT_TRACE_MAX == 8, "one name per slot above");

#define KT_PROFILE_FEATURES 12

/* Fills f[KT_PROFILE_FEATURES]; a row more or less fails the build. */
static int features(const struct kt_profile *p, struct kt_feature f[KT_PROFILE_FEATURES])
{
	const struct kt_profile_opts *o = p->o;
	const struct kt_profile_config *c = &o->config;
	/* A program that takes user stacks comes in two: the unwinder's (NAME_unwound) loads instead of the
	 * other when tables are on (profile.bpf.c, kt_sample). sched_switch takes them only for off-CPU time:
	 * the timeline's switch events carry none, so it keeps the plain one, which does not contain the
	 * walker (5.10 verifies it even where no call can reach it). */
	const int uw = c->unwind != 0, uw_switch = uw && c->offcpu;
	const struct kt_feature all[] = {
		{ "sampling", !o->sampling.off && !uw, sampling_progs },
		{ "sampling, unwind tables", !o->sampling.off && uw, sampling_unwound_progs },
		{ "--event tracepoint", o->sampling.tp_name != NULL && !uw, event_tp_progs },
		{ "--event tracepoint, unwind tables", o->sampling.tp_name != NULL && uw, event_tp_unwound_progs },
		{ "--event kprobe", o->sampling.kprobe_func != NULL && !uw, event_kprobe_progs },
		{ "--event kprobe, unwind tables", o->sampling.kprobe_func != NULL && uw, event_kprobe_unwound_progs },
		{ "softirq", c->softirq != 0, softirq_progs },
		{ "switches", (c->events || c->offcpu) && !uw_switch, switch_progs },
		{ "switches, unwind tables", (c->events || c->offcpu) && uw_switch, switch_unwound_progs },
		{ "wakers", c->offcpu && c->wakers, waking_progs },
		{ "work slices", c->events && o->timeline.work_slices, work_progs },
		/* Its fentry/fexit or kprobe slots are narrowed to the functions asked for by setup_trace. */
		{ "--trace", p->ntrace > 0, trace_progs },
	};
	_Static_assert(sizeof(all) / sizeof(all[0]) == KT_PROFILE_FEATURES, "KT_PROFILE_FEATURES is the table's size");
	memcpy(f, all, sizeof(all));
	return KT_PROFILE_FEATURES;
}

static int before_load(struct bpf_object *obj, void *ctx)
{
	struct kt_profile *p = ctx;
	const struct kt_profile_opts *o = p->o;
	int rc = bind_handles(p, obj) ?: setup_trace(p);

	struct kt_profile_config cfg = o->config;

	cfg.switch_state_arg = p->switch_state_arg;
	if (rc == 0 && (rc = kt_set_rodata(obj, "kt_cfg", &cfg, sizeof(cfg))) != 0)
		kt_bind_error(p->config_err, sizeof(p->config_err));

	/* Kernel stacks: the samples' and switch-outs' (kernel_stack), and the wakers' whatever kernel_stack says.
	 * Both maps of a kind are sized alike: a stack goes to one of the two by its depth. */
	const int kernel = cfg.kernel_stack || (cfg.offcpu && cfg.wakers);
	rc = rc ?: size_stack_map(p, p->map.stacks, kernel);
	rc = rc ?: size_stack_map(p, p->map.stacks_short, kernel);
	rc = rc ?: size_stack_map(p, p->map.ustacks, cfg.user_stack);
	rc = rc ?: size_stack_map(p, p->map.ustacks_short, cfg.user_stack);
	rc = rc ?: bpf_map__set_max_entries(p->map.counts, o->sizes.count_entries ? o->sizes.count_entries : 1);
	/* A ring buffer is a power-of-two number of pages. */
	unsigned long want = o->sizes.ringbuf_bytes ? o->sizes.ringbuf_bytes : 4096, size = 4096;
	while (size < want)
		size <<= 1;
	rc = rc ?: bpf_map__set_max_entries(p->map.events, (unsigned int)size);
	if (!p->ntrace)
		rc = rc ?: bpf_map__set_max_entries(p->map.func_states, 1);
	rc = rc ?: bpf_map__set_max_entries(p->map.offstart,
					    o->config.offcpu ? (o->sizes.offcpu_tasks ? o->sizes.offcpu_tasks : 16384) : 1);
	if (o->npids > 1024)
		rc = rc ?: bpf_map__set_max_entries(p->map.pids, (unsigned int)o->npids);
	/* Unwind tables: sized by user space from the tables it built before load (1 entry when off). */
	rc = rc ?: bpf_map__set_max_entries(p->map.unwind_rows, o->config.unwind && o->sizes.unwind_rows ? o->sizes.unwind_rows : 1);
	rc = rc ?: bpf_map__set_max_entries(p->map.unwind_procs, o->config.unwind && o->sizes.unwind_procs ? o->sizes.unwind_procs : 1);
	return rc;
}

/* Turns the ring buffer's events and off-CPU accounting on or off for every program at once, so that both
 * begin once everything is attached: the recording's window opens then (off-CPU time counted from the
 * sched_switch program's own attach made 3.11 s of a 3 s window on 5.10 under TCG, where attaching the
 * rest took 0.1 s). */
static int set_started(struct kt_profile *p, __u32 on)
{
	unsigned int zero = 0;

	p->ctl.started = on;
	return bpf_map_update_elem(bpf_map__fd(p->map.pctl), &zero, &p->ctl, BPF_ANY) ? -errno : 0;
}

static int after_load(struct bpf_object *obj, void *ctx)
{
	struct kt_profile *p = ctx;
	const struct kt_profile_opts *o = p->o;
	unsigned char one = 1;
	int pids_fd = bpf_map__fd(p->map.pids);

	(void)obj;
	for (int i = 0; i < o->npids; i++)
		if (bpf_map_update_elem(pids_fd, &o->pids[i], &one, BPF_ANY))
			return -errno;
	/* Timeline events begin once everything is attached (set_events): under TCG the programs attached
	 * seconds apart, and a call entered before its fexit was attached stayed open, the next ones nested
	 * under it (12 nested slices of 886 in a --pid run on 6.1). */
	return set_started(p, 0);
}

/* --trace with kprobes: entry and return probes on each function, by name. */
static int attach_kprobes(struct kt_profile *p, char *err, size_t errlen)
{
	for (int i = 0; i < p->ntrace; i++) {
		for (int ret = 0; ret < 2; ret++) {
			struct bpf_link *l = bpf_program__attach_kprobe(ret ? p->kretprobe[i] : p->kprobe[i], ret, p->trace[i]);
			if (!l) {
				int e = errno;
				char what[192];
				snprintf(what, sizeof(what), "--trace %s: attaching a %s", p->trace[i], ret ? "kretprobe" : "kprobe");
				if (e == ENOENT || e == EINVAL)
					snprintf(err, errlen, "%s: no such kernel function to probe (see /proc/kallsyms; inlined functions cannot be)", what);
				else
					kt_errmsg(err, errlen, what, e);
				return -e;
			}
			p->kprobe_links[p->nkprobe_links++] = l;
		}
	}
	return 0;
}

/* --event tracepoint:CAT:NAME or kprobe:FUNC: its one program on the one event. */
static int attach_event(struct kt_profile *p, const struct kt_profile_opts *o, char *err, size_t errlen)
{
	char what[256];
	if (o->sampling.tp_name) {
		/* libbpf reads the tracepoint's id from tracefs: unmounted (a fresh boot), the attach failed with
		 * ENOENT, said as "no such tracepoint". */
		if (kt_ensure_tracefs(err, errlen) != 0)
			return -ENOENT;
		p->event_link = bpf_program__attach_tracepoint(p->event_tp, o->sampling.tp_category, o->sampling.tp_name);
		snprintf(what, sizeof(what), "--event tracepoint:%s:%s", o->sampling.tp_category, o->sampling.tp_name);
	} else if (o->sampling.kprobe_func) {
		p->event_link = bpf_program__attach_kprobe(p->event_kprobe, 0, o->sampling.kprobe_func);
		snprintf(what, sizeof(what), "--event kprobe:%s: attaching a kprobe", o->sampling.kprobe_func);
	} else {
		return 0;
	}
	if (p->event_link)
		return 0;
	int e = errno;
	if (o->sampling.tp_name && e == ENOENT)
		snprintf(err, errlen, "%s: no such tracepoint on this kernel (see /sys/kernel/tracing/events)", what);
	else if (o->sampling.kprobe_func && (e == ENOENT || e == EINVAL))
		snprintf(err, errlen, "%s: no such kernel function to probe (see /proc/kallsyms; inlined functions cannot be)", what);
	else
		kt_errmsg(err, errlen, what, e);
	return -e;
}

static int open_pmu(struct kt_profile *p, const struct kt_profile_opts *o, int cpu, char *err, size_t errlen)
{
	struct perf_event_attr attr = { 0 };
	char what[96];
	int fd;

	attr.size = sizeof(attr);
	attr.type = o->sampling.hardware ? PERF_TYPE_HARDWARE : PERF_TYPE_SOFTWARE;
	attr.config = o->sampling.hardware ? PERF_COUNT_HW_CPU_CYCLES : o->sampling.sw_event;
	if (o->sampling.freq) {
		attr.freq = 1;
		attr.sample_freq = o->sampling.freq;
	} else {
		attr.sample_period = o->sampling.period;
	}
	fd = (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (o->sampling.hardware && (e == ENOENT || e == EOPNOTSUPP || e == ENODEV))
			snprintf(err, errlen, "hardware event 'cycles' is not available on CPU %d (no PMU, e.g. in a VM): use the default cpu-clock", cpu);
		else if (e == EINVAL && o->sampling.freq)
			snprintf(err, errlen, "perf_event_open: frequency %llu Hz rejected: above kernel.perf_event_max_sample_rate?",
				 (unsigned long long)o->sampling.freq);
		else {
			snprintf(what, sizeof(what), "perf_event_open on CPU %d", cpu);
			kt_errmsg(err, errlen, what, e);
		}
		return -e;
	}
	p->pmu_fds[p->npmu] = fd;
	p->pmu_links[p->npmu] = bpf_program__attach_perf_event(p->sample_prog, fd);
	if (!p->pmu_links[p->npmu]) {
		int e = errno;
		close(fd);
		kt_errmsg(err, errlen, "attaching the sampling program", e);
		return -e;
	}
	p->npmu++;
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct kt_profile *p = ctx;
	if (size < sizeof(struct kt_event))
		return 0;
	if (p->nevents == p->capevents) {
		int cap = p->capevents ? p->capevents * 2 : 4096;
		struct kt_event *ev = realloc(p->events, (size_t)cap * sizeof(*ev));
		if (!ev)
			return -ENOMEM;
		p->events = ev;
		p->capevents = cap;
	}
	memcpy(&p->events[p->nevents++], data, sizeof(struct kt_event));
	return 0;
}

int kt_profile_open(struct kt_profile **out, const struct kt_profile_opts *o, char *err, size_t errlen)
{
	struct kt_profile *p = calloc(1, sizeof(*p));
	int cpus[KT_MAX_CPUS], ncpus, rc;

	if (!p)
		return -ENOMEM;
	if ((rc = parse_trace(p, o->timeline.trace_funcs, err, errlen)) != 0) {
		free(p);
		return rc;
	}
	p->o = o;
	p->prealloc = kernel_older_than(6, 2) || kernel_is_rt() || getenv("KTRACE_PREALLOC_STACKS");
	/* Here, not in before_load: each load attempt (up to three attach kinds, twice with the preallocated
	 * retry) releases the parsed BTF first (loader.c), and a query there parsed it again each time. */
	p->switch_state_arg = kt_btf_tracepoint_args("sched_switch") >= 4;
	struct kt_feature table[KT_PROFILE_FEATURES];
	int nfeatures = features(p, table);
	rc = kt_load_and_attach(ktrace_profile_bpf, ktrace_profile_bpf_end, "profile", o->attach, table, nfeatures,
				before_load, after_load, p, &p->l, err, errlen);
	if (rc == -EINVAL && !p->prealloc && !p->config_err[0]) {
		/* A kernel that says 6.1+ but lacks on-demand allocation in perf_event programs (or a verifier
		 * rejection for another reason, which the second attempt reports as well). */
		p->prealloc = 1;
		rc = kt_load_and_attach(ktrace_profile_bpf, ktrace_profile_bpf_end, "profile", o->attach, table, nfeatures,
					before_load, after_load, p, &p->l, err, errlen);
	}
	p->o = NULL;
	if (rc) {
		if (p->config_err[0])
			snprintf(err, errlen, "%s", p->config_err);
		else if (p->ntrace) {
			/* Also say which option brought in the programs that failed. */
			char why[512];
			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errlen, "--trace %s: %s", o->timeline.trace_funcs, why);
		}
		free(p);
		return rc;
	}
	p->stats_fd = bpf_map__fd(p->map.pstats);
	p->counts_fd = bpf_map__fd(p->map.counts);
	p->stack_fds[0][0] = bpf_map__fd(p->map.stacks);
	p->stack_fds[0][1] = bpf_map__fd(p->map.stacks_short);
	p->stack_fds[1][0] = bpf_map__fd(p->map.ustacks);
	p->stack_fds[1][1] = bpf_map__fd(p->map.ustacks_short);
	if (o->sizes.ringbuf_bytes) {
		p->rb = ring_buffer__new(bpf_map__fd(p->map.events), on_event, p, NULL);
		if (!p->rb) {
			rc = -errno;
			kt_errmsg(err, errlen, "creating the ring buffer reader", rc);
			kt_profile_close(p);
			return rc;
		}
	}
	if ((rc = attach_event(p, o, err, errlen)) != 0) {
		kt_profile_close(p);
		return rc;
	}
	if (o->timeline.trace_kprobes && (rc = attach_kprobes(p, err, errlen)) != 0) {
		kt_profile_close(p);
		return rc;
	}
	if (o->sampling.cpu >= 0) {
		cpus[0] = o->sampling.cpu;
		ncpus = 1;
	} else {
		ncpus = kt_parse_online_cpus(cpus, KT_MAX_CPUS);
	}
	if (ncpus <= 0) {
		snprintf(err, errlen, "no online CPU found in /sys/devices/system/cpu/online");
		kt_profile_close(p);
		return -ENOENT;
	}
	for (int i = 0; i < ncpus && !o->sampling.off; i++) {
		if ((rc = open_pmu(p, o, cpus[i], err, errlen)) != 0) {
			kt_profile_close(p);
			return rc;
		}
	}
	*out = p;
	return 0;
}

int kt_profile_start(struct kt_profile *p)
{
	return set_started(p, 1);
}

int kt_profile_attach_kind(const struct kt_profile *p) { return p->l.kind; }

uint64_t kt_profile_kernel_skipped(const struct kt_profile *p)
{
	struct bpf_program *prog;
	uint64_t n = 0;

	bpf_object__for_each_program(prog, p->l.obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);
		memset(&info, 0, sizeof(info));
		if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
			n += info.recursion_misses;
	}
	return n;
}

int kt_profile_stack_prealloc(const struct kt_profile *p) { return p->prealloc ? KT_PREALLOC_STACKS : 0; }

int kt_profile_read_stats(struct kt_profile *p, struct kt_profile_stats *out)
{
	int n = libbpf_num_possible_cpus();
	struct kt_profile_stats *buf = calloc((size_t)n, sizeof(*buf));
	unsigned int zero = 0;

	memset(out, 0, sizeof(*out));
	if (!buf)
		return -ENOMEM;
	if (bpf_map_lookup_elem(p->stats_fd, &zero, buf)) {
		free(buf);
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		__u64 *dst = (__u64 *)out, *src = (__u64 *)&buf[i];
		for (size_t k = 0; k < sizeof(*out) / sizeof(__u64); k++)
			dst[k] += src[k];
	}
	free(buf);
	return 0;
}

int kt_profile_read_counts(struct kt_profile *p, struct kt_stack_key *keys, uint64_t *counts, int max)
{
	struct kt_stack_key cur, next;
	void *prev = NULL;
	int n = 0;

	/* One batched read where the kernel has it (5.6+): two syscalls instead of two per entry. */
	{
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		__u32 batch = 0, count = (__u32)max;
		int rc = bpf_map_lookup_batch(p->counts_fd, NULL, &batch, keys, counts, &count, &opts);
		if (rc == 0 || errno == ENOENT)
			return (int)count;
	}

	while (n < max && bpf_map_get_next_key(p->counts_fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(p->counts_fd, &next, &counts[n]) == 0)
			keys[n++] = next;
		cur = next;
		prev = &cur;
	}
	return n;
}

/* Read the entries of kt_counts keyed by epoch `epoch` into keys/counts from index `at` (up to max in all),
 * deleting them; returns the new fill. */
static int take_epoch(struct kt_profile *p, unsigned int epoch, struct kt_stack_key *keys, uint64_t *counts, int at, int max)
{
	int n = kt_profile_read_counts(p, keys + at, counts + at, max - at), kept = at;
	for (int i = at; i < at + n; i++) {
		if (keys[i].epoch != epoch)
			continue;
		bpf_map_delete_elem(p->counts_fd, &keys[i]);
		keys[kept] = keys[i];
		counts[kept++] = counts[i];
	}
	return kept;
}

int kt_profile_drain(struct kt_profile *p, struct kt_stack_key *keys, uint64_t *counts, int max, uint64_t *flip_ns)
{
	unsigned int old = p->ctl.epoch;
	/* Entries of the other epoch now are late samples of the interval drained last: a program that read
	 * the epoch before that flip and counted after that read (a CPU stalled past the settle, as single-
	 * threaded emulation does). They go into this interval. Left in place, such a key would be counted into
	 * again two intervals on, without storing its stacks again, after they were retired. */
	int kept = take_epoch(p, old ^ 1, keys, counts, 0, max);
	int rc = kt_flip_epoch(bpf_map__fd(p->map.pctl), &p->ctl, &p->ctl.epoch, flip_ns, NULL);
	if (rc)
		return -errno;
	/* Programs now key the other epoch: the old one's entries are final. */
	return take_epoch(p, old, keys, counts, kept, max);
}

_Static_assert(sizeof(struct kt_unwind_row) % 8 == 0, "an mmapable array lays its values out 8-byte aligned, back to back");

int kt_profile_unwind_rows(struct kt_profile *p, uint32_t first, const struct kt_unwind_row *rows, uint32_t n)
{
	int fd = bpf_map__fd(p->map.unwind_rows);
	uint32_t keys[4096], max = bpf_map__max_entries(p->map.unwind_rows);

	if (first > max || n > max - first)
		return -E2BIG;
	if (!p->rows_mem) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE), len = ((size_t)max * sizeof(*rows) + page - 1) / page * page;
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			p->rows_mem = m;
			p->rows_len = len;
		}
	}
	/* The rows are in place before the process entry that points at them is written (a syscall). */
	if (p->rows_mem) {
		memcpy(p->rows_mem + first, rows, (size_t)n * sizeof(*rows));
		return 0;
	}
	/* Not mapped: in batches (5.6+: one syscall per 4096 rows; libc's table is 28k rows), else one at a time. */
	for (uint32_t done = 0; done < n;) {
		uint32_t k = n - done < 4096 ? n - done : 4096, count = k;
		for (uint32_t i = 0; i < k; i++)
			keys[i] = first + done + i;
		if (bpf_map_update_batch(fd, keys, rows + done, &count, NULL)) {
			for (uint32_t i = 0; i < k; i++)
				if (bpf_map_update_elem(fd, &keys[i], &rows[done + i], BPF_ANY))
					return -errno;
		}
		done += k;
	}
	return 0;
}

int kt_profile_unwind_proc(struct kt_profile *p, uint32_t tgid, const struct kt_unwind_proc *proc)
{
	int fd = bpf_map__fd(p->map.unwind_procs);
	if (!proc)
		return bpf_map_delete_elem(fd, &tgid) && errno != ENOENT ? -errno : 0;
	return bpf_map_update_elem(fd, &tgid, proc, BPF_ANY) ? -errno : 0;
}

/* The map a stack id's frames are in: its kind's, short or not by the id. */
static int stack_fd(const struct kt_profile *p, int user, uint64_t id)
{
	return p->stack_fds[user != 0][(id & KT_STACK_SHORT_BIT) != 0];
}

int kt_profile_forget_stacks(struct kt_profile *p, int user, const uint64_t *ids, int n)
{
	int gone = 0;
	for (int i = 0; i < n; i++)
		gone += bpf_map_delete_elem(stack_fd(p, user, ids[i]), &ids[i]) == 0;
	return gone;
}

int kt_profile_read_stack(struct kt_profile *p, int user, uint64_t id, uint64_t *ips, int max)
{
	uint64_t buf[KT_MAX_STACK];
	int n = 0, width = id & KT_STACK_SHORT_BIT ? KT_SHORT_STACK : KT_MAX_STACK;

	if (!(id & KT_STACK_ID_BIT))
		return -ENOENT;
	if (bpf_map_lookup_elem(stack_fd(p, user, id), &id, buf))
		return -errno;
	while (n < width && n < max && buf[n]) {
		ips[n] = buf[n];
		n++;
	}
	return n;
}

/* Up to max stacks of one map, `width` frames each, into ids and vals (max * width frames); sets c->done
 * after its last one. */
static int read_map_stacks(int fd, struct kt_stack_cursor *c, uint64_t *ids, uint64_t *vals, int max, int width)
{
	if (!c->by_key) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		__u32 out = 0, count = (__u32)max;
		int rc = bpf_map_lookup_batch(fd, c->started ? &c->batch : NULL, &out, ids, vals, &count, &opts);
		if (rc == 0 || errno == ENOENT) {
			c->started = 1;
			c->done = rc != 0;
			c->batch = out;
			return (int)count;
		}
		if (c->started || (errno != EINVAL && errno != 524 /* ENOTSUPP */ && errno != EOPNOTSUPP))
			return -errno;
		c->by_key = 1;
	}
	int n = 0;
	while (n < max) {
		uint64_t next;
		if (bpf_map_get_next_key(fd, c->started ? &c->last_key : NULL, &next)) {
			c->done = 1;
			break;
		}
		if (bpf_map_lookup_elem(fd, &next, &vals[(size_t)n * width]) == 0)
			ids[n++] = next;
		c->last_key = next;
		c->started = 1;
	}
	return n;
}

int kt_profile_read_stacks(struct kt_profile *p, int user, struct kt_stack_cursor *c, uint64_t *ids, uint64_t *ips,
			   int max)
{
	user = user != 0;
	if (c->done)
		return 0;
	if (c->map == 1)
		return read_map_stacks(p->stack_fds[user][0], c, ids, ips, max, KT_MAX_STACK);
	/* The short map first, read into the front of ips and spread out to KT_MAX_STACK frames each from the
	 * last one back (entry i moves from i * KT_SHORT_STACK up to i * KT_MAX_STACK, past every entry before
	 * it), each zero-terminated. Then the deep stacks' map, from its start. */
	int n = read_map_stacks(p->stack_fds[user][1], c, ids, ips, max, KT_SHORT_STACK);
	for (int i = n - 1; i >= 0; i--) {
		memmove(&ips[(size_t)i * KT_MAX_STACK], &ips[(size_t)i * KT_SHORT_STACK], KT_SHORT_STACK * sizeof(*ips));
		ips[(size_t)i * KT_MAX_STACK + KT_SHORT_STACK] = 0;
	}
	if (n >= 0 && c->done)
		*c = (struct kt_stack_cursor){ .map = 1, .by_key = c->by_key };
	return n;
}

int kt_profile_poll(struct kt_profile *p, int timeout_ms)
{
	if (!p->rb)
		return 0;
	int rc = ring_buffer__poll(p->rb, timeout_ms);
	if (rc < 0 && rc != -EINTR)
		return rc;
	return p->nevents;
}

const struct kt_event *kt_profile_events(const struct kt_profile *p) { return p->events; }

void kt_profile_clear_events(struct kt_profile *p) { p->nevents = 0; }

void kt_profile_stop(struct kt_profile *p)
{
	/* The events end before the first program detaches, for the same reason they begin late. */
	if (p->l.nlinks || p->nkprobe_links || p->event_link)
		set_started(p, 0);
	/* Destroying a perf-event link closes its perf fd too: no close() here. */
	for (int i = 0; i < p->npmu; i++) {
		if (p->pmu_links[i])
			bpf_link__destroy(p->pmu_links[i]);
		p->pmu_links[i] = NULL;
		p->pmu_fds[i] = -1;
	}
	p->npmu = 0;
	if (p->event_link)
		bpf_link__destroy(p->event_link);
	p->event_link = NULL;
	for (int i = 0; i < p->nkprobe_links; i++)
		bpf_link__destroy(p->kprobe_links[i]);
	p->nkprobe_links = 0;
	for (int i = 0; i < p->l.nlinks; i++)
		bpf_link__destroy(p->l.links[i]);
	p->l.nlinks = 0;
}

void kt_profile_close(struct kt_profile *p)
{
	if (!p)
		return;
	kt_profile_stop(p);
	if (p->rb)
		ring_buffer__free(p->rb);
	if (p->rows_mem)
		munmap(p->rows_mem, p->rows_len);
	kt_unload(&p->l);
	free(p->events);
	free(p);
}
