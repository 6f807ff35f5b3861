/* A D-state load with a known cause: a tiny FUSE file system, served here over raw /dev/fuse, that
 * answers every read after DELAY_MS, and READERS processes reading its files through the page cache.
 * The server asks for asynchronous reads (FUSE_ASYNC_READ), so a reader's read is sent as background
 * readahead and the reader waits for the page's lock, killable (TASK_KILLABLE: state D, counted in the
 * load average), in folio_wait_bit_common (older kernels: wait_on_page_bit_common) under
 * fuse_file_read_iter; a synchronous FUSE request would wait interruptibly (S) instead.
 *
 * Everything is this process's: the mount is made in a private mount namespace (nobody else sees it,
 * and it goes with the namespace), the readers are its children and die with it (PR_SET_PDEATHSIG),
 * and closing /dev/fuse aborts the connection, so a reader still waiting is released with an error.
 * Ends after SECONDS, or on SIGTERM/SIGINT.
 *
 * usage: slowfuse SECONDS [READERS (8)] [DELAY_MS (100)]
 * stdout: "ready PID_1 ... PID_N" once the readers run, then "done READS" at the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_READERS 64
#define FILE_SIZE (1ULL << 40)  /* a reader never reaches the end: every read misses the page cache */
#define BUF_SIZE (1 << 20) + 4096

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "slowfuse: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int fuse_fd;

static void reply(uint64_t unique, int error, const void *arg, size_t len)
{
	char buf[sizeof(struct fuse_out_header) + 4096];
	struct fuse_out_header *h = (void *)buf;
	if (len > 4096)
		len = 4096;
	h->len = (uint32_t)(sizeof(*h) + len);
	h->error = error;
	h->unique = unique;
	if (len)
		memcpy(buf + sizeof(*h), arg, len);
	if (write(fuse_fd, buf, h->len) < 0 && errno != ENOENT) /* ENOENT: the request was interrupted */
		fprintf(stderr, "slowfuse: reply: %s\n", strerror(errno));
}

/* Node 1 is the root directory; node 2 + i is file "fI". */
static void fill_attr(struct fuse_attr *a, uint64_t node)
{
	memset(a, 0, sizeof(*a));
	a->ino = node;
	if (node == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0444;
		a->nlink = 1;
		a->size = FILE_SIZE;
		a->blocks = FILE_SIZE / 512;
	}
	a->blksize = 4096;
}

static void reader(const char *path)
{
	static char buf[128 * 1024];
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(0);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		_exit(2);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	_exit(0);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0;
	int nreaders = argc > 2 ? atoi(argv[2]) : 8;
	int delay_ms = argc > 3 ? atoi(argv[3]) : 100;
	if (secs <= 0 || secs > 600 || nreaders < 1 || nreaders > MAX_READERS || delay_ms < 0 || delay_ms > 10000) {
		fprintf(stderr, "usage: slowfuse SECONDS(1-600) [READERS(1-%d)] [DELAY_MS(0-10000)]\n", MAX_READERS);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);

	if (unshare(CLONE_NEWNS) != 0)
		die("unshare(CLONE_NEWNS)");
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		die("making / private");
	char dir[] = "/tmp/slowfuse.XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse_fd < 0)
		die("/dev/fuse");
	char opts[128];
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", fuse_fd);
	if (mount("slowfuse", dir, "fuse.slowfuse", MS_NOSUID | MS_NODEV, opts) != 0)
		die("mount fuse");
	/* The mount point directory is in the host's /tmp; the mount itself is only in this namespace. */

	char *buf = malloc(BUF_SIZE), *zeros = calloc(1, 1 << 20);
	pid_t pids[MAX_READERS];
	int started = 0, initialized = 0;
	unsigned long reads = 0;
	double end = now() + secs;

	while (!stop && now() < end) {
		struct pollfd p = { .fd = fuse_fd, .events = POLLIN };
		int r = poll(&p, 1, 200);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		ssize_t n = read(fuse_fd, buf, BUF_SIZE);
		if (n < 0) {
			if (errno == EINTR || errno == ENOENT || errno == EAGAIN)
				continue;
			if (errno == ENODEV)
				break; /* unmounted */
			die("reading /dev/fuse");
		}
		if ((size_t)n < sizeof(struct fuse_in_header))
			continue;
		struct fuse_in_header *in = (void *)buf;
		void *arg = buf + sizeof(*in);
		switch (in->opcode) {
		case FUSE_INIT: {
			struct fuse_init_in *ii = arg;
			struct fuse_init_out o = { 0 };
			o.major = FUSE_KERNEL_VERSION;
			o.minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ? ii->minor : FUSE_KERNEL_MINOR_VERSION;
			o.max_readahead = ii->max_readahead;
			o.flags = ii->flags & FUSE_ASYNC_READ;
			o.max_background = 64;
			o.congestion_threshold = 48;
			o.max_write = 128 * 1024;
			reply(in->unique, 0, &o, sizeof(o));
			initialized = 1;
			break;
		}
		case FUSE_LOOKUP: {
			const char *name = arg;
			int i = -1;
			struct fuse_entry_out e = { 0 };
			if (in->nodeid == FUSE_ROOT_ID && name[0] == 'f' && sscanf(name + 1, "%d", &i) == 1 && i >= 0 && i < MAX_READERS) {
				e.nodeid = 2 + (uint64_t)i;
				e.entry_valid = e.attr_valid = 3600;
				fill_attr(&e.attr, e.nodeid);
				reply(in->unique, 0, &e, sizeof(e));
			} else {
				reply(in->unique, -ENOENT, NULL, 0);
			}
			break;
		}
		case FUSE_GETATTR: {
			struct fuse_attr_out a = { 0 };
			a.attr_valid = 3600;
			fill_attr(&a.attr, in->nodeid);
			reply(in->unique, 0, &a, sizeof(a));
			break;
		}
		case FUSE_OPEN: {
			struct fuse_open_out o = { 0 };
			o.fh = in->nodeid;
			o.open_flags = FOPEN_KEEP_CACHE;
			reply(in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_READ: {
			struct fuse_read_in *ri = arg;
			size_t len = ri->size > (1u << 20) ? (1u << 20) : ri->size;
			/* The planted cause: every read is slow. Served one at a time, so readers queue. */
			struct timespec d = { delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L };
			while (nanosleep(&d, &d) != 0 && errno == EINTR && !stop)
				;
			char out[sizeof(struct fuse_out_header)];
			struct fuse_out_header *h = (void *)out;
			h->len = (uint32_t)(sizeof(*h) + len);
			h->error = 0;
			h->unique = in->unique;
			struct iovec iov[2] = { { out, sizeof(out) }, { zeros, len } };
			if (writev(fuse_fd, iov, 2) < 0 && errno != ENOENT)
				fprintf(stderr, "slowfuse: read reply: %s\n", strerror(errno));
			reads++;
			break;
		}
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
		case FUSE_INTERRUPT:
			break; /* no reply; an interrupted read is answered when its turn comes */
		case FUSE_RELEASE:
		case FUSE_FLUSH:
			reply(in->unique, 0, NULL, 0);
			break;
		default:
			reply(in->unique, -ENOSYS, NULL, 0);
			break;
		}
		if (initialized && !started) {
			for (int i = 0; i < nreaders; i++) {
				pid_t pid = fork();
				if (pid < 0)
					die("fork");
				if (pid == 0) {
					char path[64];
					close(fuse_fd);
					snprintf(path, sizeof(path), "%s/f%d", dir, i);
					reader(path);
				}
				pids[i] = pid;
			}
			started = 1;
			printf("ready");
			for (int i = 0; i < nreaders; i++)
				printf(" %d", (int)pids[i]);
			printf("\n");
			fflush(stdout);
		}
	}
	/* Closing /dev/fuse aborts the connection: every waiting reader gets an error; then they are killed. */
	close(fuse_fd);
	for (int i = 0; i < (started ? nreaders : 0); i++)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < (started ? nreaders : 0); i++)
		waitpid(pids[i], NULL, 0);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	printf("done %lu\n", reads);
	return 0;
}
