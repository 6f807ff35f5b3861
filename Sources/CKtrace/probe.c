#include "ckt.h"
#include "loader_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

extern const unsigned char ktrace_probe_bpf[];
extern const unsigned char ktrace_probe_bpf_end[];

/* Load and attach the one program `name` of the probe object, then release everything. */
static int probe_one(const char *name, char *why, size_t whylen)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "probe");
	struct bpf_object *obj = bpf_object__open_mem(ktrace_probe_bpf, (size_t)(ktrace_probe_bpf_end - ktrace_probe_bpf), &opts);
	struct bpf_program *prog, *wanted = NULL;
	struct bpf_link *link = NULL;
	int rc;

	if (!obj)
		return -errno;
	bpf_object__for_each_program(prog, obj) {
		int is = strcmp(bpf_program__name(prog), name) == 0;
		bpf_program__set_autoload(prog, is);
		if (is)
			wanted = prog;
	}
	rc = wanted ? bpf_object__load(obj) : -ENOENT;
	if (rc == 0) {
		link = bpf_program__attach(wanted);
		rc = link ? 0 : -errno;
	}
	if (rc)
		kt_errmsg(why, whylen, name, rc);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return rc;
}

int kt_probe_fentry(char *err, size_t errlen)
{
	char why[512];
	int rc = probe_one("kt_probe_fentry", why, sizeof(why));
	if (rc == 0)
		return 0;
	/* Root was checked before: a refusal here is the kernel's, not missing privileges. */
	snprintf(err, errlen, "an fentry program on vfs_read did not load or attach: %s; BPF trampolines need "
		 "CONFIG_FUNCTION_TRACER, CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS and ftrace enabled",
		 strerror(rc == -524 ? EOPNOTSUPP : -rc));
	return rc;
}

int kt_probe_kprobe(char *err, size_t errlen)
{
	char why[512];
	int rc = probe_one("kt_probe_kprobe", why, sizeof(why));
	if (rc == 0)
		return 0;
	snprintf(err, errlen, "a kprobe on vfs_read did not attach: %s; kprobes need CONFIG_KPROBES and CONFIG_KPROBE_EVENTS",
		 strerror(rc == -524 ? EOPNOTSUPP : -rc));
	return rc;
}
