// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP/2 frame walking; see h2.bpf.h. Input is hostile: frame lengths are
 * only counted down, never used as a read size beyond PT_H2_BLOCK, and an I/O
 * call gets at most H2_STEPS steps (a frame header, a preface piece or a
 * payload piece each). Past that the frame boundaries are lost: the connection
 * is counted (h2_walk_overflow) and timed as one request by conn_io() from
 * then on, and userspace is told (PT_H2_LOST).
 */
#include "h2.bpf.h"
#include "thread.bpf.h"
#include "agg.bpf.h"
#include "go.bpf.h"

#define H2_STEPS	256	/* frame headers, payload and iovec pieces per I/O */
#define H2_MAX_IOV	16
#define H2_PREFACE_LEN	24
#define H2_HDR_LEN	9

#define H2_DATA		0
#define H2_HEADERS	1
#define H2_RST_STREAM	3
#define H2_SETTINGS	4
#define H2_PUSH_PROMISE	5
#define H2_CONTINUATION	9
#define H2_END_STREAM	0x1
#define H2_ACK		0x1

#define H2_REC_HDR	offsetof(struct pt_h2_rec, data)

/* Send the scratch record with len payload bytes, batched wakeups as pt_submit(). False
 * if the ring buffer was full (counted). */
static __always_inline bool h2_output(struct pt_h2_rec *r, __u32 len)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	len &= 2 * PT_H2_BLOCK - 1;
	if (len > PT_H2_BLOCK)
		len = PT_H2_BLOCK;
	if (bpf_ringbuf_output(&rb, r, H2_REC_HDR + len, flags)) {
		stat_inc(PT_STAT_RB_DROP_H2);
		return false;
	}
	if (flags == BPF_RB_FORCE_WAKEUP)
		stat_inc(PT_STAT_RB_WAKEUPS);
	return true;
}

/* The server request the context sending a client stream's HEADERS serves (nesting). */
static __always_inline __u64 h2_parent(__u64 key)
{
	struct thread_ctx *t = thread_lookup(key);

	if (t && t->srv_req_id)
		return t->interleaved ? 0 : t->srv_req_id;
	return KEY_IS_GO(key) ? go_inherited_req(key) : 0;
}

/* A record about the current frame of d; src: len bytes of its payload (user memory). */
static __always_inline void h2_emit(struct pt_conn *c, struct h2_dir *d, const struct conn_io_ev *ev,
				    const void *src, __u32 len, __u64 data_bytes)
{
	__u32 zero = 0;
	struct pt_h2_rec *r = bpf_map_lookup_elem(&h2_scratch, &zero);

	if (!r)
		return;
	r->type = PT_REC_H2;
	r->kind = PT_H2_FRAME;
	r->dir = ev->dir;
	r->ftype = d->ftype;
	r->fflags = d->fflags;
	r->sid = d->sid;
	r->flen = d->flen;
	r->seq = d->seq++;
	r->frag_off = d->flen - d->skip;
	r->tid = (__u32)bpf_get_current_pid_tgid();
	r->goid = ev->goid;
	r->conn_id = c->req.conn_id;
	r->ts = ev->ts;
	r->data_bytes = data_bytes;
	r->parent_id = d->ftype == H2_HEADERS && d->skip == d->flen ? d->parent : 0;
	kagg_child(r->parent_id);
	r->frag_len = 0;
	if (len && src) {
		/* 1..PT_H2_BLOCK in a form the verifier keeps (a power of two) */
		len = ((len - 1) & (PT_H2_BLOCK - 1)) + 1;
		if (!bpf_probe_read_user(r->data, len, src))
			r->frag_len = len;
	}
	h2_output(r, r->frag_len);
}

/* DATA payload bytes per stream, in a few slots (bytes_* of the stream's request). */
static __always_inline __u64 h2_data_bytes(struct h2_dir *d, __u32 len, bool end)
{
	__u64 n;
	__u32 i;

	for (i = 0; i < H2_DSLOTS; i++)
		if (d->dsid[i] == d->sid)
			break;
	if (i >= H2_DSLOTS) {
		if (end)
			return len;
		i = d->dnext++ % H2_DSLOTS;
		if (d->dsid[i])
			stat_inc(PT_STAT_H2_STREAMS_NOBYTES);
		d->dsid[i] = d->sid;
		d->dbytes[i] = 0;
	}
	d->dbytes[i] += len;
	n = d->dbytes[i];
	if (end)
		d->dsid[i] = 0;
	return n;
}

/* A complete frame header in d->hdr: start the frame, tell userspace what matters. */
static __always_inline void h2_frame(struct pt_conn *c, struct h2_dir *d,
				     const struct conn_io_ev *ev)
{
	__u8 *h = d->hdr;

	d->flen = ((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2];
	d->ftype = h[3];
	d->fflags = h[4];
	d->sid = (((__u32)h[5] & 0x7f) << 24) | ((__u32)h[6] << 16) | ((__u32)h[7] << 8) | h[8];
	d->skip = d->flen;
	/* PUSH_PROMISE carries a header block too: the HPACK table needs it */
	d->capture = d->ftype == H2_HEADERS || d->ftype == H2_CONTINUATION ||
		     d->ftype == H2_PUSH_PROMISE || (d->ftype == H2_SETTINGS && !(d->fflags & H2_ACK));
	if (d->ftype == H2_RST_STREAM) {
		h2_emit(c, d, ev, NULL, 0, 0);
	} else if (d->ftype == H2_DATA && d->sid) {
		bool end = d->fflags & H2_END_STREAM;
		__u64 n = h2_data_bytes(d, d->flen, end);

		if (end)
			h2_emit(c, d, ev, NULL, 0, n);
	} else if (d->capture && !d->flen) {
		h2_emit(c, d, ev, NULL, 0, 0);	/* empty block: still one in the sequence */
	}
}

/* One step of the walk at buf[pos]; returns the bytes consumed, 0 to stop. */
static __always_inline __u32 h2_step(struct pt_conn *c, struct h2_dir *d,
				     const struct conn_io_ev *ev, const __u8 *buf, __u32 avail,
				     bool req_dir)
{
	__u32 take, off;

	/* counted up from the zeroed state: nothing to initialise when the state is
	 * created, so two threads detecting at once (Go's preface reader and its
	 * SETTINGS writer) cannot reset it behind each other */
	if (req_dir && d->preface_seen < H2_PREFACE_LEN) {
		take = H2_PREFACE_LEN - d->preface_seen;
		take = avail < take ? avail : take;
		d->preface_seen += take;
		return take;
	}
	if (d->skip) {
		take = avail < d->skip ? avail : d->skip;
		if (d->capture) {
			if (take > PT_H2_BLOCK)
				take = PT_H2_BLOCK;
			h2_emit(c, d, ev, buf, take, 0);
		}
		d->skip -= take;
		return take;
	}
	off = d->hdr_have;
	if (off >= H2_HDR_LEN)
		off = 0;
	take = H2_HDR_LEN - off;
	if (avail < take)
		take = avail;
	/* 1..9 as 1..16 at an offset of at most 15: the verifier keeps the masks */
	asm volatile("" : "+r"(take));
	take = ((take - 1) & 0xf) + 1;
	off &= 0xf;
	if (bpf_probe_read_user(&d->hdr[off], take, buf))
		return 0;
	if (off + take < H2_HDR_LEN) {
		d->hdr_have = off + take;	/* the rest comes with the next I/O */
		return take;
	}
	d->hdr_have = 0;
	h2_frame(c, d, ev);
	return take;
}

struct h2_iovec {
	const __u8 *base;
	__u64 len;
};

/* What the walk's steps share, on the stack: pointers and constants only (the cursor,
 * which changes at each step, is in d: struct h2_dir). */
struct h2_walk {
	struct pt_conn *c;
	struct h2_dir *d;
	const struct conn_io_ev *ev;
	bool req_dir;			/* requests go this way: the client preface first */
};

/* One step of bpf_loop: the next segment of a vectored I/O, or h2_step(). */
static long h2_walk_step(__u64 i, void *ctx)
{
	struct h2_walk *w = ctx;
	struct h2_dir *d = w->d;
	struct h2_iovec v;
	__u32 took, left;

	if (d->w_pos >= d->w_n)
		return 1;
	if (!d->w_seg) {
		if (!d->w_iov || d->w_iov_i >= d->w_niov || d->w_iov_i >= H2_MAX_IOV ||
		    bpf_probe_read_user(&v, sizeof(v),
					(const void *)(d->w_iov + d->w_iov_i * sizeof(v))))
			return 1;
		d->w_iov_i++;
		left = d->w_n - d->w_pos;
		d->w_buf = (__u64)v.base;
		d->w_seg = v.len < left ? v.len : left;
		return 0;
	}
	took = h2_step(w->c, d, w->ev, (const __u8 *)d->w_buf, d->w_seg, w->req_dir);
	if (!took)
		return 1;
	d->w_pos += took;
	d->w_buf += took;
	d->w_seg -= took;
	return 0;
}

/* The first bytes of an I/O (detection), NULL if unknown. */
static __always_inline const void *h2_first(const struct h2_buf *b)
{
	struct h2_iovec v;

	if (!b->iov)
		return b->buf;
	if (!b->niov || bpf_probe_read_user(&v, sizeof(v), b->iov))
		return NULL;
	return v.len >= 16 ? v.base : NULL;
}

/* Frame walking gave up: userspace is told, conn_io() times the connection from now on. */
static __always_inline void h2_lost(__u64 skp, struct pt_conn *c, struct h2_dir *d,
				    const struct conn_io_ev *ev)
{
	__u32 zero = 0;
	struct pt_h2_rec *r = bpf_map_lookup_elem(&h2_scratch, &zero);

	stat_inc(PT_STAT_H2_OVERFLOW);
	if (r) {
		__builtin_memset(r, 0, H2_REC_HDR);
		r->type = PT_REC_H2;
		r->kind = PT_H2_LOST;
		r->dir = ev->dir;
		r->seq = d->seq;
		r->conn_id = c->req.conn_id;
		r->ts = ev->ts;
		h2_output(r, 0);
	}
	bpf_map_delete_elem(&h2_conns, &skp);
	c->cflags &= ~PT_C_H2;
}

/* The connection record userspace builds its streams on (what conn_emit() sends). */
static __always_inline void h2_conn_record(struct pt_conn *c, __u8 end_reason)
{
	struct pt_req_rec *rec = bpf_ringbuf_reserve(&rb, sizeof(*rec), 0);

	if (!rec) {
		stat_inc(PT_STAT_RB_DROP_REQ);
		return;
	}
	__builtin_memcpy(rec, &c->req, sizeof(*rec));
	rec->flags |= PT_F_H2;
	rec->end_reason = end_reason;
	pt_submit(rec, false);
}

/* A server's first bytes, before any request: its SETTINGS frame? nginx sends it before
 * reading; nghttp2 clients (h2load) read it before writing their preface. */
static __always_inline bool h2_server_preface(const __u8 *b)
{
	__u32 len = ((__u32)b[0] << 16) | ((__u32)b[1] << 8) | b[2];

	return b[3] == H2_SETTINGS && !b[4] && !b[5] && !b[6] && !b[7] && !b[8] &&
	       len % 6 == 0 && len <= 6 * 16;
}

/* Request direction: what a client sends, what a server receives. */
static __always_inline bool h2_req_dir(const struct pt_conn *c, __u8 dir)
{
	return c->req.role == PT_ROLE_SERVER ? dir == PT_DIR_RECV : dir == PT_DIR_SEND;
}

/* The first bytes of a connection: the client preface, or a server's SETTINGS
 * frame sent (server) or read (client) before it? */
static __always_inline bool h2_signature(const struct pt_conn *c, const struct conn_io_ev *ev,
					 const struct h2_buf *hb)
{
	static const char preface[16] = "PRI * HTTP/2.0\r\n";
	bool peer_first = !h2_req_dir(c, ev->dir);
	const void *ubuf;
	__u8 b[16];

	if (c->state != PT_FSM_IDLE ||
	    (c->cflags & PT_C_MIDSTREAM) || ev->n < (peer_first ? 9 : 16))
		return false;
	ubuf = h2_first(hb);
	if (!ubuf || bpf_probe_read_user(b, peer_first ? 9 : 16, ubuf))
		return false;
	if (peer_first)
		return h2_server_preface(b);
	for (int i = 0; i < 16; i++)
		if (b[i] != preface[i])
			return false;
	return true;
}

/*
 * The first bytes make the connection HTTP/2 or not. PT_C_PROTO is set once the answer
 * is known, never before: a Go server reads the preface on one goroutine while another
 * writes its SETTINGS, and a thread that saw PT_C_PROTO without PT_C_H2 in between took
 * the preface for an HTTP/1 request and lost the connection's streams. Both threads
 * may detect; the state is created once (zeroed, nothing to set after), userspace
 * takes the first connection record.
 */
static __always_inline bool h2_detect(__u64 skp, struct pt_conn *c, const struct conn_io_ev *ev,
				      const struct h2_buf *hb)
{
	struct h2_state *zero;
	__u32 k = 0;

	if (!h2_signature(c, ev, hb)) {
		c->cflags |= PT_C_PROTO;
		return false;
	}
	c->req.proto = (c->cflags & PT_C_TLS) ? PT_PROTO_H2 : PT_PROTO_H2C;
	zero = bpf_map_lookup_elem(&h2_zero, &k);
	flag_set_once(&h2_used);
	/* table full: timed as one request; the preface is not parsed as one */
	if (!zero || !map_get_or_init(&h2_conns, &skp, zero, PT_STAT_H2_FULL)) {
		c->cflags |= PT_C_PROTO;
		return false;
	}
	c->cflags |= PT_C_PROTO | PT_C_H2;
	if (!c->req.req_id)
		c->req.req_id = next_id();
	h2_conn_record(c, PT_END_NEXT);
	/* connect and TLS went with the connection record: never again */
	c->req.flags &= ~(PT_F_CONNECT | PT_F_TLS_HS);
	return true;
}

PT_SHARED bool h2_io(__u64 skp, struct pt_conn *c, const struct conn_io_ev *ev,
		     const struct h2_buf *hb)
{
	struct h2_walk w = { .c = c, .ev = ev };
	struct h2_state *s;
	struct h2_dir *d;

	if (!(c->cflags & PT_C_PROTO) && !h2_detect(skp, c, ev, hb))
		return false;
	if (!(c->cflags & PT_C_H2))
		return false;
	c->last_io = ev->ts;
	s = bpf_map_lookup_elem(&h2_conns, &skp);
	if (!s)
		return true;	/* closing (h2_close): the last frames are no request */
	d = &s->d[ev->dir & 1];
	if (!hb->buf && !hb->iov) {
		h2_lost(skp, c, d, ev);
		return true;
	}
	w.d = d;
	w.req_dir = h2_req_dir(c, ev->dir);
	d->w_buf = (__u64)hb->buf;
	d->w_iov = (__u64)hb->iov;
	d->w_niov = hb->niov;
	d->w_iov_i = 0;
	d->w_n = ev->n;
	d->w_pos = 0;
	d->w_seg = hb->iov ? 0 : ev->n;
	/* outside the loop: the stack of the callback's calls stays small */
	d->parent = c->req.role == PT_ROLE_CLIENT && ev->dir == PT_DIR_SEND ? h2_parent(ev->key) : 0;
	/* bpf_loop (5.17): the step is verified apart from the loop count; on 6.8+ until its
	 * states converge, which the cursor in d (map memory) lets them do in a few passes */
	bpf_loop(H2_STEPS, h2_walk_step, &w, 0);
	if (d->w_pos < d->w_n)
		h2_lost(skp, c, d, ev);
	return true;
}

PT_SHARED bool h2_handler_started(struct pt_conn *c, __u32 sid, __u64 req_id, __u64 goid)
{
	__u32 zero = 0;
	struct pt_h2_rec *r = bpf_map_lookup_elem(&h2_scratch, &zero);

	if (!r)
		return false;
	__builtin_memset(r, 0, H2_REC_HDR);
	r->type = PT_REC_H2;
	r->kind = PT_H2_HANDLER;
	r->sid = sid;
	r->tid = (__u32)bpf_get_current_pid_tgid();
	r->pid = bpf_get_current_pid_tgid() >> 32;
	r->goid = goid;
	r->conn_id = c->req.conn_id;
	r->ts = bpf_ktime_get_ns();
	r->parent_id = req_id;
	return h2_output(r, 0);
}

PT_SHARED void h2_close(__u64 skp, struct pt_conn *c)
{
	/* once: FIN_WAIT1 and CLOSE both come here; PT_C_H2 stays, so that what
	 * is still read or written is not taken for an HTTP/1 request */
	if (!(c->cflags & PT_C_H2) || !bpf_map_lookup_elem(&h2_conns, &skp))
		return;
	c->req.flags &= ~(PT_F_CONNECT | PT_F_TLS_HS);
	h2_conn_record(c, PT_END_CLOSE);
	bpf_map_delete_elem(&h2_conns, &skp);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
