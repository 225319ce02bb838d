// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* In-kernel aggregation of keep-alive requests; see agg.bpf.h. */
#include "agg.bpf.h"
#include "agg_bucket.h"

/* Longer durations are clamped and counted by userspace (metrics): sent there. */
#define KAGG_MAX_DUR	(24ULL * 3600 * 1000000000)
_Static_assert(KAGG_MAX_DUR <= KAGG_BOUND_CAP, "kagg_bucket() searches values up to the cap");

/* enum phase_id (user/assemble/request.h): checked there by a static assertion */
#define KAGG_PH_SEND	3
#define KAGG_PH_TTFB	4
#define KAGG_PH_RECV	5
#define KAGG_PH_RENDER	6	/* checked in user/assemble/request.c */

/* A request's samples: [0] the whole request, [1..4] its phases (slot 0: absent). */
#define KAGG_NSAMPLES	5
struct kagg_sample {
	__u64 v[KAGG_NSAMPLES];
	__u32 slot[KAGG_NSAMPLES];
};

static __always_inline bool kagg_phase(struct kagg_sample *s, int i, __u32 id, __u64 start,
				       __u64 end, __u64 *lo, __u64 *hi)
{
	if (!start || end < start || end - start > KAGG_MAX_DUR)
		return false;
	s->v[i] = end - start;
	s->slot[i] = id + 1;
	if (start < *lo)
		*lo = start;
	if (end > *hi)
		*hi = end;
	return true;
}

/*
 * The phases exactly as the assembler builds them from the record (assembler__build):
 * false when one of them would be missing or odd (then the record goes there).
 */
static __always_inline bool kagg_phases(const struct pt_req_rec *r, struct kagg_sample *s)
{
	__u64 lo = ~0ULL, hi = 0;
	bool ok;

	if (r->role == PT_ROLE_SERVER) {
		ok = kagg_phase(s, 1, KAGG_PH_TTFB, r->req_first, r->resp_first, &lo, &hi) &&
		     kagg_phase(s, 2, KAGG_PH_SEND, r->resp_first, r->resp_last, &lo, &hi);
		/* reading the request is a phase when it took more than one read */
		if (ok && r->req_last > r->req_first)
			ok = kagg_phase(s, 3, KAGG_PH_RECV, r->req_first, r->req_last, &lo, &hi);
		/* its render span, folded into the record (span.bpf.c span_fold()): the phase
		 * the assembler makes of it (fold_render()), never clipped to the request,
		 * which lasts until the render's end if that comes later */
		if (ok && r->render_start)
			ok = kagg_phase(s, 4, KAGG_PH_RENDER, r->render_start, r->render_end, &lo,
					&hi);
	} else {
		__u64 start = r->req_io_start && r->req_io_start <= r->req_first ?
			      r->req_io_start : r->req_first;

		ok = r->req_first &&
		     kagg_phase(s, 1, KAGG_PH_SEND, start, r->req_last, &lo, &hi) &&
		     kagg_phase(s, 2, KAGG_PH_TTFB, r->req_last, r->resp_first, &lo, &hi) &&
		     kagg_phase(s, 3, KAGG_PH_RECV, r->resp_first, r->resp_last, &lo, &hi);
	}
	if (!ok || hi - lo > KAGG_MAX_DUR)
		return false;
	s->v[0] = hi - lo;
	s->slot[0] = PT_KAGG_SLOT_REQ + kagg_status_class(r->status) + 1;
	return true;
}

/* The value of (label, slot) in a kagg table, inserted from zero_map's zeroed value. */
static __always_inline void *kagg_get(void *map, void *zero_map, __u32 label, __u32 slot)
{
	struct pt_kagg_key k = { .label = label, .slot = slot };
	void *h = bpf_map_lookup_elem(map, &k);
	__u32 zero = 0;
	void *z;

	if (h)
		return h;
	z = bpf_map_lookup_elem(zero_map, &zero);	/* the first sample of this key */
	return z ? map_get_or_init(map, &k, z, PT_STAT_KAGG_FULL) : NULL;
}

static __always_inline bool kagg_iv_add(__u32 label, __u32 slot, __u64 v)
{
	struct pt_kagg_iv *h = kagg_get(&kagg_iv, &kagg_iv_zero, label, slot);
	__u64 b = kagg_sub_index(v);	/* 64 bits: a 32-bit copy would not carry the bound */

	if (!h)
		return false;
	barrier_var(b);
	if (b >= PT_KAGG_NSUB)	/* never: for the verifier */
		b = PT_KAGG_NSUB - 1;
	barrier_var(b);
	__sync_fetch_and_add(&h->b[b], 1);
	__sync_fetch_and_add(&h->sum, v);
	return true;
}

/*
 * top: the interval's quantiles, up to four (slot, value) pairs: the slots packed 8 bits
 * each above the label in key (slot + 1, 0: none) for v0..v3, the request's total under
 * PT_KAGG_SLOT_TOTAL and its phases. A global function, verified once (its callers are
 * many and large): scalars only. 0, or -1 if the table is full (the histograms added so
 * far keep their sample: the request is then sent, and also counted by userspace).
 */
__noinline int kagg_top_add(__u64 key, __u64 v0, __u64 v1, __u64 v2, __u64 v3)
{
	__u32 label = (__u32)key;

	if ((key >> 32) & 0xff && !kagg_iv_add(label, ((key >> 32) & 0xff) - 1, v0))
		return -1;
	if ((key >> 40) & 0xff && !kagg_iv_add(label, ((key >> 40) & 0xff) - 1, v1))
		return -1;
	if ((key >> 48) & 0xff && !kagg_iv_add(label, ((key >> 48) & 0xff) - 1, v2))
		return -1;
	if ((key >> 56) & 0xff && !kagg_iv_add(label, ((key >> 56) & 0xff) - 1, v3))
		return -1;
	return 0;
}

/*
 * Atomic from a uprobe: its program runs preemptible (migration disabled only), and
 * another task's program on the same CPU must not lose one. A tracepoint's program
 * runs with preemption disabled (the kernel asserts it: cant_sleep() in
 * __bpf_trace_run and trace_call_bpf) and no program adds here from an interrupt, so
 * nothing can come between its load and store on this CPU: plain adds (no locked
 * instruction: two per histogram, one histogram per sample of the request).
 */
static __always_inline void kagg_add(struct pt_kagg_hist *h, __u64 v, bool in_tp)
{
	__u32 b = kagg_bucket(kagg_bounds, v, kagg_nbounds);	/* <= kagg_nbounds */

	if (b > PT_KAGG_MAX_BOUNDS)	/* never: for the verifier */
		b = PT_KAGG_MAX_BOUNDS;
	if (in_tp) {
		h->le[b]++;
		h->sum += v;
		return;
	}
	__sync_fetch_and_add(&h->le[b], 1);
	__sync_fetch_and_add(&h->sum, v);
}

/* The connection's label id, moved from kagg_labels into the connection once. */
static __always_inline __u32 kagg_label(struct pt_conn *c)
{
	__u32 *l;

	if (c->kagg_label)
		return c->kagg_label;
	l = bpf_map_lookup_elem(&kagg_labels, &c->req.conn_id);
	if (!l)
		return 0;
	c->kagg_label = *l;
	bpf_map_delete_elem(&kagg_labels, &c->req.conn_id);
	return c->kagg_label;
}

/* Only what userspace would count from the record alone, and the same way. */
static __always_inline bool kagg_eligible(struct pt_conn *c, __u8 end_reason, __u64 now)
{
	const struct pt_req_rec *r = &c->req;

	/* children and spans marked their request (kagg_child()): the mark goes at the
	 * request's end, whatever that end (an error, a close), or it would stay in the LRU
	 * until evicted, possibly before a live request's mark. A render folded into the
	 * record (span.bpf.c span_fold()) made none: it is counted with it (kagg_phases()) */
	if (r->role == PT_ROLE_SERVER && kagg_kids_used &&
	    !bpf_map_delete_elem(&kagg_kids, &r->req_id))
		return false;
	if (end_reason != PT_END_NEXT || c->state != PT_FSM_RESP || r->error || r->parent_id ||
	    r->spans_open ||
	    (r->flags & (PT_F_CONNECT | PT_F_TLS_HS | PT_F_NO_RESP | PT_F_H2 | PT_F_QUIET)) ||
	    (r->role != PT_ROLE_CLIENT && r->role != PT_ROLE_SERVER))
		return false;
	/* the collector reports a response quiet for idle_flush_ns from the table (and drops
	 * our record as its duplicate): with half of that as margin it cannot have (a pause
	 * before the response's last I/O: PT_F_QUIET, above) */
	if (idle_report_possible(now, r->resp_last))
		return false;
	return true;
}

PT_SHARED int kagg_request(struct pt_conn *c, __u8 end_reason, __u64 now, bool in_tp)
{
	struct kagg_sample s = {};
	struct pt_kagg_entry *e;
	__u32 label;

	if (!kagg_eligible(c, end_reason, now) || !kagg_phases(&c->req, &s))
		return PT_KAGG_SEND;
	label = kagg_label(c);
	if (!label)
		return PT_KAGG_SEND;
	if (kagg_top && s.v[0] >= kagg_slowest) {
		/* the slowest request of top's interval so far: its waterfall is shown */
		kagg_slowest = s.v[0];
		return PT_KAGG_SEND;
	}
#pragma clang loop unroll(full)
	for (int i = 1; i < KAGG_NSAMPLES; i++)	/* the entry has a histogram for each phase */
		if (s.slot[i] && s.slot[i] - 1 - PT_KAGG_PH_FIRST >= PT_KAGG_NPH)
			return PT_KAGG_SEND;
	/* one lookup: the entry of the label and status class holds the phases too */
	e = kagg_get(&kagg_hist, &kagg_zero, label, s.slot[0] - 1);
	if (!e)
		return PT_KAGG_SEND;
	if (kagg_top && (kagg_top_add(label | (__u64)(PT_KAGG_SLOT_TOTAL + 1) << 32 |
				      (__u64)s.slot[1] << 40 | (__u64)s.slot[2] << 48 |
				      (__u64)s.slot[3] << 56, s.v[0], s.v[1], s.v[2], s.v[3]) ||
			 (s.slot[4] && kagg_top_add(label | (__u64)s.slot[4] << 32, s.v[4], 0, 0, 0))))
		return PT_KAGG_SEND;
	kagg_add(&e->req, s.v[0], in_tp);
#pragma clang loop unroll(full)
	for (int i = 1; i < KAGG_NSAMPLES; i++) {
		__u32 p = s.slot[i] - 1 - PT_KAGG_PH_FIRST;

		if (s.slot[i] && p < PT_KAGG_NPH)	/* checked above; for the verifier */
			kagg_add(&e->ph[p], s.v[i], in_tp);
	}
	stat_inc_hot(PT_STAT_KAGG_REQS);
	return kagg_mode == PT_KAGG_CHECK ? PT_KAGG_FLAG : PT_KAGG_DONE;
}

PT_SHARED void kagg_mark_parent(__u64 parent_id)
{
	__u8 one = 1;

	flag_set_once(&kagg_kids_used);
	bpf_map_update_elem(&kagg_kids, &parent_id, &one, BPF_ANY);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
