// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TLS libraries: OpenSSL 1.1.1/3.x (shared or linked into the executable) and
 * GnuTLS. Entry/return probes on the handshake and record I/O calls:
 *  - the handshake runs from the first library call on a session until the
 *    call that completes it (across WANT_READ/WANT_WRITE retries), explicit
 *    (SSL_do_handshake, SSL_connect, SSL_accept, gnutls_handshake) or started
 *    implicitly by the first SSL_read/SSL_write;
 *  - SSL_read/SSL_write returning data drive the request state machine with
 *    plaintext sizes and timestamps; the socket comes from the kernel I/O
 *    seen inside the call (io.bpf.c).
 * These are native libraries: uretprobes are safe here (never on Go code).
 */
#include "tls.bpf.h"
#include "conn.bpf.h"
#include "thread.bpf.h"
#include "go.bpf.h"
#include "http.bpf.h"
#include "lib.bpf.h"
#include "h2.bpf.h"

#define TLS_FN_HANDSHAKE	1
#define TLS_FN_READ		2
#define TLS_FN_WRITE		3

static __always_inline struct ssl_state *ssl_state_lookup(__u64 ssl)
{
	struct ssl_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .ssl = ssl };

	return bpf_map_lookup_elem(&ssl_states, &k);
}

PT_SHARED void tls_map_session(__u64 ssl, __u64 skp, struct pt_conn *c,
					    struct thread_ctx *t, __u64 rx_ts)
{
	struct ssl_state *s = ssl_state_lookup(ssl);

	if (!s)
		return;
	if (s->sk && s->sk != skp) {
		/* the session object was recycled for a new connection (its free
		 * was missed): start over, the handshake runs from this call */
		s->hs_done = 0;
		s->hs_end = 0;
		s->hs_rx = 0;
		s->hs_start = t ? t->ssl_entry : bpf_ktime_get_ns();
	}
	s->sk = skp;
	/* A server's handshake begins with the ClientHello's arrival, as a request does with
	 * its first byte: a blocking server (a thread, a goroutine) enters its handshake call
	 * at accept, and the client's time before its hello is not the server's. A send
	 * first (TLS_SRV_SENT, never later than hs_start): the hello came before the call */
	if (rx_ts && !s->hs_done && !s->hs_rx) {
		s->hs_rx = 1;
		if (s->hs_start && rx_ts > s->hs_start) {
			s->hs_start = rx_ts;
			if (!c->req.req_first)
				c->req.tls_start = rx_ts;
		}
	}
	if (!s->hs_done && s->hs_start && !c->req.tls_start && !c->req.req_first)
		c->req.tls_start = s->hs_start;
	/* its outcome will be known: a failure is reported at the close (conn_finish()) */
	if (!s->hs_done && t && t->ssl_fn == TLS_FN_HANDSHAKE && !c->req.req_first)
		c->cflags |= PT_C_HANDSHAKE;
}

/*
 * Memory-BIO sessions (Node.js): the library calls do no socket I/O; on the
 * event-loop thread the ciphertext a call produced is sent right after it, and
 * the ciphertext a call consumes was received right before it.
 */
static __always_inline void tls_bio_bind(__u64 skp, struct pt_conn *c, __u64 ssl, __u8 lib,
					 struct thread_ctx *t, __u64 rx_ts)
{
	c->cflags |= PT_C_TLS;
	c->req.flags |= PT_F_TLS;
	c->req.tls_lib = lib;
	c->ssl = ssl;
	tls_map_session(ssl, skp, c, t, rx_ts);
}

/*
 * Socket I/O outside any TLS call (bpf/io.bpf.c). first: the connection's
 * first bytes, a TLS handshake record. True when the bytes are ciphertext of a
 * session (or may be: a received record waits for the next call on the thread),
 * or of TLS no probed library runs (conn_tls_opaque()); false: a first send that
 * no session of the thread made (the caller decides).
 */
PT_SHARED bool tls_bio_io(__u64 skp, struct pt_conn *c, struct thread_ctx *t,
			  const struct conn_io_ev *ev, bool first)
{
	struct ssl_key k = { .tgid = bpf_get_current_pid_tgid() >> 32 };
	struct ssl_state *s;

	if (!first) {
		if (!c->ssl) {
			/* the ClientHello received first, no call on the thread took:
			 * a library we do not probe serves it */
			conn_tls_opaque(c);
			return true;
		}
		k.ssl = c->ssl;
		s = bpf_map_lookup_elem(&ssl_states, &k);
		if (s && ev->dir == PT_DIR_RECV)
			s->bio_recv_last = ev->ts;
		return true;
	}
	if (ev->dir == PT_DIR_RECV) {
		c->cflags |= PT_C_TLS;
		c->req.flags |= PT_F_TLS;
		t->bio_sk = skp;
		return true;
	}
	k.ssl = t->bio_ssl;
	s = k.ssl ? bpf_map_lookup_elem(&ssl_states, &k) : NULL;
	t->bio_ssl = 0;
	if (!s || s->sk)
		return false;
	tls_bio_bind(skp, c, k.ssl, s->lib, t, 0);
	return true;
}

/* A call on an unmapped session takes the record the thread received last, right before
 * it: a server's ClientHello, whose arrival its handshake starts with (Python's asyncio
 * calls SSL_do_handshake at the accept, before the hello). */
static __always_inline void tls_bio_enter(struct thread_ctx *t, __u64 ssl, __u8 lib)
{
	__u64 skp = t->bio_sk;
	struct pt_conn *c = bpf_map_lookup_elem(&conns, &skp);

	t->bio_sk = 0;
	if (c && (c->cflags & PT_C_TLS) && !c->ssl)
		tls_bio_bind(skp, c, ssl, lib, t,
			     c->req.role == PT_ROLE_SERVER ? t->ssl_entry : 0);
}

/*
 * A read or write on a thread already inside another kind of library call is not the
 * library's own nesting (SSL_connect calls SSL_do_handshake): a callback of the outer call
 * made it. Node runs JavaScript from OpenSSL's info callback when SSL_read completes a
 * client handshake, and fetch() writes its request there, inside SSL_read. The inner call
 * is the thread's call until it returns; the outer one waits in tls_outers. One level: a
 * callback of the inner call nests as the library's own calls do. False (nesting) if
 * the table is full (counted).
 */
static __always_inline bool tls_reentered(__u64 key, struct thread_ctx *t, __u64 ssl, __u8 fn)
{
	struct tls_outer o;

	/* a read or write on the session of an open handshake is the library's own: GnuTLS's
	 * client handshake sends 0-RTT data with gnutls_record_send() */
	if (fn == TLS_FN_HANDSHAKE || fn == t->ssl_fn || t->tls_outer ||
	    (t->ssl_fn == TLS_FN_HANDSHAKE && ssl == t->ssl))
		return false;
	o.ssl = t->ssl;
	o.buf = t->ssl_buf;
	o.outlen = t->ssl_outlen;
	o.entry = t->ssl_entry;
	o.krecv_last = t->ssl_krecv_last;
	o.ksend_last = t->ssl_ksend_last;
	o.ksend_first = t->ssl_ksend_first;
	o.fn = t->ssl_fn;
	o.lib = t->ssl_lib;
	o.depth = t->ssl_depth;
	o.sp32 = t->ssl_sp32;
	if (bpf_map_update_elem(&tls_outers, &key, &o, BPF_ANY)) {
		stat_inc(PT_STAT_SSL_FULL);
		return false;
	}
	t->tls_outer = 1;
	return true;
}

/* The inner call returned: the outer one is the thread's call again (if its state is
 * gone, evicted, none is: the outer call's return is not seen). */
static __always_inline void tls_outer_restore(__u64 key, struct thread_ctx *t)
{
	struct tls_outer *o = bpf_map_lookup_elem(&tls_outers, &key);

	t->tls_outer = 0;
	if (!o)
		return;
	t->ssl = o->ssl;
	t->ssl_buf = o->buf;
	t->ssl_outlen = o->outlen;
	t->ssl_entry = o->entry;
	t->ssl_krecv_last = o->krecv_last;
	t->ssl_ksend_last = o->ksend_last;
	t->ssl_ksend_first = o->ksend_first;
	t->ssl_fn = o->fn;
	t->ssl_lib = o->lib;
	t->ssl_depth = o->depth;
	t->ssl_sp32 = o->sp32;
	bpf_map_delete_elem(&tls_outers, &key);
}

/*
 * A native call that enters no deeper on the thread's stack than the open one: the open
 * one is gone, its return never came (the thread left it with siglongjmp, as clients that
 * give up on a read with alarm() do; or it was entered before its return probe was
 * attached). Stacks grow down; 32 bits of difference are plenty for one thread's stack.
 * A tail call (SSL_connect jumping to SSL_do_handshake) enters at the same depth: the
 * same handshake starts again, microseconds later.
 */
static __always_inline void tls_stale_call(__u64 key, struct thread_ctx *t, __u64 sp)
{
	if (!t->ssl_depth || !sp || (__s32)((__u32)sp - t->ssl_sp32) < 0)
		return;
	t->ssl_depth = 0;
	if (t->tls_outer) {
		t->tls_outer = 0;
		bpf_map_delete_elem(&tls_outers, &key);
	}
}

/* key: the execution context (thread, or goroutine for Go's crypto/tls), t its thread_ctx
 * if the caller has it (else NULL: looked up or created); sp: a native call's stack
 * pointer at its entry (0: Go, whose calls go_tls_enter() tracks by frame) */
static __always_inline int tls_enter_key(__u64 key, struct thread_ctx *t, __u64 ssl, __u8 fn,
					 __u8 lib, __u64 buf, __u64 outlen, __u64 sp)
{
	struct ssl_key k = { .tgid = key >> 32, .ssl = ssl };
	struct ssl_state *s;
	__u64 now;

	if (!ssl || !pt_traced(key >> 32))
		return 0;
	stat_inc(PT_STAT_UPROBE_EVENTS);
	if (!t)
		t = thread_get(key);
	if (!t)
		return 0;
	tls_stale_call(key, t, sp);
	if (t->ssl_depth && !tls_reentered(key, t, ssl, fn)) {
		/* SSL_connect calls SSL_do_handshake: keep the outermost */
		if (t->ssl_depth < 8)
			t->ssl_depth++;
		return 0;
	}
	now = bpf_ktime_get_ns();
	t->ssl_depth = 1;
	t->ssl_sp32 = sp;
	t->ssl = ssl;
	t->ssl_fn = fn;
	t->ssl_lib = lib;
	t->ssl_buf = buf;
	t->ssl_outlen = outlen;
	t->ssl_entry = now;
	t->ssl_krecv_last = 0;
	t->ssl_ksend_last = 0;
	t->ssl_ksend_first = 0;

	s = bpf_map_lookup_elem(&ssl_states, &k);
	if (!s) {
		struct ssl_state ns = { .lib = lib };

		if (bpf_map_update_elem(&ssl_states, &k, &ns, BPF_ANY)) {
			stat_inc(PT_STAT_SSL_FULL);
			return 0;
		}
		s = bpf_map_lookup_elem(&ssl_states, &k);
		if (!s)
			return 0;
	}
	if (!s->hs_done && !s->hs_start)
		s->hs_start = now;
	if (!s->sk && t->bio_sk)
		tls_bio_enter(t, ssl, lib);
	return 0;
}

static __always_inline int tls_enter(struct pt_regs *ctx, __u8 fn, __u8 lib, __u64 buf,
				     __u64 outlen)
{
	return tls_enter_key(bpf_get_current_pid_tgid(), NULL, PT_REGS_PARM1(ctx), fn, lib, buf,
			     outlen, PT_REGS_SP(ctx));
}

static __always_inline void tls_handshake_done(struct ssl_state *s, __u64 end)
{
	struct pt_conn *c;

	s->hs_done = 1;
	s->hs_end = end;
	if (!s->sk)
		return;
	c = bpf_map_lookup_elem(&conns, &s->sk);
	if (!c)
		return;
	c->cflags &= ~PT_C_HANDSHAKE;
	if (c->req.req_first)
		return;
	c->req.tls_start = s->hs_start;
	c->req.tls_end = end;
	c->req.flags |= PT_F_TLS_HS | PT_F_TLS;
}

/*
 * Data moved by a call on a session whose handshake was not seen done: a handshake
 * done inside this call ended with the last peer record it read (client) or when
 * the data started (server). Without kernel reads inside, the session predates us.
 */
static __always_inline void tls_handshake_inside(struct ssl_state *s, struct thread_ctx *t,
						 __u64 now)
{
	if (t->ssl_krecv_last) {
		tls_handshake_done(s, t->ssl_krecv_last);
	} else if (s->bio_recv_last && t->ssl_fn == TLS_FN_WRITE) {
		/* memory BIO: the write finished the handshake (the peer's flight,
		 * certificate checks) before its data; or, re-entered from the
		 * handshake-done callback of a read (node's fetch()), found it finished */
		tls_handshake_done(s, now);
		t->ssl_entry = now;
	} else if (s->bio_recv_last) {
		tls_handshake_done(s, s->bio_recv_last);
	} else if (s->hs_start && s->hs_start < t->ssl_entry) {
		/* begun by an earlier call that moved no data (a non-blocking implicit
		 * handshake: SSL_read returned WANT_READ after finishing it): done before
		 * this call began */
		tls_handshake_done(s, t->ssl_entry);
	} else {
		s->hs_done = 1;
		s->hs_start = 0;
	}
}

/* The thread's call (outermost, or re-entered) returned ret. */
static __always_inline void tls_call_exit(__u64 key, struct thread_ctx *t, long ret)
{
	struct ssl_state *s;
	struct pt_conn *c;
	struct conn_io_ev ev = {};
	__u64 now, n = 0;
	int started;

	now = bpf_ktime_get_ns();
	s = ssl_state_lookup(t->ssl);
	if (!s)
		return;
	if (!s->sk && !t->ssl_krecv_last && !t->ssl_ksend_last)
		t->bio_ssl = t->ssl;	/* memory BIO: the next send carries its output */

	if (t->ssl_fn == TLS_FN_HANDSHAKE) {
		/* GnuTLS: 0; Go: nil error (RAX = its type word); OpenSSL: 1 */
		bool ok = t->ssl_lib == PT_TLS_OPENSSL ? ret == 1 : ret == 0;

		if (ok && !s->hs_done)
			tls_handshake_done(s, now);
		return;
	}
	if (t->ssl_outlen) {	/* SSL_read_ex / SSL_write_ex: 1 = success */
		if (ret == 1)
			bpf_probe_read_user(&n, sizeof(n), (void *)t->ssl_outlen);
	} else if (ret > 0) {
		n = ret;
	}
	if (!n)
		return;
	if (!s->hs_done)
		tls_handshake_inside(s, t, now);
	if (!s->sk)
		return;
	c = bpf_map_lookup_elem(&conns, &s->sk);
	if (!c)
		return;
	c->cflags |= PT_C_TLS;
	/* a Go h2 server's frame reader reads call after call for the connection's life:
	 * its state, made for the call (GO_END_CALL), stays and goes with the connection.
	 * The client preface is read first on a goroutine of its own (readPreface), which
	 * may see the connection as h2 already (the server's SETTINGS went out first): the
	 * next reader, the frame reader, takes its place, and its state goes */
	if (t->tls_scoped && t->ssl_fn == TLS_FN_READ && (c->cflags & PT_C_H2) &&
	    c->req.role == PT_ROLE_SERVER && KEY_IS_GO(key) && c->rd_gkey != key) {
		__u64 old = c->rd_gkey;

		c->rd_gkey = key;
		t->tls_scoped = 0;
		if (old)
			thread_forget(old);
	}
	/* the bytes moved when the kernel I/O inside the call did: the return
	 * can come much later (a Go goroutine waits for a P after the syscall) */
	if (t->ssl_fn == TLS_FN_WRITE && t->ssl_ksend_last)
		now = t->ssl_ksend_last;
	else if (t->ssl_fn == TLS_FN_READ && t->ssl_krecv_last)
		now = t->ssl_krecv_last;
	else if (t->ssl_fn == TLS_FN_READ && s->bio_recv_last)
		now = s->bio_recv_last;	/* memory BIO: received before the call */
	ev.key = exec_key_goid(&ev.goid);
	ev.ts = now;
	ev.ts_first = now;
	if (t->ssl_fn == TLS_FN_WRITE && t->ssl_ksend_first)
		ev.ts_first = t->ssl_ksend_first;
	ev.n = n;
	ev.dir = t->ssl_fn == TLS_FN_WRITE ? PT_DIR_SEND : PT_DIR_RECV;
	if (h2_wants(c)) {
		struct h2_buf hb = { .buf = (const void *)t->ssl_buf };

		if (h2_io(s->sk, c, &ev, &hb))
			return;
	}
	if (conn_response_starts(c, ev.dir)) {
		conn_response_io(s->sk, c, &ev, NULL, (void *)t->ssl_buf, false);
		return;
	}
	started = conn_io(s->sk, c, &ev);
	if (started == PT_IO_STARTED_REQ) {
		if (t->ssl_fn == TLS_FN_WRITE)
			c->req.req_io_start = t->ssl_entry;
		if (conn_wants_request_line(c))
			conn_request_line(c, (void *)t->ssl_buf, n);
	}
}

static __always_inline int tls_exit_key(__u64 key, long ret)
{
	struct thread_ctx *t = thread_lookup(key);

	if (!t || !t->ssl_depth)
		return 0;
	if (--t->ssl_depth)
		return 0;
	tls_call_exit(key, t, ret);
	if (t->tls_outer)
		tls_outer_restore(key, t);
	return 0;
}

static __always_inline int tls_exit(long ret)
{
	return tls_exit_key(bpf_get_current_pid_tgid(), ret);
}

/*
 * Library probe handlers (include/probe_list.h: bpf/lib.bpf.c calls them from
 * the uprobe_multi dispatchers and from the per-function perf-event programs).
 */
PT_SHARED int on_ssl_handshake(struct pt_regs *ctx)
{
	return tls_enter(ctx, TLS_FN_HANDSHAKE, PT_TLS_OPENSSL, 0, 0);
}

PT_SHARED int on_ssl_read(struct pt_regs *ctx)
{
	return tls_enter(ctx, TLS_FN_READ, PT_TLS_OPENSSL, PT_REGS_PARM2(ctx), 0);
}

/* SSL_read_ex(ssl, buf, num, size_t *readbytes) */
PT_SHARED int on_ssl_read_ex(struct pt_regs *ctx)
{
	return tls_enter(ctx, TLS_FN_READ, PT_TLS_OPENSSL, PT_REGS_PARM2(ctx),
			 PT_REGS_PARM4(ctx));
}

PT_SHARED int on_ssl_write(struct pt_regs *ctx)
{
	return tls_enter(ctx, TLS_FN_WRITE, PT_TLS_OPENSSL, PT_REGS_PARM2(ctx), 0);
}

/* SSL_write_ex(ssl, buf, num, size_t *written) */
PT_SHARED int on_ssl_write_ex(struct pt_regs *ctx)
{
	return tls_enter(ctx, TLS_FN_WRITE, PT_TLS_OPENSSL, PT_REGS_PARM2(ctx),
			 PT_REGS_PARM4(ctx));
}

PT_SHARED int on_gnutls_handshake(struct pt_regs *ctx)
{
	return tls_enter(ctx, TLS_FN_HANDSHAKE, PT_TLS_GNUTLS, 0, 0);
}

PT_SHARED int on_gnutls_recv(struct pt_regs *ctx)
{
	return tls_enter(ctx, TLS_FN_READ, PT_TLS_GNUTLS, PT_REGS_PARM2(ctx), 0);
}

PT_SHARED int on_gnutls_send(struct pt_regs *ctx)
{
	return tls_enter(ctx, TLS_FN_WRITE, PT_TLS_GNUTLS, PT_REGS_PARM2(ctx), 0);
}

/* SSL_free / gnutls_deinit: the session pointer may be reused by the next one. */
PT_SHARED int on_tls_free(struct pt_regs *ctx)
{
	struct ssl_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .ssl = PT_REGS_PARM1(ctx) };

	bpf_map_delete_elem(&ssl_states, &k);
	return 0;
}

/* One return handler serves every function above. */
PT_SHARED int on_tls_ret(struct pt_regs *ctx)
{
	return tls_exit((int)PT_REGS_RC(ctx));
}

/*
 * Go crypto/tls: uprobes on (*Conn).serverHandshake/clientHandshake, Read and
 * Write entry (RAX = *Conn, RBX = the []byte data) and on their exits (never
 * uretprobes): emulated sites inside Read and Write where the code has the
 * expected shape, else (and on the other paths) their RETs; RAX at a RET is n,
 * or for the handshake the error's type word.
 * Keyed by goroutine; the outermost call by frame depth (see go.bpf.h).
 */
/*
 * Write(b) on an HTTP/2 connection: its frames are walked here, at the entry (b is
 * RBX, len(b) RCX), not at a RET. The peer has the bytes once the kernel send inside
 * the call is done, and may answer and close the connection before the goroutine,
 * waiting for a P after its syscall, reaches the RET (measured: 2 ms): a walk at the
 * RET then found the connection gone and the stream lost its response. Go's h2
 * writers serialise their Writes (server: the serve loop; client: cc.wmu), so entry
 * order is byte order. The frames are stamped at the entry: before the first byte
 * moved, by the encryption only. True if the frames were taken.
 */
static __always_inline bool go_h2_write(struct pt_regs *ctx, __u64 key, __u64 goid)
{
	struct ssl_state *s = ssl_state_lookup(ctx->ax);
	struct h2_buf hb = { .buf = (const void *)ctx->bx };
	struct conn_io_ev ev = {};
	struct pt_conn *c;

	if (!s || !s->sk || !s->hs_done || !ctx->cx || ctx->cx > 0xffffffff)
		return false;
	c = bpf_map_lookup_elem(&conns, &s->sk);
	if (!c || !(c->cflags & PT_C_TLS) || !h2_wants(c))
		return false;
	ev.key = key;
	ev.goid = goid;
	ev.ts = ev.ts_first = bpf_ktime_get_ns();
	ev.n = ctx->cx;
	ev.dir = PT_DIR_SEND;
	return h2_io(s->sk, c, &ev, &hb);
}

/*
 * server_hs: a server handshake, on the goroutine that will serve the connection (net/http's
 * conn.serve): its state goes when the connection closes (go_conn_closed()), the
 * connection learns it at the handshake's first socket I/O (io.bpf.c), and the handshake's
 * end settles the other cases (go_server_hs_end()). Any other goroutine new to
 * the tables (net/http's backgroundRead, a Read per request over HTTPS) gets state for the
 * call alone (GO_END_CALL), deleted when it returns (thread_call_done()) unless another
 * use kept it meanwhile. The call's frame is in its thread_ctx (go_tls_d, go_tls_ret).
 */
static __always_inline int go_tls_enter(struct pt_regs *ctx, __u8 fn, bool server_hs)
{
	__u64 key, goid, d;
	struct thread_ctx *t;

	if (!go_key_at(ctx, &key, &goid, &d))
		return 0;
	t = thread_get_as(key, server_hs ? GO_END_CONN : GO_END_CALL);
	if (!t)
		return 0;
	if (t->ssl_depth && ((t->go_tls_d == d && t->go_tls_ret == go_entry_ret(ctx)) ||
			     go_outer_live(ctx, d, t->go_tls_d, t->go_tls_ret)))
		return 0;	/* morestack re-entry, or a handshake inside Read/Write */
	t->ssl_depth = 0;	/* else a stale call (panic) is forgotten */
	t->go_tls_d = d;
	t->go_tls_ret = go_entry_ret(ctx);
	t->go_tls_h2_sent = 0;
	t->go_tls_wlen = ctx->cx > 0xffffffff ? 0xffffffff : ctx->cx;
	tls_enter_key(key, t, ctx->ax, fn, PT_TLS_GO, fn == TLS_FN_HANDSHAKE ? 0 : ctx->bx, 0, 0);
	if (fn == TLS_FN_WRITE && t->ssl_depth == 1)
		t->go_tls_h2_sent = go_h2_write(ctx, key, goid);
	return 0;
}

SEC("uprobe")
int go_tls_handshake_entry(struct pt_regs *ctx)
{
	return go_tls_enter(ctx, TLS_FN_HANDSHAKE, false);
}

SEC("uprobe")
int go_tls_server_handshake_entry(struct pt_regs *ctx)
{
	return go_tls_enter(ctx, TLS_FN_HANDSHAKE, true);
}

SEC("uprobe")
int go_tls_read_entry(struct pt_regs *ctx)
{
	return go_tls_enter(ctx, TLS_FN_READ, false);
}

SEC("uprobe")
int go_tls_write_entry(struct pt_regs *ctx)
{
	return go_tls_enter(ctx, TLS_FN_WRITE, false);
}

/*
 * A server handshake ends: its goroutine's state goes with its connection if that
 * connection learnt it (its srv_gkey). With no connection (no byte moved: a TCP health
 * check; or closed already) it goes now, with the call (thread_call_done()); with another
 * goroutine on the connection it needs goexit1.
 */
static __always_inline void go_server_hs_end(__u64 key, struct thread_ctx *t)
{
	struct ssl_key k = { .tgid = key >> 32, .ssl = t->ssl };
	struct ssl_state *s = bpf_map_lookup_elem(&ssl_states, &k);
	struct pt_conn *c = s && s->sk ? bpf_map_lookup_elem(&conns, &s->sk) : NULL;

	if (!c) {
		t->tls_scoped = 1;
		t->go_srv = 0;
	} else if (c->srv_gkey != key) {
		go_want_exit(key >> 32);
	}
}

/*
 * Each RET of the handshakes, Read and Write, and the emulated sites that end Read and
 * Write without a single-step (user/attach/goprobes.c tls_read_exits(),
 * tls_write_exits()); bits 40-63 of their cookie: the site's depth below the entry.
 *  - PT_GO_TLS_COPY, Read's CALL runtime.memmove that copies the plaintext out: the
 *    bytes are read from the source (RBX, n in RCX), not yet at the destination;
 *  - PT_GO_TLS_ERR, the Jcc after Read's CALL readRecordOrCCS: RAX is the error's type
 *    word; not nil: Read returns 0 bytes (what its RET said), else it goes on;
 *  - PT_GO_TLS_WEND, after Write's last CALL writeRecordLocked: RBX is the error's type
 *    word; nil: n is len(b) (kept at the entry), else the write counts nothing.
 */
SEC("uprobe")
int go_tls_ret(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	/* loaded here, each on its own: a load from a chosen ctx offset does not verify */
	__u64 ax = ctx->ax, bx = ctx->bx, cx = ctx->cx;
	__u64 key, goid, d;
	struct thread_ctx *t;
	long ret;

	barrier_var(ax);
	barrier_var(bx);
	barrier_var(cx);

	if ((cookie & PT_GO_TLS_ERR) && !ax)
		return 0;	/* the record came: Read goes on */
	if (!go_key_at(ctx, &key, &goid, &d))
		return 0;
	t = thread_lookup(key);
	if (!t || !t->ssl_depth || t->go_tls_d != d - (cookie >> 40))
		return 0;
	if (t->go_tls_h2_sent) {	/* its frames went at the entry (go_h2_write) */
		t->go_tls_h2_sent = 0;
		t->ssl_depth = 0;
		thread_call_done(key, t);
		return 0;
	}
	ret = (long)ax;
	if (cookie & (PT_GO_TLS_COPY | PT_GO_TLS_ERR)) {
		if (t->ssl_fn != TLS_FN_READ)
			return 0;
		ret = 0;
		if (cookie & PT_GO_TLS_COPY) {
			t->ssl_buf = bx;
			ret = (long)cx;
		}
	} else if (cookie & PT_GO_TLS_WEND) {
		if (t->ssl_fn != TLS_FN_WRITE)
			return 0;
		ret = bx ? 0 : t->go_tls_wlen;
	}
	if (t->ssl_fn == TLS_FN_HANDSHAKE && t->go_srv)
		go_server_hs_end(key, t);
	t->ssl_depth = 1;
	tls_exit_key(key, ret);
	thread_call_done(key, t);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
