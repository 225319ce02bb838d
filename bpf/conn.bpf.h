/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Connections and the per-connection request state machine (bpf/conn.bpf.c).
 *
 * A connection alternates between request bytes and response bytes. For a
 * client the request is what it writes; for a server, what it reads. A
 * request ends when request bytes flow again after response bytes (keep-alive)
 * or when the connection closes; the collector also flushes requests whose
 * connection went idle (idle_watch). One ring-buffer record per request.
 */
#ifndef PT_CONN_BPF_H
#define PT_CONN_BPF_H

#include "common.bpf.h"
#include "http.bpf.h"

/* TCP states (include/net/tcp_states.h) */
enum {
	TCP_ESTABLISHED_ = 1, TCP_SYN_SENT_ = 2, TCP_SYN_RECV_ = 3, TCP_FIN_WAIT1_ = 4,
	TCP_CLOSE_ = 7, TCP_CLOSE_WAIT_ = 8, TCP_LAST_ACK_ = 9,
};

#define PT_DIR_SEND 0
#define PT_DIR_RECV 1

/* One payload I/O, as conn_io() takes it. */
struct conn_io_ev {
	__u64 key;		/* execution context (exec_key_goid()), computed once per hit */
	__u64 goid;		/* its goroutine id, or 0 */
	__u64 ts;		/* the I/O returned */
	__u64 ts_first;		/* its first byte moved: a send's start, else ts */
	__u32 n;		/* bytes */
	__u32 dir;		/* PT_DIR_* */
};

/* conn_io() results: the request changed phase */
#define PT_IO_STARTED_REQ	1	/* to request bytes: callers may parse the request line */
#define PT_IO_STARTED_RESP	2	/* to response bytes: the status line */

/* Local and peer address, port and netns of sk into r. */
PT_SHARED void sk_addrs(const struct sock *sk, struct pt_req_rec *r);
/* A new connection's send_starts storage on sk (a BTF pointer: tracepoint programs),
 * zeroed, where tcp_sendmsg_locked stamps its sends (has_send_start only). */
static __always_inline void send_start_init(struct sock *sk)
{
	struct send_start *s;

	if (!has_send_start)
		return;
	s = bpf_sk_storage_get(&send_starts, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s)
		s->ts = s->buf = 0;
}

/* Create a connection entry (role, cflags set); NULL if the table is full (counted). */
PT_SHARED struct pt_conn *conn_create(__u64 skp, const struct sock *sk, __u8 role, __u8 cflags);
/* The owner of c is the current task. */
PT_SHARED void conn_own(struct pt_conn *c);
/*
 * A new request starts on c, in the execution context key (goid: its goroutine,
 * or 0) whose thread_ctx is t if the caller has it (else NULL: looked up);
 * returns that thread_ctx (created if missing), NULL if the table is full.
 */
PT_SHARED struct thread_ctx *conn_start_request(__u64 skp, struct pt_conn *c, __u64 key,
						__u64 goid, struct thread_ctx *t);
/* One payload I/O on c; returns PT_IO_STARTED_* or 0. */
PT_SHARED int conn_io(__u64 skp, struct pt_conn *c, const struct conn_io_ev *ev);
/* The same from a tracepoint's program only (preemption disabled: in-kernel aggregation
 * adds without locked instructions), t: the thread_ctx of ev->key as the caller looked
 * it up (NULL if none). */
PT_SHARED int conn_io_thread(__u64 skp, struct pt_conn *c, const struct conn_io_ev *ev,
			     struct thread_ctx *t);
/* The status just parsed began an interim response (1xx but 101), of n bytes: the
 * request goes on. PT_INTERIM_MAX: the bytes such an I/O may have ("HTTP/1.1 100
 * Continue\r\n\r\n": 25). */
#define PT_INTERIM_MAX	64
PT_SHARED void conn_interim_response(struct pt_conn *c, __u64 n);
/* The status just parsed (at ts, the response's first I/O) switches the connection to
 * another protocol (101, a CONNECT's 2xx): the request ends, and so does HTTP/1 on the
 * connection (PT_FSM_TUNNEL). in_tp: as for conn_io_thread(). */
PT_SHARED void conn_switch(__u64 skp, struct pt_conn *c, __u64 ts, bool in_tp);
/* The response's status was just parsed from its first I/O (n bytes at ts): an interim
 * response, a protocol switch, or neither (no call: every response comes here). */
static __always_inline void conn_status_parsed(__u64 skp, struct pt_conn *c, __u64 n,
					       __u64 ts, bool in_tp)
{
	__u16 st = c->req.status;

	if (st >= 100 && st <= 199 && st != 101)
		conn_interim_response(c, n);
	else if (st == 101 || c->req.method[0] == 'C')
		conn_switch(skp, c, ts, in_tp);
}
/*
 * Whether an I/O of c in direction dir starts its response: the one whose status is read,
 * before conn_io() says PT_FSM_RESP. A server's send hook runs after its bytes are
 * delivered: on loopback the peer may read them and send its next request, and that
 * read's hook (another CPU: Go's background read) ends the request while this one is
 * still running. With the status written first, the request ends with it.
 */
static __always_inline bool conn_response_starts(const struct pt_conn *c, __u8 dir)
{
	bool req_dir = c->req.role == PT_ROLE_SERVER ? dir == PT_DIR_RECV : dir == PT_DIR_SEND;

	return !req_dir && (c->state == PT_FSM_REQ || c->state == PT_FSM_IDLE);
}
/* The I/O ev on c that conn_response_starts(), its bytes at ubuf (user memory): the status
 * parsed, then the state switched (conn_io(); conn_io_thread() with t if in_tp), then what
 * the status means for the request (conn_status_parsed()). */
static __always_inline void conn_response_io(__u64 skp, struct pt_conn *c,
					     const struct conn_io_ev *ev, struct thread_ctx *t,
					     const void *ubuf, bool in_tp)
{
	http_parse_status(&c->req, ubuf, ev->n);
	barrier();	/* the status stored before the state (x86 keeps stores in order) */
	if ((in_tp ? conn_io_thread(skp, c, ev, t) : conn_io(skp, c, ev)) == PT_IO_STARTED_RESP)
		conn_status_parsed(skp, c, ev->n, ev->ts, in_tp);
}
/* c carries TLS that no probed library runs (a proxy relaying a tunnel, a library
 * phasetrace does not probe): its bytes are no requests it can read. Its connect is
 * still reported, as a TLS connection's. */
static __always_inline void conn_tls_opaque(struct pt_conn *c)
{
	c->cflags &= ~PT_C_TLS;
	c->req.flags |= PT_F_TLS;
	c->state = PT_FSM_TUNNEL;
	stat_inc(PT_STAT_TLS_OPAQUE);
}
/* The request on c is a CONNECT (its method: parsed or looked at, http.bpf.h) */
static __always_inline bool conn_is_connect(const struct pt_conn *c)
{
	return pt_is_connect(c->req.method) && !c->req.method[7];
}
/* Whether the request line of the request just started on c is read: for its path, or
 * else for whether it is a CONNECT: a connection's first, and any after a CONNECT (a
 * retry after a 407) */
static __always_inline bool conn_wants_request_line(const struct pt_conn *c)
{
	return need_detail || c->nreq <= 1 || (c->xflags & PT_X_CONNECT);
}
/* The request line of the request just started on c, n bytes at buf (user memory) */
static __always_inline void conn_request_line(struct pt_conn *c, const void *buf, __u64 n)
{
	if (need_detail)
		http_parse_request(&c->req, buf, n);
	else
		http_parse_connect(&c->req, buf, n);
	if (conn_is_connect(c))
		c->xflags |= PT_X_CONNECT;	/* its next request too (after a 407) */
}
/* A TLS session starts on c, which carried plaintext requests: a CONNECT's tunnel. */
PT_SHARED void conn_tunnel_tls(__u64 skp, struct pt_conn *c, __u64 ts);
/* A TLS session's records move on c (ts: their I/O's clock) */
static __always_inline void conn_tls_starts(__u64 skp, struct pt_conn *c, __u64 ts)
{
	if (!(c->cflags & PT_C_TLS) && c->state != PT_FSM_IDLE)
		conn_tunnel_tls(skp, c, ts);
}
/*
 * Whether c has something to report when it goes away: a request under way, a
 * failure, a connect of ours (a connection that never carried a request still
 * reports its connect/TLS), or an explicit handshake call (SSL_accept, Go's
 * serverHandshake, ...) that never completed (PT_C_HANDSHAKE: a server's too, whose
 * client refused its certificate, or shared no protocol version or cipher with it).
 * A server connection that completed its handshake and carried no request (a
 * preconnect never used) is not a request. A handshake done inside SSL_read (Node's
 * servers) has no outcome of its own: its failure is not seen.
 */
static __always_inline bool conn_pending(const struct pt_conn *c)
{
	return (c->state != PT_FSM_IDLE && c->state != PT_FSM_TUNNEL) ||
	       (c->req.flags & PT_F_CONNECT) || c->req.error || (c->cflags & PT_C_HANDSHAKE);
}

/* The connection is going away (or our side finished): emit what is pending
 * (conn_pending()). */
PT_SHARED void conn_finish(__u64 skp, struct pt_conn *c);

/* No response of c to watch for idling any more: its idle_watch entry goes. Only a
 * watched connection has one (conn_response_started()), so that a connection never
 * answered, or already unwatched, costs no delete (a hash bucket's lock each). */
static __always_inline void conn_unwatch(__u64 skp, struct pt_conn *c)
{
	if (c->cflags & PT_C_WATCHED) {
		bpf_map_delete_elem(&idle_watch, &skp);
		c->cflags &= ~PT_C_WATCHED;
	}
}

#endif
