/* Stacks, stored in the kernel under a hash of their frames, and the count map that aggregates samples
 * (and off-CPU nanoseconds) per stack key: the part of profile.bpf.c that `stacks` and `offcpu` share.
 *
 * Stack ids are 64-bit hashes of the frames, and the stacks live in a hash map under them, as bpftrace
 * does since its PR #3060: BPF_MAP_TYPE_STACK_TRACE drops a stack whenever its bucket holds another one
 * (-EEXIST), which lost 5% of ksoftirqd's samples under a SYN flood at a 16k-entry map. A hash map
 * chains instead, so a stack is lost only when the map is full, and that is counted. */
#ifndef KTRACE_STACKS_BPF_H
#define KTRACE_STACKS_BPF_H

#include "profile.bpf.h"

#define EEXIST 17

struct kt_frames {
	__u64 ip[KT_MAX_STACK];
};

/* A short stack's entry (KT_STACK_SHORT_BIT): its first KT_SHORT_STACK frames. */
struct kt_short_frames {
	__u64 ip[KT_SHORT_STACK];
};

/* Allocated on demand (no prealloc): max_entries bounds memory, only distinct stacks use it. Kernel and
 * user stacks have maps of their own: an on-demand map keeps only a small per-CPU cache of free elements,
 * refilled after the interrupt, so storing two new stacks in one sample from one map failed the second (the
 * first user stack of nearly every run was lost). */
#define KT_STACK_MAP(name, frames)							\
struct {										\
	__uint(type, BPF_MAP_TYPE_HASH);						\
	__uint(max_entries, 65536); /* resized by user space (--stack-storage) */	\
	__uint(map_flags, BPF_F_NO_PREALLOC);						\
	__type(key, __u64);								\
	__type(value, frames);								\
} name SEC(".maps")

KT_STACK_MAP(kt_stacks, struct kt_frames);             /* kernel stacks */
KT_STACK_MAP(kt_ustacks, struct kt_frames);            /* user stacks */
KT_STACK_MAP(kt_stacks_short, struct kt_short_frames);  /* kernel stacks of at most KT_SHORT_STACK frames */
KT_STACK_MAP(kt_ustacks_short, struct kt_short_frames); /* user stacks of at most KT_SHORT_STACK frames */

/* Per-CPU scratch for a stack's frames (too big for the BPF stack), one slot per context that takes
 * stacks: samples (their kernel and their user stack, held together until the count key is known), and the
 * scheduler's tracepoints (switch-outs, wakers). A cycles sample is an NMI that can land inside a
 * sched_switch program (tp_btf and raw_tp programs do not hold off perf_event ones), so the two contexts
 * never share a buffer. */
#define KT_SLOT_SAMPLE 0
#define KT_SLOT_SCHED 1
#define KT_SLOT_SAMPLE_USER 2
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, struct kt_frames);
} kt_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 40960); /* resized by user space */
	__type(key, struct kt_stack_key);
	__type(value, __u64);
} kt_counts SEC(".maps");

/* Frames a stack taken at sched_switch rarely exceeds: there the stack is first asked for this deep. */
#define KT_SHALLOW_STACK 32

static __always_inline struct kt_frames *stack_scratch(__u32 slot)
{
	return bpf_map_lookup_elem(&kt_scratch, &slot);
}

/* The id of the frames in the scratch buffer f (frames of them): FNV-1a over them, top bit set, and
 * KT_STACK_SHORT_BIT for a short stack. A zero after the last frame ends the stack for user space (the rest
 * of the buffer may hold an older, deeper stack). */
static __always_inline __u64 frames_id(struct kt_frames *f, __u32 frames)
{
	__u64 h = 0xcbf29ce484222325ULL;
	for (__u32 i = 0; i < KT_MAX_STACK && i < frames; i++)
		h = (h ^ f->ip[i]) * 0x100000001b3ULL;
	__u32 end = frames;
	asm volatile("" : "+r"(end)); /* keep the bound check on the register used as index */
	if (end < KT_MAX_STACK)
		f->ip[end] = 0;
	h = (h & ~KT_STACK_SHORT_BIT) | KT_STACK_ID_BIT;
	return frames <= KT_SHORT_STACK ? h | KT_STACK_SHORT_BIT : h;
}

/* Store f under *id in `map` unless it is there already (the lookup spares the bucket's lock then): 0, or
 * the update's error. Inlined, so that each call names its map as a constant, as the verifier wants. */
static __always_inline long store_once(void *map, __u64 *id, struct kt_frames *f)
{
	return bpf_map_lookup_elem(map, id) ? 0 : bpf_map_update_elem(map, id, f, BPF_NOEXIST);
}

/* Store the frames f under their id, in the map of its kind (user or kernel) and size, unless they are
 * there already; return the id, or KT_STACK_LOST (counted) when the map had no room. A short stack's map
 * copies only its first KT_SHORT_STACK frames out of f. */
static __always_inline __u64 keep_frames(struct kt_frames *f, __u64 id, bool user, struct kt_profile_stats *s)
{
	bool short_stack = id & KT_STACK_SHORT_BIT;
	long err;

	if (user)
		err = short_stack ? store_once(&kt_ustacks_short, &id, f) : store_once(&kt_ustacks, &id, f);
	else
		err = short_stack ? store_once(&kt_stacks_short, &id, f) : store_once(&kt_stacks, &id, f);
	if (err && err != -EEXIST) {
		if (user) s->ustack_full++; else s->kstack_full++;
		return KT_STACK_LOST;
	}
	return id;
}

/* Hash the frames in f and store them: their id, or KT_STACK_LOST. */
static __always_inline __u64 store_frames(struct kt_frames *f, __u32 frames, bool user, struct kt_profile_stats *s)
{
	return keep_frames(f, frames_id(f, frames), user, s);
}

/* keep_frames for the frames a take_ function left in scratch slot `slot`, under the id it returned;
 * KT_STACK_NONE and KT_STACK_LOST pass through. */
static __always_inline __u64 keep_stack(__u32 slot, __u64 id, bool user, struct kt_profile_stats *s)
{
	struct kt_frames *f;

	if (!(id & KT_STACK_ID_BIT))
		return id;
	if (!(f = stack_scratch(slot)))
		return KT_STACK_LOST;
	return keep_frames(f, id, user, s);
}

/* Take one stack (kernel, or user with BPF_F_USER_STACK) into scratch slot `slot` and return its id, with
 * the frames stored (`keep`) or not yet (keep_stack stores them). `shallow` (the scheduler's tracepoints):
 * try KT_SHALLOW_STACK frames first, the whole depth only when they were all filled. bpf_get_stack zeroes
 * the buffer past the frames it wrote, 1 KiB at full size, twice per context switch; the zero after the
 * last frame (frames_id) is all user space needs. */
static __always_inline __u64 grab_stack(void *ctx, __u64 flags, struct kt_profile_stats *s, __u32 slot, bool shallow,
					 bool keep)
{
	bool user = flags & BPF_F_USER_STACK;
	struct kt_frames *f = stack_scratch(slot);
	if (!f)
		return KT_STACK_LOST;
	long n = -1;
	if (shallow)
		n = bpf_get_stack(ctx, f->ip, KT_SHALLOW_STACK * sizeof(__u64), flags);
	if (!shallow || n == KT_SHALLOW_STACK * sizeof(__u64))
		n = bpf_get_stack(ctx, f->ip, sizeof(f->ip), flags);
	if (n < 0) {
		if (user) s->ustack_err++; else s->kstack_err++;
		return KT_STACK_LOST;
	}
	if (n == 0) /* a user-mode sample has no kernel part: nothing lost */
		return KT_STACK_NONE;
	if (keep)
		return store_frames(f, (__u32)n / sizeof(__u64), user, s);
	return frames_id(f, (__u32)n / sizeof(__u64));
}

static __always_inline __u64 take_stack(void *ctx, __u64 flags, struct kt_profile_stats *s, __u32 slot, bool shallow)
{
	return grab_stack(ctx, flags, s, slot, shallow, false);
}

/* Take one stack and store it at once (the scheduler's tracepoints, timeline events); return its id. */
static __always_inline __u64 store_stack(void *ctx, __u64 flags, struct kt_profile_stats *s, bool shallow)
{
	return grab_stack(ctx, flags, s, shallow ? KT_SLOT_SCHED : KT_SLOT_SAMPLE, shallow, true);
}

/* Add n to a key's value in kt_counts (samples, or nanoseconds off the CPU). */
static __always_inline void count_add(struct kt_stack_key *key, __u64 n, struct kt_profile_stats *s)
{
	__u64 *v = bpf_map_lookup_elem(&kt_counts, key);
	if (v) {
		__sync_fetch_and_add(v, n);
		return;
	}
	long err = bpf_map_update_elem(&kt_counts, key, &n, BPF_NOEXIST);
	if (err == -EEXIST) { /* another CPU inserted it first */
		v = bpf_map_lookup_elem(&kt_counts, key);
		if (v)
			__sync_fetch_and_add(v, n);
	} else if (err) {
		s->count_full++;
	}
}

#endif
