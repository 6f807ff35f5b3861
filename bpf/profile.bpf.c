// SPDX-License-Identifier: GPL-2.0
/* ktrace stacks, offcpu and timeline: the programs. perf_event sampling with stacks aggregated in the
 * kernel (stacks.bpf.h), off-CPU time per stack (offcpu.bpf.h), the softirq and work item running at each
 * sample (softirq_now.bpf.h, work.bpf.h), a time-ordered event stream for the timeline (events.bpf.h) and
 * traced kernel functions (functrace.bpf.h). Which programs load for which feature is one table in
 * Sources/CKtrace/profile.c; what each does is set in .rodata (profile.bpf.h). */
#include "offcpu.bpf.h"
#include "softirq_now.bpf.h"
#include "work.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* CPU-clock periods the kernel's timer skipped before this sample. The cpu-clock timer takes one sample per
 * firing and forwards past the periods it missed (perf_swevent_hrtimer -> hrtimer_forward_now): when a CPU
 * did not run for a while (single-threaded TCG runs the vCPUs in turns; a hypervisor's steal; interrupts
 * off for long), the task that ran through it gets one sample for several periods (a 6.12 guest under TCG:
 * 398 samples at 499 Hz for 1.2 s of a process's CPU time, 0.8 s). The profile keeps perf's count, one per
 * sample, since under a hypervisor that accounts steal that time is not the task's; the skipped periods are
 * counted and said, so a late-sampled profile never passes for a whole one. The count follows the timer's
 * grid (its previous firing's slot, kt_cpu_state.clock_grid_ns), so a sample handled late but in its own
 * slot skips nothing; a gap of more than KT_CLOCK_MAX_PERIODS (a CPU back from offline) re-anchors it.
 * Every sample on the CPU moves the grid, wanted or not. */
#define KT_CLOCK_MAX_PERIODS 1000
static __always_inline __u64 clock_skipped(struct kt_cpu_state *cs)
{
	__u64 p = kt_cfg.clock_period_ns, now, n;

	if (!p || !cs)
		return 0;
	now = bpf_ktime_get_ns();
	if (!cs->clock_grid_ns || now < cs->clock_grid_ns) {
		cs->clock_grid_ns = now;
		return 0;
	}
	n = (now - cs->clock_grid_ns) / p;
	if (n > KT_CLOCK_MAX_PERIODS) {
		cs->clock_grid_ns = now;
		return 0;
	}
	if (n < 1)
		n = 1;
	cs->clock_grid_ns += n * p;
	return n - 1;
}

/* System wide, the idle task's samples are left out (an idle CPU does no work), but not while a softirq runs
 * on top of it: since 6.5 most softirqs run inline at irq exit, often on an idle CPU, and those samples are
 * the softirq's time (the lab's forwarded SYNs at 2000/s on a quiet CPU: all but 1 of ~40 NET_RX samples
 * were the idle task's). Known where softirqs are followed (stacks --by-softirq, diagnose); the timeline
 * draws runs of tasks, so it keeps leaving them out. */
static __always_inline bool idle_in_softirq(struct kt_cpu_state *cs, __u32 tid)
{
	if (!kt_cfg.softirq || kt_cfg.events || kt_cfg.filter != KT_FILTER_ALL || tid != 0)
		return false;
	return cs && cs->softirq != KT_SOFTIRQ_NONE;
}

/* One sample: a perf event's overflow (perf_regs: ctx holds the interrupted registers), or one occurrence of
 * a tracepoint or kprobe (--event). `unwind`: user stacks walked with tables, a constant of each program
 * (kt_sample_unwound below). */
static __always_inline int on_sample(void *ctx, bool perf_regs, bool unwind)
{
	struct kt_profile_ctl *c = get_ctl();
	struct kt_profile_stats *s;
	struct kt_cpu_state *cs;
	struct kt_stack_key key = {};
	__u64 id = bpf_get_current_pid_tgid(), skipped;

	/* Nothing is counted before kt_profile_start, once the command is set up and its banner says so: a
	 * sample from before is outside the recording's window (under emulation the setup after attaching
	 * took most of a second). */
	if (!c || !c->started || !cpu_wanted() || !(s = get_stats()))
		return 0;
	/* This CPU's state, looked up once for the three that read it (the clock's grid, the softirq). */
	cs = get_cpu_state();
	skipped = clock_skipped(cs);
	key.tgid = id >> 32;
	key.tid = (__u32)id;
	/* The name before the filter only when the filter is by name: a run a --pid filter rejects (half the
	 * runs in bench-stacks) then costs no helper call. */
	if (kt_cfg.filter == KT_FILTER_COMM)
		bpf_get_current_comm(key.comm, sizeof(key.comm));
	if (!task_wanted(key.tgid, key.tid, key.comm) && !idle_in_softirq(cs, key.tid))
		return 0;
	if (kt_cfg.filter != KT_FILTER_COMM)
		bpf_get_current_comm(key.comm, sizeof(key.comm));
	s->samples++;
	if (skipped) {
		s->clock_late++;
		s->clock_skipped += skipped;
	}

	/* Counted only, the stacks are taken and hashed now and stored when their count key is new: most samples
	 * repeat a key already counted, whose stacks were stored when it was, so they cost one hash lookup less
	 * per stack. Events carry their stacks' ids out at once, so they are stored at once; so are the stacks
	 * of a sample whose user stack is walked with tables, whose walk writes its frames in the sample's
	 * scratch slot, where a kernel stack taken but not yet stored would be. */
	const bool later = kt_cfg.aggregate && !kt_cfg.events && !unwind;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u32 flags = (kt_cfg.user_stack || kt_cfg.work) ? BPF_CORE_READ(t, flags) : 0;
	if (kt_cfg.kernel_stack)
		key.kstack = later ? take_stack(ctx, 0, s, KT_SLOT_SAMPLE, false) : store_stack(ctx, 0, s, false);
	if (kt_cfg.user_stack && !(flags & PF_KTHREAD)) {
		if (unwind)
			key.ustack = store_user_stack_unwound(ctx, perf_regs, key.tgid, s, false);
		else if (later)
			key.ustack = take_stack(ctx, BPF_F_USER_STACK, s, KT_SLOT_SAMPLE_USER, false);
		else
			key.ustack = store_stack(ctx, BPF_F_USER_STACK, s, false);
	}
	if (kt_cfg.softirq && cs)
		key.softirq = cs->softirq;
	if (kt_cfg.work && (flags & PF_KTHREAD) && (flags & PF_WQ_WORKER))
		key.work = kworker_func(t);

	if (kt_cfg.events) {
		struct kt_event *e = event_begin(KT_EV_SAMPLE, s);
		if (e) {
			e->kstack = key.kstack;
			e->ustack = key.ustack;
			e->softirq = key.softirq;
			event_submit(e, s);
		}
	}

	if (kt_cfg.aggregate) {
		if (!kt_cfg.per_thread)
			key.tid = 0;
		key.epoch = c->epoch & 1;
		if (later) {
			__u64 *v = bpf_map_lookup_elem(&kt_counts, &key);
			if (v) {
				__sync_fetch_and_add(v, 1);
				return 0;
			}
			key.kstack = keep_stack(KT_SLOT_SAMPLE, key.kstack, false, s);
			key.ustack = keep_stack(KT_SLOT_SAMPLE_USER, key.ustack, true, s);
		}
		count_add(&key, 1, s);
	}
	return 0;
}

/* Each program that takes user stacks comes twice: as itself, walking them by frame pointers, and as
 * NAME_unwound, walking them with unwind tables (profile.c loads one of the two). The walker is a global
 * function (unwind.bpf.h), which 5.10 verifies whether or not a call to it can be reached: kept out of a
 * program by a constant false, it was still verified there, and under TCG that made a
 * recording without tables start seconds later. A program that never calls it does not contain it. */
SEC("perf_event")
int kt_sample(void *ctx) { return on_sample(ctx, true, false); }
SEC("perf_event")
int kt_sample_unwound(void *ctx) { return on_sample(ctx, true, true); }

/* --event tracepoint:CAT:NAME and kprobe:FUNC, attached by user space to the one it names. Every event is a
 * sample, or every kt_cfg.every-th on each CPU (--period): perf's period, counted here. */
static __always_inline bool take_event(void)
{
	struct kt_cpu_state *cs;
	if (kt_cfg.every <= 1)
		return true;
	cs = get_cpu_state();
	return cs && ++cs->seen % kt_cfg.every == 0;
}

SEC("tracepoint")
int kt_event_tracepoint(void *ctx)
{
	if (take_event())
		on_sample(ctx, false, false);
	return KT_TP_PASS;
}
SEC("tracepoint")
int kt_event_tracepoint_unwound(void *ctx)
{
	if (take_event())
		on_sample(ctx, false, true);
	return KT_TP_PASS;
}

SEC("kprobe")
int kt_event_kprobe(void *ctx) { return take_event() ? on_sample(ctx, false, false) : 0; }
SEC("kprobe")
int kt_event_kprobe_unwound(void *ctx) { return take_event() ? on_sample(ctx, false, true) : 0; }

KT_SOFTIRQ_PROGS(softirq_entry, on_entry)
KT_SOFTIRQ_PROGS(softirq_exit, on_exit)

SEC("tp_btf/workqueue_execute_start")
int BPF_PROG(kt_work_start_btf, struct work_struct *work) { return on_work_start((__u64)BPF_CORE_READ(work, func)); }
SEC("raw_tp/workqueue_execute_start")
int BPF_PROG(kt_work_start_raw, struct work_struct *work) { return on_work_start((__u64)BPF_CORE_READ(work, func)); }
SEC("tracepoint/workqueue/workqueue_execute_start")
int kt_work_start_tp(struct trace_event_raw_workqueue_execute_start *ctx)
{
	on_work_start((__u64)BPF_CORE_READ(ctx, function));
	return KT_TP_PASS;
}
SEC("tp_btf/workqueue_execute_end")
int BPF_PROG(kt_work_end_btf) { return on_work_end(); }
SEC("raw_tp/workqueue_execute_end")
int BPF_PROG(kt_work_end_raw) { return on_work_end(); }
SEC("tracepoint/workqueue/workqueue_execute_end")
int kt_work_end_tp(void *ctx) { on_work_end(); return KT_TP_PASS; }

SEC("tp_btf/sched_waking")
int BPF_PROG(sched_waking_btf, struct task_struct *p) { return on_waking(ctx, BPF_CORE_READ(p, pid)); }
SEC("raw_tp/sched_waking")
int BPF_PROG(sched_waking_raw, struct task_struct *p) { return on_waking(ctx, BPF_CORE_READ(p, pid)); }
SEC("tracepoint/sched/sched_waking")
int sched_waking_tp(struct trace_event_raw_sched_wakeup_template *ctx)
{
	on_waking(ctx, BPF_CORE_READ(ctx, pid));
	return KT_TP_PASS;
}

/* A context switch for the timeline: prev (tgid/tid/comm) leaves the CPU in prev_state, next comes on. */
static __always_inline void switch_event(struct kt_profile_stats *s, __u32 prev_tgid, __u32 prev_tid, const char *prev_comm,
					 long prev_state, __u32 next_tgid, __u32 next_tid, const char *next_comm)
{
	if (!cpu_wanted())
		return;
	if (!task_wanted(prev_tgid, prev_tid, prev_comm) && !task_wanted(next_tgid, next_tid, next_comm))
		return;
	struct kt_event *e = event_begin(KT_EV_SWITCH, s);
	if (!e)
		return;
	e->tgid = prev_tgid;
	e->tid = prev_tid;
	e->next_tgid = next_tgid;
	e->next_tid = next_tid;
	e->prev_state = prev_state;
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), prev_comm);
	bpf_probe_read_kernel_str(e->next_comm, sizeof(e->next_comm), next_comm);
	event_submit(e, s);
}

static __always_inline int switch_tasks(void *ctx, bool preempt, struct task_struct *prev, struct task_struct *next,
					unsigned int state, bool unwind)
{
	struct kt_profile_ctl *c = get_ctl();
	struct kt_profile_stats *s = get_stats();
	char pc[KT_COMM_LEN], nc[KT_COMM_LEN];

	if (!c || !c->started || !s)
		return 0;
	/* prev is the current task: its comm without a probe read. The next task's only for the timeline. */
	bpf_get_current_comm(pc, sizeof(pc));
	__u64 id = bpf_get_current_pid_tgid();
	__u32 prev_tgid = id >> 32, prev_tid = (__u32)id;
	__u32 next_tid = BPF_CORE_READ(next, pid);

	if (kt_cfg.offcpu)
		on_offcpu(ctx, c, s, prev_tgid, prev_tid, pc, BPF_CORE_READ(prev, flags) & PF_KTHREAD,
			  offcpu_state_raw(preempt, state), next_tid, unwind);
	if (kt_cfg.events) {
		BPF_CORE_READ_STR_INTO(&nc, next, comm);
		switch_event(s, prev_tgid, prev_tid, pc, state, BPF_CORE_READ(next, tgid), next_tid, nc);
	}
	return 0;
}

/* The classic tracepoint carries tids only; the previous task is current, the next one's tgid is not
 * known here, so its tid stands in (exact for single-threaded targets). */
static __always_inline int switch_classic(struct trace_event_raw_sched_switch *ctx, bool unwind)
{
	struct kt_profile_ctl *c = get_ctl();
	struct kt_profile_stats *s = get_stats();
	char pc[KT_COMM_LEN], nc[KT_COMM_LEN];

	if (!c || !c->started || !s)
		return KT_TP_PASS;
	__u32 next_tid = BPF_CORE_READ(ctx, next_pid);
	BPF_CORE_READ_STR_INTO(&pc, ctx, prev_comm);
	if (kt_cfg.offcpu) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		on_offcpu(ctx, c, s, bpf_get_current_pid_tgid() >> 32, BPF_CORE_READ(ctx, prev_pid), pc,
			  BPF_CORE_READ(t, flags) & PF_KTHREAD, offcpu_state_classic(BPF_CORE_READ(ctx, prev_state)), next_tid,
			  unwind);
	}
	if (kt_cfg.events) {
		BPF_CORE_READ_STR_INTO(&nc, ctx, next_comm);
		switch_event(s, bpf_get_current_pid_tgid() >> 32, BPF_CORE_READ(ctx, prev_pid), pc,
			     BPF_CORE_READ(ctx, prev_state), next_tid, next_tid, nc);
	}
	return KT_TP_PASS;
}

/* prev's state as sched_switch saw it: its 4th argument since 5.18; before, the task's own field (what the
 * tracepoint read too), so that no 4th argument is read where there is none. A constant in .rodata: the
 * verifier never looks at the branch not taken, so neither the load (tp_btf: "doesn't have 4-th argument")
 * nor raw_tp's attach (EINVAL, its context is shorter) fails on 5.10, and no second and third flavour is
 * tried (each a load of the whole object: seconds on 5.10 under TCG). */
static __always_inline unsigned int switch_prev_state(unsigned long long *ctx, struct task_struct *prev)
{
	if (kt_cfg.switch_state_arg)
		return (unsigned int)ctx[3];
	if (bpf_core_field_exists(prev->__state))
		return BPF_CORE_READ(prev, __state);
	return (unsigned int)BPF_CORE_READ((struct task_struct___pre514 *)prev, state);
}

/* sched_switch in each attach flavour, without and with the unwinder (see kt_sample). */
#define KT_SCHED_SWITCH_PROGS(name, unwind)								\
SEC("tp_btf/sched_switch")										\
int BPF_PROG(name##_btf, bool preempt, struct task_struct *prev, struct task_struct *next)		\
{													\
	return switch_tasks(ctx, preempt, prev, next, switch_prev_state(ctx, prev), unwind);		\
}													\
SEC("raw_tp/sched_switch")										\
int BPF_PROG(name##_raw, bool preempt, struct task_struct *prev, struct task_struct *next)		\
{													\
	return switch_tasks(ctx, preempt, prev, next, switch_prev_state(ctx, prev), unwind);		\
}													\
SEC("tracepoint/sched/sched_switch")									\
int name##_tp(struct trace_event_raw_sched_switch *ctx) { return switch_classic(ctx, unwind); }

KT_SCHED_SWITCH_PROGS(sched_switch, false)
KT_SCHED_SWITCH_PROGS(sched_switch_unwound, true)

#include "functrace.bpf.h"
