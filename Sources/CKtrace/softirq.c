#include "ckt.h"
#include "loader_internal.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const unsigned char ktrace_softirq_bpf[];
extern const unsigned char ktrace_softirq_bpf_end[];

struct kt_softirq {
	struct kt_loaded l;
	struct bpf_map *ctl_map, *stats_map; /* bound by name before load */
	int ctl_fd, stats_fd;
	struct kt_softirq_config config;
	struct kt_softirq_ctl ctl;
	long kstat_from_rq; /* 0: the kernel's count is not compared (see softirq.bpf.c) */
	char config_err[256];
};

static int bind_handles(struct bpf_object *obj, void *ctx)
{
	struct kt_softirq *s = ctx;
	const struct kt_map_ref maps[] = { { "kt_ctl", &s->ctl_map }, { "kt_stats", &s->stats_map } };
	int rc = kt_bind_maps(obj, maps, 2);
	if (!rc)
		rc = kt_set_rodata(obj, "kt_kstat_from_rq", &s->kstat_from_rq, sizeof(s->kstat_from_rq)) ?:
		     kt_set_rodata(obj, "kt_scfg", &s->config, sizeof(s->config));
	if (rc)
		kt_bind_error(s->config_err, sizeof(s->config_err));
	return rc;
}

static int write_ctl(struct bpf_object *obj, void *ctx)
{
	struct kt_softirq *s = ctx;
	unsigned int zero = 0;
	(void)obj;
	if (bpf_map_update_elem(bpf_map__fd(s->ctl_map), &zero, &s->ctl, BPF_ANY))
		return -errno;
	return 0;
}

int kt_softirq_open(struct kt_softirq **out, int attach, int cpu, int latency, char *err, size_t errlen)
{
	struct kt_softirq *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->config.cpu = cpu;
	s->config.latency = latency ? 1 : 0;
	long kstat = kt_percpu_offset("kstat"), rq = kt_percpu_offset("runqueues");
	/* The runqueue is reached through task->se.cfs_rq->rq: group scheduling (CONFIG_FAIR_GROUP_SCHED). */
	s->kstat_from_rq = kstat >= 0 && rq >= 0 && kt_btf_has_member("sched_entity", "cfs_rq") ? kstat - rq : 0;
	const struct kt_feature features[] = {
		{ "runs", 1, KT_PROGS("softirq_entry", "softirq_exit") },
		{ "latency", (int)s->config.latency, KT_PROGS("softirq_raise") },
	};
	rc = kt_load_and_attach(ktrace_softirq_bpf, ktrace_softirq_bpf_end, "softirq", attach, features, 2, bind_handles,
				write_ctl, s, &s->l, err, errlen);
	if (rc) {
		if (s->config_err[0])
			snprintf(err, errlen, "%s", s->config_err);
		free(s);
		return rc;
	}
	s->ctl_fd = bpf_map__fd(s->ctl_map);
	s->stats_fd = bpf_map__fd(s->stats_map);
	*out = s;
	return 0;
}

int kt_softirq_attach_kind(const struct kt_softirq *s) { return s->l.kind; }
int kt_softirq_counts_untraced(const struct kt_softirq *s) { return s->kstat_from_rq != 0; }

int kt_softirq_read(struct kt_softirq *s, struct kt_vec_stats *out, int ncpu, uint64_t *flip_ns, uint64_t *flip_err_ns)
{
	unsigned int old = s->ctl.epoch;
	int possible = libbpf_num_possible_cpus();
	struct kt_vec_stats *buf;

	if (ncpu < possible)
		return -EINVAL;
	buf = calloc((size_t)possible, sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	/* The interval ends when the flip lands (after the allocation above). */
	int rc = kt_flip_epoch(s->ctl_fd, &s->ctl, &s->ctl.epoch, flip_ns, flip_err_ns);
	if (rc) {
		free(buf);
		return rc;
	}
	for (unsigned int vec = 0; vec < KT_NR_VEC; vec++) {
		unsigned int key = old * KT_NR_VEC + vec;
		if (bpf_map_lookup_elem(s->stats_fd, &key, buf)) {
			free(buf);
			return -errno;
		}
		for (int cpu = 0; cpu < possible; cpu++)
			out[cpu * KT_NR_VEC + vec] = buf[cpu];
		memset(buf, 0, sizeof(*buf) * (size_t)possible);
		if (bpf_map_update_elem(s->stats_fd, &key, buf, BPF_ANY)) {
			free(buf);
			return -errno;
		}
	}
	free(buf);
	return 0;
}

void kt_softirq_close(struct kt_softirq *s)
{
	if (!s)
		return;
	kt_unload(&s->l);
	free(s);
}
