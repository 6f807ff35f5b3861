// SPDX-License-Identifier: GPL-2.0
/* bench-stacks.sh's `split` part: the floor under every tracer's cost per sample. The least a sampling
 * program can do and still have the sample's kernel stack: compare the task with the targets (as bpftrace's
 * `/pid == N || .../` does) and run the kernel's unwinder into a buffer (bpf_get_stack). Nothing is hashed,
 * stored or counted. Loaded by scripts/sample-cost.c (mode `walk`); not part of ktrace. */
#include "vmlinux_min.h" /* the kernel types, as bpf/ builds with (-Ibpf) */
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define FLOOR_MAX_PIDS 64 /* a ksoftirqd per CPU */
#define FLOOR_MAX_STACK 127 /* kernel.perf_event_max_stack's default, as ktrace and bpftrace ask */

const volatile __u32 floor_pids[FLOOR_MAX_PIDS] = {}; /* set before load by sample-cost.c */

struct frames {
	__u64 ip[FLOOR_MAX_STACK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct frames);
} floor_buf SEC(".maps");

SEC("perf_event")
int walk_floor(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32, zero = 0;
	struct frames *f;
	int want = 0;

	/* The targets fill the first slots: the compares end at the first empty one. */
	for (int i = 0; i < FLOOR_MAX_PIDS && floor_pids[i]; i++)
		if (floor_pids[i] == pid)
			want = 1;
	if (!want || !(f = bpf_map_lookup_elem(&floor_buf, &zero)))
		return 0;
	bpf_get_stack(ctx, f->ip, sizeof(f->ip), 0);
	return 0;
}
