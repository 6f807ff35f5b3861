/* --trace FUNC: entry and exit of kernel functions (fentry/fexit), part of profile.bpf.c (included at its
 * end), so the calls share the timeline's ring buffer, ordering, target filter and drop counters.
 *
 * KT_TRACE_MAX program pairs are declared with no static target: user space points each used pair at a
 * function with bpf_program__set_attach_target() and turns the others' autoload off, so without --trace
 * none of them is loaded and the object loads as if they did not exist.
 *
 * Per task (keyed by tid: a call may migrate between CPUs) a stack of the traced calls open in it: the
 * exit of the innermost one is paired with its entry here, so each exit event carries its duration. The
 * idle task is skipped: it is tid 0 on every CPU, one stack could not serve them all. */
#ifndef KTRACE_FUNCTRACE_BPF_H
#define KTRACE_FUNCTRACE_BPF_H

struct kt_func_state {
	__u32 depth;                      /* calls open (may exceed KT_TRACE_DEPTH; those are not recorded) */
	__u32 pad;
	__u64 entry_ts[KT_TRACE_DEPTH];   /* 0 = entry not recorded (CPU filtered out) */
	__u32 slot[KT_TRACE_DEPTH];
};

/* LRU: a task that exits inside a traced call leaves its state behind; old states make room. Sized to 1
 * by user space when nothing is traced. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct kt_func_state);
} kt_func_states SEC(".maps");

static __always_inline void emit_func(__u32 type, __u64 ts, __u64 dur, __u32 slot, __u32 depth, __u32 flags,
				      struct kt_profile_stats *s)
{
	struct kt_event *e = bpf_ringbuf_reserve(&kt_events, sizeof(*e), 0);
	if (!e) {
		s->events_dropped++;
		return;
	}
	__u64 id = bpf_get_current_pid_tgid();
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = ts;
	e->dur = dur;
	e->type = type;
	e->cpu = bpf_get_smp_processor_id();
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->func_slot = slot;
	e->depth = depth;
	e->flags = flags;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	s->events++;
}

static __always_inline int func_entry(__u32 slot)
{
	struct kt_profile_ctl *c = get_ctl();
	struct kt_profile_stats *s = get_stats();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	char comm[KT_COMM_LEN];

	if (!c || !s || !c->events || tid == 0)
		return 0;
	bpf_get_current_comm(comm, sizeof(comm));
	if (!task_wanted(c, id >> 32, tid, comm))
		return 0;
	struct kt_func_state *st = bpf_map_lookup_elem(&kt_func_states, &tid);
	if (!st) {
		struct kt_func_state fresh = {};
		bpf_map_update_elem(&kt_func_states, &tid, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&kt_func_states, &tid);
		if (!st)
			return 0;
	}
	__u32 d = st->depth;
	st->depth = d + 1;
	if (d >= KT_TRACE_DEPTH) {
		s->func_too_deep++;
		return 0;
	}
	/* A call is recorded when it starts on a wanted CPU; its exit follows it wherever it ends. */
	__u64 now = cpu_wanted(c) ? bpf_ktime_get_ns() : 0;
	st->entry_ts[d] = now;
	st->slot[d] = slot;
	if (now)
		emit_func(KT_EV_FUNC_ENTRY, now, 0, slot, d, 0, s);
	return 0;
}

static __always_inline int func_exit(__u32 slot)
{
	struct kt_profile_ctl *c = get_ctl();
	struct kt_profile_stats *s = get_stats();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;

	if (!c || !s || !c->events || tid == 0)
		return 0;
	struct kt_func_state *st = bpf_map_lookup_elem(&kt_func_states, &tid);
	if (!st || st->depth == 0) {
		/* No entry seen: the call began before recording (or the state was evicted). Only a target
		 * task's exit counts; user space starts it at the window start. */
		char comm[KT_COMM_LEN];
		bpf_get_current_comm(comm, sizeof(comm));
		if (task_wanted(c, id >> 32, tid, comm) && cpu_wanted(c))
			emit_func(KT_EV_FUNC_EXIT, bpf_ktime_get_ns(), 0, slot, 0, KT_EVF_NO_ENTRY, s);
		return 0;
	}
	__u32 d = st->depth - 1;
	if (d >= KT_TRACE_DEPTH) { /* its entry was not recorded either */
		st->depth = d;
		return 0;
	}
	if (st->slot[d] != slot) {
		/* Not the innermost open call: an entry or exit was missed (a BPF program is skipped when
		 * it would recurse on its CPU, e.g. a traced function called from an interrupt inside another
		 * traced call). Forget the open calls rather than mispair them; user space pairs their exits
		 * with the entries it saw. */
		st->depth = 0;
		s->func_unmatched++;
		return 0;
	}
	st->depth = d;
	__u64 entry = st->entry_ts[d];
	if (!entry)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	emit_func(KT_EV_FUNC_EXIT, now, now - entry, slot, d, 0, s);
	return 0;
}

#define KT_FUNC_PROGS(i)								\
SEC("fentry")										\
int BPF_PROG(kt_fentry##i) { return func_entry(i); }					\
SEC("fexit")										\
int BPF_PROG(kt_fexit##i) { return func_exit(i); }

KT_FUNC_PROGS(0)
KT_FUNC_PROGS(1)
KT_FUNC_PROGS(2)
KT_FUNC_PROGS(3)
KT_FUNC_PROGS(4)
KT_FUNC_PROGS(5)
KT_FUNC_PROGS(6)
KT_FUNC_PROGS(7)
_Static_assert(KT_TRACE_MAX == 8, "one KT_FUNC_PROGS line per slot");

#endif
