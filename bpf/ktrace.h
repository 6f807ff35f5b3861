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
	__u64 untraced;       /* runs the kernel counted (kstat.softirqs, /proc/softirqs) that no tracepoint showed:
			       * found at the next traced entry of the vector on that CPU (see softirq.bpf.c) */
	__u64 hist[KT_HIST_SLOTS];
	__u64 lat_hist[KT_HIST_SLOTS];
};

/* Static options of softirq.bpf.c: its .rodata (kt_scfg), written before load. */
struct kt_softirq_config {
	__s32 cpu;        /* -1 = all CPUs */
	__u32 latency;    /* 1 = track softirq_raise */
};

/* One-entry array written by user space while the programs run. */
struct kt_softirq_ctl {
	__u32 epoch;      /* 0 or 1: which stats slot BPF writes */
	__u32 pad;
};

/* ---- profile.bpf.c ---- */

enum kt_filter {
	KT_FILTER_ALL = 0,   /* system wide */
	KT_FILTER_TGID = 1,  /* tgid in kt_pids */
	KT_FILTER_TID = 2,   /* tid in kt_pids */
	KT_FILTER_COMM = 3,  /* comm equals (or starts with, when comm_prefix) kt_cfg.comm */
};

/* The static options of profile.bpf.c: its `const volatile` .rodata (kt_cfg), written before load, so the
 * verifier drops the code of every feature they leave off (as libbpf-tools configure their tools). */
struct kt_profile_config {
	__u32 filter;        /* enum kt_filter */
	__s32 cpu;           /* -1 = all */
	__u32 kernel_stack;  /* 1 = collect kernel stacks */
	__u32 user_stack;    /* 1 = collect user stacks */
	__u32 per_thread;    /* 1 = key counts by tid, not only tgid */
	__u32 aggregate;     /* 1 = count in kt_counts (ktrace stacks) */
	__u32 events;        /* 1 = emit timeline events into the ring buffer (ktrace timeline) */
	__u32 softirq;       /* 1 = softirq entry/exit followed: the vector running in samples (and slices with events) */
	__u32 work;          /* 1 = key a kworker's samples by the work function it runs (stacks --by-work) */
	__u32 comm_prefix;   /* 1 = comm is a prefix */
	__u32 comm_len;
	char comm[KT_COMM_LEN]; /* KT_FILTER_COMM: the name; '?' stands for any one character */
	__u32 offcpu;        /* 1 = time spent off the CPU per stack (ktrace offcpu, stacks --hot-cold) */
	__u32 offcpu_states; /* which switch-outs count: bits 1 << enum kt_offcpu_state */
	__u64 offcpu_min_ns; /* blocked times outside [min, max] are not counted (offcpu_out_of_range) */
	__u64 offcpu_max_ns;
	__u64 every;         /* --event tracepoint/kprobe: a sample every this many occurrences per CPU (0, 1: all) */
	__u32 wakers;        /* off-CPU: 1 = key blocked time by the waker's kernel stack too (sched_waking) */
	__u32 unwind;        /* 1 = user stacks walked with unwind tables (kt_unwind_procs, unwind.bpf.h), frame
	                      * pointers where no table applies: the programs NAME_unwound load instead of NAME
	                      * (profile.c); 0 = frame pointers only (bpf_get_stack) */
	__u64 clock_period_ns; /* sampling on the CPU clock: its period, to count the periods the kernel's timer
	                        * skipped (kt_profile_stats.clock_skipped); 0: not a clock */
	__u32 switch_state_arg; /* set by the loader from the kernel's BTF, not by callers: 1 = sched_switch's
	                         * BTF tracepoint has prev_state as its 4th argument (5.18+); 0 = the programs
	                         * read prev->__state (state before 5.14) instead, so that tp_btf and raw_tp
	                         * load and attach (reading a 4th argument that is not there fails both) */
};

/* What changes while profile.bpf.c runs: a one-entry array (kt_pctl) written by user space. */
struct kt_profile_ctl {
	__u32 started;       /* 1 from kt_profile_start to kt_profile_stop: samples, events and off-CPU time
	                      * are counted */
	__u32 epoch;         /* 0 or 1: the interval counts are keyed by; user space flips it to drain the other
	                      * (stacks --interval into a directory) */
};

/* What a task was doing when it left the CPU, from sched_switch's prev_state (and preempt). */
enum kt_offcpu_state {
	KT_ONCPU = 0,         /* kt_stack_key.offcpu of an on-CPU sample: not an off-CPU entry */
	KT_OFF_RUNNABLE = 1,  /* preempted while runnable (R): waited for a CPU */
	KT_OFF_SLEEP = 2,     /* TASK_INTERRUPTIBLE (S) */
	KT_OFF_DISK = 3,      /* TASK_UNINTERRUPTIBLE without TASK_NOLOAD (D): counted in the load average */
	KT_OFF_OTHER = 4,     /* idle kernel threads (I), stopped, traced, parked */
};

/* --trace: kernel functions recorded at entry and exit (fentry/fexit). The object carries this many
 * program pairs with no static target; user space points the used ones at the functions before load. */
#define KT_TRACE_MAX 8
#define KT_TRACE_DEPTH 16  /* traced calls open at once per task; deeper ones are counted, not recorded */

/* Stack ids: a hash of the frames with the top bit set, or one of these. */
#define KT_STACK_NONE 0ULL   /* not collected (not asked for; a kernel thread's user part; a user-mode sample's kernel part) */
#define KT_STACK_LOST 1ULL   /* collected but not stored: see the loss counters */
#define KT_STACK_ID_BIT (1ULL << 63)
/* Set in the id of a stack of at most KT_SHORT_STACK frames: its frames are in the short map of its kind
 * (kt_stacks_short, kt_ustacks_short), whose entries hold KT_SHORT_STACK frames, zero-terminated unless
 * full; the others are in kt_stacks and kt_ustacks, KT_MAX_STACK frames each. Storing a new stack copies a
 * whole entry: under the lab's SYN flood 99.9% of ksoftirqd's kernel stacks were at most 32 frames deep, and
 * keeping a new one in a 1 KiB entry took 1.65 µs instead of 1.13 (medians; docs/benchmarks.md). */
#define KT_STACK_SHORT_BIT (1ULL << 62)
#define KT_SHORT_STACK 32

struct kt_stack_key {
	__u32 tgid;
	__u32 tid;           /* 0 unless per_thread */
	__u32 softirq;       /* the vector running when sampled, + 1; KT_SOFTIRQ_NONE outside softirq */
	__u16 offcpu;        /* enum kt_offcpu_state: KT_ONCPU, the value counts samples; else it sums the
	                      * nanoseconds blocked in that state, from switch-out to switch-in */
	__u16 epoch;         /* kt_profile_ctl.epoch when counted */
	__u64 kstack;        /* stack id (see above) */
	__u64 ustack;
	__u64 work;          /* with kt_cfg.work: the work function the kworker was running when sampled (0: none) */
	char comm[KT_COMM_LEN];
	__u64 waker_kstack;  /* off-CPU with kt_cfg.wakers: the kernel stack of the task that woke it (KT_STACK_NONE:
	                      * no wakeup seen, e.g. preempted) */
	char waker_comm[KT_COMM_LEN];
};

/* Per-CPU counters so nothing is lost silently. */
struct kt_profile_stats {
	__u64 samples;        /* samples that matched the filter */
	__u64 kstack_full;    /* kernel stack not stored: its kernel stack map full (raise --stack-storage) or no memory */
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
	__u64 work_full;      /* work items not followed: kt_work_now full (their samples unlabelled, no slice) */
	__u64 offcpu_switches;     /* off-CPU: switch-outs of wanted tasks in a wanted state (stacks taken) */
	__u64 offcpu_counted;      /* off-CPU: switch-ins whose blocked time was counted */
	__u64 offcpu_out_of_range; /* off-CPU: switch-ins not counted, blocked time outside [min, max] (a filter, not a loss) */
	__u64 offcpu_start_full;   /* off-CPU: switch-outs not followed, kt_offstart full: their time is lost */
	__u64 offcpu_stalled;      /* off-CPU: switch-outs stamped at the scheduler's clock read, their tracepoint
	                            * having run 1 ms or more after it (offcpu.bpf.h, switch_out_lag) */
	__u64 clock_late;     /* CPU-clock samples that came late: the kernel's timer skipped periods before them */
	__u64 clock_skipped;  /* the periods it skipped (no sample; their time is not in the profile) */
	__u64 unwind_stacks;  /* user stacks walked with unwind tables (the _unwound programs) */
	__u64 unwind_no_tables; /* of those, in a process with no tables loaded (yet): frame pointers only */
	__u64 unwind_table_frames; /* frames found through a table row */
	__u64 unwind_fp_frames; /* frames found through frame pointers, no table row applying */
	__u64 unwind_truncated; /* stacks cut at KT_UNWIND_FRAMES frames */
	__u64 unwind_stopped; /* stacks ended before their end: a read failed, a rule the table cannot follow, no
	                       * progress up the stack, rbp unknown where needed (the frames found are kept) */
};

enum kt_event_type {
	KT_EV_SAMPLE = 1,     /* ts, stacks, softirq */
	KT_EV_SOFTIRQ = 2,    /* a complete softirq run: ts = entry, dur, softirq, KT_EVF_KSOFTIRQD */
	KT_EV_SWITCH = 3,     /* sched_switch: tgid/tid/comm = prev, next_* = next, prev_state */
	KT_EV_FUNC_ENTRY = 4, /* --trace: ts = entry, func_slot, depth */
	KT_EV_FUNC_EXIT = 5,  /* --trace: ts = exit, dur = since the entry (0 with KT_EVF_NO_ENTRY; see KT_EVF_ENTRY_LOST), func_slot, depth */
	KT_EV_WORK = 6,       /* a complete work item on a kworker: ts = start, dur, work_fn */
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
	__u64 work_fn;       /* KT_EV_WORK: the work function (kernel text address) */
	char comm[KT_COMM_LEN];
	char next_comm[KT_COMM_LEN];
};

#define KT_EVF_KSOFTIRQD 1  /* softirq served by ksoftirqd */
#define KT_EVF_NO_ENTRY 2   /* function exit whose entry was not seen, with no return to user space since
                             * the recording began to bound it: taken as begun before recording */
#define KT_EVF_EXIT_MISSED 4 /* function exit the kernel skipped: the call had ended by ts (its syscall's exit) */
#define KT_EVF_ENTRY_LOST 8 /* function exit whose entry the kernel skipped: the call began after ts - dur
                             * (its task's last return to user space) */

/* ---- user stacks from unwind tables (unwind.bpf.h, docs/unwinding.md) ---- */

/* One row of an ELF file's compact unwind table (KtraceCore's UnwindRow): from pc, an ELF virtual
 * address, up to the next row's pc, how to find the caller. */
struct kt_unwind_row {
	__u32 pc;
	__u32 rule;          /* bits 0-2: KT_CFA_*; 3-4: KT_RBP_*; 5-12: rbp slot (rbp at CFA - 8 * slot);
	                      * 13-31: the CFA's offset from its register, in bytes */
};
#define KT_ROW_CFA(r) ((r) & 7)
#define KT_ROW_RBP(r) (((r) >> 3) & 3)
#define KT_ROW_RBP_SLOT(r) (((r) >> 5) & 0xff)
#define KT_ROW_CFA_OFF(r) ((r) >> 13)
enum kt_cfa_rule {
	KT_CFA_NONE = 0,         /* no FDE covers the pc */
	KT_CFA_RSP = 1,          /* CFA = rsp + off */
	KT_CFA_RBP = 2,          /* CFA = rbp + off */
	KT_CFA_PLT = 3,          /* .plt: CFA = rsp + off, + 8 from byte 11 of each 16-byte entry */
	KT_CFA_PLT_IBT = 4,      /* IBT .plt: the same from byte 9 */
	KT_CFA_END = 5,          /* the outermost frame (_start, a thread's start) */
	KT_CFA_UNSUPPORTED = 6,  /* a rule the row cannot hold */
	KT_CFA_RA_ELSEWHERE = 7, /* the return address is not at CFA - 8 */
};
enum kt_rbp_rule {
	KT_RBP_UNCHANGED = 0,
	KT_RBP_SAVED = 1,
	KT_RBP_UNDEFINED = 2,
	KT_RBP_UNSUPPORTED = 3,
};

#define KT_UNWIND_MAPPINGS 64 /* executable mappings with a table per process; more: frame pointers there */
#define KT_UNWIND_FRAMES 64   /* user frames walked with tables; a deeper stack is cut and counted */
/* After the last frame of a user stack cut at KT_UNWIND_FRAMES, a frame that is no user address: the stack
 * says it was cut (user space shows it as its outermost frame, `[truncated]`). */
#define KT_UNWIND_CUT_PC 0xfffffffffffffffeULL
#define KT_UNWIND_ROW_STEPS 20 /* binary search steps over one file's rows: 2^20 - 1 rows at most */

/* An executable mapping whose file has a table. */
struct kt_unwind_mapping {
	__u64 start;         /* runtime addresses [start, end) */
	__u64 end;
	__u64 bias;          /* runtime address - ELF virtual address */
	__u32 first;         /* its file's table: kt_unwind_rows[first, first + count) */
	__u32 count;
};

/* kt_unwind_procs' value, keyed by tgid: its mappings with tables, sorted by start, not overlapping. */
struct kt_unwind_proc {
	__u32 n;
	__u32 pad;
	struct kt_unwind_mapping m[KT_UNWIND_MAPPINGS];
};

/* ---- kthreads.bpf.c ---- */

/* What a kernel thread did (an activity: a softirq vector served, a work item, a shrinker run, a reclaim
 * pass, a journal commit, a migration, an RCU callback), decoded from the kernel's own tracepoints: one kind
 * per decoder. User space calls them activities too; the JSON key is "doing". */
enum kt_activity_kind {
	KT_DO_SOFTIRQ = 1,   /* ksoftirqd serving a vector: id = vector */
	KT_DO_WORK = 2,      /* a workqueue item: id = its work function's address */
	KT_DO_SHRINKER = 3,  /* a slab shrinker run (shrink_slab): id = the shrinker's scan_objects address */
	KT_DO_RECLAIM = 4,   /* LRU reclaim passes (mm_vmscan_lru_shrink_inactive): id = 0, pages_* set */
	KT_DO_COMMIT = 5,    /* a jbd2 journal commit: id = 0 */
	KT_DO_MIGRATE = 6,   /* tasks moved to another CPU (sched_migrate_task): id = 0, count only */
	KT_DO_RCU_CB = 7,    /* RCU callbacks invoked (rcu_invoke_callback): id = the callback's address, count only */
};

/* Optional decoders, as bits (user space loads only the programs of those the kernel has). */
#define KT_DEC_WORKQUEUE (1u << 0)
#define KT_DEC_SHRINKER (1u << 1)
#define KT_DEC_RECLAIM (1u << 2)
#define KT_DEC_JBD2 (1u << 3)
#define KT_DEC_MIGRATE (1u << 4)
#define KT_DEC_RCU (1u << 5)
#define KT_DEC_IRQ (1u << 6)

/* Static options of kthreads.bpf.c: its .rodata (kt_kcfg), written before load. */
struct kt_kthreads_config {
	__u64 smpboot_fn;    /* address of smpboot_thread_fn: such threads are named by their own thread_fn */
	__u64 irq_thread_fn; /* address of irq_thread: threaded irq handlers are named by their thread_fn */
	__u32 queuers;       /* 1 = count who queues work (kt_queuers, at workqueue_queue_work): ktrace diagnose */
	__u32 pad;
};

/* One-entry array written by user space while the programs run. */
struct kt_kthreads_ctl {
	__u32 epoch;         /* 0 or 1: which interval's maxima BPF writes (see kt_max_key) */
	__u32 pad;
};

/* Cumulative per kernel thread since attach (user space takes deltas), keyed by tid. */
struct kt_kthread {
	__u64 sched_ns;      /* the scheduler's account of its run time (se.sum_exec_runtime deltas at each
	                      * switch-out), as top and /proc/PID/stat see it: without steal time, and
	                      * without irq time on CONFIG_IRQ_TIME_ACCOUNTING kernels */
	__u64 wall_ns;       /* wall-clock time between its sched_switch events, irqs on top included */
	__u64 last_sum;      /* se.sum_exec_runtime at its last switch-out (kernel side only) */
	__u64 irq_ns;        /* hard-irq handlers that ran on top of it (irq_handler_entry/exit) */
	__u64 softirq_ns;    /* softirqs that ran inline on top of it (not ksoftirqd's own), hard irqs excluded */
	__u64 switches;      /* times it left the CPU */
	__u64 threadfn;      /* its kthread start function (smpboot threads: their thread_fn), 0 = unknown */
	char comm[KT_COMM_LEN];
};

struct kt_activity_key {
	__u32 tid;
	__u32 kind;          /* enum kt_activity_kind */
	__u64 id;
};

/* Cumulative per (thread, activity). Times are the thread's own CPU time while it ran: irq and inline
 * softirq time excluded, time off the CPU excluded. */
struct kt_activity {
	__u64 count;
	__u64 ns;
	__u64 wait_ns;       /* KT_DO_WORK: queued -> started, summed over the work items whose queueing was seen */
	__u64 waits;         /* how many work items wait_ns covers */
	__u64 pages_scanned; /* KT_DO_RECLAIM */
	__u64 pages_reclaimed;
};

/* Maxima cannot be differenced, so they are kept per interval: BPF writes the entries of ctl.epoch; user
 * space flips the epoch, then reads and deletes the other epoch's entries. */
struct kt_max_key {
	struct kt_activity_key activity;
	__u32 epoch;
	__u32 pad;
};
struct kt_activity_max {
	__u64 max_ns;
	__u64 wait_max_ns;
};

/* What runs on each CPU now (a per-CPU array). User space reads it too: a thread that has not left its
 * CPU since its last switch-in has its running slice added at each read, so a busy thread is not shown
 * idle until it yields. */
struct kt_kcpu {
	__u64 in_ts;       /* when the current task came on (bpf_ktime_get_ns; 0: not seen yet) */
	__u32 tid;         /* that task */
	__u32 sirq_vec;
	__u64 irq_ts;      /* hard irq handler running since (0: none; they do not nest) */
	__u64 irq_total;   /* hard-irq time on this CPU since attach, to take out of the softirq it interrupted */
	__u64 sirq_ts;     /* softirq running since (0: none; they do not nest on a CPU) */
	__u64 sirq_irq;    /* irq_total when it started */
	__u32 sirq_ksoftirqd;
	__u32 pad;
	__u64 scratch;
};

/* Per-CPU counters so nothing is lost silently. */
struct kt_kthreads_stats {
	__u64 threads_full;  /* events of a thread not counted: kt_threads full */
	__u64 activities_full; /* activities not counted: kt_activities full */
	__u64 max_full;      /* an activity's maximum not kept this interval: kt_activity_max full */
	__u64 open_full;     /* activities not timed: no room to remember their start */
	__u64 unmatched;     /* ends (work, shrinker, commit, softirq) whose start was not seen: not timed */
	__u64 queuers_full;  /* work items whose queuer was not counted: kt_queuers full */
};

/* Where a work item was queued from: the task current at workqueue_queue_work, or an interrupt on top of
 * whatever task ran (whose identity then says nothing about who asked). */
enum kt_queue_ctx {
	KT_QCTX_TASK = 0,
	KT_QCTX_SOFTIRQ = 1,
	KT_QCTX_HARDIRQ = 2,
};

/* With kt_kcfg.queuers: work items queued, cumulative since attach, per work function and queuer. */
struct kt_queuer_key {
	__u64 fn;            /* the work function (kernel text address) */
	__u64 cgroup;        /* the queuer's cgroup v2 id (its directory's inode in cgroupfs); 0 in interrupts */
	__u32 tgid;          /* the queuer's process; 0 in interrupts */
	__u32 ctx;           /* enum kt_queue_ctx */
};
struct kt_queuer {
	__u64 count;
	char comm[KT_COMM_LEN]; /* the queuing task's comm (its thread's name) when first seen */
};

/* ---- drops.bpf.c ---- */

/* kt_drop_key.reason on kernels whose skb:kfree_skb has no reason (before 5.17; stable 5.15.58 has it):
 * never a reason, whose values are small (or a subsystem's id << 16 and a small code). */
#define KT_DROP_NO_REASON 0xffffffffu

/* Packets freed as dropped, counted per CPU (a per-CPU hash of this key, the count its value) from
 * kt_drops_start on. */
struct kt_drop_key {
	__u64 location;      /* the kernel text address that freed it (the tracepoint's location) */
	__u32 reason;        /* enum skb_drop_reason, or KT_DROP_NO_REASON */
	__u32 pad;
};

/* One-entry array written by user space. */
struct kt_drops_ctl {
	__u32 counting;      /* 1 from kt_drops_start: drops before it are outside diagnose's window */
	__u32 pad;
};

/* Per-CPU counters so nothing is lost silently. */
struct kt_drops_stats {
	__u64 table_full;    /* drops not counted: their key was new and kt_drops was full */
};

#endif
