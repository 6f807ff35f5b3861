#include "ckt.h"
#include "loader_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

extern const unsigned char ktrace_probe_bpf[];
extern const unsigned char ktrace_probe_bpf_end[];

int kt_probe_fentry(char *err, size_t errlen)
{
	struct kt_loaded l;
	char why[512];
	int rc = kt_load_and_attach(ktrace_probe_bpf, ktrace_probe_bpf_end, "probe", KT_ATTACH_AUTO, NULL, NULL, NULL,
				    NULL, &l, why, sizeof(why));
	if (rc == 0) {
		kt_unload(&l);
		return 0;
	}
	/* Root was checked before: a refusal here is the kernel's, not missing privileges. */
	snprintf(err, errlen, "an fentry program on vfs_read did not load or attach: %s; BPF trampolines need "
		 "CONFIG_FUNCTION_TRACER, CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS and ftrace enabled",
		 strerror(rc == -524 ? EOPNOTSUPP : -rc));
	return rc;
}
