// SPDX-License-Identifier: GPL-2.0
/* ktrace kthreads: on-CPU time of every kernel thread, the hard-irq and inline-softirq time on top of
 * it (kept apart), and what it did, decoded from the kernel's own tracepoints. All counts are
 * cumulative since attach; user space takes the deltas, so no reset can race an update. */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct kt_kthread);
} kt_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct kt_activity_key);
	__type(value, struct kt_activity);
} kt_activities SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct kt_max_key);
	__type(value, struct kt_activity_max);
} kt_activity_max SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_kthreads_stats);
} kt_kstats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_kthreads_ctl);
} kt_kctl SEC(".maps");

/* Written before load. */
const volatile struct kt_kthreads_config kt_kcfg = {};

/* An activity started and not yet ended in a thread (a work item, a shrinker run, a commit). A thread runs
 * one of each kind at a time; it may sleep in between, so this is per thread, not per CPU. */
struct open_key {
	__u32 tid;
	__u32 kind;
};
struct open_activity {
	__u64 id;
	__u64 own_ns;   /* the thread's own CPU time when it started */
	__u64 wait_ns;  /* KT_DO_WORK: queued -> started, when the queueing was seen */
	__u32 waited;
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct open_key);
	__type(value, struct open_activity);
} kt_open SEC(".maps");

/* work_struct pointer -> when it was queued. LRU: a work item freed without running must not pin a slot. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u64);
} kt_queued SEC(".maps");

/* Who queues work (kt_kcfg.queuers; one entry otherwise). Not LRU: user space takes deltas, so a
 * count must not restart; what does not fit is counted in queuers_full. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct kt_queuer_key);
	__type(value, struct kt_queuer);
} kt_queuers SEC(".maps");

/* What runs on this CPU now (struct in ktrace.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_kcpu);
} kt_kcpu SEC(".maps");

static __always_inline struct kt_kthreads_stats *stats(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&kt_kstats, &zero);
}

/* This CPU's state. An event whose task is not the one the state says runs here means its switch-in
 * was not seen (it came before sched_switch was attached: the programs attach one by one): its slice
 * starts now, so a thread already running at attach is counted from then on rather than not at all.
 * (Only resyncing on the first event lost ksoftirqd's first slice under a flood: 106 ms of 4 s.) */
static __always_inline struct kt_kcpu *cpu_state(__u64 now, __u32 tid)
{
	__u32 zero = 0;
	struct kt_kcpu *c = bpf_map_lookup_elem(&kt_kcpu, &zero);
	if (c && (c->in_ts == 0 || c->tid != tid)) {
		c->in_ts = now;
		c->tid = tid;
	}
	return c;
}

static __always_inline __u32 current_tid(void) { return (__u32)bpf_get_current_pid_tgid(); }

/* The current task, if it is a kernel thread ktrace accounts (not the idle task). */
static __always_inline bool current_is_kthread(__u32 tid)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	return tid != 0 && (BPF_CORE_READ(t, flags) & PF_KTHREAD);
}

/* A kernel thread's start function: kthread's threadfn; for smpboot threads (ksoftirqd, migration,
 * cpuhp, rcuc), their own thread_fn, since all of them start in smpboot_thread_fn; for threaded irq
 * handlers (irq/N-name, every irq on PREEMPT_RT), the handler's thread_fn, since all start in irq_thread. */
static __always_inline __u64 thread_fn(struct task_struct *t)
{
	struct kthread *k = task_kthread(t);
	__u64 fn;

	if (!k)
		return 0;
	fn = (__u64)BPF_CORE_READ(k, threadfn);
	if (kt_kcfg.smpboot_fn && fn == kt_kcfg.smpboot_fn) {
		struct smpboot_thread_data *d = BPF_CORE_READ(k, data);
		__u64 own = d ? (__u64)BPF_CORE_READ(d, ht, thread_fn) : 0;
		if (own)
			fn = own;
	} else if (kt_kcfg.irq_thread_fn && fn == kt_kcfg.irq_thread_fn) {
		struct irqaction *a = BPF_CORE_READ(k, data);
		__u64 own = a ? (__u64)BPF_CORE_READ(a, thread_fn) : 0;
		if (own)
			fn = own;
	}
	return fn;
}

/* The current kernel thread's totals, created on first sight. */
static __always_inline struct kt_kthread *thread(__u32 tid)
{
	struct kt_kthread *k = bpf_map_lookup_elem(&kt_threads, &tid);
	struct kt_kthreads_stats *s;
	struct task_struct *t;

	if (k)
		return k;
	struct kt_kthread fresh = {};
	t = (struct task_struct *)bpf_get_current_task();
	fresh.threadfn = thread_fn(t);
	bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
	bpf_map_update_elem(&kt_threads, &tid, &fresh, BPF_NOEXIST);
	k = bpf_map_lookup_elem(&kt_threads, &tid);
	if (!k && (s = stats()))
		s->threads_full++;
	return k;
}

/* The thread's own wall-clock CPU time so far: on-CPU (the running slice included) less what ran on top
 * of it. Items are timed by its deltas: the scheduler's account moves only at ticks and switches. */
static __always_inline __u64 own_ns(struct kt_kthread *k, struct kt_kcpu *c, __u32 tid, __u64 now)
{
	__u64 on = k->wall_ns + (c->tid == tid ? now - c->in_ts : 0);
	__u64 top = k->irq_ns + k->softirq_ns;
	return on > top ? on - top : 0;
}

static __always_inline void *lookup_or_create(void *map, void *key, void *zero, __u64 *full)
{
	void *v = bpf_map_lookup_elem(map, key);
	if (v)
		return v;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, key);
	if (!v)
		(*full)++;
	return v;
}

static __always_inline void add_activity(__u32 tid, __u32 kind, __u64 id, __u64 ns, int timed, __u64 wait_ns,
				      int waited)
{
	struct kt_activity_key key = { .tid = tid, .kind = kind, .id = id };
	struct kt_kthreads_stats *s = stats();
	struct kt_activity zero = {};
	struct kt_activity *d;
	__u32 z = 0;

	if (!s || !(d = lookup_or_create(&kt_activities, &key, &zero, &s->activities_full)))
		return;
	__sync_fetch_and_add(&d->count, 1);
	if (timed)
		__sync_fetch_and_add(&d->ns, ns);
	if (waited) {
		__sync_fetch_and_add(&d->waits, 1);
		__sync_fetch_and_add(&d->wait_ns, wait_ns);
	}
	if (!timed && !waited)
		return;
	struct kt_kthreads_ctl *ctl = bpf_map_lookup_elem(&kt_kctl, &z);
	struct kt_max_key mk = { .activity = key, .epoch = ctl ? ctl->epoch & 1 : 0 };
	struct kt_activity_max mzero = {};
	struct kt_activity_max *m = lookup_or_create(&kt_activity_max, &mk, &mzero, &s->max_full);
	if (!m)
		return;
	if (timed && ns > m->max_ns)
		m->max_ns = ns;
	if (waited && wait_ns > m->wait_max_ns)
		m->wait_max_ns = wait_ns;
}

/* ---- sched_switch: on-CPU time. The previous task is current. ----
 * Two accounts: wall-clock between switches (what items are timed in), and the scheduler's own
 * (sum_exec_runtime, which leaves out time the hypervisor stole: on a busy VM they differ by tens of
 * percent per thread). sum_exec_runtime does not move while a task is off CPU, so its delta between two
 * switch-outs is exactly the slice between them. A thread's first slice is timed by the wall clock. */
static __always_inline int on_switch(__u32 next_tid)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = current_tid();
	struct kt_kcpu *c = cpu_state(now, tid);
	struct kt_kthread *k;

	if (!c)
		return 0;
	if (current_is_kthread(tid) && (k = thread(tid))) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		__u64 sum = BPF_CORE_READ(t, se.sum_exec_runtime);
		__u64 wall = c->tid == tid ? now - c->in_ts : 0;
		__u64 sched = k->last_sum && sum > k->last_sum ? sum - k->last_sum : (k->last_sum ? 0 : wall);

		k->last_sum = sum;
		__sync_fetch_and_add(&k->sched_ns, sched);
		__sync_fetch_and_add(&k->wall_ns, wall);
		__sync_fetch_and_add(&k->switches, 1);
	}
	c->in_ts = now;
	c->tid = next_tid;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(kt_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(BPF_CORE_READ(next, pid));
}

SEC("raw_tp/sched_switch")
int BPF_PROG(kt_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(BPF_CORE_READ(next, pid));
}

SEC("tracepoint/sched/sched_switch")
int kt_switch_tp(struct trace_event_raw_sched_switch *ctx) { on_switch(BPF_CORE_READ(ctx, next_pid)); return KT_TP_PASS; }

/* ---- hard irqs on top of a thread ---- */

static __always_inline int on_irq_entry(void)
{
	__u64 now = bpf_ktime_get_ns();
	struct kt_kcpu *c = cpu_state(now, current_tid());
	if (c)
		c->irq_ts = now;
	return 0;
}

static __always_inline int on_irq_exit(void)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = current_tid();
	struct kt_kcpu *c = cpu_state(now, tid);
	struct kt_kthread *k;
	__u64 d;

	if (!c || !c->irq_ts)
		return 0;
	d = now - c->irq_ts;
	c->irq_ts = 0;
	c->irq_total += d;
	if (current_is_kthread(tid) && (k = thread(tid)))
		__sync_fetch_and_add(&k->irq_ns, d);
	return 0;
}

SEC("tp_btf/irq_handler_entry")
int BPF_PROG(kt_irq_entry_btf) { return on_irq_entry(); }
SEC("raw_tp/irq_handler_entry")
int BPF_PROG(kt_irq_entry_raw) { return on_irq_entry(); }
SEC("tracepoint/irq/irq_handler_entry")
int kt_irq_entry_tp(void *ctx) { on_irq_entry(); return KT_TP_PASS; }
SEC("tp_btf/irq_handler_exit")
int BPF_PROG(kt_irq_exit_btf) { return on_irq_exit(); }
SEC("raw_tp/irq_handler_exit")
int BPF_PROG(kt_irq_exit_raw) { return on_irq_exit(); }
SEC("tracepoint/irq/irq_handler_exit")
int kt_irq_exit_tp(void *ctx) { on_irq_exit(); return KT_TP_PASS; }

/* ---- softirqs: ksoftirqd's own work, or inline on top of a thread ---- */

static __always_inline int on_sirq_entry(unsigned int vec)
{
	__u64 now = bpf_ktime_get_ns();
	struct kt_kcpu *c = cpu_state(now, current_tid());
	if (!c || vec >= KT_NR_VEC)
		return 0;
	c->sirq_ts = now;
	c->sirq_vec = vec;
	c->sirq_irq = c->irq_total;
	c->sirq_ksoftirqd = kt_in_ksoftirqd(&c->scratch);
	return 0;
}

static __always_inline int on_sirq_exit(unsigned int vec)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = current_tid();
	struct kt_kcpu *c = cpu_state(now, tid);
	struct kt_kthreads_stats *s;
	struct kt_kthread *k;
	__u64 d, irq;

	if (!c)
		return 0;
	if (!c->sirq_ts || c->sirq_vec != vec) {
		if ((s = stats()))
			s->unmatched++;
		return 0;
	}
	irq = c->irq_total - c->sirq_irq;
	d = now - c->sirq_ts;
	d = d > irq ? d - irq : 0;
	c->sirq_ts = 0;
	if (!current_is_kthread(tid))
		return 0;
	if (c->sirq_ksoftirqd)
		add_activity(tid, KT_DO_SOFTIRQ, vec, d, 1, 0, 0);
	else if ((k = thread(tid)))
		__sync_fetch_and_add(&k->softirq_ns, d);
	return 0;
}

KT_SOFTIRQ_PROGS(softirq_entry, on_sirq_entry)
KT_SOFTIRQ_PROGS(softirq_exit, on_sirq_exit)

/* ---- items with a start and an end in one thread: work, shrinker runs, journal commits ---- */

static __always_inline int activity_start(__u32 kind, __u64 id, __u64 wait_ns, int waited)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = current_tid();
	struct kt_kcpu *c = cpu_state(now, tid);
	struct kt_kthreads_stats *s;
	struct kt_kthread *k;

	if (!c || !current_is_kthread(tid) || !(k = thread(tid)))
		return 0;
	struct open_key key = { .tid = tid, .kind = kind };
	struct open_activity it = { .id = id, .own_ns = own_ns(k, c, tid, now), .wait_ns = wait_ns, .waited = waited };
	if (bpf_map_update_elem(&kt_open, &key, &it, BPF_ANY) && (s = stats()))
		s->open_full++;
	return 0;
}

static __always_inline int activity_end(__u32 kind)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = current_tid();
	struct kt_kcpu *c = cpu_state(now, tid);
	struct open_key key = { .tid = tid, .kind = kind };
	struct kt_kthreads_stats *s;
	struct open_activity *it;
	struct kt_kthread *k;

	if (!c || !current_is_kthread(tid) || !(k = thread(tid)))
		return 0;
	it = bpf_map_lookup_elem(&kt_open, &key);
	if (!it) {
		if ((s = stats()))
			s->unmatched++;
		return 0;
	}
	__u64 own = own_ns(k, c, tid, now);
	add_activity(tid, kind, it->id, own > it->own_ns ? own - it->own_ns : 0, 1, it->wait_ns, it->waited);
	bpf_map_delete_elem(&kt_open, &key);
	return 0;
}

/* Work items. trace_workqueue_execute_start is inlined into process_one_work: only the tracepoint sees
 * it. The end event's function argument is not read: kernels differ in whether it has one. */
static __always_inline int on_queue_work(__u64 work)
{
	__u64 now = bpf_ktime_get_ns();
	bpf_map_update_elem(&kt_queued, &work, &now, BPF_ANY);
	if (!kt_kcfg.queuers)
		return 0;
	/* Who asked: the current task, unless an interrupt runs on top of it (the CPU's state says so). */
	__u32 tid = current_tid();
	struct kt_kcpu *c = cpu_state(now, tid);
	struct kt_queuer_key key = { .fn = (__u64)BPF_CORE_READ((struct work_struct *)work, func) };
	struct kt_kthreads_stats *s;
	struct kt_queuer *q;

	if (c && c->irq_ts)
		key.ctx = KT_QCTX_HARDIRQ;
	else if (c && c->sirq_ts)
		key.ctx = KT_QCTX_SOFTIRQ;
	else {
		key.tgid = (__u32)(bpf_get_current_pid_tgid() >> 32);
		key.cgroup = bpf_get_current_cgroup_id();
	}
	q = bpf_map_lookup_elem(&kt_queuers, &key);
	if (!q) {
		struct kt_queuer fresh = {};
		if (key.ctx == KT_QCTX_TASK)
			bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
		bpf_map_update_elem(&kt_queuers, &key, &fresh, BPF_NOEXIST);
		q = bpf_map_lookup_elem(&kt_queuers, &key);
		if (!q) {
			if ((s = stats()))
				s->queuers_full++;
			return 0;
		}
	}
	__sync_fetch_and_add(&q->count, 1);
	return 0;
}

static __always_inline int on_work_start(__u64 work, __u64 fn)
{
	__u64 *queued = bpf_map_lookup_elem(&kt_queued, &work), wait = 0;
	int waited = 0;
	if (queued) {
		__u64 now = bpf_ktime_get_ns();
		wait = now > *queued ? now - *queued : 0;
		waited = 1;
		bpf_map_delete_elem(&kt_queued, &work);
	}
	return activity_start(KT_DO_WORK, fn, wait, waited);
}

SEC("tp_btf/workqueue_queue_work")
int BPF_PROG(kt_queue_work_btf, int req_cpu, void *pwq, struct work_struct *work) { return on_queue_work((__u64)work); }
SEC("raw_tp/workqueue_queue_work")
int BPF_PROG(kt_queue_work_raw, int req_cpu, void *pwq, struct work_struct *work) { return on_queue_work((__u64)work); }
SEC("tracepoint/workqueue/workqueue_queue_work")
int kt_queue_work_tp(struct trace_event_raw_workqueue_queue_work *ctx)
{
	on_queue_work((__u64)BPF_CORE_READ(ctx, work));
	return KT_TP_PASS;
}

SEC("tp_btf/workqueue_execute_start")
int BPF_PROG(kt_work_start_btf, struct work_struct *work)
{
	return on_work_start((__u64)work, (__u64)BPF_CORE_READ(work, func));
}
SEC("raw_tp/workqueue_execute_start")
int BPF_PROG(kt_work_start_raw, struct work_struct *work)
{
	return on_work_start((__u64)work, (__u64)BPF_CORE_READ(work, func));
}
SEC("tracepoint/workqueue/workqueue_execute_start")
int kt_work_start_tp(struct trace_event_raw_workqueue_execute_start *ctx)
{
	on_work_start((__u64)BPF_CORE_READ(ctx, work), (__u64)BPF_CORE_READ(ctx, function));
	return KT_TP_PASS;
}

SEC("tp_btf/workqueue_execute_end")
int BPF_PROG(kt_work_end_btf) { return activity_end(KT_DO_WORK); }
SEC("raw_tp/workqueue_execute_end")
int BPF_PROG(kt_work_end_raw) { return activity_end(KT_DO_WORK); }
SEC("tracepoint/workqueue/workqueue_execute_end")
int kt_work_end_tp(void *ctx) { activity_end(KT_DO_WORK); return KT_TP_PASS; }

/* Reclaim (kswapd, kcompactd, any kthread that reclaims). BTF flavours only. */
SEC("tp_btf/mm_shrink_slab_start")
int BPF_PROG(kt_shrink_start_btf, struct shrinker *shr)
{
	return activity_start(KT_DO_SHRINKER, (__u64)BPF_CORE_READ(shr, scan_objects), 0, 0);
}
SEC("raw_tp/mm_shrink_slab_start")
int BPF_PROG(kt_shrink_start_raw, struct shrinker *shr)
{
	return activity_start(KT_DO_SHRINKER, (__u64)BPF_CORE_READ(shr, scan_objects), 0, 0);
}
SEC("tp_btf/mm_shrink_slab_end")
int BPF_PROG(kt_shrink_end_btf) { return activity_end(KT_DO_SHRINKER); }
SEC("raw_tp/mm_shrink_slab_end")
int BPF_PROG(kt_shrink_end_raw) { return activity_end(KT_DO_SHRINKER); }

static __always_inline int on_shrink_inactive(__u64 scanned, __u64 reclaimed)
{
	__u32 tid = current_tid();
	struct kt_activity_key key = { .tid = tid, .kind = KT_DO_RECLAIM };
	struct kt_activity *d;

	if (!current_is_kthread(tid))
		return 0;
	add_activity(tid, KT_DO_RECLAIM, 0, 0, 0, 0, 0);
	d = bpf_map_lookup_elem(&kt_activities, &key);
	if (d) {
		__sync_fetch_and_add(&d->pages_scanned, scanned);
		__sync_fetch_and_add(&d->pages_reclaimed, reclaimed);
	}
	return 0;
}
SEC("tp_btf/mm_vmscan_lru_shrink_inactive")
int BPF_PROG(kt_shrink_inactive_btf, int nid, unsigned long scanned, unsigned long reclaimed)
{
	return on_shrink_inactive(scanned, reclaimed);
}
SEC("raw_tp/mm_vmscan_lru_shrink_inactive")
int BPF_PROG(kt_shrink_inactive_raw, int nid, unsigned long scanned, unsigned long reclaimed)
{
	return on_shrink_inactive(scanned, reclaimed);
}

/* jbd2 (a module: its tracepoints exist once it is loaded). */
SEC("tp_btf/jbd2_start_commit")
int BPF_PROG(kt_commit_start_btf) { return activity_start(KT_DO_COMMIT, 0, 0, 0); }
SEC("raw_tp/jbd2_start_commit")
int BPF_PROG(kt_commit_start_raw) { return activity_start(KT_DO_COMMIT, 0, 0, 0); }
SEC("tp_btf/jbd2_end_commit")
int BPF_PROG(kt_commit_end_btf) { return activity_end(KT_DO_COMMIT); }
SEC("raw_tp/jbd2_end_commit")
int BPF_PROG(kt_commit_end_raw) { return activity_end(KT_DO_COMMIT); }

/* Task migrations done by a kernel thread (migration/N's stop-machine work, mostly) outside irqs. */
static __always_inline int on_migrate(void)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = current_tid();
	struct kt_kcpu *c = cpu_state(now, tid);
	if (c && !c->irq_ts && !c->sirq_ts && current_is_kthread(tid))
		add_activity(tid, KT_DO_MIGRATE, 0, 0, 0, 0, 0);
	return 0;
}
SEC("tp_btf/sched_migrate_task")
int BPF_PROG(kt_migrate_btf) { return on_migrate(); }
SEC("raw_tp/sched_migrate_task")
int BPF_PROG(kt_migrate_raw) { return on_migrate(); }

/* RCU callbacks (CONFIG_RCU_TRACE kernels only). */
static __always_inline int on_rcu_cb(struct rcu_head *rhp)
{
	__u32 tid = current_tid();
	if (current_is_kthread(tid))
		add_activity(tid, KT_DO_RCU_CB, (__u64)BPF_CORE_READ(rhp, func), 0, 0, 0, 0);
	return 0;
}
SEC("tp_btf/rcu_invoke_callback")
int BPF_PROG(kt_rcu_cb_btf, const char *rcuname, struct rcu_head *rhp) { return on_rcu_cb(rhp); }
SEC("raw_tp/rcu_invoke_callback")
int BPF_PROG(kt_rcu_cb_raw, const char *rcuname, struct rcu_head *rhp) { return on_rcu_cb(rhp); }
