/* The softirq running on each CPU (kt_cfg.softirq): its vector goes into the samples taken meanwhile
 * (stacks --by-softirq), and with events each complete run is a timeline slice. */
#ifndef KTRACE_SOFTIRQ_NOW_BPF_H
#define KTRACE_SOFTIRQ_NOW_BPF_H

#include "events.bpf.h"

static __always_inline int on_entry(unsigned int vec)
{
	struct kt_cpu_state *cs = get_cpu_state();

	if (!cs || vec >= KT_NR_VEC)
		return 0;
	cs->softirq = vec + 1;
	cs->entry_ts = bpf_ktime_get_ns();
	cs->ksoftirqd = kt_cfg.events ? kt_in_ksoftirqd(&cs->scratch) : 0;
	return 0;
}

static __always_inline int on_exit(unsigned int vec)
{
	struct kt_cpu_state *cs = get_cpu_state();
	struct kt_profile_stats *s;
	__u64 entry;

	if (!cs)
		return 0;
	entry = cs->entry_ts;
	bool matched = cs->softirq == vec + 1 && entry != 0;
	cs->softirq = KT_SOFTIRQ_NONE;
	cs->entry_ts = 0;
	/* Exit without its entry (attached mid-softirq): no slice, never a made-up duration. */
	if (!kt_cfg.events || !matched || !cpu_wanted() || !started() || !(s = get_stats()))
		return 0;
	struct kt_event *e = slice_begin(KT_EV_SOFTIRQ, entry, s);
	if (!e)
		return 0;
	e->softirq = vec + 1;
	e->flags = cs->ksoftirqd ? KT_EVF_KSOFTIRQD : 0;
	event_submit(e, s);
	return 0;
}

#endif
