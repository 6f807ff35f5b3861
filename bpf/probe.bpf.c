// SPDX-License-Identifier: GPL-2.0
/* Feature probes, loaded once at start when a feature needs them: can this kernel attach fentry/fexit
 * (BPF trampolines need ftrace with direct calls)? */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("fentry/vfs_read")
int BPF_PROG(kt_probe_fentry)
{
	return 0;
}
