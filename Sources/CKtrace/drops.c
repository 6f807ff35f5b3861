#include "ckt.h"
#include "loader_internal.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const unsigned char ktrace_drops_bpf[];
extern const unsigned char ktrace_drops_bpf_end[];

struct kt_drops {
	struct kt_loaded l;
	struct bpf_map *drops, *stats, *ctl_map;
	struct bpf_program *prog; /* the flavour that attached, for its recursion misses */
	uint64_t misses_at_start;
	char config_err[256];
};

static int bind_handles(struct bpf_object *obj, void *ctx)
{
	struct kt_drops *d = ctx;
	d->config_err[0] = 0; /* each attach flavour binds afresh: an earlier one's failure is not this one's */
	const struct kt_map_ref maps[] = { { "kt_drops", &d->drops }, { "kt_dstats", &d->stats }, { "kt_dctl", &d->ctl_map } };
	int rc = kt_bind_maps(obj, maps, 3);
	if (rc)
		kt_bind_error(d->config_err, sizeof(d->config_err));
	return rc;
}

/* Runs of the program the kernel skipped (a drop while the program ran on that CPU, or on PREEMPT_RT a
 * preempted BPF program holding it): those drops were not counted. 0 where the kernel does not say. */
static uint64_t recursion_misses(const struct kt_drops *d)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(d->prog), &info, &len) != 0)
		return 0;
	return info.recursion_misses;
}

int kt_drops_open(struct kt_drops **out, int attach, char *err, size_t errlen)
{
	struct kt_drops *d = calloc(1, sizeof(*d));
	struct bpf_program *prog;
	int rc;

	if (!d)
		return -ENOMEM;
	const struct kt_feature features[] = { { "drops", 1, KT_PROGS("kt_kfree_skb") } };
	/* The ctl map starts zeroed: nothing is counted before kt_drops_start. */
	rc = kt_load_and_attach(ktrace_drops_bpf, ktrace_drops_bpf_end, "drops", attach, features, 1, bind_handles, NULL, d,
				&d->l, err, errlen);
	if (rc) {
		if (d->config_err[0])
			snprintf(err, errlen, "%s", d->config_err);
		free(d);
		return rc;
	}
	bpf_object__for_each_program(prog, d->l.obj)
		if (bpf_program__autoload(prog))
			d->prog = prog;
	*out = d;
	return 0;
}

int kt_drops_start(struct kt_drops *d)
{
	struct kt_drops_ctl ctl = { .counting = 1 };
	unsigned int zero = 0;
	d->misses_at_start = recursion_misses(d);
	return bpf_map_update_elem(bpf_map__fd(d->ctl_map), &zero, &ctl, BPF_ANY) ? -errno : 0;
}

int kt_drops_capacity(const struct kt_drops *d) { return (int)bpf_map__max_entries(d->drops); }

int kt_drops_read(struct kt_drops *d, struct kt_drop_key *keys, uint64_t *counts, int max)
{
	int fd = bpf_map__fd(d->drops), ncpu = libbpf_num_possible_cpus(), n = 0;
	struct kt_drop_key prev, cur, *pp = NULL;
	uint64_t *percpu;

	if (ncpu < 0)
		return ncpu;
	percpu = calloc((size_t)ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	while (n < max && bpf_map_get_next_key(fd, pp, &cur) == 0) {
		prev = cur;
		pp = &prev;
		/* Nothing deletes a pair: a lookup that fails would lose its drops, so it fails the read. */
		if (bpf_map_lookup_elem(fd, &cur, percpu) != 0) {
			n = -errno;
			break;
		}
		counts[n] = 0;
		for (int c = 0; c < ncpu; c++)
			counts[n] += percpu[c];
		keys[n++] = cur;
	}
	free(percpu);
	return n;
}

int kt_drops_read_stats(struct kt_drops *d, struct kt_drops_stats *out, uint64_t *skipped)
{
	int ncpu = libbpf_num_possible_cpus();
	unsigned int zero = 0;
	struct kt_drops_stats *buf;

	if (ncpu < 0)
		return ncpu;
	buf = calloc((size_t)ncpu, sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(d->stats), &zero, buf)) {
		int rc = -errno;
		free(buf);
		return rc;
	}
	memset(out, 0, sizeof(*out));
	for (int c = 0; c < ncpu; c++)
		out->table_full += buf[c].table_full;
	free(buf);
	uint64_t misses = recursion_misses(d);
	*skipped = misses > d->misses_at_start ? misses - d->misses_at_start : 0;
	return 0;
}

void kt_drops_close(struct kt_drops *d)
{
	if (!d)
		return;
	kt_unload(&d->l);
	free(d);
}
