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
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};
enum { BPF_ANY = 0, BPF_NOEXIST = 1, BPF_EXIST = 2 };
enum { BPF_F_NO_PREALLOC = 1 };
#define BPF_F_USER_STACK (1ULL << 8)

#define PF_KTHREAD 0x00200000

/* x86_64's; kprobe programs read the stack pointer from it. */
struct pt_regs {
	unsigned long sp;
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int flags;
	pid_t pid;
	pid_t tgid;
	char comm[16];
	void *stack;
	unsigned long long start_time;
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
