/* The few kernel types ktrace's BPF programs touch, declared by hand instead of a generated vmlinux.h so
 * the build needs neither kernel headers nor the build host's BTF. preserve_access_index makes every
 * field access a CO-RE relocation, resolved by libbpf against the running kernel's BTF at load time. */
#ifndef KTRACE_VMLINUX_MIN_H
#define KTRACE_VMLINUX_MIN_H

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef __u8 u8;
typedef __u32 u32;
typedef __u64 u64;
typedef __s64 s64;
typedef int pid_t;
typedef _Bool bool;
#define true 1
#define false 0

/* uapi values (include/uapi/linux/bpf.h); stable ABI, so plain constants. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};
/* Only for bpf_core_enum_value_exists: is the helper in the running kernel? */
enum bpf_func_id { BPF_FUNC_task_pt_regs = 175 };
enum { BPF_ANY = 0, BPF_NOEXIST = 1, BPF_EXIST = 2 };
enum { BPF_F_NO_PREALLOC = 1, BPF_F_MMAPABLE = 1 << 10 };
#define BPF_F_USER_STACK (1ULL << 8)

#define PF_EXITING 0x00000004
#define PF_KTHREAD 0x00200000
#define PF_WQ_WORKER 0x00000020

/* x86_64's; kprobe programs read the stack pointer from it. */
struct pt_regs {
	unsigned long sp;
} __attribute__((preserve_access_index));

/* kernel/sched/sched.h: a CPU's runqueue. clock is the scheduler's own time (sched_clock_cpu), read at
 * the top of __schedule before the task going to sleep is dequeued. */
struct rq {
	unsigned long long clock;
} __attribute__((preserve_access_index));

/* kernel/sched/sched.h: the runqueue a group's entities queue on (CONFIG_FAIR_GROUP_SCHED). */
struct cfs_rq {
	struct rq *rq;
} __attribute__((preserve_access_index));

struct sched_entity {
	unsigned long long sum_exec_runtime;
	struct cfs_rq *cfs_rq;  /* CONFIG_FAIR_GROUP_SCHED */
} __attribute__((preserve_access_index));

/* include/linux/kernel_stat.h: the per-CPU counts /proc/softirqs prints. */
struct kernel_stat {
	unsigned int softirqs[10];
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int flags;
	pid_t pid;
	pid_t tgid;
	char comm[16];
	void *stack;
	unsigned long long start_time;
	void *worker_private;  /* a kthread's struct kthread (5.17+) */
	int *set_child_tid;    /* before 5.17, a kthread's struct kthread (to_kthread) */
	struct sched_entity se;
	unsigned int __state;  /* 5.14+ */
} __attribute__((preserve_access_index));

/* Before 5.14 the state was `volatile long state`. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

/* kernel/kthread.c and kernel/smpboot.c: what names a kernel thread. */
struct kthread {
	int (*threadfn)(void *);
	void *data;
} __attribute__((preserve_access_index));

struct irqaction {
	void *thread_fn;
} __attribute__((preserve_access_index));

struct smp_hotplug_thread {
	void (*thread_fn)(unsigned int cpu);
} __attribute__((preserve_access_index));

struct smpboot_thread_data {
	struct smp_hotplug_thread *ht;
} __attribute__((preserve_access_index));

/* kernel/workqueue_internal.h: a kworker's kthread data; current_func is set for the duration of each
 * work item (what wq_worker_comm and sysrq-t's worker info read). */
struct worker {
	void *current_func;
} __attribute__((preserve_access_index));

struct work_struct {
	void (*func)(struct work_struct *work);
} __attribute__((preserve_access_index));

struct shrinker {
	unsigned long (*scan_objects)(struct shrinker *, void *);
} __attribute__((preserve_access_index));

struct rcu_head {
	void (*func)(struct rcu_head *head);
} __attribute__((preserve_access_index));


/* Classic tracepoint records (format files under tracefs events/irq and events/sched). */
struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
} __attribute__((preserve_access_index));

struct trace_event_raw_softirq {
	struct trace_entry ent;
	unsigned int vec;
} __attribute__((preserve_access_index));

struct trace_event_raw_workqueue_execute_start {
	struct trace_entry ent;
	void *work;
	void *function;
} __attribute__((preserve_access_index));

struct trace_event_raw_workqueue_execute_end {
	struct trace_entry ent;
	void *work;
} __attribute__((preserve_access_index));

struct trace_event_raw_workqueue_queue_work {
	struct trace_entry ent;
	void *work;
} __attribute__((preserve_access_index));

struct trace_event_raw_irq_handler_entry {
	struct trace_entry ent;
	int irq;
} __attribute__((preserve_access_index));

struct trace_event_raw_sched_wakeup_template {
	struct trace_entry ent;
	char comm[16];
	pid_t pid;
} __attribute__((preserve_access_index));

/* events/skb/kfree_skb's record: location, which every kernel has. Its reason (5.17+, moved by 6.11's rx_sk)
 * is read through a CO-RE flavour of this struct in drops.bpf.c. */
struct trace_event_raw_kfree_skb {
	struct trace_entry ent;
	void *location;
} __attribute__((preserve_access_index));

struct trace_event_raw_sched_switch {
	struct trace_entry ent;
	char prev_comm[16];
	pid_t prev_pid;
	int prev_prio;
	long prev_state;
	char next_comm[16];
	pid_t next_pid;
	int next_prio;
} __attribute__((preserve_access_index));

#endif
