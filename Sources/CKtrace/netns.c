/* ktrace diagnose: let the calling thread (and only it) see a network namespace as `ip netns exec` does:
 * a private mount namespace of its own, the network namespace entered, and a sysfs mounted at /sys there,
 * so that /proc/thread-self/net, /proc/sys/net and /sys/class/net all describe that namespace. Nothing
 * propagates back: / is made a slave first, and the mount namespace ends with the thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "ckt.h"

int kt_thread_enter_netns(const char *path, char *err, size_t errlen)
{
	int fd, rc;

	if (unshare(CLONE_NEWNS) != 0) {
		rc = -errno;
		snprintf(err, errlen, "unshare(CLONE_NEWNS): %s", strerror(-rc));
		return rc;
	}
	if (mount("none", "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) {
		rc = -errno;
		snprintf(err, errlen, "making / a slave mount: %s", strerror(-rc));
		return rc;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "opening %s: %s", path, strerror(-rc));
		return rc;
	}
	rc = setns(fd, CLONE_NEWNET) != 0 ? -errno : 0;
	close(fd);
	if (rc != 0) {
		snprintf(err, errlen, "entering %s (setns): %s", path, strerror(-rc));
		return rc;
	}
	umount2("/sys", MNT_DETACH);
	if (mount("sysfs", "/sys", "sysfs", 0, NULL) != 0) {
		rc = -errno;
		snprintf(err, errlen, "mounting a sysfs in %s: %s", path, strerror(-rc));
		return rc;
	}
	return 0;
}
