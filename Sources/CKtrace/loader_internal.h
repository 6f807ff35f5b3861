/* Shared by the C files of this module: open, select, load and attach one embedded BPF object. */
#ifndef KT_LOADER_INTERNAL_H
#define KT_LOADER_INTERNAL_H

#include <bpf/libbpf.h>
#include <stddef.h>

struct kt_loaded {
	struct bpf_object *obj;
	struct bpf_link *links[32];
	int nlinks;
	int kind; /* enum kt_attach actually used */
};

/* One feature of a BPF object: the programs it brings, loaded only when it is on. A tracepoint program is
 * named by its base name: the loader loads the flavour it attaches (NAME_btf, NAME_raw or NAME_tp). Each
 * object has one table of its features that names every program exactly once: a name the object lacks, or
 * a program no feature names, fails the open and says which, so that renaming a program on one side
 * cannot silently change what loads. */
struct kt_feature {
	const char *name;
	int on;
	const char *const *progs; /* NULL-terminated */
};
/* A program list in place; its storage is the enclosing block's (static at file scope). */
#define KT_PROGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
/* Called before load (to size maps) and after load, before attach (to write settings into maps, so
 * no event is seen with zeroed settings). Returns 0 or a negative errno. */
typedef int (*kt_config_fn)(struct bpf_object *obj, void *ctx);

/* Handles an object must have, found by name in one table so that a map or program renamed on one side
 * fails loudly, naming it, instead of being silently skipped. `slot` points into the caller's struct. */
struct kt_map_ref {
	const char *name;
	struct bpf_map **slot;
};
struct kt_prog_ref {
	const char *name;
	struct bpf_program **slot;
};
int kt_bind_maps(struct bpf_object *obj, const struct kt_map_ref *refs, int n);
int kt_bind_progs(struct bpf_object *obj, const struct kt_prog_ref *refs, int n);
/* Why kt_bind_* failed: "BPF object 'x' has no map 'y'". */
void kt_bind_error(char *err, size_t errlen);

/* Set a `const volatile` variable of the object's .rodata before load (static options: the verifier then
 * drops the code they turn off). A missing variable fails loudly, as a missing map does (kt_bind_error). */
int kt_set_rodata(struct bpf_object *obj, const char *var, const void *value, size_t size);

/* The offset of a per-CPU variable of vmlinux in the per-CPU section, from the kernel's BTF; -1 when the
 * BTF has no such variable (kernels whose BTF lacks per-CPU variables). */
long kt_percpu_offset(const char *var);

/* How the kernel's BTF was last parsed (vmlinux_btf.c), for -v; empty before the first parse. The calls
 * so far, so that the loader tells libbpf's parse (inside bpf_object__load) from ktrace's own. */
const char *kt_vmlinux_btf_source(void);
int kt_vmlinux_btf_calls(void);

/* 1 when the kernel's BTF has struct `type` with a member named `member`. */
int kt_btf_has_member(const char *type, const char *member);
/* How many arguments the kernel's BTF tracepoint `tp` passes (sched_switch: 3 before 5.18, 4 since), or -1
 * without BTF or without that tracepoint. */
int kt_btf_tracepoint_args(const char *tp);

/* Load the object with the features that are on, in the first attach kind (tp_btf, raw_tp, tracepoint)
 * that loads and attaches, and attach its tracepoint and tracing programs (perf_event, kprobe and
 * untargeted tracepoint programs are the caller's to attach). */
int kt_load_and_attach(const unsigned char *start, const unsigned char *end, const char *name, int attach,
		       const struct kt_feature *features, int nfeatures, kt_config_fn before_load, kt_config_fn after_load,
		       void *ctx, struct kt_loaded *out, char *err, size_t errlen);
void kt_unload(struct kt_loaded *l);
/* One-line reason for an errno from libbpf or the kernel, with what to do about it. */
void kt_errmsg(char *err, size_t errlen, const char *what, int errnum);
int kt_parse_online_cpus(int *cpus, int max);
/* Points the programs at the other of two slots: flips *epoch (a field of ctl) and writes ctl to element
 * 0 of map fd, then lets programs that read the old epoch just before finish. flip_ns (optional): when
 * the flip landed, give or take flip_err_ns (optional): the midpoint of the clock reads around the
 * update, and half their distance. On failure *epoch is as before (the programs still write the old slot). */
int kt_flip_epoch(int fd, const void *ctl, unsigned int *epoch, uint64_t *flip_ns, uint64_t *flip_err_ns);

#endif
