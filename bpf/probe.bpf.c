// SPDX-License-Identifier: GPL-2.0
/* Feature probes, loaded one at a time when a feature needs them: can this kernel attach fentry/fexit
 * (BPF trampolines need ftrace with direct calls), or else kprobes? */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("fentry/vfs_read")
int BPF_PROG(kt_probe_fentry)
{
	return 0;
}

SEC("kprobe/vfs_read")
int kt_probe_kprobe(void *ctx)
{
	return 0;
}
