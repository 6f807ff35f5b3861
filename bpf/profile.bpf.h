/* What every feature of profile.bpf.c shares: its static options (kt_cfg, .rodata), its run-time control
 * (kt_pctl), its loss counters, the per-CPU state and the target filter. Each feature has a header of its
 * own (stacks, events, softirq_now, work, offcpu, functrace); profile.bpf.c holds the programs. */
#ifndef KTRACE_PROFILE_BPF_H
#define KTRACE_PROFILE_BPF_H

#include "common.bpf.h"

/* Written by user space before load; the verifier reads it as constants and drops the code of features
 * left off: a `stacks` run carries no off-CPU, event or work code. */
const volatile struct kt_profile_config kt_cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_profile_ctl);
} kt_pctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_profile_stats);
} kt_pstats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} kt_pids SEC(".maps");

/* Per CPU: the softirq running now (vector + 1, KT_SOFTIRQ_NONE) and when it started. */
struct kt_cpu_state {
	__u64 entry_ts;
	__u32 softirq;
	__u32 ksoftirqd;
	__u64 scratch;
	__u64 seen;       /* --event tracepoint/kprobe occurrences on this CPU (for kt_cfg.every) */
	__u64 clock_grid_ns; /* the CPU clock's slot of its previous sample on this CPU (kt_cfg.clock_period_ns) */
	__s64 sched_offset;  /* off-CPU: the tracepoints' clock less the runqueue's at a switch, the least lately */
	__u64 sched_offset_ts; /* when sched_offset was last taken or followed (0: not yet) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_cpu_state);
} kt_cpu SEC(".maps");

static __always_inline struct kt_profile_ctl *get_ctl(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&kt_pctl, &zero);
}

static __always_inline struct kt_profile_stats *get_stats(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&kt_pstats, &zero);
}

static __always_inline struct kt_cpu_state *get_cpu_state(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&kt_cpu, &zero);
}

/* Events and off-CPU time are counted between kt_profile_start and kt_profile_stop. */
static __always_inline bool started(void)
{
	struct kt_profile_ctl *c = get_ctl();
	return c && c->started;
}

static __always_inline bool cpu_wanted(void)
{
	return kt_cfg.cpu < 0 || kt_cfg.cpu == (__s32)bpf_get_smp_processor_id();
}

/* Does this task match the target filter? */
static __always_inline bool task_wanted(__u32 tgid, __u32 tid, const char *comm)
{
	switch (kt_cfg.filter) {
	case KT_FILTER_TGID:
		return bpf_map_lookup_elem(&kt_pids, &tgid) != 0;
	case KT_FILTER_TID:
		return bpf_map_lookup_elem(&kt_pids, &tid) != 0;
	case KT_FILTER_COMM: {
		__u32 n = kt_cfg.comm_len;
		for (int i = 0; i < KT_COMM_LEN; i++) {
			if (i >= n)
				return kt_cfg.comm_prefix || comm[i] == 0;
			if (comm[i] == 0 || (kt_cfg.comm[i] != '?' && comm[i] != kt_cfg.comm[i]))
				return false;
		}
		return true;
	}
	default:
		return tid != 0; /* system wide, idle excluded as perf's -a does not sample it either */
	}
}

#endif
