/* C side of ktrace: loads the embedded BPF objects with libbpf, attaches them, and reads their maps;
 * also the process plumbing Swift cannot do portably by itself (signals, the clock, privileges).
 * The session layer (KtraceKernel) calls only these functions; it never issues bpf() itself. Every
 * function that can fail returns 0 or a negative errno and writes the reason into err. */
#ifndef CKT_H
#define CKT_H

#include <stddef.h>
#include <stdint.h>
#include "ktrace.h"

/* Attach flavour for tracepoints: auto tries them in this order. */
enum kt_attach { KT_ATTACH_AUTO = 0, KT_ATTACH_BTF = 1, KT_ATTACH_RAW = 2, KT_ATTACH_TP = 3 };

int kt_num_possible_cpus(void);
/* 1 if the kernel exposes BTF (needed for CO-RE relocations). */
int kt_have_btf(void);
/* Route libbpf's own messages to stderr (verbose) or keep them for error reports only. */
void kt_set_verbose(int verbose);
/* Mount tracefs if it is absent (classic tracepoints need it). Returns 0 when available. */
int kt_ensure_tracefs(char *err, size_t errlen);

/* Ctrl-C / SIGTERM handling: the first signal sets a flag that the loops poll; waits end early. */
void kt_install_signal_handlers(void);
int kt_stop_requested(void);
/* Sleep until ms have passed or a stop was requested; returns 1 if a stop was requested. */
int kt_wait_ms(long ms);
/* CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns(). */
uint64_t kt_monotonic_ns(void);

/* 0 if fentry/fexit programs can be attached here; else a negative errno and the reason. */
int kt_probe_fentry(char *err, size_t errlen);
/* 0 if kprobe programs can be attached here; else a negative errno and the reason. */
int kt_probe_kprobe(char *err, size_t errlen);

/* The i-th enumerator (0, 1, ...) of the kernel's 32-bit enum `type`, from its BTF: its name (kept for the
 * life of the process) and value. -ENOENT past the last, or when the kernel has no such enum. */
int kt_btf_enumerator(const char *type, int i, const char **name, uint32_t *value);

/* ---- ktrace softirq ---- */
struct kt_softirq;
int kt_softirq_open(struct kt_softirq **out, int attach, int cpu, int latency, char *err, size_t errlen);
/* The flavour that was attached (enum kt_attach). */
int kt_softirq_attach_kind(const struct kt_softirq *s);
/* 1 when runs the kernel counted but no tracepoint showed are counted (kt_vec_stats.untraced). */
int kt_softirq_counts_untraced(const struct kt_softirq *s);
/* Flip the epoch, then copy the previous interval's stats into out[cpu * KT_NR_VEC + vec] for ncpu
 * possible CPUs and zero them in the map. *flip_ns: when the flip took effect (CLOCK_MONOTONIC), the
 * bound between that interval and the next, give or take *flip_err_ns. */
int kt_softirq_read(struct kt_softirq *s, struct kt_vec_stats *out, int ncpu, uint64_t *flip_ns, uint64_t *flip_err_ns);
void kt_softirq_close(struct kt_softirq *s);

/* ---- ktrace kthreads ---- */
/* 1 if tracefs lists the tracepoint CATEGORY/NAME (mounting tracefs if needed). */
int kt_tracepoint_exists(const char *category, const char *name);
/* An optional decoder of kthreads: its name, its KT_DEC_* bit, whether classic tracepoints serve it (else
 * tp_btf or raw_tp only), its tracepoints ("category/name", the unused ones NULL), and what to add when
 * one is missing. */
struct kt_decoder_info {
	const char *name;
	unsigned int bit;
	int classic;
	const char *tracepoints[3];
	const char *missing_hint;
};
/* The i-th decoder (0, 1, ...); -ENOENT past the last. */
int kt_kthreads_decoder(int i, struct kt_decoder_info *out);
struct kt_kthreads;
/* decoders: KT_DEC_* bits of the optional tracepoints to attach (check they exist first); smpboot_fn,
 * irq_thread_fn: the addresses of smpboot_thread_fn and irq_thread, or 0; queuers: 1 = also count who
 * queues work items (needs KT_DEC_WORKQUEUE; the code is dropped at load otherwise). */
int kt_kthreads_open(struct kt_kthreads **out, int attach, unsigned int decoders, uint64_t smpboot_fn,
		     uint64_t irq_thread_fn, int queuers, char *err, size_t errlen);
int kt_kthreads_attach_kind(const struct kt_kthreads *s);
/* How many threads and (thread, item) entries the kernel's tables hold: the most one read returns. */
void kt_kthreads_capacity(const struct kt_kthreads *s, int *threads, int *activities);
/* Copy up to max entries (cumulative since attach); return how many. */
int kt_kthreads_read_threads(struct kt_kthreads *s, uint32_t *tids, struct kt_kthread *out, int max);
int kt_kthreads_read_activities(struct kt_kthreads *s, struct kt_activity_key *keys, struct kt_activity *out, int max);
/* End the interval's maxima: flip the epoch, then copy (up to max) and delete the previous epoch's. */
int kt_kthreads_read_maxima(struct kt_kthreads *s, struct kt_activity_key *keys, struct kt_activity_max *out, int max);
/* Drop a thread that has exited, and its activities, so the maps do not fill up on a long run. */
void kt_kthreads_forget(struct kt_kthreads *s, uint32_t tid, const struct kt_activity_key *keys, int nkeys);
/* With queuers: the most entries one read returns (0 without); copy up to max (cumulative since attach). */
int kt_kthreads_queuers_capacity(const struct kt_kthreads *s);
int kt_kthreads_read_queuers(struct kt_kthreads *s, struct kt_queuer_key *keys, struct kt_queuer *out, int max);
/* Each possible CPU's state (what runs there since when); returns the number of CPUs. */
int kt_kthreads_read_cpus(struct kt_kthreads *s, struct kt_kcpu *out, int max);
/* Sum of the per-CPU loss counters. */
int kt_kthreads_read_stats(struct kt_kthreads *s, struct kt_kthreads_stats *out);
void kt_kthreads_close(struct kt_kthreads *s);

/* ---- the profile object: stacks, offcpu, timeline (--event, --trace, --hot-cold, tables) ---- */
/* The software perf events stacks can sample (their PERF_COUNT_SW_* values). */
enum kt_sw_event { KT_SW_CPU_CLOCK = 0, KT_SW_PAGE_FAULTS = 2, KT_SW_CONTEXT_SWITCHES = 3 };

/* How a profile's samples are taken (kt_profile_opts.sampling). */
struct kt_sampling_opts {
	int off;                 /* 1 = no perf events (ktrace offcpu alone; --event tracepoint or kprobe) */
	int hardware;            /* 1 = PERF_COUNT_HW_CPU_CYCLES, 0 = the software event sw_event */
	uint64_t sw_event;       /* enum kt_sw_event (PERF_COUNT_SW_*) */
	uint64_t freq;           /* samples per second per CPU, or 0 to use period */
	uint64_t period;
	int cpu;                 /* -1 = open an event on every online CPU */
	const char *tp_category; /* --event tracepoint:CATEGORY:NAME, or NULL */
	const char *tp_name;
	const char *kprobe_func; /* --event kprobe:FUNC, or NULL */
};

/* Entries of the maps that grow with what is recorded; a feature that is off leaves its own at 0. */
struct kt_profile_sizes {
	uint32_t stack_storage;  /* most distinct stacks kept in each stack map (allocated on demand) */
	uint32_t count_entries;  /* kt_counts entries */
	uint32_t ringbuf_bytes;  /* the timeline's ring buffer; 0 = no ring buffer events */
	uint32_t offcpu_tasks;   /* with config.offcpu: tasks followed off the CPU at once (kt_offstart entries) */
	uint32_t unwind_rows;    /* with config.unwind: unwind table rows the kernel holds (kt_unwind_rows) */
	uint32_t unwind_procs;   /* with config.unwind: processes with tables (kt_unwind_procs) */
};

/* What the timeline records beside samples, switches and softirq runs (config.events). */
struct kt_timeline_opts {
	int work_slices;         /* attach workqueue_execute_start/end (work slices) */
	/* Comma-separated kernel functions whose entry and exit go into the ring buffer (fentry/fexit,
	 * at most KT_TRACE_MAX; check kt_probe_fentry first), or NULL. A name missing from the kernel's
	 * BTF fails the open with a reason naming it. */
	const char *trace_funcs;
	/* 1: record them with kprobe/kretprobe instead (kt_probe_kprobe first), for kernels that refuse
	 * fentry but have kprobes. */
	int trace_kprobes;
};

/* A profile to open: what the programs do (config, their .rodata), whom they follow, how samples are
 * taken, how big the maps are, and the timeline's extras. */
struct kt_profile_opts {
	int attach;              /* enum kt_attach for the softirq / sched tracepoints */
	struct kt_profile_config config; /* what the programs do, fixed at load (.rodata): also decides which
	                          * programs load (softirq: entry/exit; events or offcpu: sched_switch; offcpu
	                          * with wakers: sched_waking) */
	const uint32_t *pids;    /* tgids or tids for KT_FILTER_TGID / KT_FILTER_TID */
	int npids;
	struct kt_sampling_opts sampling;
	struct kt_profile_sizes sizes;
	struct kt_timeline_opts timeline;
};

struct kt_profile;
int kt_profile_open(struct kt_profile **out, const struct kt_profile_opts *o, char *err, size_t errlen);
/* Turn the timeline's events and off-CPU accounting on (open leaves them off; samples flow from open). */
int kt_profile_start(struct kt_profile *p);
int kt_profile_attach_kind(const struct kt_profile *p);
/* Runs of its programs the kernel skipped (recursion protection: on PREEMPT_RT a preempted BPF program
 * blocks the others on its CPU), from bpf_prog_info.recursion_misses; 0 where the kernel does not count. */
uint64_t kt_profile_kernel_skipped(const struct kt_profile *p);
/* 0 when the stack maps allocate on demand; else the most stacks each preallocated map holds (kernels
 * before 6.1, or KTRACE_PREALLOC_STACKS set in the environment). */
int kt_profile_stack_prealloc(const struct kt_profile *p);
/* Sum of the per-CPU counters. */
int kt_profile_read_stats(struct kt_profile *p, struct kt_profile_stats *out);
/* Copy up to max (key, count) pairs; returns how many. */
int kt_profile_read_counts(struct kt_profile *p, struct kt_stack_key *keys, uint64_t *counts, int max);
/* Continuous profiles: read and delete the other epoch's entries (late samples of the interval drained
 * last), flip the epoch, then read and delete the previous epoch's entries (up to max in all).
 * flip_ns: when the new interval began. Returns how many, or -errno. */
int kt_profile_drain(struct kt_profile *p, struct kt_stack_key *keys, uint64_t *counts, int max, uint64_t *flip_ns);
/* Unwind tables (config.unwind): write n rows at index first of kt_unwind_rows; set a process's mappings
 * with tables (proc NULL: remove it). 0 or -errno. */
int kt_profile_unwind_rows(struct kt_profile *p, uint32_t first, const struct kt_unwind_row *rows, uint32_t n);
int kt_profile_unwind_proc(struct kt_profile *p, uint32_t tgid, const struct kt_unwind_proc *proc);
/* Delete these stack ids from the user (user: 1) or kernel (0) stack maps, so a long run does not fill
 * them; the next sample of a new count key stores its stacks again. Returns how many were deleted. */
int kt_profile_forget_stacks(struct kt_profile *p, int user, const uint64_t *ids, int n);
/* Frames of one stack, leaf first, from the user or the kernel stack maps; returns the number of frames
 * or a negative errno. */
int kt_profile_read_stack(struct kt_profile *p, int user, uint64_t id, uint64_t *ips, int max);
/* Position in a walk over the stored stacks; zero-initialise to start. */
struct kt_stack_cursor {
	uint64_t last_key; /* one-key-at-a-time walk (kernels < 5.6 have no batch lookups) */
	uint32_t batch;    /* the kernel's batch token (a bucket index) */
	int started, by_key, done;
	int map;           /* 0: the kind's short stacks (KT_STACK_SHORT_BIT), then 1: its deeper ones */
};
/* Many stacks of one kind (user or kernel) per syscall, short and deep ones: up to max stack ids into ids[]
 * and their frames into ips[max * KT_MAX_STACK] (each zero-terminated unless full). Returns how many were
 * copied (0 is not the end) or a negative errno; cursor->done is set after the last one. */
int kt_profile_read_stacks(struct kt_profile *p, int user, struct kt_stack_cursor *c, uint64_t *ids, uint64_t *ips,
			   int max);
/* Consume ring buffer events (waiting at most timeout_ms) into the internal buffer; returns how many
 * events it holds, reachable with kt_profile_events() until kt_profile_clear_events(). */
int kt_profile_poll(struct kt_profile *p, int timeout_ms);
const struct kt_event *kt_profile_events(const struct kt_profile *p);
void kt_profile_clear_events(struct kt_profile *p);
/* Detach everything (sampling and tracepoints) but keep maps and buffered events readable. */
void kt_profile_stop(struct kt_profile *p);
void kt_profile_close(struct kt_profile *p);

/* ---- ktrace diagnose: packets freed as dropped (skb:kfree_skb) ---- */
struct kt_drops;
/* Loads and attaches; nothing is counted until kt_drops_start. */
int kt_drops_open(struct kt_drops **out, int attach, char *err, size_t errlen);
/* Counting begins now. */
int kt_drops_start(struct kt_drops *d);
/* The most (reason, location) pairs the kernel's table holds: the most one read returns. */
int kt_drops_capacity(const struct kt_drops *d);
/* Copy up to max pairs with their counts since kt_drops_start, summed over CPUs; returns how many, or -errno. */
int kt_drops_read(struct kt_drops *d, struct kt_drop_key *keys, uint64_t *counts, int max);
/* The loss counters summed over CPUs, and *skipped: runs of the program the kernel skipped since
 * kt_drops_start (its recursion protection), drops not counted either. */
int kt_drops_read_stats(struct kt_drops *d, struct kt_drops_stats *out, uint64_t *skipped);
void kt_drops_close(struct kt_drops *d);

/* Become uid/gid (nobody), keeping only CAP_BPF (map reads), with no_new_privs. Call it before any other
 * thread is started: capabilities are per thread. Returns 0 or -errno. */
int kt_drop_privileges(unsigned int uid, unsigned int gid);

/* The calling thread only: a private mount namespace, the network namespace at path (/run/netns/NAME,
 * /proc/PID/ns/net) entered, a sysfs of it at /sys. Returns 0 or -errno with the reason in err. */
int kt_thread_enter_netns(const char *path, char *err, size_t errlen);

/* A TCP listening socket as sock_diag reports it (ss -ltn). */
struct kt_listener {
	uint8_t family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];      /* the local address, network order; 4 bytes for AF_INET */
	uint16_t port;         /* host order */
	uint32_t accept_queue; /* idiag_rqueue: connections waiting to be accepted */
	uint32_t backlog;      /* idiag_wqueue: the accept queue's limit, listen()'s backlog capped by somaxconn */
	uint64_t inode;        /* the socket's inode, as in /proc/PID/fd links "socket:[INODE]" */
};
/* The TCP listeners (IPv4 and IPv6) of the calling thread's network namespace, at most max into out;
 * how many more there were goes to *left_out. Returns how many were stored, or -errno with err. */
int kt_tcp_listeners(struct kt_listener *out, int max, int *left_out, char *err, size_t errlen);

/* Run the executable at path with argv (NULL-terminated) from the calling thread, in its namespaces: its
 * stdout into out (at most cap bytes; more is an error), stdin and stderr /dev/null, its signals unblocked
 * and at their defaults, killed and reaped after timeout_ms. *exit_code gets its exit status, or minus the
 * signal that ended it. Returns the bytes captured, or -errno with err. */
int kt_run_capture(const char *path, char *const argv[], char *out, size_t cap, int timeout_ms, int *exit_code,
		   char *err, size_t errlen);

#endif
