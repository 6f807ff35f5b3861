// SPDX-License-Identifier: GPL-2.0
/* ktrace stacks / timeline: perf_event sampling with stacks aggregated in the kernel (a stack map keyed by
 * stack id and a count map), the softirq vector running at each sample, and, for the timeline, a
 * time-ordered stream of samples, softirq runs and context switches through a ring buffer.
 *
 * Stack ids are 64-bit hashes of the frames, and the stacks live in a hash map under them, as bpftrace
 * does since its PR #3060: BPF_MAP_TYPE_STACK_TRACE drops a stack whenever its bucket holds another one
 * (-EEXIST), which lost 5% of ksoftirqd's samples under a SYN flood at a 16k-entry map. A hash map
 * chains instead, so a stack is lost only when the map is full, and that is counted. */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define EEXIST 17

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

struct kt_frames {
	__u64 ip[KT_MAX_STACK];
};

/* Allocated on demand (no prealloc): max_entries bounds memory, only distinct stacks use it. Kernel and
 * user stacks have a map each: an on-demand map keeps only a small per-CPU cache of free elements, refilled
 * after the interrupt, so storing two new stacks in one sample from one map failed the second (the first
 * user stack of nearly every run was lost). */
#define KT_STACK_MAP(name)								\
struct {										\
	__uint(type, BPF_MAP_TYPE_HASH);						\
	__uint(max_entries, 65536); /* resized by user space (--stack-storage) */	\
	__uint(map_flags, BPF_F_NO_PREALLOC);						\
	__type(key, __u64);								\
	__type(value, struct kt_frames);						\
} name SEC(".maps")

KT_STACK_MAP(kt_stacks);   /* kernel stacks */
KT_STACK_MAP(kt_ustacks);  /* user stacks */

/* Per-CPU scratch for bpf_get_stack (too big for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_frames);
} kt_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 40960); /* resized by user space */
	__type(key, struct kt_stack_key);
	__type(value, __u64);
} kt_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* resized by user space (--ringbuf) */
} kt_events SEC(".maps");

/* Per CPU: the softirq running now (vector + 1, KT_SOFTIRQ_NONE) and when it started. */
struct kt_cpu_state {
	__u64 entry_ts;
	__u32 softirq;
	__u32 ksoftirqd;
	__u64 scratch;
	__u64 seen;       /* --event tracepoint/kprobe occurrences on this CPU (for ctl.every) */
};

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

static __always_inline bool cpu_wanted(struct kt_profile_ctl *c)
{
	return c->cpu < 0 || c->cpu == (__s32)bpf_get_smp_processor_id();
}

/* Does this task match the target filter? */
static __always_inline bool task_wanted(struct kt_profile_ctl *c, __u32 tgid, __u32 tid, const char *comm)
{
	switch (c->filter) {
	case KT_FILTER_TGID:
		return bpf_map_lookup_elem(&kt_pids, &tgid) != 0;
	case KT_FILTER_TID:
		return bpf_map_lookup_elem(&kt_pids, &tid) != 0;
	case KT_FILTER_COMM: {
		__u32 n = c->comm_len;
		for (int i = 0; i < KT_COMM_LEN; i++) {
			if (i >= n)
				return c->comm_prefix || comm[i] == 0;
			if (comm[i] != c->comm[i])
				return false;
		}
		return true;
	}
	default:
		return tid != 0; /* system wide, idle excluded as perf's -a does not sample it either */
	}
}

/* Frames a stack taken at sched_switch rarely exceeds: there the stack is first asked for this deep. */
#define KT_SHALLOW_STACK 32

/* Take one stack (kernel, or user with BPF_F_USER_STACK), store it under its hash, return its id.
 * `shallow`: try KT_SHALLOW_STACK frames first, the whole depth only when they were all filled.
 * bpf_get_stack zeroes the buffer past the frames it wrote, 1 KiB at full size, twice per context
 * switch; the zero after the last frame below is all user space needs. */
static __always_inline __u64 store_stack(void *ctx, __u64 flags, struct kt_profile_stats *s, bool shallow)
{
	bool user = flags & BPF_F_USER_STACK;
	__u32 zero = 0;
	struct kt_frames *f = bpf_map_lookup_elem(&kt_scratch, &zero);
	if (!f)
		return KT_STACK_LOST;
	long n = -1;
	if (shallow)
		n = bpf_get_stack(ctx, f->ip, KT_SHALLOW_STACK * sizeof(__u64), flags);
	if (!shallow || n == KT_SHALLOW_STACK * sizeof(__u64))
		n = bpf_get_stack(ctx, f->ip, sizeof(f->ip), flags);
	if (n < 0) {
		if (user) s->ustack_err++; else s->kstack_err++;
		return KT_STACK_LOST;
	}
	if (n == 0) /* a user-mode sample has no kernel part: nothing lost */
		return KT_STACK_NONE;
	__u32 frames = (__u32)n / sizeof(__u64);
	/* FNV-1a over the frames. A zero after the last frame ends the stack for user space (the rest of
	 * the scratch buffer may hold an older, deeper stack). */
	__u64 h = 0xcbf29ce484222325ULL;
	for (__u32 i = 0; i < KT_MAX_STACK && i < frames; i++)
		h = (h ^ f->ip[i]) * 0x100000001b3ULL;
	__u32 end = frames;
	asm volatile("" : "+r"(end)); /* keep the bound check on the register used as index */
	if (end < KT_MAX_STACK)
		f->ip[end] = 0;
	__u64 id = h | KT_STACK_ID_BIT;
	long err = 0;
	if (user) {
		if (!bpf_map_lookup_elem(&kt_ustacks, &id))
			err = bpf_map_update_elem(&kt_ustacks, &id, f, BPF_NOEXIST);
	} else {
		if (!bpf_map_lookup_elem(&kt_stacks, &id))
			err = bpf_map_update_elem(&kt_stacks, &id, f, BPF_NOEXIST);
	}
	if (err && err != -EEXIST) {
		if (user) s->ustack_full++; else s->kstack_full++;
		return KT_STACK_LOST;
	}
	return id;
}

/* Add n to a key's value in kt_counts (samples, or nanoseconds off the CPU). */
static __always_inline void count_add(struct kt_stack_key *key, __u64 n, struct kt_profile_stats *s)
{
	__u64 *v = bpf_map_lookup_elem(&kt_counts, key);
	if (v) {
		__sync_fetch_and_add(v, n);
		return;
	}
	long err = bpf_map_update_elem(&kt_counts, key, &n, BPF_NOEXIST);
	if (err == -EEXIST) { /* another CPU inserted it first */
		v = bpf_map_lookup_elem(&kt_counts, key);
		if (v)
			__sync_fetch_and_add(v, n);
	} else if (err) {
		s->count_full++;
	}
}

/* One sample: a perf event's overflow, or one occurrence of a tracepoint or kprobe (--event). */
static __always_inline int on_sample(void *ctx)
{
	struct kt_profile_ctl *c = get_ctl();
	struct kt_profile_stats *s = get_stats();
	struct kt_stack_key key = {};
	struct kt_cpu_state *cs;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0;

	if (!c || !s || !cpu_wanted(c))
		return 0;
	key.tgid = id >> 32;
	key.tid = (__u32)id;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	if (!task_wanted(c, key.tgid, key.tid, key.comm))
		return 0;
	s->samples++;

	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	bool kthread = BPF_CORE_READ(t, flags) & PF_KTHREAD;
	key.kstack = c->kernel_stack ? store_stack(ctx, 0, s, false) : KT_STACK_NONE;
	key.ustack = (c->user_stack && !kthread) ? store_stack(ctx, BPF_F_USER_STACK, s, false) : KT_STACK_NONE;
	cs = bpf_map_lookup_elem(&kt_cpu, &zero);
	if (cs)
		key.softirq = cs->softirq;
	if (c->work && kthread && (BPF_CORE_READ(t, flags) & PF_WQ_WORKER))
		key.work = kworker_func(t);

	if (c->events) {
		struct kt_event *e = bpf_ringbuf_reserve(&kt_events, sizeof(*e), 0);
		if (!e) {
			s->events_dropped++;
		} else {
			__builtin_memset(e, 0, sizeof(*e));
			e->ts = bpf_ktime_get_ns();
			e->type = KT_EV_SAMPLE;
			e->cpu = bpf_get_smp_processor_id();
			e->tgid = key.tgid;
			e->tid = key.tid;
			e->kstack = key.kstack;
			e->ustack = key.ustack;
			e->softirq = key.softirq;
			__builtin_memcpy(e->comm, key.comm, sizeof(e->comm));
			bpf_ringbuf_submit(e, 0);
			s->events++;
		}
	}

	if (c->aggregate) {
		if (!c->per_thread)
			key.tid = 0;
		key.epoch = c->epoch & 1;
		count_add(&key, 1, s);
	}
	return 0;
}

SEC("perf_event")
int kt_sample(void *ctx) { return on_sample(ctx); }

/* --event tracepoint:CAT:NAME and kprobe:FUNC, attached by user space to the one it names. Every event is a
 * sample, or every ctl.every-th on each CPU (--period): perf's period, counted here. */
static __always_inline bool take_event(void)
{
	struct kt_profile_ctl *c = get_ctl();
	__u32 zero = 0;
	struct kt_cpu_state *cs = bpf_map_lookup_elem(&kt_cpu, &zero);
	if (!c || !cs)
		return false;
	if (c->every <= 1)
		return true;
	return ++cs->seen % c->every == 0;
}

SEC("tracepoint")
int kt_event_tracepoint(void *ctx) { return take_event() ? on_sample(ctx) : 0; }

SEC("kprobe")
int kt_event_kprobe(void *ctx) { return take_event() ? on_sample(ctx) : 0; }

static __always_inline int on_entry(unsigned int vec)
{
	__u32 zero = 0;
	struct kt_cpu_state *cs = bpf_map_lookup_elem(&kt_cpu, &zero);
	struct kt_profile_ctl *c;

	if (!cs || vec >= KT_NR_VEC)
		return 0;
	cs->softirq = vec + 1;
	cs->entry_ts = bpf_ktime_get_ns();
	c = get_ctl();
	cs->ksoftirqd = (c && c->events) ? kt_in_ksoftirqd(&cs->scratch) : 0;
	return 0;
}

static __always_inline int on_exit(unsigned int vec)
{
	__u32 zero = 0;
	struct kt_cpu_state *cs = bpf_map_lookup_elem(&kt_cpu, &zero);
	struct kt_profile_ctl *c = get_ctl();
	struct kt_profile_stats *s = get_stats();
	__u64 entry;

	if (!cs)
		return 0;
	entry = cs->entry_ts;
	bool matched = cs->softirq == vec + 1 && entry != 0;
	cs->softirq = KT_SOFTIRQ_NONE;
	cs->entry_ts = 0;
	/* Exit without its entry (attached mid-softirq): no slice, never a made-up duration. */
	if (!matched || !c || !s || !c->events || !cpu_wanted(c))
		return 0;
	struct kt_event *e = bpf_ringbuf_reserve(&kt_events, sizeof(*e), 0);
	if (!e) {
		s->events_dropped++;
		return 0;
	}
	__u64 id = bpf_get_current_pid_tgid();
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = entry;
	e->dur = bpf_ktime_get_ns() - entry;
	e->type = KT_EV_SOFTIRQ;
	e->cpu = bpf_get_smp_processor_id();
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->softirq = vec + 1;
	e->flags = cs->ksoftirqd ? KT_EVF_KSOFTIRQD : 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	s->events++;
	return 0;
}

KT_SOFTIRQ_PROGS(softirq_entry, on_entry)
KT_SOFTIRQ_PROGS(softirq_exit, on_exit)

/* ---- work items (stacks --by-work, timeline work slices). execute_start is inlined into
 * process_one_work: only its tracepoint sees it. ---- */

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
	struct kt_profile_ctl *c = get_ctl();
	struct kt_profile_stats *s = get_stats();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct work_now *w = bpf_map_lookup_elem(&kt_work_now, &tid);

	if (!w)
		return 0;  /* started before recording */
	__u64 fn = w->fn, start = w->ts;
	bpf_map_delete_elem(&kt_work_now, &tid);
	if (!c || !s || !c->events || !cpu_wanted(c))
		return 0;
	struct kt_event *e = bpf_ringbuf_reserve(&kt_events, sizeof(*e), 0);
	if (!e) {
		s->events_dropped++;
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = start;
	e->dur = bpf_ktime_get_ns() - start;
	e->type = KT_EV_WORK;
	e->cpu = bpf_get_smp_processor_id();
	e->tgid = id >> 32;
	e->tid = tid;
	e->work_fn = fn;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	s->events++;
	return 0;
}

SEC("tp_btf/workqueue_execute_start")
int BPF_PROG(kt_work_start_btf, struct work_struct *work) { return on_work_start((__u64)BPF_CORE_READ(work, func)); }
SEC("raw_tp/workqueue_execute_start")
int BPF_PROG(kt_work_start_raw, struct work_struct *work) { return on_work_start((__u64)BPF_CORE_READ(work, func)); }
SEC("tracepoint/workqueue/workqueue_execute_start")
int kt_work_start_tp(struct trace_event_raw_workqueue_execute_start *ctx)
{
	return on_work_start((__u64)BPF_CORE_READ(ctx, function));
}
SEC("tp_btf/workqueue_execute_end")
int BPF_PROG(kt_work_end_btf) { return on_work_end(); }
SEC("raw_tp/workqueue_execute_end")
int BPF_PROG(kt_work_end_raw) { return on_work_end(); }
SEC("tracepoint/workqueue/workqueue_execute_end")
int kt_work_end_tp(void *ctx) { return on_work_end(); }

static __always_inline int on_switch(__u32 prev_tgid, __u32 prev_tid, const char *prev_comm, long prev_state,
				     __u32 next_tgid, __u32 next_tid, const char *next_comm)
{
	struct kt_profile_ctl *c = get_ctl();
	struct kt_profile_stats *s = get_stats();

	if (!c || !s || !c->events || !cpu_wanted(c))
		return 0;
	if (!task_wanted(c, prev_tgid, prev_tid, prev_comm) && !task_wanted(c, next_tgid, next_tid, next_comm))
		return 0;
	struct kt_event *e = bpf_ringbuf_reserve(&kt_events, sizeof(*e), 0);
	if (!e) {
		s->events_dropped++;
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->type = KT_EV_SWITCH;
	e->cpu = bpf_get_smp_processor_id();
	e->tgid = prev_tgid;
	e->tid = prev_tid;
	e->next_tgid = next_tgid;
	e->next_tid = next_tid;
	e->prev_state = prev_state;
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), prev_comm);
	bpf_probe_read_kernel_str(e->next_comm, sizeof(e->next_comm), next_comm);
	bpf_ringbuf_submit(e, 0);
	s->events++;
	return 0;
}

/* ---- off-CPU time (ktrace offcpu, stacks --hot-cold): at switch-out the task's stacks and the time,
 * at switch-in the time blocked added to its key in kt_counts, all in the kernel, as offcputime does. ---- */

struct offcpu_start {
	__u64 ts;
	struct kt_stack_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* tasks off the CPU at once; 1 without off-CPU (resized by user space) */
	__type(key, __u32);
	__type(value, struct offcpu_start);
} kt_offstart SEC(".maps");

/* The state a task leaves the CPU in, from the raw task state (tp_btf, raw_tp). TASK_DEAD (0x80): 0,
 * it never comes back. */
static __always_inline __u32 offcpu_state_raw(bool preempt, unsigned int st)
{
	if (st & 0x80)
		return KT_ONCPU;
	if (preempt || st == 0)
		return KT_OFF_RUNNABLE;
	if ((st & 0x2) && !(st & 0x400)) /* TASK_UNINTERRUPTIBLE without TASK_NOLOAD */
		return KT_OFF_DISK;
	if (st & 0x2)
		return KT_OFF_OTHER;         /* TASK_IDLE */
	if (st & 0x1)
		return KT_OFF_SLEEP;
	return KT_OFF_OTHER;
}

/* The same from the classic tracepoint, which reports one TASK_REPORT bit: S 1, D 2, T 4, t 8, X 16,
 * Z 32, P 64, I 128, and 256 (TASK_REPORT_MAX) for a preempted task. */
static __always_inline __u32 offcpu_state_classic(long st)
{
	if (st & (16 | 32))
		return KT_ONCPU;
	if (st == 0 || (st & 256))
		return KT_OFF_RUNNABLE;
	if (st & 2)
		return KT_OFF_DISK;
	if (st & 1)
		return KT_OFF_SLEEP;
	return KT_OFF_OTHER;
}

/* prev (the current task) leaves the CPU in `state`; next comes on. */
static __always_inline void on_offcpu(void *ctx, struct kt_profile_ctl *c, struct kt_profile_stats *s, __u32 prev_tgid,
				      __u32 prev_tid, const char *prev_comm, bool prev_kthread, __u32 state, __u32 next_tid)
{
	__u64 now = bpf_ktime_get_ns();
	struct offcpu_start *st = next_tid ? bpf_map_lookup_elem(&kt_offstart, &next_tid) : NULL;

	/* A task's entry is reused from one switch to the next, ts 0 while it runs: written in place, no
	 * insert and delete (with the hash map's locks) per switch. It goes when the task exits. */
	if (st && st->ts) {
		__u64 d = now - st->ts;
		if (d >= c->offcpu_min_ns && d <= c->offcpu_max_ns) {
			st->key.epoch = c->epoch & 1;
			count_add(&st->key, d, s);
			s->offcpu_counted++;
		} else {
			s->offcpu_out_of_range++;
		}
		st->ts = 0;
	}
	if (state == KT_ONCPU) {
		bpf_map_delete_elem(&kt_offstart, &prev_tid);  /* exiting */
		return;
	}
	if (!(c->offcpu_states & (1u << state)) || !cpu_wanted(c) || !task_wanted(c, prev_tgid, prev_tid, prev_comm))
		return;
	/* The scratch buffer of store_stack is per CPU and sched_switch does not nest on a CPU. */
	__u64 kstack = c->kernel_stack ? store_stack(ctx, 0, s, true) : KT_STACK_NONE;
	__u64 ustack = (c->user_stack && !prev_kthread) ? store_stack(ctx, BPF_F_USER_STACK, s, true) : KT_STACK_NONE;
	s->offcpu_switches++;
	struct offcpu_start *e = bpf_map_lookup_elem(&kt_offstart, &prev_tid);
	if (e) {
		/* Rewritten field by field: every field of the key, as a fresh one would hold. */
		e->key.softirq = 0;
		e->key.work = 0;
		e->key.epoch = 0;
		e->key.waker_kstack = KT_STACK_NONE;
		__builtin_memset(e->key.waker_comm, 0, sizeof(e->key.waker_comm));
	} else {
		struct offcpu_start v = {};
		if (bpf_map_update_elem(&kt_offstart, &prev_tid, &v, BPF_NOEXIST) ||
		    !(e = bpf_map_lookup_elem(&kt_offstart, &prev_tid))) {
			s->offcpu_start_full++;
			return;
		}
	}
	e->key.tgid = prev_tgid;
	e->key.tid = c->per_thread ? prev_tid : 0;
	e->key.offcpu = state;
	__builtin_memcpy(e->key.comm, prev_comm, sizeof(e->key.comm));
	e->key.kstack = kstack;
	e->key.ustack = ustack;
	e->ts = now;
}

/* --wakers: the task now waking one we follow off the CPU is current; its kernel stack goes into the
 * sleeper's key (the last wakeup before it runs wins). */
static __always_inline int on_waking(void *ctx, __u32 tid)
{
	struct kt_profile_ctl *c = get_ctl();
	struct kt_profile_stats *s = get_stats();
	struct offcpu_start *st;

	if (!c || !s || !c->offcpu || !c->wakers || !(st = bpf_map_lookup_elem(&kt_offstart, &tid)) || !st->ts)
		return 0;
	st->key.waker_kstack = store_stack(ctx, 0, s, true);
	bpf_get_current_comm(st->key.waker_comm, sizeof(st->key.waker_comm));
	return 0;
}

SEC("tp_btf/sched_waking")
int BPF_PROG(sched_waking_btf, struct task_struct *p) { return on_waking(ctx, BPF_CORE_READ(p, pid)); }
SEC("raw_tp/sched_waking")
int BPF_PROG(sched_waking_raw, struct task_struct *p) { return on_waking(ctx, BPF_CORE_READ(p, pid)); }
SEC("tracepoint/sched/sched_waking")
int sched_waking_tp(struct trace_event_raw_sched_wakeup_template *ctx) { return on_waking(ctx, BPF_CORE_READ(ctx, pid)); }

static __always_inline int switch_tasks(void *ctx, bool preempt, struct task_struct *prev, struct task_struct *next,
					unsigned int state)
{
	struct kt_profile_ctl *c = get_ctl();
	struct kt_profile_stats *s = get_stats();
	char pc[KT_COMM_LEN], nc[KT_COMM_LEN];

	if (!c || !s || !(c->offcpu || c->events))
		return 0;
	/* prev is the current task: its comm without a probe read. The next task's only for the timeline. */
	bpf_get_current_comm(pc, sizeof(pc));
	__u64 id = bpf_get_current_pid_tgid();
	__u32 prev_tgid = id >> 32, prev_tid = (__u32)id;
	__u32 next_tid = BPF_CORE_READ(next, pid);

	if (c->offcpu)
		on_offcpu(ctx, c, s, prev_tgid, prev_tid, pc, BPF_CORE_READ(prev, flags) & PF_KTHREAD,
			  offcpu_state_raw(preempt, state), next_tid);
	if (!c->events)
		return 0;
	BPF_CORE_READ_STR_INTO(&nc, next, comm);
	return on_switch(prev_tgid, prev_tid, pc, state, BPF_CORE_READ(next, tgid), next_tid, nc);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return switch_tasks(ctx, preempt, prev, next, prev_state);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return switch_tasks(ctx, preempt, prev, next, prev_state);
}

/* The classic tracepoint carries tids only; the previous task is current, the next one's tgid is not
 * known here, so its tid stands in (exact for single-threaded targets). */
SEC("tracepoint/sched/sched_switch")
int sched_switch_tp(struct trace_event_raw_sched_switch *ctx)
{
	char pc[KT_COMM_LEN], nc[KT_COMM_LEN];
	__u32 next_tid = BPF_CORE_READ(ctx, next_pid);
	BPF_CORE_READ_STR_INTO(&pc, ctx, prev_comm);
	BPF_CORE_READ_STR_INTO(&nc, ctx, next_comm);
	struct kt_profile_ctl *c = get_ctl();
	struct kt_profile_stats *s = get_stats();
	if (c && s && c->offcpu) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		on_offcpu(ctx, c, s, bpf_get_current_pid_tgid() >> 32, BPF_CORE_READ(ctx, prev_pid), pc,
			  BPF_CORE_READ(t, flags) & PF_KTHREAD, offcpu_state_classic(BPF_CORE_READ(ctx, prev_state)), next_tid);
	}
	return on_switch(bpf_get_current_pid_tgid() >> 32, BPF_CORE_READ(ctx, prev_pid), pc,
			 BPF_CORE_READ(ctx, prev_state), next_tid, next_tid, nc);
}

#include "functrace.bpf.h"
