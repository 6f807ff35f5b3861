/* ktrace exporter, once attached: become nobody, keeping CAP_BPF alone. The map reads of each interval
 * need it on kernels that refuse every bpf() command to unprivileged callers while
 * kernel.unprivileged_bpf_disabled is set (Debian's default); nothing else is needed after attaching. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckt.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

int kt_drop_privileges(unsigned int uid, unsigned int gid)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { { 0 } };

	if (geteuid() == 0 || getuid() == 0) {
		/* Keep the permitted set across the uid change, to keep CAP_BPF out of it below. */
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) || setresgid(gid, gid, gid) ||
		    setresuid(uid, uid, uid))
			return -errno;
	}
	d[CAP_BPF / 32].permitted = d[CAP_BPF / 32].effective = 1u << (CAP_BPF % 32);
	/* capset applies to the calling thread: call this before any other thread exists. */
	if (syscall(SYS_capset, &h, d))
		return -errno;
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ? -errno : 0;
}
