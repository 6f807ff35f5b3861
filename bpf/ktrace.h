/* Everything that crosses the kernel/user boundary: included by the BPF programs (bpf/NAME.bpf.c) and by the
 * libbpf wrapper (Sources/CKtrace), which Swift imports. One definition, both sides. */
#ifndef KTRACE_H
#define KTRACE_H

#ifndef KTRACE_VMLINUX_MIN_H
#include <linux/types.h>
#endif

#define KT_NR_VEC 10       /* HI .. RCU, in kernel order (enum in include/linux/interrupt.h) */
#define KT_HIST_SLOTS 64   /* log2 buckets of nanoseconds: slot i holds [2^i, 2^(i+1)) ns; 64 cover every u64 */
#define KT_COMM_LEN 16
#define KT_MAX_STACK 127   /* frames per stack (kernel.perf_event_max_stack default) */

/* A softirq vector wherever one crosses the boundary: vector + 1, so that 0 says "none". */
#define KT_SOFTIRQ_NONE 0

/* ---- softirq.bpf.c ---- */

/* Per-CPU, per-vector totals for one interval. The stats map is a per-CPU array indexed by
 * epoch * KT_NR_VEC + vec: BPF writes the slot of the current epoch, user space flips the epoch and
 * then reads and zeroes the other slot, so no event falls between a read and a reset. */
struct kt_vec_stats {
	__u64 count;          /* completed softirq runs (entry seen, then exit) */
	__u64 total_ns;
	__u64 max_ns;
	__u64 ksoftirqd_count; /* runs served by ksoftirqd (on its own stack), not inline at irq exit / bh enable */
	__u64 ksoftirqd_ns;
	__u64 lat_count;      /* raise -> entry delays measured */
	__u64 lat_total_ns;
	__u64 lat_max_ns;
	__u64 orphan_exits;   /* exits without a matching entry (attached mid-softirq): discarded */
	__u64 lost_exits;     /* runs whose exit was never seen (next entry found the run open): not timed */
	__u64 hist[KT_HIST_SLOTS];
	__u64 lat_hist[KT_HIST_SLOTS];
};

/* One-entry array written by user space. */
struct kt_softirq_ctl {
	__u32 epoch;      /* 0 or 1: which stats slot BPF writes */
	__s32 cpu;        /* -1 = all CPUs */
	__u32 latency;    /* 1 = track softirq_raise */
	__u32 pad;
};

/* ---- profile.bpf.c ---- */

enum kt_filter {
	KT_FILTER_ALL = 0,   /* system wide */
	KT_FILTER_TGID = 1,  /* tgid in kt_pids */
	KT_FILTER_TID = 2,   /* tid in kt_pids */
	KT_FILTER_COMM = 3,  /* comm equals (or starts with, when comm_prefix) ctl.comm */
};

struct kt_profile_ctl {
	__u32 filter;        /* enum kt_filter */
	__s32 cpu;           /* -1 = all */
	__u32 kernel_stack;  /* 1 = collect kernel stacks */
	__u32 user_stack;    /* 1 = collect user stacks */
	__u32 per_thread;    /* 1 = key counts by tid, not only tgid */
	__u32 aggregate;     /* 1 = count in kt_counts (ktrace stacks) */
	__u32 events;        /* 1 = emit timeline events into the ring buffer (ktrace timeline) */
	__u32 comm_prefix;   /* 1 = ctl.comm is a prefix */
	__u32 comm_len;
	char comm[KT_COMM_LEN];
};

/* --trace: kernel functions recorded at entry and exit (fentry/fexit). The object carries this many
 * program pairs with no static target; user space points the used ones at the functions before load. */
#define KT_TRACE_MAX 8
#define KT_TRACE_DEPTH 16  /* traced calls open at once per task; deeper ones are counted, not recorded */

/* Stack ids: a 64-bit hash of the frames with the top bit set, or one of these. */
#define KT_STACK_NONE 0ULL   /* not collected (not asked for; a kernel thread's user part; a user-mode sample's kernel part) */
#define KT_STACK_LOST 1ULL   /* collected but not stored: see the loss counters */
#define KT_STACK_ID_BIT (1ULL << 63)

struct kt_stack_key {
	__u32 tgid;
	__u32 tid;           /* 0 unless per_thread */
	__u32 softirq;       /* the vector running when sampled, + 1; KT_SOFTIRQ_NONE outside softirq */
	__u32 pad;
	__u64 kstack;        /* stack id (see above) */
	__u64 ustack;
	char comm[KT_COMM_LEN];
};

/* Per-CPU counters so nothing is lost silently. */
struct kt_profile_stats {
	__u64 samples;        /* samples that matched the filter */
	__u64 kstack_full;    /* kernel stack not stored: kt_stacks full (raise --stack-storage) or no memory */
	__u64 kstack_err;     /* kernel stack not taken: bpf_get_stack failed (e.g. no callchain buffer) */
	__u64 ustack_full;
	__u64 ustack_err;     /* user stack could not be read */
	__u64 count_full;     /* sample not counted: kt_counts full */
	__u64 events_dropped; /* ring buffer full */
	__u64 events;         /* events emitted */
	__u64 func_too_deep;  /* --trace: calls not recorded, KT_TRACE_DEPTH already open in their task */
	__u64 func_unmatched; /* --trace: exits whose entry was not recorded (the kernel skipped it): ignored */
	__u64 func_exit_missed; /* --trace: calls whose exit the kernel skipped, closed by their caller's exit or syscall's */
	__u64 func_no_state;  /* --trace: calls not recorded, no room for their task's state (kt_func_states full) */
};

enum kt_event_type {
	KT_EV_SAMPLE = 1,     /* ts, stacks, softirq */
	KT_EV_SOFTIRQ = 2,    /* a complete softirq run: ts = entry, dur, softirq, KT_EVF_KSOFTIRQD */
	KT_EV_SWITCH = 3,     /* sched_switch: tgid/tid/comm = prev, next_* = next, prev_state */
	KT_EV_FUNC_ENTRY = 4, /* --trace: ts = entry, func_slot, depth */
	KT_EV_FUNC_EXIT = 5,  /* --trace: ts = exit, dur = since the entry (0 with KT_EVF_NO_ENTRY), func_slot, depth */
};

/* One field per meaning; a field an event type does not use is zero. */
struct kt_event {
	__u64 ts;            /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u64 dur;           /* KT_EV_SOFTIRQ, KT_EV_FUNC_EXIT */
	__u32 type;          /* enum kt_event_type */
	__u32 cpu;
	__u32 tgid;
	__u32 tid;
	__u64 kstack;        /* KT_EV_SAMPLE: stack ids, as in kt_stack_key */
	__u64 ustack;
	__u32 softirq;       /* KT_EV_SAMPLE, KT_EV_SOFTIRQ: vector + 1 (KT_SOFTIRQ_NONE: none) */
	__u32 flags;         /* KT_EVF_* */
	__u32 next_tgid;     /* KT_EV_SWITCH */
	__u32 next_tid;
	__s64 prev_state;    /* KT_EV_SWITCH */
	__u32 func_slot;     /* KT_EV_FUNC_*: index of the function in the --trace list */
	__u32 depth;         /* KT_EV_FUNC_*: traced calls already open in the task (0 = outermost) */
	char comm[KT_COMM_LEN];
	char next_comm[KT_COMM_LEN];
};

#define KT_EVF_KSOFTIRQD 1  /* softirq served by ksoftirqd */
#define KT_EVF_NO_ENTRY 2   /* function exit whose entry came before recording (or its state was lost) */
#define KT_EVF_EXIT_MISSED 4 /* function exit the kernel skipped: the call had ended by ts (its syscall's exit) */

#endif
