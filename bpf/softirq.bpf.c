// SPDX-License-Identifier: GPL-2.0
/* ktrace softirq: per-CPU, per-vector run time, ksoftirqd/inline split and raise->entry latency. */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * KT_NR_VEC);
	__type(key, __u32);
	__type(value, struct kt_vec_stats);
} kt_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_softirq_ctl);
} kt_ctl SEC(".maps");

const volatile struct kt_softirq_config kt_scfg = { .cpu = -1 };

/* Set before load, 0 = off. The distance from this CPU's runqueue to its kstat: both are per-CPU
 * variables of vmlinux, so the distance is the difference of their offsets in the per-CPU section
 * (user space reads them from the kernel's BTF). The runqueue is reached from the current task. */
const volatile long kt_kstat_from_rq = 0;

/* What runs now on this CPU. Softirqs do not nest on one CPU, so one slot is enough. */
struct kt_running {
	__u64 entry_ts;
	__u32 vec;
	__u32 ksoftirqd;
	__u64 raise_ts[KT_NR_VEC]; /* first raise not yet served, 0 = none */
	__u64 scratch;
	__u32 kstat_seen[KT_NR_VEC]; /* the kernel's count of the vector at its last traced entry, 0 = none yet */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_running);
} kt_run SEC(".maps");

static __always_inline struct kt_softirq_ctl *ctl_for_this_cpu(void)
{
	__u32 zero = 0;
	if (kt_scfg.cpu >= 0 && kt_scfg.cpu != (__s32)bpf_get_smp_processor_id())
		return 0;
	return bpf_map_lookup_elem(&kt_ctl, &zero);
}

static __always_inline struct kt_vec_stats *stats_for(struct kt_softirq_ctl *c, __u32 vec)
{
	__u32 key = (c->epoch & 1) * KT_NR_VEC + vec;
	return bpf_map_lookup_elem(&kt_stats, &key);
}

/* This CPU's kstat.softirqs[vec], the count /proc/softirqs prints (0 when it cannot be read). The kernel
 * bumps it just before the softirq_entry tracepoint, in the same loop of handle_softirqs. */
static __always_inline __u32 kstat_runs(unsigned int vec)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct kernel_stat *k;
	struct rq *rq;
	__u32 n = 0;

	if (!bpf_core_field_exists(t->se.cfs_rq))
		return 0;
	rq = BPF_CORE_READ(t, se.cfs_rq, rq);
	if (!rq)
		return 0;
	k = (struct kernel_stat *)((char *)rq + kt_kstat_from_rq);
	bpf_probe_read_kernel(&n, sizeof(n), &k->softirqs[vec]);
	return n;
}

/* Runs the kernel counted between this traced entry and the previous one of the same vector on this CPU,
 * beyond this one, were shown by no tracepoint. Seen on a 6.18 guest: while a thread of one process (the
 * sandbox's own PID 1) ran on a CPU, no tracepoint fired there at all, yet softirqs ran inline at its irq
 * exits; /proc/softirqs counted them. Such runs are counted here rather than lost silently. A count that
 * could not be read (0), or a step too large to be runs (a count read from elsewhere), only resets the
 * baseline; the u32 difference is right across a wrap. */
static __always_inline void count_untraced(struct kt_softirq_ctl *c, struct kt_running *r, unsigned int vec)
{
	struct kt_vec_stats *s;
	__u32 n, last, step;

	if (!kt_kstat_from_rq || vec >= KT_NR_VEC)
		return;
	n = kstat_runs(vec);
	last = r->kstat_seen[vec];
	r->kstat_seen[vec] = n;
	if (!n || !last)
		return;
	step = n - last;
	if (step <= 1 || step > 1000000)
		return;
	s = stats_for(c, vec);
	if (s)
		s->untraced += step - 1;
}

static __always_inline int on_raise(unsigned int vec)
{
	__u32 zero = 0;
	struct kt_softirq_ctl *c = ctl_for_this_cpu();
	struct kt_running *r;

	if (!kt_scfg.latency || !c || vec >= KT_NR_VEC)
		return 0;
	r = bpf_map_lookup_elem(&kt_run, &zero);
	/* Keep the first raise: a re-raise before entry must not move the start later. */
	if (r && r->raise_ts[vec] == 0)
		r->raise_ts[vec] = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int on_entry(unsigned int vec)
{
	__u32 zero = 0;
	struct kt_softirq_ctl *c = ctl_for_this_cpu();
	struct kt_running *r;
	struct kt_vec_stats *s;
	__u64 now;

	if (!c || vec >= KT_NR_VEC)
		return 0;
	r = bpf_map_lookup_elem(&kt_run, &zero);
	if (!r)
		return 0;
	now = bpf_ktime_get_ns();
	/* A run still open means its exit was missed: say so rather than time it. */
	if (r->entry_ts && r->vec < KT_NR_VEC) {
		s = stats_for(c, r->vec);
		if (s)
			s->lost_exits++;
	}
	count_untraced(c, r, vec);
	r->entry_ts = now;
	r->vec = vec;
	r->ksoftirqd = kt_in_ksoftirqd(&r->scratch);
	if (kt_scfg.latency && r->raise_ts[vec]) {
		__u64 lat = now - r->raise_ts[vec];
		r->raise_ts[vec] = 0;
		s = stats_for(c, vec);
		if (s) {
			s->lat_count++;
			s->lat_total_ns += lat;
			if (lat > s->lat_max_ns)
				s->lat_max_ns = lat;
			s->lat_hist[kt_slot(lat)]++;
		}
	}
	return 0;
}

static __always_inline int on_exit(unsigned int vec)
{
	__u32 zero = 0;
	struct kt_softirq_ctl *c = ctl_for_this_cpu();
	struct kt_running *r;
	struct kt_vec_stats *s;
	__u64 dur;

	if (!c || vec >= KT_NR_VEC)
		return 0;
	r = bpf_map_lookup_elem(&kt_run, &zero);
	s = stats_for(c, vec);
	if (!r || !s)
		return 0;
	/* An exit whose entry we never saw (attached mid-softirq) is discarded, never timed. */
	if (r->entry_ts == 0 || r->vec != vec) {
		s->orphan_exits++;
		return 0;
	}
	dur = bpf_ktime_get_ns() - r->entry_ts;
	r->entry_ts = 0;
	s->count++;
	s->total_ns += dur;
	if (dur > s->max_ns)
		s->max_ns = dur;
	s->hist[kt_slot(dur)]++;
	if (r->ksoftirqd) {
		s->ksoftirqd_count++;
		s->ksoftirqd_ns += dur;
	}
	return 0;
}

KT_SOFTIRQ_PROGS(softirq_raise, on_raise)
KT_SOFTIRQ_PROGS(softirq_entry, on_entry)
KT_SOFTIRQ_PROGS(softirq_exit, on_exit)
