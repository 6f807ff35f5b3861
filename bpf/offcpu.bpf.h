/* Off-CPU time (ktrace offcpu, stacks --hot-cold): at switch-out the task's stacks and the time, at
 * switch-in the time blocked added to its key in kt_counts, all in the kernel, as offcputime does; with
 * --wakers, the waker's kernel stack too (sched_waking). */
#ifndef KTRACE_OFFCPU_BPF_H
#define KTRACE_OFFCPU_BPF_H

#include "unwind.bpf.h"

struct offcpu_start {
	__u64 ts;       /* the switch-out (see switch_out_lag); 0 while the task runs */
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

/* A CPU stopped this long inside the scheduler is a stall, not the few microseconds of its path. */
#define KT_SCHED_STALL_NS 1000000ULL
/* An offset within this of the least is the scheduler's usual path, and the least follows it: the two clocks
 * drift apart by parts per million. Without one for a second, the least is taken afresh. */
#define KT_SCHED_OFFSET_NEAR_NS 50000LL
#define KT_SCHED_OFFSET_REBASE_NS 1000000000ULL

/* This CPU's runqueue clock, reached from the current task (its group's cfs_rq on this CPU; 0 without
 * CONFIG_FAIR_GROUP_SCHED). */
static __always_inline __u64 runqueue_clock(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	if (!bpf_core_field_exists(t->se.cfs_rq))
		return 0;
	return BPF_CORE_READ(t, se.cfs_rq, rq, clock);
}

/* How late this switch's tracepoint runs after the scheduler's clock read at the top of __schedule, in the
 * tracepoints' clock (0: not known). The scheduler reads rq->clock (rqc) there, before it dequeues a task
 * going to sleep; a vCPU the emulator or hypervisor stops between that read and the tracepoint (6.12 under
 * single-threaded TCG: a 7 ms sleep measured as 3 ms) has already stopped the task, yet stamps its
 * switch-out after the stall. The two clocks have different origins, so the lag is this switch's offset
 * between them less the least offset seen lately on this CPU, which is the scheduler's usual path of a few
 * microseconds (they agree within ~16 us on 6.18). Measured on the CPU the task leaves, it holds wherever
 * the task comes back on. Taken at every switch, so the least stays fresh. */
static __always_inline __s64 switch_out_lag(__u64 now, __u64 rqc)
{
	__u32 zero = 0;
	struct kt_cpu_state *cs = bpf_map_lookup_elem(&kt_cpu, &zero);

	if (!cs || !rqc)
		return 0;
	__s64 off = (__s64)(now - rqc), lag = off - cs->sched_offset;
	if (!cs->sched_offset_ts || lag < KT_SCHED_OFFSET_NEAR_NS || now - cs->sched_offset_ts > KT_SCHED_OFFSET_REBASE_NS) {
		cs->sched_offset = off;
		cs->sched_offset_ts = now;
		return 0;
	}
	return lag;
}

/* prev (the current task) leaves the CPU in `state`; next comes on. `unwind`: its user stack walked with
 * tables (a constant of the program, see kt_sample). */
static __always_inline void on_offcpu(void *ctx, struct kt_profile_ctl *c, struct kt_profile_stats *s, __u32 prev_tgid,
				      __u32 prev_tid, const char *prev_comm, bool prev_kthread, __u32 state, __u32 next_tid,
				      bool unwind)
{
	__u64 now = bpf_ktime_get_ns();
	__s64 lag = switch_out_lag(now, runqueue_clock());
	struct offcpu_start *st = next_tid ? bpf_map_lookup_elem(&kt_offstart, &next_tid) : NULL;

	/* A task's entry is reused from one switch to the next, ts 0 while it runs: written in place, no
	 * insert and delete (with the hash map's locks) per switch. It goes when the task exits. */
	if (st && st->ts) {
		__u64 d = now - st->ts;
		if (d >= kt_cfg.offcpu_min_ns && d <= kt_cfg.offcpu_max_ns) {
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
	if (!(kt_cfg.offcpu_states & (1u << state)) || !cpu_wanted() || !task_wanted(prev_tgid, prev_tid, prev_comm))
		return;
	/* A switch-out that stalled inside the scheduler starts at the scheduler's clock read, but not for a
	 * preempted task: after a wakeup that preempts, the scheduler skips its clock update at the next
	 * __schedule (rq_clock_skip_update), so rq->clock there is the wakeup's time, which may be a tick before
	 * the switch on a kernel without full preemption. A task going to sleep rarely meets that, and then by
	 * microseconds. Decided here, before the stacks: a test of state after the user stack's walk made the
	 * verifier follow the walk once per state (past 1M instructions, while the walk was inline). */
	__u64 start = now;
	if (state != KT_OFF_RUNNABLE && lag >= (__s64)KT_SCHED_STALL_NS) {
		start = now - lag;
		s->offcpu_stalled++;
	}
	/* The scratch buffers are per CPU and per context (stacks.bpf.h): sched_switch does not nest on a CPU. */
	__u64 kstack = kt_cfg.kernel_stack ? store_stack(ctx, 0, s, true) : KT_STACK_NONE;
	__u64 ustack = KT_STACK_NONE;
	if (kt_cfg.user_stack && !prev_kthread)
		ustack = unwind ? store_user_stack_unwound(ctx, false, prev_tgid, s, true)
				       : store_stack(ctx, BPF_F_USER_STACK, s, true);
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
	e->key.tid = kt_cfg.per_thread ? prev_tid : 0;
	e->key.offcpu = state;
	__builtin_memcpy(e->key.comm, prev_comm, sizeof(e->key.comm));
	e->key.kstack = kstack;
	e->key.ustack = ustack;
	e->ts = start;
}

/* --wakers: the task now waking one we follow off the CPU is current; its kernel stack goes into the
 * sleeper's key (the last wakeup before it runs wins). */
static __always_inline int on_waking(void *ctx, __u32 tid)
{
	struct kt_profile_stats *s;
	struct offcpu_start *st;

	if (!kt_cfg.offcpu || !kt_cfg.wakers || !started() || !(st = bpf_map_lookup_elem(&kt_offstart, &tid)) || !st->ts ||
	    !(s = get_stats()))
		return 0;
	st->key.waker_kstack = store_stack(ctx, 0, s, true);
	bpf_get_current_comm(st->key.waker_comm, sizeof(st->key.waker_comm));
	return 0;
}

#endif
