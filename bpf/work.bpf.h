/* Work items on kworkers: the work function a kworker runs, read from the kworker itself (samples keyed
 * by it: stacks --by-work), and with events each complete item as a timeline slice (the workqueue
 * execute tracepoints). */
#ifndef KTRACE_WORK_BPF_H
#define KTRACE_WORK_BPF_H

#include "events.bpf.h"

/* The work function a kworker runs now, from its own struct worker: exact even for an item that began
 * before ktrace attached or sleeps and wakes on another CPU (a per-CPU slot set by the tracepoints
 * left 83 of 117 cleanup_net samples unlabelled; a per-thread one, the items begun before attach). */
static __always_inline __u64 kworker_func(struct task_struct *t)
{
	struct kthread *k = task_kthread(t);
	struct worker *w = k ? BPF_CORE_READ(k, data) : NULL;

	return w ? (__u64)BPF_CORE_READ(w, current_func) : 0;
}

/* Per kworker: the work item it runs now and since when, for the timeline's slices. Per thread, not
 * per CPU: an item may sleep (cleanup_net waits for RCU) and an unbound kworker wake on another CPU,
 * while others run items meanwhile. */
struct work_now {
	__u64 fn;
	__u64 ts;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct work_now);
} kt_work_now SEC(".maps");

/* execute_start is inlined into process_one_work: only its tracepoint sees it. */
static __always_inline int on_work_start(__u64 fn)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct work_now w = { .fn = fn, .ts = bpf_ktime_get_ns() };
	struct kt_profile_stats *s;
	if (bpf_map_update_elem(&kt_work_now, &tid, &w, BPF_ANY) && (s = get_stats()))
		s->work_full++;
	return 0;
}

static __always_inline int on_work_end(void)
{
	struct kt_profile_stats *s;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct work_now *w = bpf_map_lookup_elem(&kt_work_now, &tid);

	if (!w)
		return 0;  /* started before recording */
	__u64 fn = w->fn, start = w->ts;
	bpf_map_delete_elem(&kt_work_now, &tid);
	if (!kt_cfg.events || !cpu_wanted() || !started() || !(s = get_stats()))
		return 0;
	struct kt_event *e = slice_begin(KT_EV_WORK, start, s);
	if (!e)
		return 0;
	e->work_fn = fn;
	event_submit(e, s);
	return 0;
}

#endif
