/* Timeline events: a time-ordered stream through one ring buffer (samples, softirq runs, work items,
 * context switches, --trace calls), each a struct kt_event with one field per meaning. */
#ifndef KTRACE_EVENTS_BPF_H
#define KTRACE_EVENTS_BPF_H

#include "profile.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* resized by user space (--ringbuf) */
} kt_events SEC(".maps");

/* An event of the current task, its common fields filled (ts: now); NULL when the ring buffer is full,
 * which is counted. Finish it with event_submit. */
static __always_inline struct kt_event *event_begin(__u32 type, struct kt_profile_stats *s)
{
	struct kt_event *e = bpf_ringbuf_reserve(&kt_events, sizeof(*e), 0);
	if (!e) {
		s->events_dropped++;
		return NULL;
	}
	__u64 id = bpf_get_current_pid_tgid();
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->type = type;
	e->cpu = bpf_get_smp_processor_id();
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

static __always_inline void event_submit(struct kt_event *e, struct kt_profile_stats *s)
{
	bpf_ringbuf_submit(e, 0);
	s->events++;
}

/* A slice that began at `start` and ends now (softirq run, work item). */
static __always_inline struct kt_event *slice_begin(__u32 type, __u64 start, struct kt_profile_stats *s)
{
	struct kt_event *e = event_begin(type, s);
	if (e) {
		e->dur = e->ts - start;
		e->ts = start;
	}
	return e;
}

#endif
