/* ktrace diagnose: run a listing tool (iptables-save, nft) and keep what it prints. The child is spawned
 * from the calling thread, so it runs in that thread's network and mount namespaces; it starts with
 * signals unblocked and at their defaults whatever ktrace set for itself, reads /dev/null, writes its
 * errors to /dev/null, and is killed and reaped when it outlives the timeout. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deadline_internal.h"

#include "ckt.h"

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? ms : 0;
}

static int spawn_child(pid_t *pid, const char *path, char *const argv[], int out_fd)
{
	static char *const env[] = { "PATH=/usr/sbin:/sbin:/usr/bin:/bin", "LC_ALL=C", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int rc;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(pid, path, &fa, &at, argv, env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

int kt_run_capture(const char *path, char *const argv[], char *out, size_t cap, int timeout_ms, int *exit_code,
		   char *err, size_t errlen)
{
	struct timespec deadline;
	size_t len = 0;
	int pipefd[2], rc, status = 0, overflow = 0;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: a pipe: %s", path, strerror(-rc));
		return rc;
	}
	rc = spawn_child(&pid, path, argv, pipefd[1]);
	close(pipefd[1]);
	if (rc != 0) {
		close(pipefd[0]);
		snprintf(err, errlen, "%s: %s", path, strerror(rc));
		return -rc;
	}
	deadline = kt_deadline_after(timeout_ms);
	/* Read until end of file. Past cap the rest is read and dropped, so the child is not stopped by a
	 * full pipe (or killed by SIGPIPE) before it exits. */
	for (;;) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		long ms = ms_left(&deadline);
		if (ms == 0)
			break;
		rc = poll(&p, 1, (int)ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			break;
		char sink[4096];
		ssize_t n = len < cap ? read(pipefd[0], out + len, cap - len) : read(pipefd[0], sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < cap)
			len += (size_t)n;
		else
			overflow = 1;
	}
	close(pipefd[0]);
	/* The child closed its output (or the time is up): wait for its exit until the deadline, then kill it. */
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			rc = -errno;
			snprintf(err, errlen, "%s: waiting for it: %s", path, strerror(-rc));
			return rc;
		}
		if (ms_left(&deadline) == 0) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			snprintf(err, errlen, "%s: no answer within %g s (killed)", path, timeout_ms / 1000.0);
			return -ETIMEDOUT;
		}
		struct timespec pause = { 0, 10 * 1000000L };
		nanosleep(&pause, NULL);
	}
	*exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
	if (overflow) {
		snprintf(err, errlen, "%s: printed more than %zu MiB", path, cap >> 20);
		return -EFBIG;
	}
	return (int)len;
}
