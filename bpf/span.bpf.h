/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * App-function spans (--probe NAME=..., Go templates): per execution context
 * (thread or goroutine) and span index, the outermost call is timed;
 * recursive or nested calls of the same span count once. The time the
 * context spent blocked in socket writes during the span is its io_ns.
 */
#ifndef PT_SPAN_BPF_H
#define PT_SPAN_BPF_H

#include "common.bpf.h"
#include "thread.bpf.h"

struct span_key {
	__u64 ctx;		/* exec_key() */
	__u32 idx;		/* span index (--probe order; 15: Go render) */
	__u32 pad;
};

struct span_state {
	__u64 start;
	__u64 io_at_start;	/* thread_ctx.io_total when the span started */
	__u32 depth;
	__u32 pad;
	char label[PT_LABEL_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct span_key);
	__type(value, struct span_state);
} spans SEC(".maps") __weak;

/* label: user pointer to a string (may be NULL), label_len: its length, 0 = NUL-terminated */
static __always_inline void span_enter(__u64 key, __u32 idx, const void *label, __u32 label_len)
{
	struct span_key k = { .ctx = key, .idx = idx };
	struct span_state *s = bpf_map_lookup_elem(&spans, &k);
	struct thread_ctx *t;

	if (s) {
		if (s->depth++)
			return;		/* recursion: the outermost call counts */
	} else {
		struct span_state ns = { .depth = 1 };

		if (bpf_map_update_elem(&spans, &k, &ns, BPF_ANY))
			return;
		s = bpf_map_lookup_elem(&spans, &k);
		if (!s)
			return;
	}
	s->start = bpf_ktime_get_ns();
	s->label[0] = 0;
	if (label && label_len)
		bpf_probe_read_user(s->label, label_len < PT_LABEL_LEN - 1 ? label_len & 63 :
				    PT_LABEL_LEN - 1, label);
	else if (label)
		bpf_probe_read_user_str(s->label, sizeof(s->label), label);
	if (label_len && label_len < PT_LABEL_LEN)
		s->label[label_len & (PT_LABEL_LEN - 1)] = 0;
	t = thread_get(key);
	if (t) {
		t->spans_active++;
		s->io_at_start = t->io_total;
	}
}

static __always_inline void span_exit(__u64 key, __u32 idx, __u64 goid)
{
	struct span_key k = { .ctx = key, .idx = idx };
	struct span_state *s = bpf_map_lookup_elem(&spans, &k);
	struct thread_ctx *t;
	struct pt_span_rec *r;

	if (!s || !s->depth)
		return;
	if (--s->depth)
		return;
	t = thread_lookup(key);
	if (t && t->spans_active)
		t->spans_active--;
	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r) {
		stat_inc(PT_STAT_RB_DROP_SPAN);
		return;
	}
	r->type = PT_REC_SPAN;
	r->pid = bpf_get_current_pid_tgid() >> 32;
	r->tid = (__u32)bpf_get_current_pid_tgid();
	r->span = idx;
	r->start = s->start;
	r->end = bpf_ktime_get_ns();
	r->goid = goid;
	r->flags = goid ? PT_F_GO : 0;
	r->parent_id = t && !t->interleaved ? t->srv_req_id : 0;
	r->io_ns = t ? t->io_total - s->io_at_start : 0;
	r->nested_reqs = 0;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	__builtin_memcpy(r->label, s->label, sizeof(r->label));
	pt_submit(r, false);
}

#endif
