/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * App-function spans (--probe NAME=..., Go templates), defined in
 * bpf/span.bpf.c: per execution context (thread or goroutine) and span index,
 * the outermost call is timed; recursive or nested calls of the same span count
 * once. The time the context spent blocked in socket writes during the span is
 * its io_ns.
 */
#ifndef PT_SPAN_BPF_H
#define PT_SPAN_BPF_H

#include "common.bpf.h"
#include "thread.bpf.h"
#include "go.bpf.h"

/* A new state for span k, at depth 1; NULL if the table is full (counted). */
static __always_inline struct span_state *span_state_new(const struct span_key *k)
{
	struct span_state ns = { .depth = 1 };

	if (bpf_map_update_elem(&spans, k, &ns, BPF_ANY)) {
		stat_inc(PT_STAT_SPAN_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&spans, k);
}

/* Every span state of context key goes (its thread or goroutine ended inside them). */
static __always_inline void spans_forget(__u64 key)
{
	for (__u32 i = 0; i < PT_MAX_SPANS; i++) {
		struct span_key sk = { .ctx = key, .idx = i };

		bpf_map_delete_elem(&spans, &sk);
	}
}

/* The parent of a span that starts now on context key (t: its thread_ctx, may be NULL):
 * the server request it serves, or for a goroutine serving none, the one it works for
 * (go_inherited_req()); 0 if none. */
static __always_inline __u64 span_parent_now(__u64 key, const struct thread_ctx *t)
{
	__u64 p = thread_srv_req(t);

	if (!p && t && !t->interleaved && KEY_IS_GO(key))
		p = go_inherited_req(key);
	return p;
}

/* label: user pointer to a string (may be NULL), label_len: its length, 0 = NUL-terminated */
PT_SHARED void span_enter(__u64 key, __u32 idx, const void *label, __u32 label_len);
/* The span ends: one record when its outermost call returns, or, for a server request's
 * first render span, its fields in that request's record (pt_req_rec.render_*). */
PT_SHARED void span_exit(__u64 key, __u32 idx, __u64 goid);
/* The same two for a caller that looked the state up itself (go.bpf.c: one lookup per
 * probe hit). span_start: the outermost call of s (depth 1) starts; span_end: it ends. */
PT_SHARED void span_start(struct span_state *s, __u64 key, const void *label, __u32 label_len);
PT_SHARED void span_end(struct span_state *s, __u64 key, __u32 idx, __u64 goid);
/* The connection of the server request the context serves (its state in "conns"), NULL if
 * none or unknown (an event loop). */
PT_SHARED struct pt_conn *ctx_srv_conn(const struct thread_ctx *t);

#endif
