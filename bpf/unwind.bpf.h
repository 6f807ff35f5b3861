/* User stacks without frame pointers: walked in the kernel with the compact unwind tables user space builds
 * from each mapped ELF file's .eh_frame (KtraceCore/Unwind, docs/unwinding.md), frame pointers where no
 * table row applies. The frames go into the same stack map as bpf_get_stack's, so every output gets them.
 * Each step follows KtraceCore's ReferenceUnwinder, which the tests hold it to; nothing read from the tables
 * or the stack is trusted: a walk that goes nowhere ends, and is counted. */
#ifndef KTRACE_UNWIND_BPF_H
#define KTRACE_UNWIND_BPF_H

#include "stacks.bpf.h"

_Static_assert(KT_UNWIND_FRAMES < KT_MAX_STACK, "the walked frames and the cut mark fit a stack map entry");

/* Every table's rows, each file's a slice (deduplicated by user space: libc once for all processes).
 * Sized by user space; 1 entry when tables are off. Mapped into user space, which writes rows with a copy:
 * writing 420k rows through the batch update cost ktrace 80 ms of CPU at the start (15% of all it spent
 * in a 30 s `stacks -a --unwind auto`). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_unwind_row);
} kt_unwind_rows SEC(".maps");

/* Preallocated (perf_event programs before 6.1 refuse maps allocated on demand), sized by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_unwind_proc);
} kt_unwind_procs SEC(".maps");

/* x86-64's struct pt_regs as the uapi lays it out (a perf_event program's context starts with it). */
struct kt_user_regs {
	__u64 r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

/* The task's user registers at its entry into the kernel: the pt_regs at the top of its kernel stack.
 * bpf_task_pt_regs since 5.15; before, computed as task_pt_regs() does on x86-64 (no FRED padding then). */
static __always_inline int kernel_entry_regs(struct kt_user_regs *r)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	void *at;

	/* The helper wants the task as a BTF pointer (bpf_get_current_task_btf, 5.11+). */
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs))
		at = (void *)bpf_task_pt_regs(bpf_get_current_task_btf());
	else
		at = (char *)BPF_CORE_READ(t, stack) + KT_THREAD_SIZE - sizeof(*r);
	return bpf_probe_read_kernel(r, sizeof(*r), at);
}

/* The user registers a sample's stack starts from: the interrupted ones if the CPU was in user mode (a
 * perf_event program's regs), else those saved at the kernel entry. */
static __always_inline int sample_user_regs(void *ctx, bool perf_regs, struct kt_user_regs *r)
{
	if (perf_regs) {
		struct kt_user_regs *p = ctx;
		if ((p->cs & 3) == 3) {
			r->ip = p->ip;
			r->sp = p->sp;
			r->bp = p->bp;
			return 0;
		}
	}
	return kernel_entry_regs(r);
}

/* The walk's state, per CPU and per context: where it is (the registers of the frame reached and the
 * frames written into the context's scratch buffer) and the binary searches' bounds.
 *
 * The searches keep their bounds here rather than in registers: read back from a map, a bound is a number
 * the verifier does not follow, so every path through a search step reaches the next step in the same
 * state and is pruned there. With the bounds in registers it followed each path apart (the bounds known
 * exactly at each step) and gave up after 1M instructions for 64 frames. */
struct kt_unwind_state {
	__u32 lo;
	__u32 hi;
	__u32 tgid;     /* whose tables */
	__u32 n;        /* frames written */
	__u64 ip;       /* the next frame's registers */
	__u64 sp;
	__u64 bp;
	__u32 bp_known; /* 0: the rows lost rbp (it was saved where they cannot say) */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2); /* a walk per context: KT_SLOT_SAMPLE (samples), KT_SLOT_SCHED (the scheduler's) */
	__type(key, __u32);
	__type(value, struct kt_unwind_state);
} kt_unwind_state SEC(".maps");

/* The mapping of proc holding pc, or NULL (binary search: the last one starting at or below pc). */
static __always_inline struct kt_unwind_mapping *unwind_mapping(volatile struct kt_unwind_state *w, struct kt_unwind_proc *proc,
								__u64 pc)
{
	__u32 n = proc->n, lo;

	w->lo = 0;
	w->hi = n < KT_UNWIND_MAPPINGS ? n : KT_UNWIND_MAPPINGS;
	for (int i = 0; i < 7; i++) { /* 2^7 > KT_UNWIND_MAPPINGS */
		__u32 l = w->lo, h = w->hi;
		if (l >= h)
			break;
		__u32 mid = (l + h) / 2;
		if (proc->m[mid & (KT_UNWIND_MAPPINGS - 1)].start <= pc)
			w->lo = mid + 1;
		else
			w->hi = mid;
	}
	lo = w->lo;
	if (lo == 0 || lo > KT_UNWIND_MAPPINGS)
		return NULL;
	struct kt_unwind_mapping *m = &proc->m[(lo - 1) & (KT_UNWIND_MAPPINGS - 1)];
	return pc < m->end ? m : NULL;
}

/* The rule of the row in effect at off (an ELF virtual address) in rows [first, first + count), or
 * KT_CFA_NONE below the first row. */
static __always_inline __u32 unwind_rule(volatile struct kt_unwind_state *w, __u32 first, __u32 count, __u64 off)
{
	struct kt_unwind_row *row;
	__u32 key, lo;

	if (off > 0xffffffffULL)
		return KT_CFA_NONE;
	w->lo = 0;
	w->hi = count;
	for (int i = 0; i < KT_UNWIND_ROW_STEPS; i++) {
		__u32 l = w->lo, h = w->hi;
		if (l >= h)
			break;
		__u32 mid = (l + h) / 2;
		key = first + mid;
		row = bpf_map_lookup_elem(&kt_unwind_rows, &key);
		if (!row)
			return KT_CFA_NONE;
		if (row->pc <= (__u32)off)
			w->lo = mid + 1;
		else
			w->hi = mid;
	}
	lo = w->lo;
	if (lo == 0 || lo < w->hi) /* below the first row, or a table too long to search */
		return KT_CFA_NONE;
	key = first + lo - 1;
	row = bpf_map_lookup_elem(&kt_unwind_rows, &key);
	return row ? row->rule : KT_CFA_NONE;
}

static __always_inline bool read_user(__u64 *v, __u64 addr)
{
	return bpf_probe_read_user(v, sizeof(*v), (const void *)addr) == 0;
}

/* How a call of kt_unwind_frames left the walk. */
#define KT_WALK_MORE 0    /* KT_UNWIND_STEP frames done, and the last one has a caller */
#define KT_WALK_DONE 1    /* the stack's end */
#define KT_WALK_STOPPED 2 /* the walk went nowhere (counted) */
#define KT_WALK_LOST 3    /* no scratch or state, or no tables before the first frame: nothing walked */

/* Frames walked per call of kt_unwind_frames. */
#define KT_UNWIND_STEP 8
_Static_assert(KT_UNWIND_FRAMES % KT_UNWIND_STEP == 0, "the calls walk KT_UNWIND_FRAMES frames in all");
_Static_assert((KT_UNWIND_FRAMES & (KT_UNWIND_FRAMES - 1)) == 0, "a frame index is masked into range");

/* Walk up to KT_UNWIND_STEP frames of the current task's user stack from where the state of context `slot`
 * left off: each frame's pc into the context's scratch buffer, the state moved to its caller's.
 *
 * A global function, so the verifier checks it once, on its own, with only its argument known (a number):
 * its callers see a call that returns a number. Inlined, the walk was verified once per frame, 64 times: the
 * walker cost 310k of the 330k instructions the verifier processed for a sample program (most of its 0.8 s
 * load on 6.18, seconds under TCG). Arguments are numbers only, as 5.10 requires of a global function's, so
 * it finds its maps itself: three per-CPU array lookups and one hash lookup per call. */
__noinline int kt_unwind_frames(__u32 slot)
{
	volatile struct kt_unwind_state *w = bpf_map_lookup_elem(&kt_unwind_state, &slot);
	struct kt_frames *f = bpf_map_lookup_elem(&kt_scratch, &slot);
	struct kt_profile_stats *s = get_stats();
	struct kt_unwind_proc *proc;
	__u64 ip, sp, bp, cfa, ra;
	bool bp_known;
	__u32 tgid, i;

	if (!w || !f || !s)
		return KT_WALK_LOST;
	tgid = w->tgid;
	if (!(proc = bpf_map_lookup_elem(&kt_unwind_procs, &tgid))) {
		/* Its tables went with the process, mid-walk. Before the first frame, nothing was walked: the
		 * caller counts the stack lost (ustack_err), and counting it here too made one stack two losses. */
		if (w->n == 0)
			return KT_WALK_LOST;
		s->unwind_stopped++;
		return KT_WALK_STOPPED;
	}
	for (int k = 0; k < KT_UNWIND_STEP; k++) {
		/* Each frame's registers are read back from the (volatile) state, not carried in registers: the
		 * verifier then reaches every frame in one state whatever path the last took (which rule, rbp
		 * known or not), and checks a frame's paths once per frame: 54,163 instructions processed for
		 * kt_sample_unwound, where carrying them took 83,366 once the 64th frame's step was walked too. */
		ip = w->ip;
		sp = w->sp;
		bp = w->bp;
		bp_known = w->bp_known;
		i = w->n;
		if (i >= KT_UNWIND_FRAMES) /* not reached: the caller stops after KT_UNWIND_FRAMES frames */
			return KT_WALK_DONE;
		f->ip[i & (KT_UNWIND_FRAMES - 1)] = ip; /* KT_UNWIND_FRAMES <= KT_MAX_STACK */
		w->n = i + 1;
		/* A return address points after its call: the call's own row is at ip - 1. */
		__u64 pc = i ? ip - 1 : ip;
		struct kt_unwind_mapping *m = unwind_mapping(w, proc, pc);
		__u32 rule = m ? unwind_rule(w, m->first, m->count, pc - m->bias) : KT_CFA_NONE;
		__u32 kind = KT_ROW_CFA(rule);
		__u64 new_bp = bp;
		bool new_bp_known = bp_known;

		if (kind == KT_CFA_END)
			return KT_WALK_DONE;
		__u64 off = KT_ROW_CFA_OFF(rule);
		if (kind == KT_CFA_RSP)
			cfa = sp + off;
		else if (kind == KT_CFA_RBP && bp_known)
			cfa = bp + off;
		else if (kind == KT_CFA_PLT)
			cfa = sp + off + ((ip & 15) >= 11 ? 8 : 0);
		else if (kind == KT_CFA_PLT_IBT)
			cfa = sp + off + ((ip & 15) >= 9 ? 8 : 0);
		else
			kind = KT_CFA_NONE;
		if (kind == KT_CFA_NONE) {
			/* No row, or one the walk cannot follow (an expression, the return address in a register as
			 * in glibc's __vfork, rbp unknown): the frame pointer chain, as perf follows it ([rbp] the
			 * caller's rbp, [rbp+8] the return address). Stopping there instead lost every caller of a
			 * vfork, which frame pointers alone find. */
			if (!bp_known)
				goto stopped;
			/* rbp 0 ends the chain: the ABI has the outermost frame clear it (_start, a thread's start). */
			if (bp == 0)
				return KT_WALK_DONE;
			if (!read_user(&new_bp, bp))
				goto stopped;
			cfa = bp + 16;
			s->unwind_fp_frames++;
		} else {
			switch (KT_ROW_RBP(rule)) {
			case KT_RBP_SAVED:
				if (!read_user(&new_bp, cfa - 8 * KT_ROW_RBP_SLOT(rule)))
					goto stopped;
				new_bp_known = true;
				break;
			case KT_RBP_UNCHANGED:
				break;
			default:
				new_bp_known = false;
			}
			s->unwind_table_frames++;
		}
		/* The caller's stack pointer is the CFA, above this frame's: anything else goes nowhere. */
		if (cfa <= sp || !read_user(&ra, cfa - 8))
			goto stopped;
		if (ra == 0)
			return KT_WALK_DONE;
		w->ip = ra;
		w->sp = cfa;
		w->bp = new_bp;
		w->bp_known = new_bp_known;
	}
	return KT_WALK_MORE;
stopped:
	s->unwind_stopped++;
	return KT_WALK_STOPPED;
}

/* Walk the current task's user stack with its process's tables into the scratch frames and store it.
 * Without tables for the process, frame pointers only (bpf_get_stack). `shallow`: called from the
 * scheduler's tracepoints (their scratch slot, and bpf_get_stack's shallow first try). */
static __always_inline __u64 store_user_stack_unwound(void *ctx, bool perf_regs, __u32 tgid, struct kt_profile_stats *s,
						      bool shallow)
{
	struct kt_unwind_state *w;
	struct kt_user_regs r;
	__u32 slot = shallow ? KT_SLOT_SCHED : KT_SLOT_SAMPLE;
	struct kt_frames *f;
	int rc = KT_WALK_MORE;
	__u32 n;

	s->unwind_stacks++;
	if (!bpf_map_lookup_elem(&kt_unwind_procs, &tgid)) {
		s->unwind_no_tables++;
		return store_stack(ctx, BPF_F_USER_STACK, s, shallow);
	}
	if (!(f = stack_scratch(slot)) || !(w = bpf_map_lookup_elem(&kt_unwind_state, &slot)))
		return KT_STACK_LOST;
	if (sample_user_regs(ctx, perf_regs, &r)) {
		s->ustack_err++;
		return KT_STACK_LOST;
	}
	w->tgid = tgid;
	w->n = 0;
	w->ip = r.ip;
	w->sp = r.sp;
	w->bp = r.bp;
	w->bp_known = 1;
	for (int i = 0; i < KT_UNWIND_FRAMES / KT_UNWIND_STEP && rc == KT_WALK_MORE; i++)
		rc = kt_unwind_frames(slot);
	n = w->n;
	if (rc == KT_WALK_MORE && n == KT_UNWIND_FRAMES) {
		/* The walk found a caller of its last frame: the stack is deeper than it keeps. Marked only then, so
		 * that a stack of exactly KT_UNWIND_FRAMES frames (its last the outermost) is whole. */
		f->ip[KT_UNWIND_FRAMES] = KT_UNWIND_CUT_PC;
		n = KT_UNWIND_FRAMES + 1;
		s->unwind_truncated++;
	}
	if (rc == KT_WALK_LOST || n == 0 || n > KT_UNWIND_FRAMES + 1) {
		s->ustack_err++;
		return KT_STACK_LOST;
	}
	return store_frames(f, n, true, s);
}

#endif
