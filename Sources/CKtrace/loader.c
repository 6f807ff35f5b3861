#define _GNU_SOURCE
#include "ckt.h"
#include "loader_internal.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/statfs.h>
#include <unistd.h>

#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif

static int verbose;
static char last_warning[512]; /* libbpf's first warning naming a program, for error reports when not verbose */
static char verifier_said[512]; /* the verifier's last message of the last rejected program */

/* libbpf hands over a rejected program's verifier log in one message between these markers; its last
 * lines are statistics ("processed N insns", "verification time"), the line before them the reason. */
static void keep_verifier_reason(const char *msg)
{
	const char *begin = strstr(msg, "-- BEGIN PROG LOAD LOG --\n");
	const char *end = begin ? strstr(begin, "-- END PROG LOAD LOG --") : NULL;
	if (!begin)
		return;
	if (!end) /* cut short: the reason, at the end of the log, is lost; say what remains */
		end = begin + strlen(begin);
	begin += strlen("-- BEGIN PROG LOAD LOG --\n");
	const char *best = NULL, *best_end = NULL;
	for (const char *line = begin; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *stop = nl ? nl : end;
		if (stop > line && strncmp(line, "processed ", 10) != 0 && strncmp(line, "verification time", 17) != 0 &&
		    strncmp(line, "stack depth", 11) != 0) {
			best = line;
			best_end = stop;
		}
		line = nl ? nl + 1 : end;
	}
	if (best)
		snprintf(verifier_said, sizeof(verifier_said), "%.*s", (int)(best_end - best), best);
}

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	static char msg[1 << 20]; /* a verifier log comes whole in one message; libbpf prints from one thread */
	va_list copy;

	if (level == LIBBPF_WARN) {
		va_copy(copy, args);
		vsnprintf(msg, sizeof(msg), fmt, copy);
		va_end(copy);
		keep_verifier_reason(msg);
		/* Keep the first "prog '...'" warning: it names the program and the reason; the warnings
		 * after it only say that the object failed. */
		if (!strstr(msg, "-- BEGIN PROG LOAD LOG") && (!last_warning[0] || !strstr(last_warning, "prog '"))) {
			snprintf(last_warning, sizeof(last_warning), "%s", msg);
			last_warning[strcspn(last_warning, "\n")] = 0;
		}
	}
	/* -v shows libbpf's warnings and info; its per-relocation debug chatter only with KTRACE_DEBUG=1. */
	if (verbose && (level != LIBBPF_DEBUG || getenv("KTRACE_DEBUG")))
		return vfprintf(stderr, fmt, args);
	return 0;
}

void kt_set_verbose(int v)
{
	verbose = v;
	libbpf_set_print(print_fn);
}

int kt_num_possible_cpus(void) { return libbpf_num_possible_cpus(); }

int kt_parse_online_cpus(int *cpus, int max)
{
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");
	int n = 0, a, b;
	char sep;
	if (!f)
		return -errno;
	while (n < max && fscanf(f, "%d", &a) == 1) {
		b = a;
		if (fscanf(f, "%c", &sep) == 1 && sep == '-') {
			if (fscanf(f, "%d", &b) != 1)
				break;
			if (fscanf(f, "%c", &sep) != 1)
				sep = 0;
		}
		for (int c = a; c <= b && n < max; c++)
			cpus[n++] = c;
		if (sep != ',')
			break;
	}
	fclose(f);
	return n;
}

int kt_have_btf(void) { return access("/sys/kernel/btf/vmlinux", R_OK) == 0; }

static int is_tracefs(const char *path)
{
	struct statfs st;
	return statfs(path, &st) == 0 && st.f_type == TRACEFS_MAGIC;
}

int kt_ensure_tracefs(char *err, size_t errlen)
{
	if (is_tracefs("/sys/kernel/tracing") || is_tracefs("/sys/kernel/debug/tracing"))
		return 0;
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0)
		return 0;
	snprintf(err, errlen, "tracefs is not mounted and mounting it failed (%s): run 'mount -t tracefs nodev /sys/kernel/tracing'",
		 strerror(errno));
	return -ENOENT;
}

void kt_errmsg(char *err, size_t errlen, const char *what, int errnum)
{
	if (errnum < 0)
		errnum = -errnum;
	if (errnum == EPERM)
		snprintf(err, errlen, "%s: permission denied: ktrace needs root, or CAP_BPF and CAP_PERFMON", what);
	else if (errnum == EACCES && verifier_said[0])
		snprintf(err, errlen, "%s: rejected by the kernel's verifier: %s (full log: -v)", what, verifier_said);
	else if (errnum == EACCES)
		snprintf(err, errlen, "%s: rejected by the kernel's verifier (%s)", what, last_warning[0] ? last_warning : "run with -v");
	else if (last_warning[0])
		snprintf(err, errlen, "%s: %s (%s)", what, strerror(errnum), last_warning);
	else
		snprintf(err, errlen, "%s: %s", what, strerror(errnum));
}

static const char *flavour_suffix[] = { "", "_btf", "_raw", "_tp" };
static const char *flavour_name[] = { "auto", "tp_btf", "raw_tp", "tracepoint" };

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int is_flavoured(const char *name)
{
	return ends_with(name, "_btf") || ends_with(name, "_raw") || ends_with(name, "_tp");
}

/* The feature that names this program (exactly, or by its base name when flavoured), or NULL. */
static const struct kt_feature *feature_of(const struct kt_feature *fs, int n, const char *prog, int *flavoured)
{
	size_t len = strlen(prog);
	*flavoured = is_flavoured(prog);
	/* A flavoured program's base name: without _btf, _raw or _tp. */
	size_t base = *flavoured ? len - (ends_with(prog, "_btf") || ends_with(prog, "_raw") ? 4 : 3) : len;
	for (int i = 0; i < n; i++)
		for (const char *const *p = fs[i].progs; *p; p++)
			if (strlen(*p) == base && strncmp(*p, prog, base) == 0)
				return &fs[i];
	return NULL;
}

/* Why the object and its feature table disagree (a programming error: no attach kind can fix it). */
static char table_error[256];
#define KT_ETABLE (-EBADR)

/* The object and its feature table agree: every program in one feature, every name a program. */
static int check_table(struct bpf_object *obj, const char *name, const struct kt_feature *fs, int n, char *err,
		       size_t errlen)
{
	struct bpf_program *prog;
	int flavoured;
	bpf_object__for_each_program(prog, obj) {
		if (!feature_of(fs, n, bpf_program__name(prog), &flavoured)) {
			snprintf(err, errlen, "BPF object '%s': program '%s' is in no feature of its table", name,
				 bpf_program__name(prog));
			return -ENOENT;
		}
	}
	for (int i = 0; i < n; i++) {
		for (const char *const *p = fs[i].progs; *p; p++) {
			char flavour[128];
			int found = bpf_object__find_program_by_name(obj, *p) != NULL;
			for (int k = 1; k <= 3 && !found; k++) {
				snprintf(flavour, sizeof(flavour), "%s%s", *p, flavour_suffix[k]);
				found = bpf_object__find_program_by_name(obj, flavour) != NULL;
			}
			if (!found) {
				snprintf(err, errlen, "BPF object '%s' has no program '%s' (feature %s)", name, *p, fs[i].name);
				return -ENOENT;
			}
		}
	}
	return 0;
}

static void release_vmlinux_btf(void);

static int try_load(const unsigned char *start, const unsigned char *end, const char *name, int kind,
		    const struct kt_feature *features, int nfeatures, kt_config_fn config, void *ctx,
		    struct bpf_object **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
	struct bpf_object *obj = bpf_object__open_mem(start, (size_t)(end - start), &opts);
	struct bpf_program *prog;
	int err, flavoured;

	if (!obj)
		return -errno;
	/* On the object opened anyway: a second open only for the check cost a tenth of a second under TCG. */
	if ((err = check_table(obj, name, features, nfeatures, table_error, sizeof(table_error))) != 0) {
		bpf_object__close(obj);
		return KT_ETABLE;
	}
	bpf_object__for_each_program(prog, obj) {
		const char *pn = bpf_program__name(prog);
		const struct kt_feature *f = feature_of(features, nfeatures, pn, &flavoured);
		bpf_program__set_autoload(prog, f && f->on && (!flavoured || ends_with(pn, flavour_suffix[kind])));
	}
	if (config && (err = config(obj, ctx)) != 0) {
		bpf_object__close(obj);
		return err;
	}
	release_vmlinux_btf();
	int parses = kt_vmlinux_btf_calls();
	err = bpf_object__load(obj);
	if (err) {
		bpf_object__close(obj);
		return err;
	}
	static int said_btf;
	if (verbose && !said_btf && kt_vmlinux_btf_calls() > parses) {  /* libbpf's parse went through ours */
		said_btf = 1;
		fprintf(stderr, "ktrace: kernel BTF %s\n", kt_vmlinux_btf_source());
	}
	*out = obj;
	return 0;
}

/* Load one flavour, write its settings, attach its programs. On failure everything is released and
 * err says which step failed. */
static int load_attach_kind(const unsigned char *start, const unsigned char *end, const char *name, int kind,
			    const struct kt_feature *features, int nfeatures, kt_config_fn before_load, kt_config_fn after_load, void *ctx,
			    struct kt_loaded *out, char *err, size_t errlen)
{
	struct bpf_program *prog;
	char what[128];
	int rc;

	memset(out, 0, sizeof(*out));
	last_warning[0] = 0;
	verifier_said[0] = 0;
	rc = try_load(start, end, name, kind, features, nfeatures, before_load, ctx, &out->obj);
	if (rc == KT_ETABLE) {
		snprintf(err, errlen, "%s", table_error);
		return rc;
	}
	if (rc) {
		snprintf(what, sizeof(what), "loading BPF object '%s' (%s)", name, flavour_name[kind]);
		kt_errmsg(err, errlen, what, rc);
		return rc;
	}
	out->kind = kind;
	if (after_load && (rc = after_load(out->obj, ctx)) != 0) {
		kt_errmsg(err, errlen, "writing settings into BPF maps", rc);
		kt_unload(out);
		return rc;
	}
	bpf_object__for_each_program(prog, out->obj) {
		/* perf_event, kprobe and untargeted tracepoint programs are attached by their owner, to the events and
		 * functions it chose. */
		if (!bpf_program__autoload(prog) || bpf_program__type(prog) == BPF_PROG_TYPE_PERF_EVENT ||
		    bpf_program__type(prog) == BPF_PROG_TYPE_KPROBE ||
		    strcmp(bpf_program__section_name(prog), "tracepoint") == 0 /* no target in its section */)
			continue;
		if (out->nlinks == (int)(sizeof(out->links) / sizeof(out->links[0]))) {
			/* More programs than links: a program left unattached would count nothing, silently. */
			snprintf(err, errlen, "BPF object '%s' has more than %d programs to attach: raise kt_loaded.links", name,
				 out->nlinks);
			kt_unload(out);
			return -E2BIG;
		}
		struct bpf_link *link = bpf_program__attach(prog);
		if (!link) {
			rc = -errno;
			snprintf(what, sizeof(what), "attaching %s", bpf_program__section_name(prog));
			kt_errmsg(err, errlen, what, rc);
			kt_unload(out);
			return rc;
		}
		out->links[out->nlinks++] = link;
	}
	return 0;
}

int kt_load_and_attach(const unsigned char *start, const unsigned char *end, const char *name, int attach,
		       const struct kt_feature *features, int nfeatures, kt_config_fn before_load, kt_config_fn after_load,
		       void *ctx, struct kt_loaded *out, char *err, size_t errlen)
{
	int kinds[3], nk = 0, rc = -ENOENT;

	memset(out, 0, sizeof(*out));
	if (!kt_have_btf()) {
		snprintf(err, errlen, "no kernel BTF (/sys/kernel/btf/vmlinux): ktrace needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
		return -ENOENT;
	}
	if (attach == KT_ATTACH_AUTO) {
		kinds[nk++] = KT_ATTACH_BTF;
		kinds[nk++] = KT_ATTACH_RAW;
		kinds[nk++] = KT_ATTACH_TP;
	} else {
		kinds[nk++] = attach;
	}
	/* A kind that fails to load or to attach (older kernels: no tp_btf, fewer tracepoint arguments)
	 * gives way to the next. Only missing privileges stop the search: the verifier's EACCES is a
	 * rejection of this kind, not of the user. When every kind fails, each one's reason is kept, one
	 * line each, so the user sees why tp_btf and raw_tp failed too, not only the last attempt. */
	char why[3][400];
	for (int i = 0; i < nk; i++) {
		if (kinds[i] == KT_ATTACH_TP && (rc = kt_ensure_tracefs(why[i], sizeof(why[i]))) != 0) {
			if (nk == 1) {
				snprintf(err, errlen, "%s", why[i]);
				return rc;
			}
			continue;
		}
		rc = load_attach_kind(start, end, name, kinds[i], features, nfeatures, before_load, after_load, ctx, out, why[i],
				      sizeof(why[i]));
		if (rc == 0)
			return 0;
		if (rc == -EPERM || rc == KT_ETABLE || nk == 1) {
			snprintf(err, errlen, "%s", why[i]);
			return rc;
		}
		if (verbose && i + 1 < nk)
			fprintf(stderr, "ktrace: %s, trying the next kind\n", why[i]);
	}
	int off = snprintf(err, errlen, "BPF object '%s' loads with no attach kind on this kernel:", name);
	for (int i = 0; i < nk && off >= 0 && (size_t)off < errlen; i++)
		off += snprintf(err + off, errlen - (size_t)off, "\n  %s: %s", flavour_name[kinds[i]], why[i]);
	return rc;
}

static char bind_error[256];

void kt_bind_error(char *err, size_t errlen) { snprintf(err, errlen, "%s", bind_error); }

int kt_bind_maps(struct bpf_object *obj, const struct kt_map_ref *refs, int n)
{
	for (int i = 0; i < n; i++) {
		*refs[i].slot = bpf_object__find_map_by_name(obj, refs[i].name);
		if (!*refs[i].slot) {
			snprintf(bind_error, sizeof(bind_error), "BPF object '%s' has no map '%s' (ktrace.h and the object disagree)",
				 bpf_object__name(obj), refs[i].name);
			return -ENOENT;
		}
	}
	return 0;
}

int kt_set_rodata(struct bpf_object *obj, const char *var, const void *value, size_t size)
{
	const struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *map;
	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		size_t len = strlen(name), have = 0;
		if (len < 7 || strcmp(name + len - 7, ".rodata") != 0)
			continue;
		/* Writable until load, as skeletons use it; older libbpf (before 1.4) declares it const. */
		char *data = (char *)bpf_map__initial_value(map, &have);
		int id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
		const struct btf_type *sec = id > 0 ? btf__type_by_id(btf, id) : NULL;
		const struct btf_var_secinfo *vs = sec ? btf_var_secinfos(sec) : NULL;
		for (int i = 0; data && vs && i < btf_vlen(sec); i++, vs++) {
			const struct btf_type *v = btf__type_by_id(btf, vs->type);
			if (strcmp(btf__name_by_offset(btf, v->name_off), var) != 0)
				continue;
			if (vs->size != size || vs->offset + size > have)
				break;
			memcpy(data + vs->offset, value, size);
			return 0;
		}
	}
	snprintf(bind_error, sizeof(bind_error), "BPF object '%s' has no %zu-byte rodata variable '%s'", bpf_object__name(obj),
		 size, var);
	return -ENOENT;
}

/* The kernel's BTF for the queries below, parsed on first use (sessions are opened on the main thread)
 * and released before each object's load: libbpf parses a copy of its own there for CO-RE, so with ours
 * kept too two copies would meet at the process's peak (`stacks --pid` on ksoftirqd, 6.18: 36 MB, of
 * which 6.4 MB ours, when libbpf's parse still held two). Both parses go through vmlinux_btf.c. A query
 * after a load parses again (tens of ms). */
static struct btf *vmlinux;

static struct btf *vmlinux_btf(void)
{
	if (!vmlinux)
		vmlinux = btf__load_vmlinux_btf();
	return vmlinux;
}

static void release_vmlinux_btf(void)
{
	btf__free(vmlinux);
	vmlinux = NULL;
}

int kt_btf_has_member(const char *type, const char *member)
{
	struct btf *vmlinux = vmlinux_btf();
	int id = vmlinux ? btf__find_by_name_kind(vmlinux, type, BTF_KIND_STRUCT) : -1;
	const struct btf_type *t = id > 0 ? btf__type_by_id(vmlinux, id) : NULL;
	const struct btf_member *m = t ? btf_members(t) : NULL;
	for (int i = 0; m && i < btf_vlen(t); i++, m++)
		if (strcmp(btf__name_by_offset(vmlinux, m->name_off), member) == 0)
			return 1;
	return 0;
}

int kt_btf_enumerator(const char *type, int i, const char **name, uint32_t *value)
{
	/* Callers walk an enum's enumerators one by one, and finding a type by name scans all of vmlinux's
	 * (over 100000): the last type's id is kept. */
	static char last_type[64];
	static int last_id;
	struct btf *vmlinux = vmlinux_btf();
	int id = -1;
	if (vmlinux && last_id > 0 && strcmp(type, last_type) == 0) {
		id = last_id;
	} else if (vmlinux) {
		id = btf__find_by_name_kind(vmlinux, type, BTF_KIND_ENUM);
		if (id > 0 && strlen(type) < sizeof(last_type)) {
			strcpy(last_type, type);
			last_id = id;
		}
	}
	const struct btf_type *t = id > 0 ? btf__type_by_id(vmlinux, id) : NULL;
	if (!t || i < 0 || i >= btf_vlen(t))
		return -ENOENT;
	const struct btf_enum *e = btf_enum(t) + i;
	*name = btf__name_by_offset(vmlinux, e->name_off);
	*value = (uint32_t)e->val;
	return 0;
}

int kt_btf_tracepoint_args(const char *tp)
{
	/* A BTF tracepoint's arguments are those of its btf_trace_<tp> typedef, a pointer to a function whose
	 * first parameter is the probe's own data pointer. */
	struct btf *vmlinux = vmlinux_btf();
	char name[128];
	if (!vmlinux || snprintf(name, sizeof(name), "btf_trace_%s", tp) >= (int)sizeof(name))
		return -1;
	int id = btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF);
	const struct btf_type *t = id > 0 ? btf__type_by_id(vmlinux, id) : NULL;
	if (t)
		t = btf__type_by_id(vmlinux, t->type);
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(vmlinux, t->type);
	return t && btf_is_func_proto(t) && btf_vlen(t) > 0 ? btf_vlen(t) - 1 : -1;
}

long kt_percpu_offset(const char *var)
{
	struct btf *vmlinux = vmlinux_btf();
	if (!vmlinux)
		return -1;
	int id = btf__find_by_name_kind(vmlinux, ".data..percpu", BTF_KIND_DATASEC);
	const struct btf_type *sec = id > 0 ? btf__type_by_id(vmlinux, id) : NULL;
	if (!sec)
		return -1;
	const struct btf_var_secinfo *vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *v = btf__type_by_id(vmlinux, vs->type);
		if (v && strcmp(btf__name_by_offset(vmlinux, v->name_off), var) == 0)
			return vs->offset;
	}
	return -1;
}

int kt_bind_progs(struct bpf_object *obj, const struct kt_prog_ref *refs, int n)
{
	for (int i = 0; i < n; i++) {
		*refs[i].slot = bpf_object__find_program_by_name(obj, refs[i].name);
		if (!*refs[i].slot) {
			snprintf(bind_error, sizeof(bind_error), "BPF object '%s' has no program '%s'", bpf_object__name(obj),
				 refs[i].name);
			return -ENOENT;
		}
	}
	return 0;
}

void kt_unload(struct kt_loaded *l)
{
	for (int i = 0; i < l->nlinks; i++)
		bpf_link__destroy(l->links[i]);
	l->nlinks = 0;
	if (l->obj)
		bpf_object__close(l->obj);
	l->obj = NULL;
}

int kt_flip_epoch(int fd, const void *ctl, unsigned int *epoch, uint64_t *flip_ns, uint64_t *flip_err_ns)
{
	unsigned int zero = 0, old = *epoch;
	struct timespec settle = { 0, 5 * 1000 * 1000 };

	*epoch = old ^ 1;
	/* Clocked right around the update, inside which the flip lands: a busy CPU (softirqs, ksoftirqd)
	 * can hold this thread for milliseconds before it (1% off /proc/softirqs at 30k NET_RX runs/s). */
	uint64_t t0 = kt_monotonic_ns();
	int rc = bpf_map_update_elem(fd, &zero, ctl, BPF_ANY);
	uint64_t t1 = kt_monotonic_ns();
	if (rc) {
		*epoch = old;
		return rc;
	}
	if (flip_ns)
		*flip_ns = t0 + (t1 - t0) / 2;
	if (flip_err_ns)
		*flip_err_ns = (t1 - t0 + 1) / 2;
	nanosleep(&settle, NULL);
	return 0;
}
