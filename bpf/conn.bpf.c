// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The per-connection request state machine; see conn.bpf.h. */
#include "conn.bpf.h"
#include "thread.bpf.h"
#include "go.bpf.h"
#include "agg.bpf.h"

PT_SHARED void sk_addrs(const struct sock *sk, struct pt_req_rec *r)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	r->local.family = r->peer.family = family;
	r->local.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->peer.port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__u32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);

		__builtin_memcpy(r->peer.addr, &d, 4);
		__builtin_memcpy(r->local.addr, &s, 4);
	} else {
		BPF_CORE_READ_INTO(&r->peer.addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&r->local.addr, sk,
				   __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
	}
	r->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

PT_SHARED void conn_own(struct pt_conn *c)
{
	__u64 id = bpf_get_current_pid_tgid();

	c->req.pid = id >> 32;
	c->req.tid = (__u32)id;
	bpf_get_current_comm(c->req.comm, sizeof(c->req.comm));
	c->req.cgroup_id = bpf_get_current_cgroup_id();
	c->cflags |= PT_C_OWNED;
}

PT_SHARED struct pt_conn *conn_create(__u64 skp, const struct sock *sk, __u8 role, __u8 cflags)
{
	__u32 zero = 0;
	struct pt_conn *c = bpf_map_lookup_elem(&conn_scratch, &zero);

	if (!c)
		return NULL;
	__builtin_memset(c, 0, sizeof(*c));
	c->req.type = PT_REC_REQ;
	c->req.role = role;
	c->req.conn_id = next_id();
	c->cflags = cflags;
	sk_addrs(sk, &c->req);
	if (bpf_map_update_elem(&conns, &skp, c, BPF_NOEXIST)) {
		/* -EEXIST races are fine; anything else is a full table */
		c = bpf_map_lookup_elem(&conns, &skp);
		if (!c)
			stat_inc(PT_STAT_CONN_FULL);
		return c;
	}
	return bpf_map_lookup_elem(&conns, &skp);
}

/*
 * The ring of this CPU (rb_cpu) for a keep-alive request's record that the next request
 * ended, if the collector made one: such a record is ordered by its times alone. NULL:
 * rb, for the rest (a connection's first request joins its DNS lookup and connect by
 * arrival, HTTP/2 streams follow their frames, spans their request).
 */
static __always_inline void *conn_cpu_ring(const struct pt_conn *c, __u8 end_reason)
{
	__u32 cpu;

	if (end_reason != PT_END_NEXT || !c->req.req_seq || c->req.spans_open ||
	    (c->req.flags & (PT_F_CONNECT | PT_F_TLS_HS | PT_F_H2)))
		return NULL;
	cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&rb_cpu, &cpu);
}

/*
 * Submit rec (len bytes) to ring, a CPU's ring: without waking the consumer, which polls,
 * but once when the ring's backlog passes wakeup_bytes (only the record that crosses it:
 * a consumer that is reading anyway is not woken again for every record).
 */
static __always_inline void submit_cpu(void *ring, void *rec, __u64 len)
{
	__u64 avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);

	if (avail >= wakeup_bytes && avail < wakeup_bytes + len + BPF_RINGBUF_HDR_SZ) {
		stat_inc(PT_STAT_RB_WAKEUPS);
		bpf_ringbuf_submit(rec, BPF_RB_FORCE_WAKEUP);
		return;
	}
	bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
}

/*
 * Did the collector report c's request at a pause of its response (flush_idle(), which
 * notes it in the connection's watch)? Then the record about to go is a copy. Its
 * assembler remembers the reports it made, but not for ever (a direct-mapped table that
 * other reports overwrite), and a stream's end can come minutes later. Looked up only
 * for a request that went quiet for half of the idle time, at its end (now: the I/O that
 * ends it, 0 if none) or between its bytes (PT_F_QUIET): the collector reports no other.
 */
static __always_inline bool conn_idle_sent(__u64 skp, struct pt_conn *c, __u64 now)
{
	struct pt_idle *w;

	if (!(c->cflags & PT_C_WATCHED) || c->state != PT_FSM_RESP ||
	    (!(c->req.flags & PT_F_QUIET) && !idle_report_possible(now, c->req.resp_last)))
		return false;
	w = bpf_map_lookup_elem(&idle_watch, &skp);
	return w && w->conn_id == c->req.conn_id && w->flushed == c->req.req_seq + 1;
}

/* Copy the request out to the ring buffer; now: the clock of the I/O that ends it, or 0;
 * in_tp: from a tracepoint's program (kagg_request()). */
static __always_inline void conn_emit(__u64 skp, struct pt_conn *c, __u8 end_reason, __u64 now,
				      bool in_tp)
{
	struct pt_req_rec *rec;
	bool idle_sent;
	void *ring;
	int kagg;

	idle_sent = conn_idle_sent(skp, c, now);
	/* a keep-alive connection's next response rewrites its watch in place
	 * (a stale one does not match the request: the collector skips it) */
	if (end_reason != PT_END_NEXT)
		conn_unwatch(skp, c);
	if (c->cflags & PT_C_MIDSTREAM) {
		/* joined in the middle of this request: its numbers would lie */
		c->cflags &= ~PT_C_MIDSTREAM;
		stat_inc(PT_STAT_MIDSTREAM_SKIP);
		return;
	}
	kagg = kagg_mode && !idle_sent ? kagg_request(c, end_reason, now, in_tp) : PT_KAGG_SEND;
	if (kagg == PT_KAGG_DONE)	/* counted in the kernel (agg.bpf.c) */
		return;
	ring = conn_cpu_ring(c, end_reason);
	rec = bpf_ringbuf_reserve(ring ? ring : (void *)&rb, sizeof(*rec), 0);
	if (!rec) {
		stat_inc(PT_STAT_RB_DROP_REQ);
		return;
	}
	__builtin_memcpy(rec, &c->req, sizeof(*rec));
	rec->end_reason = end_reason;
	if (rec->spans_open)	/* the assembler waits for them from now */
		rec->span_last = bpf_ktime_get_ns();
	if (c->state == PT_FSM_REQ)
		rec->flags |= PT_F_NO_RESP;
	if (kagg == PT_KAGG_FLAG)
		rec->flags |= PT_F_KAGG;
	if (idle_sent)
		rec->flags |= PT_F_IDLE_SENT;
	stat_inc_hot(PT_STAT_REQS);
	if (ring) {
		stat_inc_hot(PT_STAT_REQS_CPU_RING);
		submit_cpu(ring, rec, sizeof(*rec));
	} else {
		pt_submit(rec, false);
	}
}

/* Reset the per-request part after an emit; connect/TLS only go with the first. */
static __always_inline void conn_next_request(struct pt_conn *c)
{
	c->req.flags &= ~(PT_F_CONNECT | PT_F_TLS_HS | PT_F_NO_RESP | PT_F_HTTP | PT_F_IO_AMBIG |
			  PT_F_GO | PT_F_QUIET);
	c->req.goid = 0;
	c->req.req_first = c->req.req_last = 0;
	c->req.resp_first = c->req.resp_last = 0;
	c->req.req_io_start = 0;
	c->req.bytes_req = c->req.bytes_resp = 0;
	c->req.writes = 0;
	c->req.spans_open = 0;
	c->req.span_last = 0;
	c->req.closed = 0;
	c->req.tpl_parses = 0;
	c->req.render_start = c->req.render_end = 0;	/* span.bpf.c span_fold() */
	c->req.status = 0;
	c->req.method[0] = 0;
	c->req.path[0] = 0;
	c->req.parent_id = 0;
	c->req.req_id = 0;
	c->req.error = 0;
	c->state = PT_FSM_IDLE;
}

/*
 * A Go server request starts on goroutine key. The goroutine of the connection's first
 * request serves it (net/http's conn.serve): its state goes when the connection closes
 * (go_conn_closed()), without a probe on goroutine exits. A later request whose first
 * bytes another goroutine read ahead (net/http's backgroundRead, while the serving one
 * finishes the previous response) is the serving goroutine's: returns its thread_ctx, and
 * the helper gets no state of its own. NULL: not that case.
 */
static __always_inline struct thread_ctx *go_srv_request(__u64 skp, struct pt_conn *c,
							 __u64 key)
{
	struct thread_ctx *st;

	if (!c->srv_gkey)
		c->srv_gkey = key;
	if (c->srv_gkey == key)
		return NULL;
	st = thread_lookup(c->srv_gkey);
	if (!st || st->srv_sk != skp)
		return NULL;
	st->srv_req_id = c->req.req_id;
	st->srv_awaiting = 1;
	return st;
}

/*
 * A client request's parent: the server request its thread or goroutine (t, may be NULL)
 * works on, else, for a helper goroutine (dial, pooled connection), the one it works for.
 */
static __always_inline void conn_client_parent(struct pt_conn *c, struct thread_ctx *t,
					       __u64 key)
{
	if (t && t->srv_req_id) {
		if (t->interleaved)
			c->req.flags |= PT_F_IO_AMBIG;
		else
			c->req.parent_id = t->srv_req_id;
	} else if (KEY_IS_GO(key)) {
		c->req.parent_id = go_inherited_req(key);
	}
	kagg_child(c->req.parent_id);
}

PT_SHARED struct thread_ctx *conn_start_request(__u64 skp, struct pt_conn *c, __u64 key,
						__u64 goid, struct thread_ctx *t)
{
	struct thread_ctx *st;
	int end;

	c->req.req_id = next_id();
	c->req.req_seq = c->nreq++;
	c->req.tid = (__u32)bpf_get_current_pid_tgid();
	if (goid) {
		c->req.goid = goid;
		c->req.flags |= PT_F_GO;
	}
	if (c->req.role == PT_ROLE_SERVER && KEY_IS_GO(key)) {
		st = go_srv_request(skp, c, key);
		if (st)
			return st;
	}
	if (c->req.role == PT_ROLE_CLIENT && KEY_IS_GO(key)) {
		/* a goroutine's client request keeps no state of its own (a TLS call's
		 * stays the call's): nothing here asks for goexit1 */
		if (!t)
			t = thread_lookup(key);
		conn_client_parent(c, t, key);
		return t;
	}
	end = c->srv_gkey == key ? GO_END_CONN : GO_END_EXIT;
	if (!t)
		t = thread_get_as(key, end);
	else if (t->tls_scoped)
		thread_keep(key, t, end);
	if (!t)
		return NULL;
	if (c->srv_gkey == key)
		t->go_srv = 1;
	if (c->req.role == PT_ROLE_SERVER) {
		/* a thread that starts a second request before answering the
		 * first one is an event loop: nesting cannot be known there */
		if (t->srv_awaiting && t->srv_sk != skp)
			t->interleaved = 1;
		t->srv_sk = skp;
		t->srv_req_id = c->req.req_id;
		t->srv_awaiting = 1;
		if (KEY_IS_GO(key) && c->srv_gkey != key)	/* read ahead by a helper */
			go_server_req_started(key, skp, c->req.req_id);
	} else {
		conn_client_parent(c, t, key);
	}
	return t;
}

/*
 * Response bytes follow the request: watch for idling, the thread has answered.
 * t: the thread_ctx of key if known, else looked up. The watch is the connection's,
 * written at its first response (the collector finds the request in conns): a
 * keep-alive request costs no idle_watch lookup.
 */
static __always_inline void conn_response_started(__u64 skp, struct pt_conn *c, __u64 key,
						  struct thread_ctx *t)
{
	if (!(c->cflags & PT_C_WATCHED)) {
		struct pt_idle w = { .conn_id = c->req.conn_id };

		if (bpf_map_update_elem(&idle_watch, &skp, &w, BPF_ANY))
			stat_inc(PT_STAT_IDLE_FULL);
		else
			c->cflags |= PT_C_WATCHED;
	}
	if (c->req.role == PT_ROLE_SERVER) {
		if (!t)
			t = thread_lookup(key);
		if (t && t->srv_sk == skp)
			t->srv_awaiting = 0;
	}
}

static __always_inline int conn_io_body(__u64 skp, struct pt_conn *c, const struct conn_io_ev *ev,
					struct thread_ctx *t, bool in_tp)
{
	bool req_dir = (c->req.role == PT_ROLE_SERVER) ? ev->dir == PT_DIR_RECV :
							   ev->dir == PT_DIR_SEND;
	int started = 0;

	/* a pause in a response (a stream's, a long poll's) as long as the end of one:
	 * the collector may report the request at the pause (PT_F_QUIET); its last I/O's
	 * gap alone (kagg_eligible()) does not tell. A clock behind last_io is another
	 * CPU's I/O of the same moment, no pause (idle_report_possible() assumes one) */
	if (c->state == PT_FSM_RESP && ev->ts > c->last_io &&
	    ev->ts - c->last_io >= idle_flush_ns / 2)
		c->req.flags |= PT_F_QUIET;
	c->last_io = ev->ts;
	if (c->state == PT_FSM_TUNNEL)
		return 0;
	if (req_dir && c->state == PT_FSM_RESP) {
		conn_emit(skp, c, PT_END_NEXT, ev->ts, in_tp);
		conn_next_request(c);
	}
	/* after the emit: a client's next request counts its first write, not the one before's */
	if (ev->dir == PT_DIR_SEND)
		c->req.writes++;
	if (req_dir) {
		if (c->state == PT_FSM_IDLE) {
			if (!c->req.req_id)	/* else: assigned at connect() */
				t = conn_start_request(skp, c, ev->key, ev->goid, t);
			c->req.req_first = ev->ts_first;
			c->state = PT_FSM_REQ;
			started = PT_IO_STARTED_REQ;
		}
		c->req.req_last = ev->ts;
		c->req.bytes_req += ev->n;
		return started;
	}
	if (c->state == PT_FSM_IDLE) {
		/* response bytes with no request: server greeting, or a
		 * connection seen mid-way */
		if (!c->req.req_id)
			t = conn_start_request(skp, c, ev->key, ev->goid, t);
		c->state = PT_FSM_REQ;
	}
	if (c->state == PT_FSM_REQ) {
		c->req.resp_first = ev->ts_first;
		c->state = PT_FSM_RESP;
		started = PT_IO_STARTED_RESP;
		conn_response_started(skp, c, ev->key, t);
	}
	c->req.resp_last = ev->ts;
	c->req.bytes_resp += ev->n;
	/* the only way into the response phase, where the collector's idle sweep looks:
	 * counted after the connection's writes (x86 keeps stores in order), so that a sweep
	 * that read the count finds the connection in that phase */
	if (started == PT_IO_STARTED_RESP)
		stat_inc_hot(PT_STAT_RESP_STARTS);
	return started;
}

PT_SHARED int conn_io(__u64 skp, struct pt_conn *c, const struct conn_io_ev *ev)
{
	return conn_io_body(skp, c, ev, NULL, false);
}

PT_SHARED int conn_io_thread(__u64 skp, struct pt_conn *c, const struct conn_io_ev *ev,
			     struct thread_ctx *t)
{
	return conn_io_body(skp, c, ev, t, true);
}

/*
 * The response just started (its first I/O, n bytes, its status parsed) is an interim one
 * (1xx but 101 Switching Protocols: a 100 Continue before the body of an upload, a 103
 * Early Hints): not the answer. The request goes on, and the response starts again with
 * the final one. If the final one came in the same I/O (more than an interim's bytes),
 * the response stays started, with no status rather than the interim's.
 */
PT_SHARED void conn_interim_response(struct pt_conn *c, __u64 n)
{
	if (c->req.status < 100 || c->req.status > 199 || c->req.status == 101)
		return;
	c->req.status = 0;
	if (n > PT_INTERIM_MAX || c->state != PT_FSM_RESP)
		return;
	c->state = PT_FSM_REQ;
	c->req.resp_first = c->req.resp_last = 0;
	c->req.bytes_resp = c->req.bytes_resp > n ? c->req.bytes_resp - n : 0;
}

/*
 * After 101 Switching Protocols (a WebSocket; h2c's upgrade too, not followed) or a 2xx
 * to CONNECT (a proxy's tunnel), the connection carries another protocol for as long as
 * it lives: a WebSocket's messages, a tunnel's TLS. The request ends with its response's
 * first I/O (a server may push frames at once, and for hours), and what follows is no
 * request. A client's TLS session in its tunnel makes it HTTP again (conn_tls_starts()).
 */
PT_SHARED void conn_switch(__u64 skp, struct pt_conn *c, __u64 ts, bool in_tp)
{
	__u16 st = c->req.status;

	if (c->state != PT_FSM_RESP)
		return;
	if (st != 101 && (st < 200 || st > 299 || !conn_is_connect(c)))
		return;
	conn_emit(skp, c, PT_END_NEXT, ts, in_tp);
	conn_next_request(c);
	c->state = PT_FSM_TUNNEL;
	/* no response to flush any more: the collector's scan skips it from now on (a
	 * server's thousands of WebSockets) */
	conn_unwatch(skp, c);
	stat_inc(PT_STAT_SWITCHED);
}

/*
 * A client's TLS session starts in its CONNECT tunnel: its requests are HTTP again, and
 * may be HTTP/2 (ALPN), and the first one has the handshake as its tls phase. A tunnel
 * whose status line was not seen (curl reads a CONNECT's response a byte at a time: no
 * I/O holds the whole line) opens now: the CONNECT ends, without a status. ts: the
 * clock of the session's I/O, from a socket tracepoint.
 */
PT_SHARED void conn_tunnel_tls(__u64 skp, struct pt_conn *c, __u64 ts)
{
	if (c->state == PT_FSM_RESP && conn_is_connect(c)) {
		conn_emit(skp, c, PT_END_NEXT, ts, true);
		conn_next_request(c);
	} else if (c->state != PT_FSM_TUNNEL) {
		return;
	}
	c->state = PT_FSM_IDLE;
	c->cflags &= ~PT_C_PROTO;
}

PT_SHARED void conn_finish(__u64 skp, struct pt_conn *c)
{
	if (conn_pending(c)) {
		if (c->state == PT_FSM_IDLE && !c->req.req_id) {
			c->req.req_id = next_id();
			c->req.req_seq = c->nreq++;
		}
		if (c->req.tls_start && !(c->req.flags & PT_F_TLS_HS) && c->nreq <= 1 &&
		    !c->req.error) {
			/* closed in the middle of the handshake */
			c->req.error = PT_ERR_TLS;
			c->req.tls_end = bpf_ktime_get_ns();
			c->req.flags |= PT_F_TLS_HS;
		}
		c->req.closed = bpf_ktime_get_ns();
		conn_emit(skp, c, c->req.error ? PT_END_ERROR : PT_END_CLOSE, 0, false);
		conn_next_request(c);
		c->cflags &= ~PT_C_HANDSHAKE;	/* reported once (FIN_WAIT1, then CLOSE) */
	}
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
