// SPDX-License-Identifier: GPL-2.0
/* ktrace diagnose: packets freed as dropped (tracepoint skb:kfree_skb), counted per (drop reason, location)
 * from kt_drops_start on. The reason says why where the kernel says it (5.17+); the location, the code that
 * freed the packet, tells apart drops the kernel left NOT_SPECIFIED and is all older kernels give. */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Per-CPU values: a drop flood on every CPU bumps no shared counter. A few hundred pairs exist in a kernel
 * (one per call site that frees with a reason); what does not fit is counted in table_full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct kt_drop_key);
	__type(value, __u64);
} kt_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_drops_stats);
} kt_dstats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_drops_ctl);
} kt_dctl SEC(".maps");

/* What kernels with drop reasons (5.17+, stable 5.15.58+) have, as CO-RE flavours: on older kernels the
 * field does not exist and the code that reads it is dropped at load. The reason field must be an enum of
 * that name, as the kernel's is: libbpf matches an enum field only to an enum, and a mismatch reads as "no
 * such field". SKB_CONSUMED's value here is a placeholder: libbpf writes the running kernel's, found by
 * name (bpf_core_enum_value). */
enum skb_drop_reason___x { SKB_CONSUMED___x = 1 };

struct trace_event_raw_kfree_skb___x {
	enum skb_drop_reason___x reason;
} __attribute__((preserve_access_index));

static __always_inline bool has_reason(void)
{
	return bpf_core_field_exists(struct trace_event_raw_kfree_skb___x, reason);
}

static __always_inline struct kt_drops_stats *stats(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&kt_dstats, &zero);
}

static __always_inline int count_drop(__u64 location, __u32 reason)
{
	struct kt_drop_key key = { .location = location, .reason = reason };
	struct kt_drops_stats *s;
	struct kt_drops_ctl *c;
	__u32 zero = 0;
	__u64 one = 1, *n;

	c = bpf_map_lookup_elem(&kt_dctl, &zero);
	if (!c || !c->counting)
		return 0;
	/* A consume, not a drop: kernels that have SKB_CONSUMED may free a packet with it through the path
	 * that fires this tracepoint (later ones route it to skb:consume_skb). */
	if (bpf_core_enum_value_exists(enum skb_drop_reason___x, SKB_CONSUMED___x) &&
	    reason == bpf_core_enum_value(enum skb_drop_reason___x, SKB_CONSUMED___x))
		return 0;
	n = bpf_map_lookup_elem(&kt_drops, &key);
	if (n) {
		(*n)++;
		return 0;
	}
	if (bpf_map_update_elem(&kt_drops, &key, &one, BPF_NOEXIST) == 0)
		return 0;
	/* Another CPU may have added the key meanwhile: this CPU's slot of it is there now. */
	n = bpf_map_lookup_elem(&kt_drops, &key);
	if (n) {
		(*n)++;
		return 0;
	}
	s = stats();
	if (s)
		s->table_full++;
	return 0;
}

/* tp_btf and raw_tp: the reason is the third argument where the record has a reason field (one kernel change
 * added both). Read only then: reading a missing argument fails the load (tp_btf) or the attach (raw_tp). */
static __always_inline __u32 reason_arg(unsigned long long *ctx)
{
	return has_reason() ? (__u32)ctx[2] : KT_DROP_NO_REASON;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(kt_kfree_skb_btf, void *skb, void *location)
{
	return count_drop((__u64)location, reason_arg(ctx));
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(kt_kfree_skb_raw, void *skb, void *location)
{
	return count_drop((__u64)location, reason_arg(ctx));
}

SEC("tracepoint/skb/kfree_skb")
int kt_kfree_skb_tp(struct trace_event_raw_kfree_skb *ctx)
{
	struct trace_event_raw_kfree_skb___x *r = (void *)ctx;
	__u32 reason = has_reason() ? (__u32)BPF_CORE_READ(r, reason) : KT_DROP_NO_REASON;
	count_drop((__u64)BPF_CORE_READ(ctx, location), reason);
	return KT_TP_PASS;
}
