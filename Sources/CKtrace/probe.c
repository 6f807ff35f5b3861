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
	int rc = kt_load_and_attach(ktrace_probe_bpf, ktrace_probe_bpf_end, "probe", KT_ATTACH_AUTO, NULL, NULL, NULL,
				    NULL, &l, err, errlen);
	if (rc == 0) {
		kt_unload(&l);
		return 0;
	}
	if (rc == -EOPNOTSUPP || rc == -524 /* ENOTSUPP */ || rc == -ENODEV || rc == -EINVAL)
		snprintf(err, errlen, "attaching a BPF trampoline failed (%s): the kernel needs CONFIG_FUNCTION_TRACER "
			 "and CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS, and ftrace must not be disabled", strerror(rc == -524 ? ENOTSUP : -rc));
	return rc;
}
