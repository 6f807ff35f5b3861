/* BPF-side helpers shared by ktrace's programs (not an ABI header: see ktrace.h for that). */
#ifndef KTRACE_COMMON_BPF_H
#define KTRACE_COMMON_BPF_H

#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "ktrace.h"

/* Kernel stacks are 16 KiB on x86_64 and arm64 (32 KiB with KASAN; the irq stack is never adjacent). */
#define KT_THREAD_SIZE (16 * 1024)

static __always_inline __u32 kt_log2(__u64 v)
{
	__u32 r = 0, shift;
	shift = (v > 0xFFFFFFFFULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

/* The histogram index of a duration. Masked in the very register that indexes: 6.1's verifier loses a
 * bound kept in another copy of the value (a clamp compiled to a compare on one register and an index
 * through another was rejected: "R0 unbounded memory access"). */
static __always_inline __u64 kt_slot(__u64 ns)
{
	__u64 s = kt_log2(ns);
	_Static_assert(KT_HIST_SLOTS == 64, "the mask below covers 64 slots");
	asm volatile("%0 &= 63" : "+r"(s));
	return s;
}

/* A kernel thread's struct kthread: task->worker_private since Linux 5.17, before that the pointer the
 * kernel kept in set_child_tid (its to_kthread()), which for any other task is a user address: so only for
 * PF_KTHREAD tasks. NULL for other tasks. */
static __always_inline struct kthread *task_kthread(struct task_struct *t)
{
	if (bpf_core_field_exists(t->worker_private))
		return BPF_CORE_READ(t, worker_private);
	if (!(BPF_CORE_READ(t, flags) & PF_KTHREAD))
		return NULL;
	return (struct kthread *)BPF_CORE_READ(t, set_child_tid);
}

/* True when the softirq now starting is served by ksoftirqd itself: the current task is a ksoftirqd
 * kernel thread AND we run on its own task stack. A softirq run inline at irq exit that merely
 * interrupted ksoftirqd runs on the irq stack, and counts as inline — which is what it is. */
static __always_inline bool kt_in_ksoftirqd(volatile __u64 *scratch)
{
	struct task_struct *t;
	char comm[KT_COMM_LEN];
	__u64 fp;

	/* Cheapest tests first: most softirqs interrupt the idle task (pid 0) or a user task. */
	if ((__u32)bpf_get_current_pid_tgid() == 0)
		return false;
	t = (struct task_struct *)bpf_get_current_task();
	if (!(BPF_CORE_READ(t, flags) & PF_KTHREAD))
		return false;
	bpf_get_current_comm(comm, sizeof(comm));
	if (comm[0] != 'k' || comm[1] != 's' || comm[2] != 'o' || comm[3] != 'f' || comm[4] != 't' ||
	    comm[5] != 'i' || comm[6] != 'r' || comm[7] != 'q' || comm[8] != 'd' || comm[9] != '/')
		return false;

	/* r10, this program's frame pointer, lies on the current kernel stack (the JIT uses it). The
	 * verifier forbids arithmetic on it, but with CAP_PERFMON a pointer may be stored into a map value;
	 * read back, it is a plain number. */
	asm volatile("%0 = r10" : "=r"(fp));
	*scratch = fp;
	fp = *scratch;
	return fp - (__u64)BPF_CORE_READ(t, stack) < KT_THREAD_SIZE;
}

/* What a classic tracepoint program returns. The kernel runs such programs inside perf's own handler of
 * the tracepoint (perf_trace_run_bpf_submit) and takes 0 from any of them as a filter that drops the event
 * for every perf user of that tracepoint: a `perf record -e irq:softirq_entry` beside ktrace's `tracepoint`
 * attach kind recorded nothing. 1 lets them see it (and costs nothing without one). tp_btf and raw_tp
 * programs' return values are ignored. */
#define KT_TP_PASS 1

/* One handler, three attach flavours: tp_btf (BTF-typed), raw_tp, classic tracepoint. User space loads
 * only the flavour the kernel supports. */
#define KT_SOFTIRQ_PROGS(event, handler)						\
SEC("tp_btf/" #event)									\
int BPF_PROG(event##_btf, unsigned int vec) { return handler(vec); }			\
SEC("raw_tp/" #event)									\
int BPF_PROG(event##_raw, unsigned int vec) { return handler(vec); }			\
SEC("tracepoint/irq/" #event)								\
int event##_tp(struct trace_event_raw_softirq *ctx) { handler(BPF_CORE_READ(ctx, vec)); return KT_TP_PASS; }

#endif
