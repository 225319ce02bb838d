// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * --probe spans on native code: uprobe at entry and uretprobe (or, for Go
 * code, a uprobe on every return instruction: never uretprobes there), the
 * span index in the attach cookie; USDT start/end probe pairs.
 * Write syscalls are timed only while a span runs (render io_ns); those
 * tracepoints are loaded only when spans are configured.
 * A server request's render span goes out in the request's record (span_fold()): one
 * ring-buffer record per request instead of two; other spans as records of their own.
 */
#include "span.bpf.h"
#include "thread.bpf.h"
#include "go.bpf.h"
#include "agg.bpf.h"
#include "probe_list.h"
#include <bpf/usdt.bpf.h>

/*
 * The server request a span runs in learns of it: a span that ends after the request's
 * last response byte (a render that writes the page, then goes on) is still its phase,
 * and the assembler waits for it (spans_open, span_last).
 */
PT_SHARED struct pt_conn *ctx_srv_conn(const struct thread_ctx *t)
{
	struct pt_conn *c;

	if (!t || !t->srv_sk || t->interleaved)
		return NULL;
	c = bpf_map_lookup_elem(&conns, &t->srv_sk);
	return c && c->req.req_id == t->srv_req_id ? c : NULL;
}

PT_SHARED void span_start(struct span_state *s, __u64 key, const void *label, __u32 label_len)
{
	struct thread_ctx *t;

	s->start = bpf_ktime_get_ns();
	s->gc_at_start = KEY_IS_GO(key) ? go_stw_ns(key >> 32) : 0;
	s->label[0] = 0;
	if (label && label_len)
		bpf_probe_read_user(s->label, label_len < PT_LABEL_LEN - 1 ? label_len & 63 :
				    PT_LABEL_LEN - 1, label);
	else if (label)
		bpf_probe_read_user_str(s->label, sizeof(s->label), label);
	if (label_len && label_len < PT_LABEL_LEN)
		s->label[label_len & (PT_LABEL_LEN - 1)] = 0;
	/* a goroutine with no context (serving nothing: a handler's helper) gets one for its
	 * spans alone (GO_END_CALL), gone when the last ends (thread_call_done()), and the
	 * request it works for as parent: nothing asks for goexit1 */
	t = KEY_IS_GO(key) ? thread_get_as(key, GO_END_CALL) : thread_get(key);
	if (t) {
		struct pt_conn *c = ctx_srv_conn(t);

		t->spans_active++;
		t->spans_used = 1;
		s->io_at_start = t->io_total;
		s->parent_id = span_parent_now(key, t);
		if (c)
			c->req.spans_open++;
	} else {
		s->parent_id = 0;
	}
}

PT_SHARED void span_enter(__u64 key, __u32 idx, const void *label, __u32 label_len)
{
	struct span_key k = { .ctx = key, .idx = idx };
	struct span_state *s = bpf_map_lookup_elem(&spans, &k);

	if (s) {
		if (s->depth++)
			return;		/* recursion: the outermost call counts */
	} else {
		if (KEY_IS_GO(key))	/* a goroutine's state: gone when it ends */
			go_want_exit(key >> 32);
		s = span_state_new(&k);
		if (!s)
			return;
	}
	span_start(s, key, label, label_len);
}

/*
 * The render span (render_spans) of the server request open on c goes into the request's
 * record instead of a record of its own (no kagg_child() mark: the request may still be
 * counted in the kernel), when it is the request's first, the record will be sent (not a
 * mid-stream skip, not HTTP/2) and the collector cannot have reported the request as idle
 * before: a response quiet for idle_flush_ns is (its idle copy, without this render, and
 * the record that follows is a duplicate), so with half of that as margin it cannot
 * have. Else false: the span goes out as a record, as any other.
 */
static __always_inline bool span_fold(struct pt_conn *c, const struct span_state *s, __u32 idx,
				      __u64 now, __u64 io_ns, __u64 gc_ns)
{
	if (!(render_spans & (1u << (idx & (PT_MAX_SPANS - 1)))) || idx >= PT_MAX_SPANS ||
	    c->req.render_start || !s->start || (c->cflags & (PT_C_MIDSTREAM | PT_C_H2)) ||
	    (c->req.flags & PT_F_H2) || c->req.role != PT_ROLE_SERVER)
		return false;
	if (c->state == PT_FSM_RESP &&
	    (idle_report_possible(now, c->last_io) || (c->req.flags & PT_F_QUIET)))
		return false;
	c->req.render_start = s->start;
	c->req.render_end = now;
	c->req.render_io_ns = io_ns;
	c->req.render_gc_ns = gc_ns;
	c->req.render_span = idx;
	__builtin_memcpy(c->req.render_label, s->label, sizeof(c->req.render_label));
	return true;
}

PT_SHARED void span_exit(__u64 key, __u32 idx, __u64 goid)
{
	struct span_key k = { .ctx = key, .idx = idx };
	struct span_state *s = bpf_map_lookup_elem(&spans, &k);

	if (!s || !s->depth)
		return;
	if (--s->depth)
		return;
	span_end(s, key, idx, goid);
}

/* The span as a record of its own (span_end()). */
static __always_inline void span_record(const struct span_state *s, const struct thread_ctx *t,
					__u32 idx, __u64 goid, __u64 now, __u64 io_ns, __u64 gc_ns)
{
	struct pt_span_rec *r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);

	if (!r) {
		stat_inc(PT_STAT_RB_DROP_SPAN);
		return;
	}
	r->type = PT_REC_SPAN;
	r->pid = bpf_get_current_pid_tgid() >> 32;
	r->tid = (__u32)bpf_get_current_pid_tgid();
	r->span = idx;
	r->start = s->start;
	r->end = now;
	r->goid = goid;
	r->flags = goid ? PT_F_GO : 0;
	/* the request its context serves now, else the one it started under */
	if (t && t->interleaved)
		r->parent_id = 0;
	else
		r->parent_id = t && t->srv_req_id ? t->srv_req_id : s->parent_id;
	kagg_child(r->parent_id);
	r->io_ns = io_ns;
	r->nested_reqs = 0;
	r->gc_ns = gc_ns;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	r->cgroup_id = bpf_get_current_cgroup_id();
	__builtin_memcpy(r->label, s->label, sizeof(r->label));
	pt_submit(r, false);
}

PT_SHARED void span_end(struct span_state *s, __u64 key, __u32 idx, __u64 goid)
{
	struct thread_ctx *t;
	struct pt_conn *c;
	__u64 now, io_ns, gc_ns;

	now = bpf_ktime_get_ns();	/* one clock read for both */
	t = thread_lookup(key);
	if (t && t->spans_active)
		t->spans_active--;
	io_ns = t ? t->io_total - s->io_at_start : 0;
	gc_ns = KEY_IS_GO(key) ? go_stw_ns(key >> 32) - s->gc_at_start : 0;
	c = ctx_srv_conn(t);
	if (c) {
		if (c->req.spans_open)
			c->req.spans_open--;
		c->req.span_last = now;
	}
	if (!c || !span_fold(c, s, idx, now, io_ns, gc_ns))
		span_record(s, t, idx, goid, now, io_ns, gc_ns);
	thread_call_done(key, t);	/* a context made for its spans alone goes with the last */
}

static __always_inline int enter(__u32 idx)
{
	__u64 goid, key;

	if (!pt_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	stat_inc(PT_STAT_UPROBE_EVENTS);
	key = exec_key_goid(&goid);
	span_enter(key, idx, NULL, 0);
	return 0;
}

static __always_inline int leave(__u32 idx)
{
	__u64 goid, key;

	if (!pt_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	key = exec_key_goid(&goid);
	span_exit(key, idx, goid);
	return 0;
}

SEC("uprobe")
int span_entry(struct pt_regs *ctx)
{
	return enter(bpf_get_attach_cookie(ctx));
}

/* attached as a uretprobe (native) or as a uprobe on each RET (Go) */
SEC("uprobe")
int span_exit_prog(struct pt_regs *ctx)
{
	return leave(bpf_get_attach_cookie(ctx));
}

SEC("usdt")
int span_usdt_start(struct pt_regs *ctx)
{
	return enter(bpf_usdt_cookie(ctx));
}

SEC("usdt")
int span_usdt_end(struct pt_regs *ctx)
{
	return leave(bpf_usdt_cookie(ctx));
}

/* Writes while a span runs: the entry time; io.bpf.c adds the blocked time. */
static __always_inline int write_enter(void)
{
	struct thread_ctx *t;
	__u64 goid;

	t = thread_lookup(exec_key_goid(&goid));
	if (t && t->spans_active)
		t->wr_enter = bpf_ktime_get_ns();
	return 0;
}

#define X(name, dir, flags_arg)						\
	PT_IF_SEND(dir, SEC("?tracepoint/syscalls/sys_enter_" #name)		\
	int sys_enter_##name##_tp(void *ctx) { return write_enter(); })
PT_SYS_IO(X)
#undef X

char LICENSE[] SEC("license") = "Dual BSD/GPL";
