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

/* What runs now on this CPU. Softirqs do not nest on one CPU, so one slot is enough. */
struct kt_running {
	__u64 entry_ts;
	__u32 vec;
	__u32 ksoftirqd;
	__u64 raise_ts[KT_NR_VEC]; /* first raise not yet served, 0 = none */
	__u64 scratch;
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
	struct kt_softirq_ctl *c = bpf_map_lookup_elem(&kt_ctl, &zero);
	if (!c)
		return 0;
	if (c->cpu >= 0 && c->cpu != (__s32)bpf_get_smp_processor_id())
		return 0;
	return c;
}

static __always_inline struct kt_vec_stats *stats_for(struct kt_softirq_ctl *c, __u32 vec)
{
	__u32 key = (c->epoch & 1) * KT_NR_VEC + vec;
	return bpf_map_lookup_elem(&kt_stats, &key);
}

static __always_inline int on_raise(unsigned int vec)
{
	__u32 zero = 0;
	struct kt_softirq_ctl *c = ctl_for_this_cpu();
	struct kt_running *r;

	if (!c || !c->latency || vec >= KT_NR_VEC)
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
	r->entry_ts = now;
	r->vec = vec;
	r->ksoftirqd = kt_in_ksoftirqd(&r->scratch);
	if (c->latency && r->raise_ts[vec]) {
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
