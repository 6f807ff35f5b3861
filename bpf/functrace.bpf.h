/* --trace FUNC: entry and exit of kernel functions (fentry/fexit), part of profile.bpf.c, so the calls
 * share the timeline's ring buffer, ordering, target filter and drop counters.
 *
 * KT_TRACE_MAX program pairs are declared with no static target: user space points each used pair at a
 * function with bpf_program__set_attach_target() and turns the others' autoload off, so without --trace
 * none of them is loaded and the object loads as if they did not exist.
 *
 * The same handlers also serve kprobe/kretprobe slots, for kernels whose BPF trampolines are refused
 * while kprobes exist (as retsnoop falls back); user space loads one kind of slot or the other.
 *
 * Per task (keyed by tid and the task's start time: a call may migrate between CPUs, and a tid reused
 * by a new task must not inherit the calls a dead one left open) a stack of the traced calls open in it:
 * the exit of the innermost one is paired with its entry here, so each exit event carries its duration.
 * The idle task is skipped: it is tid 0 on every CPU, one stack could not serve them all. */
#ifndef KTRACE_FUNCTRACE_BPF_H
#define KTRACE_FUNCTRACE_BPF_H

#include "events.bpf.h"

struct kt_func_state {
	__u32 depth;                      /* recorded calls open, innermost last (at most KT_TRACE_DEPTH) */
	__u32 pad;
	__u64 entry_ts[KT_TRACE_DEPTH];   /* 0 = entry not timed (CPU filtered out) */
	__u64 frame[KT_TRACE_DEPTH];      /* the call's identity, the same at its entry and its exit */
	__u32 slot[KT_TRACE_DEPTH];
	__u64 scratch;                    /* see call_frame */
	__u64 user_ts;                    /* its last return to user space seen (0: none since the state began) */
};

struct kt_func_key {
	__u32 tid;
	__u32 pad;
	__u64 start_time; /* task_struct.start_time: tells a reused tid from its dead owner */
};

/* A task's state lives from its first traced entry in the recording to its exit (sched_process_exit,
 * or the last traced call of its exit path after that). Between syscalls it keeps when the task last
 * returned to user space, which bounds a call whose entry the kernel skipped (it began in the current
 * syscall). It holds as many tasks as made traced calls and still live; a full map is counted
 * (func_no_state). Not an LRU map: on 6.1, fentry/fexit programs updating one lost their states (exits
 * found none: calls never paired) and locked up both CPUs of a guest. Sized to 1 by user space when
 * nothing is traced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct kt_func_key);
	__type(value, struct kt_func_state);
} kt_func_states SEC(".maps");

static __always_inline bool task_exiting(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(t, flags) & PF_EXITING;
}

static __always_inline struct kt_func_key func_key(__u32 tid)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct kt_func_key k = { .tid = tid, .start_time = BPF_CORE_READ(t, start_time) };
	return k;
}

static __always_inline void emit_func(__u32 type, __u64 ts, __u64 dur, __u32 slot, __u32 depth, __u32 flags,
				      struct kt_profile_stats *s)
{
	struct kt_event *e = event_begin(type, s);
	if (!e)
		return;
	e->ts = ts;
	e->dur = dur;
	e->func_slot = slot;
	e->depth = depth;
	e->flags = flags;
	event_submit(e, s);
}

/* The kernel skips a BPF program that would recurse on its CPU (a preempted fexit program holds its
 * CPU's slot; kretprobes run out of instances while other tasks block inside the function), so an
 * entry or an exit can go missing. Each call is therefore matched by its frame, not by nesting alone: a
 * skipped exit leaves no call open for ever (its syscall's exit closes it), and an exit without its
 * entry closes nothing. */
/* An index into the per-task arrays, masked in the register that indexes: 6.1's verifier loses a
 * bound that a compare kept in another copy of the value (see kt_slot). */
static __always_inline __u32 kt_open_index(__u32 i)
{
	_Static_assert(KT_TRACE_DEPTH == 16, "the mask below covers 16 open calls");
	asm volatile("%0 &= 15" : "+r"(i));
	return i;
}

/* A call's identity (see KT_FUNC_PROGS): `ptr` as a number, or `num` when ptr is NULL. The verifier
 * forbids arithmetic and comparisons on pointers, but with CAP_PERFMON a pointer may be stored into a
 * map value, and read back it is a plain number; the task's own state holds it, so no other task
 * (preempting this one on its CPU) can overwrite it in between. */
static __always_inline __u64 call_frame(struct kt_func_state *st, void *ptr, __u64 num)
{
	if (!ptr)
		return num;
	volatile __u64 *scratch = &st->scratch;
	*scratch = (__u64)ptr;
	return *scratch;
}

static __always_inline int func_entry(__u32 slot, void *ptr, __u64 num)
{
	struct kt_profile_stats *s = get_stats();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	char comm[KT_COMM_LEN];

	if (!kt_cfg.events || !s || tid == 0 || !started())
		return 0;
	bpf_get_current_comm(comm, sizeof(comm));
	if (!task_wanted(id >> 32, tid, comm))
		return 0;
	struct kt_func_key key = func_key(tid);
	struct kt_func_state *st = bpf_map_lookup_elem(&kt_func_states, &key);
	if (!st) {
		struct kt_func_state fresh = {};
		bpf_map_update_elem(&kt_func_states, &key, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&kt_func_states, &key);
		if (!st) {
			s->func_no_state++;
			return 0;
		}
	}
	__u64 frame = call_frame(st, ptr, num);
	__u32 d = st->depth;
	if (d >= KT_TRACE_DEPTH) {
		s->func_too_deep++;
		return 0;
	}
	/* A call is recorded when it starts on a wanted CPU; its exit follows it wherever it ends. */
	__u64 now = cpu_wanted() ? bpf_ktime_get_ns() : 0;
	__u32 k = kt_open_index(d);
	st->entry_ts[k] = now;
	st->frame[k] = frame;
	st->slot[k] = slot;
	st->depth = d + 1;
	if (now)
		emit_func(KT_EV_FUNC_ENTRY, now, 0, slot, d, 0, s);
	return 0;
}

static __always_inline int func_exit(__u32 slot, void *ptr, __u64 num)
{
	struct kt_profile_stats *s = get_stats();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;

	if (!kt_cfg.events || !s || tid == 0 || !started())
		return 0;
	struct kt_func_key key = func_key(tid);
	struct kt_func_state *st = bpf_map_lookup_elem(&kt_func_states, &key);
	if (!st) {
		/* No call open in this task: this one began before recording (or its entry was missed).
		 * Only a target task's exit counts; user space starts it at the window start. */
		char comm[KT_COMM_LEN];
		bpf_get_current_comm(comm, sizeof(comm));
		if (task_wanted(id >> 32, tid, comm) && cpu_wanted())
			emit_func(KT_EV_FUNC_EXIT, bpf_ktime_get_ns(), 0, slot, 0, KT_EVF_NO_ENTRY, s);
		return 0;
	}
	__u32 n = st->depth, at = KT_TRACE_DEPTH;
	if (n == 0) {
		/* Nothing open: the kernel skipped this call's entry (recursion protection), and it began after
		 * the task's last return to user space; with none seen, as if before recording (a kernel
		 * thread, or an outer call begun before recording whose traced child made the state). */
		if (st->user_ts)
			s->func_unmatched++;
		if (cpu_wanted()) {
			__u64 now = bpf_ktime_get_ns();
			if (st->user_ts)
				emit_func(KT_EV_FUNC_EXIT, now, now - st->user_ts, slot, 0, KT_EVF_ENTRY_LOST, s);
			else
				emit_func(KT_EV_FUNC_EXIT, now, 0, slot, 0, KT_EVF_NO_ENTRY, s);
		}
		return 0;
	}
	/* The open call this exit ends, searched from the innermost one out. */
	__u64 frame = call_frame(st, ptr, num);
	for (__u32 i = 0; i < KT_TRACE_DEPTH; i++) {
		if (i >= n)
			break;
		__u32 j = kt_open_index(n - 1 - i);
		if (st->frame[j] == frame && st->slot[j] == slot) {
			at = j;
			break;
		}
	}
	if (at >= KT_TRACE_DEPTH) {
		/* Its entry was not recorded: too deep (counted then), or missed by the kernel. */
		if (n < KT_TRACE_DEPTH)
			s->func_unmatched++;
		return 0;
	}
	if (at + 1 < n)
		s->func_exit_missed += n - 1 - at; /* calls inside it whose exits never came */
	__u64 entry = st->entry_ts[kt_open_index(at)];
	st->depth = at;
	/* Past sched_process_exit (closing its files, say) a task's state goes when its calls do. */
	if (at == 0 && task_exiting())
		bpf_map_delete_elem(&kt_func_states, &key);
	if (!entry)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	emit_func(KT_EV_FUNC_EXIT, now, now - entry, slot, at, 0, s);
	return 0;
}

/* A call's identity. fentry/fexit: the trampoline's frame, where the call's arguments stay from entry
 * to exit (ctx points into it). kprobe: the stack pointer at the function's first instruction, which
 * holds its return address; the kretprobe sees it 8 bytes higher, that address popped by the return.
 * Frames identify a call only within its syscall: the kernel stack's offset is randomized per syscall. */
/* A kernel call ends before its task returns to user space: calls still open at the syscall's exit
 * had their exits skipped. They are closed there (KT_EVF_EXIT_MISSED: ended by then), so none stays
 * open for ever. (Frames cannot tell this at the next entry: the kernel stack's offset is randomized
 * per syscall.) */
static __always_inline int func_syscall_exit(void)
{
	struct kt_profile_stats *s = get_stats();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (!kt_cfg.events || !s || tid == 0 || !started())
		return 0;
	struct kt_func_key key = func_key(tid);
	struct kt_func_state *st = bpf_map_lookup_elem(&kt_func_states, &key);
	if (!st)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u32 n = st->depth;
	for (__u32 i = 0; i < KT_TRACE_DEPTH; i++) {
		if (i >= n)
			break;
		__u32 j = kt_open_index(n - 1 - i);
		s->func_exit_missed++;
		if (st->entry_ts[j])
			emit_func(KT_EV_FUNC_EXIT, now, now - st->entry_ts[j], st->slot[j], j, KT_EVF_EXIT_MISSED, s);
	}
	st->depth = 0;
	st->user_ts = now;
	return 0;
}

/* The task's last syscall does not return: its state goes with it. */
static __always_inline int func_task_exit(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct kt_func_key key = func_key(tid);

	if (tid)
		bpf_map_delete_elem(&kt_func_states, &key);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(kt_task_exit_btf) { return func_task_exit(); }
SEC("raw_tp/sched_process_exit")
int BPF_PROG(kt_task_exit_raw) { return func_task_exit(); }
SEC("tracepoint/sched/sched_process_exit")
int kt_task_exit_tp(void *ctx) { func_task_exit(); return KT_TP_PASS; }

SEC("tp_btf/sys_exit")
int BPF_PROG(kt_sys_exit_btf) { return func_syscall_exit(); }
SEC("raw_tp/sys_exit")
int BPF_PROG(kt_sys_exit_raw) { return func_syscall_exit(); }
SEC("tracepoint/raw_syscalls/sys_exit")
int kt_sys_exit_tp(void *ctx) { func_syscall_exit(); return KT_TP_PASS; }

#define KT_FUNC_PROGS(i)								\
SEC("fentry")										\
int BPF_PROG(kt_fentry##i) { return func_entry(i, ctx, 0); }				\
SEC("fexit")										\
int BPF_PROG(kt_fexit##i) { return func_exit(i, ctx, 0); }				\
SEC("kprobe")										\
int kt_kprobe##i(struct pt_regs *ctx) { return func_entry(i, 0, ctx->sp); }		\
SEC("kretprobe")									\
int kt_kretprobe##i(struct pt_regs *ctx) { return func_exit(i, 0, ctx->sp - 8); }

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
