/* ktrace diagnose: let the calling thread (and only it) see a network namespace as `ip netns exec` does:
 * a private mount namespace of its own, the network namespace entered, and a sysfs mounted at /sys there,
 * so that /proc/thread-self/net, /proc/sys/net and /sys/class/net all describe that namespace. Nothing
 * propagates back: / is made a slave first, and the mount namespace ends with the thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/time.h>
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

/* One sock_diag dump (the request ss -ltn sends) of one address family's TCP listeners into out[*n..max);
 * those beyond max are counted in *left_out. Returns 0 or -errno. */
static int dump_listeners(int fd, int family, struct kt_listener *out, int max, int *n, int *left_out, char *err,
			  size_t errlen)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = (uint32_t)family },
		.req = { .sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_TCP, .idiag_states = 1u << TCP_LISTEN },
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	/* The kernel fills a dump message up to 32 KiB when the reader's buffer allows it. */
	char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	const char *what = family == AF_INET ? "sock_diag, IPv4 TCP listeners" : "sock_diag, IPv6 TCP listeners";
	int rc;

	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: sending the request: %s", what, strerror(-rc));
		return rc;
	}
	for (;;) {
		/* MSG_TRUNC: the message's real length, so a reply cut short is seen rather than half-read. */
		ssize_t len = recv(fd, buf, sizeof(buf), MSG_TRUNC);
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: reading the reply: %s", what, strerror(-rc));
			return rc;
		}
		if (len == 0 || (size_t)len > sizeof(buf)) {
			snprintf(err, errlen, "%s: a reply of %zd bytes (the buffer holds %zu)", what, len, sizeof(buf));
			return -EPROTO;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != (uint32_t)family)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				rc = h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error < 0 ? e->error : -EPROTO;
				/* No handler for the family: tcp_diag missing, or IPv6 disabled (ipv6.disable=1). */
				snprintf(err, errlen, "%s: %s", what,
					 rc == -ENOENT ? "the kernel has no sock_diag handler for it (tcp_diag / IPv6)" : strerror(-rc));
				return rc;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
				continue;
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			if (*n >= max) {
				(*left_out)++;
				continue;
			}
			struct kt_listener *l = &out[(*n)++];
			memset(l, 0, sizeof(*l));
			l->family = m->idiag_family;
			memcpy(l->addr, m->id.idiag_src, m->idiag_family == AF_INET ? 4 : 16);
			l->port = ntohs(m->id.idiag_sport);
			l->accept_queue = m->idiag_rqueue;
			l->backlog = m->idiag_wqueue;
			l->inode = m->idiag_inode;
		}
	}
}

int kt_tcp_listeners(struct kt_listener *out, int max, int *left_out, char *err, size_t errlen)
{
	/* A netlink socket belongs to the network namespace of the thread that creates it. */
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	int n = 0, rc;

	*left_out = 0;
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "opening a sock_diag socket: %s", strerror(-rc));
		return rc;
	}
	/* The kernel answers a dump at once; a reply that never comes must not hang the window's end. */
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	rc = dump_listeners(fd, AF_INET, out, max, &n, left_out, err, errlen);
	if (rc == 0) {
		char err6[256];
		rc = dump_listeners(fd, AF_INET6, out, max, &n, left_out, err6, sizeof(err6));
		/* A kernel without IPv6 has no IPv6 listeners: that is an answer, not a failure. */
		if (rc == -ENOENT)
			rc = 0;
		else if (rc < 0)
			snprintf(err, errlen, "%s", err6);
	}
	close(fd);
	return rc < 0 ? rc : n;
}
