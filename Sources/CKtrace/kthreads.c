#include "ckt.h"
#include "loader_internal.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern const unsigned char ktrace_kthreads_bpf[];
extern const unsigned char ktrace_kthreads_bpf_end[];

struct kt_kthreads {
	struct kt_loaded l;
	struct bpf_map *threads, *activities, *maxima, *stats, *ctl_map, *kcpu, *queuers;
	unsigned int decoders;
	struct kt_kthreads_config config;
	struct kt_kthreads_ctl ctl;
	char config_err[256];
};

/* The decoders: what each reads (its tracepoints), the programs that read it, and why it may be missing.
 * The one description of them: the session layer reads it through kt_kthreads_decoder. */
struct decoder {
	struct kt_decoder_info info;
	const char *const *progs;
};
static const struct decoder decoders[] = {
	{ { "irq", KT_DEC_IRQ, 1, { "irq/irq_handler_entry", "irq/irq_handler_exit" }, "" },
	  KT_PROGS("kt_irq_entry", "kt_irq_exit") },
	{ { "workqueue", KT_DEC_WORKQUEUE, 1,
	    { "workqueue/workqueue_queue_work", "workqueue/workqueue_execute_start", "workqueue/workqueue_execute_end" }, "" },
	  KT_PROGS("kt_queue_work", "kt_work_start", "kt_work_end") },
	{ { "shrinker", KT_DEC_SHRINKER, 0, { "vmscan/mm_shrink_slab_start", "vmscan/mm_shrink_slab_end" }, "" },
	  KT_PROGS("kt_shrink_start", "kt_shrink_end") },
	{ { "reclaim", KT_DEC_RECLAIM, 0, { "vmscan/mm_vmscan_lru_shrink_inactive" }, "" }, KT_PROGS("kt_shrink_inactive") },
	{ { "jbd2", KT_DEC_JBD2, 0, { "jbd2/jbd2_start_commit", "jbd2/jbd2_end_commit" },
	    ": the jbd2 module is not loaded (no ext4 journal mounted)" },
	  KT_PROGS("kt_commit_start", "kt_commit_end") },
	{ { "migrate", KT_DEC_MIGRATE, 0, { "sched/sched_migrate_task" }, "" }, KT_PROGS("kt_migrate") },
	{ { "rcu", KT_DEC_RCU, 0, { "rcu/rcu_invoke_callback" }, ": the kernel is built without CONFIG_RCU_TRACE" },
	  KT_PROGS("kt_rcu_cb") },
};
#define NDECODERS ((int)(sizeof(decoders) / sizeof(decoders[0])))

int kt_kthreads_decoder(int i, struct kt_decoder_info *out)
{
	if (i < 0 || i >= NDECODERS)
		return -ENOENT;
	*out = decoders[i].info;
	return 0;
}

static int bind_handles(struct bpf_object *obj, void *ctx)
{
	struct kt_kthreads *s = ctx;
	const struct kt_map_ref maps[] = {
		{ "kt_threads", &s->threads }, { "kt_activities", &s->activities }, { "kt_activity_max", &s->maxima },
		{ "kt_kstats", &s->stats }, { "kt_kctl", &s->ctl_map }, { "kt_kcpu", &s->kcpu }, { "kt_queuers", &s->queuers },
	};
	int rc = kt_bind_maps(obj, maps, 7) ?: kt_set_rodata(obj, "kt_kcfg", &s->config, sizeof(s->config));
	/* Without queuers the table is never written: one entry, so kthreads alone pays no memory for it. */
	if (rc == 0 && !s->config.queuers)
		rc = bpf_map__set_max_entries(s->queuers, 1);
	if (rc)
		kt_bind_error(s->config_err, sizeof(s->config_err));
	return rc;
}

static int write_ctl(struct bpf_object *obj, void *ctx)
{
	struct kt_kthreads *s = ctx;
	unsigned int zero = 0;
	(void)obj;
	return bpf_map_update_elem(bpf_map__fd(s->ctl_map), &zero, &s->ctl, BPF_ANY) ? -errno : 0;
}

int kt_tracepoint_exists(const char *category, const char *name)
{
	char path[256], err[256];
	if (kt_ensure_tracefs(err, sizeof(err)) != 0)
		return 0;
	const char *roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/events/%s/%s", roots[i], category, name);
		if (access(path, F_OK) == 0)
			return 1;
	}
	return 0;
}

int kt_kthreads_open(struct kt_kthreads **out, int attach, unsigned int decoders_on, uint64_t smpboot_fn,
		     uint64_t irq_thread_fn, int queuers, char *err, size_t errlen)
{
	struct kt_kthreads *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->decoders = decoders_on;
	s->config.smpboot_fn = smpboot_fn;
	s->config.irq_thread_fn = irq_thread_fn;
	s->config.queuers = queuers && (decoders_on & KT_DEC_WORKQUEUE) ? 1 : 0;
	/* The thread table itself (switches, softirqs on top), then one feature per decoder. */
	struct kt_feature features[1 + NDECODERS];
	features[0] = (struct kt_feature){ "threads", 1, KT_PROGS("kt_switch", "softirq_entry", "softirq_exit") };
	for (int i = 0; i < NDECODERS; i++)
		features[1 + i] = (struct kt_feature){ decoders[i].info.name, (decoders_on & decoders[i].info.bit) != 0,
						       decoders[i].progs };
	rc = kt_load_and_attach(ktrace_kthreads_bpf, ktrace_kthreads_bpf_end, "kthreads", attach, features, 1 + NDECODERS,
				bind_handles, write_ctl, s, &s->l, err, errlen);
	if (rc) {
		if (s->config_err[0])
			snprintf(err, errlen, "%s", s->config_err);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int kt_kthreads_attach_kind(const struct kt_kthreads *s) { return s->l.kind; }

void kt_kthreads_capacity(const struct kt_kthreads *s, int *threads, int *activities)
{
	*threads = (int)bpf_map__max_entries(s->threads);
	/* The maxima map holds an interval's activities: never more than kt_activities. */
	*activities = (int)bpf_map__max_entries(s->activities);
}

/* Walk a hash map key by key (works on every kernel; the maps hold thousands of entries at most). */
static int read_hash(struct bpf_map *m, void *keys, size_t ksize, void *vals, size_t vsize, int max)
{
	int fd = bpf_map__fd(m), n = 0;
	char prev[64], cur[64];
	void *pp = NULL;

	while (n < max && bpf_map_get_next_key(fd, pp, cur) == 0) {
		memcpy(prev, cur, ksize);
		pp = prev;
		if (bpf_map_lookup_elem(fd, cur, (char *)vals + (size_t)n * vsize) != 0)
			continue; /* deleted meanwhile */
		memcpy((char *)keys + (size_t)n * ksize, cur, ksize);
		n++;
	}
	return n;
}

int kt_kthreads_read_threads(struct kt_kthreads *s, uint32_t *tids, struct kt_kthread *out, int max)
{
	return read_hash(s->threads, tids, sizeof(*tids), out, sizeof(*out), max);
}

int kt_kthreads_read_activities(struct kt_kthreads *s, struct kt_activity_key *keys, struct kt_activity *out, int max)
{
	return read_hash(s->activities, keys, sizeof(*keys), out, sizeof(*out), max);
}

int kt_kthreads_read_maxima(struct kt_kthreads *s, struct kt_activity_key *keys, struct kt_activity_max *out, int max)
{
	unsigned int old = s->ctl.epoch;
	struct kt_max_key k, next, *pk = NULL;
	int fd = bpf_map__fd(s->maxima), n = 0;
	int rc = kt_flip_epoch(bpf_map__fd(s->ctl_map), &s->ctl, &s->ctl.epoch, NULL, NULL);

	if (rc)
		return rc;
	/* Deleting the key just visited would lose the walk's place: delete after the walk. */
	struct kt_max_key *stale = malloc(sizeof(*stale) * (size_t)(max > 0 ? max : 1));
	int nstale = 0;
	if (!stale)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, pk, &next) == 0) {
		k = next;
		pk = &k;
		if (k.epoch != old)
			continue;
		if (n < max && bpf_map_lookup_elem(fd, &k, &out[n]) == 0)
			keys[n++] = k.activity;
		if (nstale < max)
			stale[nstale++] = k;
	}
	for (int i = 0; i < nstale; i++)
		bpf_map_delete_elem(fd, &stale[i]);
	free(stale);
	return n;
}

void kt_kthreads_forget(struct kt_kthreads *s, uint32_t tid, const struct kt_activity_key *keys, int nkeys)
{
	bpf_map_delete_elem(bpf_map__fd(s->threads), &tid);
	for (int i = 0; i < nkeys; i++)
		bpf_map_delete_elem(bpf_map__fd(s->activities), &keys[i]);
}

int kt_kthreads_queuers_capacity(const struct kt_kthreads *s)
{
	return s->config.queuers ? (int)bpf_map__max_entries(s->queuers) : 0;
}

int kt_kthreads_read_queuers(struct kt_kthreads *s, struct kt_queuer_key *keys, struct kt_queuer *out, int max)
{
	if (!s->config.queuers)
		return 0;
	return read_hash(s->queuers, keys, sizeof(*keys), out, sizeof(*out), max);
}

int kt_kthreads_read_cpus(struct kt_kthreads *s, struct kt_kcpu *out, int max)
{
	int ncpu = libbpf_num_possible_cpus();
	unsigned int zero = 0;
	if (ncpu < 0)
		return ncpu;
	if (ncpu > max)
		return -ENOSPC;
	if (bpf_map_lookup_elem(bpf_map__fd(s->kcpu), &zero, out))
		return -errno;
	return ncpu;
}

int kt_kthreads_read_stats(struct kt_kthreads *s, struct kt_kthreads_stats *out)
{
	int ncpu = libbpf_num_possible_cpus();
	unsigned int zero = 0;
	struct kt_kthreads_stats *buf = calloc((size_t)ncpu, sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(s->stats), &zero, buf)) {
		int rc = -errno;
		free(buf);
		return rc;
	}
	memset(out, 0, sizeof(*out));
	for (int c = 0; c < ncpu; c++) {
		out->threads_full += buf[c].threads_full;
		out->activities_full += buf[c].activities_full;
		out->max_full += buf[c].max_full;
		out->open_full += buf[c].open_full;
		out->unmatched += buf[c].unmatched;
		out->queuers_full += buf[c].queuers_full;
	}
	free(buf);
	return 0;
}

void kt_kthreads_close(struct kt_kthreads *s)
{
	if (!s)
		return;
	kt_unload(&s->l);
	free(s);
}
