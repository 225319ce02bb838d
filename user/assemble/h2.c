// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* HTTP/2 streams from BPF's frame records; see h2.h. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>

#include "assemble/h2.h"
#include "util/u64map.h"

#define F_DATA		0
#define F_HEADERS	1
#define F_RST_STREAM	3
#define F_SETTINGS	4
#define F_PUSH_PROMISE	5
#define F_CONTINUATION	9
#define FL_END_STREAM	0x1
#define FL_END_HEADERS	0x4
#define FL_PADDED	0x8
#define FL_PRIORITY	0x20
#define SETTINGS_HEADER_TABLE_SIZE 1
#define H2_ID_BASE	(1ULL << 52)	/* above BPF's ids (CPU + 1 at bit 40) */

/* What a frame tells a stream: its start, its first response byte, an end. */
struct sev {
	int dir;
	uint8_t ftype, fflags;
	uint32_t sid, tid;
	uint64_t ts, bytes, goid;
	uint64_t parent;		/* server request the sending context served */
};

struct h2_stream {
	uint32_t sid;			/* 0: free slot */
	uint32_t tid;
	uint64_t goid, parent;
	uint64_t req_id;		/* given by BPF (Go server handler), else 0 */
	bool handler;			/* goid is its handler goroutine's (PT_H2_HANDLER) */
	uint64_t req_first, req_last, resp_first, resp_last;
	uint64_t bytes_req, bytes_resp;
	uint16_t status;
	bool has_grpc;
	uint8_t grpc_status;
	bool grpc;			/* content-type application/grpc* (either side) */
	bool labelled;
	enum pt_err error;
	char method[PT_METHOD_LEN];
	char path[PT_PATH_LEN];
	char authority[PT_HOST_LEN];
};

/* One direction: the frame being reassembled and the header block being built. */
struct h2_side {
	nghttp2_hd_inflater *inf;
	size_t table_max;		/* the inflater's SETTINGS_HEADER_TABLE_SIZE bound */
	uint32_t next_seq;
	bool seq_known;
	/* current frame (HEADERS, CONTINUATION, SETTINGS) */
	uint8_t ftype, fflags;
	uint32_t sid, flen, got;
	struct sev ev;			/* the frame as a stream event */
	bool frame_bad;
	uint8_t frame[H2_BLOCK_MAX];
	/* header block of stream block_sid, until END_HEADERS */
	struct sev block_ev;		/* the HEADERS frame that opened it */
	uint32_t block_sid;
	size_t block_len;
	bool block_open;
	bool block_end_stream;		/* its HEADERS frame had END_STREAM */
	bool block_table_only;		/* PUSH_PROMISE: decoded for the table, no labels */
	uint8_t block[H2_BLOCK_MAX];
};

struct h2_conn {
	struct pt_req_rec base;		/* the connection record */
	bool first_taken;		/* connect/TLS went on a stream */
	uint32_t first_sid;		/* the first stream started: it gets them */
	uint32_t last_sid;		/* the newest stream started (ids only grow) */
	bool poisoned;
	uint32_t nstreams_done;
	struct h2_side side[2];		/* PT_DIR_SEND (0), PT_DIR_RECV (1) */
	struct h2_stream *streams;	/* ncap slots, grown up to H2_MAX_STREAMS */
	uint32_t ncap;
	/* Go handler goroutines whose stream was reported early or was not in the table:
	 * handed back (h2_handler_done_fn) when the connection's streams end */
	uint64_t parked[H2_MAX_STREAMS];
	uint32_t nparked;
};

struct h2 {
	h2_stream_fn fn;
	h2_handler_done_fn done;
	void *ctx;
	struct u64map conns;		/* conn_id -> struct h2_conn */
	uint64_t next_id;
	struct h2_stats st;
};

struct h2 *h2__new(h2_stream_fn fn, h2_handler_done_fn done, void *ctx)
{
	struct h2 *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	if (u64map_init(&h->conns, 256)) {
		free(h);
		return NULL;
	}
	h->fn = fn;
	h->done = done;
	h->ctx = ctx;
	return h;
}

static void conn_free(struct h2_conn *c)
{
	if (!c)
		return;
	for (int i = 0; i < 2; i++)
		if (c->side[i].inf)
			nghttp2_hd_inflate_del(c->side[i].inf);
	free(c->streams);
	free(c);
}

static void each_conn(struct h2 *h, void (*fn)(struct h2 *h, struct h2_conn *c))
{
	uint64_t k;
	void *v;

	for (size_t it = 0; u64map_next(&h->conns, &it, &k, &v);)
		fn(h, v);
}

static void conn_drop(struct h2 *h, struct h2_conn *c)
{
	conn_free(c);
}

void h2__free(struct h2 *h)
{
	if (!h)
		return;
	each_conn(h, conn_drop);
	u64map_free(&h->conns);
	free(h);
}

void h2__stats(const struct h2 *h, struct h2_stats *st)
{
	*st = h->st;
}

/* Which direction carries requests: what a client sends, what a server receives. */
static int req_dir(const struct h2_conn *c)
{
	return c->base.role == PT_ROLE_SERVER ? 1 : 0;
}

static void poison(struct h2 *h, struct h2_conn *c)
{
	if (!c->poisoned)
		h->st.poisoned++;
	c->poisoned = true;
}

/* ---- streams ---- */

/* The slot of stream sid (0 for a free slot), NULL if none. */
static struct h2_stream *slot_of(struct h2_conn *c, uint32_t sid)
{
	for (uint32_t i = 0; i < c->ncap; i++)
		if (c->streams[i].sid == sid)
			return &c->streams[i];
	return NULL;
}

/* Stream sid in the table; never a free slot (a frame on stream 0 is no stream's). */
static struct h2_stream *stream_find(struct h2_conn *c, uint32_t sid)
{
	return sid ? slot_of(c, sid) : NULL;
}

static void handler_done(struct h2 *h, uint32_t pid, uint64_t goid)
{
	if (h->done && pid && goid)
		h->done(h->ctx, pid, goid);
}

/* A handler goroutine that may still run: handed back with the connection's streams
 * (end_all()), or now if there is no room. */
static void handler_park(struct h2 *h, struct h2_conn *c, uint64_t goid)
{
	if (c->nparked < H2_MAX_STREAMS)
		c->parked[c->nparked++] = goid;
	else
		handler_done(h, c->base.pid, goid);
}

/*
 * A stream ends and is reported. A Go server writes a stream's END_STREAM once its handler
 * has returned (handlerDone in h2_bundle.go; HEAD excepted), so its handler goroutine is
 * done with; a reset stream's handler may still run, but nothing of it is reported any more.
 */
static void stream_emit(struct h2 *h, struct h2_conn *c, struct h2_stream *s, uint8_t end)
{
	struct pt_req_rec r = c->base;

	r.flags &= ~(PT_F_H2 | PT_F_HTTP | PT_F_NO_RESP | PT_F_GO);
	if (c->first_taken || s->sid != c->first_sid)
		r.flags &= ~(PT_F_CONNECT | PT_F_TLS_HS);
	else
		c->first_taken = true;
	r.req_id = s->req_id ? s->req_id : H2_ID_BASE | ++h->next_id;
	r.req_seq = c->nstreams_done++;
	r.tid = s->tid ? s->tid : r.tid;
	r.goid = s->goid;
	r.parent_id = s->parent;
	if (s->goid)
		r.flags |= PT_F_GO;
	r.end_reason = end;
	r.error = s->error;
	r.req_first = s->req_first;
	r.req_last = s->req_last;
	r.resp_first = s->resp_first;
	r.resp_last = s->resp_last;
	r.req_io_start = 0;
	r.bytes_req = s->bytes_req;
	r.bytes_resp = s->bytes_resp;
	r.stream_id = s->sid;
	r.status = s->status;
	r.grpc_status = 0;
	if (s->grpc)
		r.flags |= PT_F_GRPC;
	if (s->has_grpc) {
		r.grpc_status = s->grpc_status + 1;
		if (s->grpc_status && !r.error)
			r.error = PT_ERR_GRPC;
	}
	if (!s->resp_first)
		r.flags |= PT_F_NO_RESP;
	memset(r.method, 0, sizeof(r.method));
	memset(r.path, 0, sizeof(r.path));
	if (s->method[0]) {
		memcpy(r.method, s->method, sizeof(r.method));
		memcpy(r.path, s->path, sizeof(r.path));
		r.flags |= PT_F_HTTP;
	}
	if (!s->labelled && c->poisoned)
		h->st.unlabelled++;
	h->st.streams++;
	h->fn(h->ctx, &r, s->labelled ? s->authority : "");
	if (s->handler)
		handler_done(h, c->base.pid, s->goid);
	memset(s, 0, sizeof(*s));
}

/* Twice the slots, up to H2_MAX_STREAMS: the first new one, NULL if at the bound (or out
 * of memory). Stream pointers held across this are stale. */
static struct h2_stream *streams_grow(struct h2_conn *c)
{
	uint32_t old = c->ncap, n = old * 2 > H2_MAX_STREAMS ? H2_MAX_STREAMS : old * 2;
	struct h2_stream *v;

	if (n <= old)
		return NULL;
	v = realloc(c->streams, n * sizeof(*v));
	if (!v)
		return NULL;
	memset(v + old, 0, (n - old) * sizeof(*v));
	c->streams = v;
	c->ncap = n;
	return &v[old];
}

/* A request HEADERS frame on a new stream; a full table grows, or at its bound emits the
 * oldest first. */
static struct h2_stream *stream_new(struct h2 *h, struct h2_conn *c, uint32_t sid)
{
	struct h2_stream *s = slot_of(c, 0), *oldest = NULL;

	if (!s)
		s = streams_grow(c);
	if (!s) {
		for (uint32_t i = 0; i < c->ncap; i++)
			if (!oldest || c->streams[i].req_first < oldest->req_first)
				oldest = &c->streams[i];
		h->st.streams_overflow++;
		if (oldest->handler)	/* reported before its end: the handler still runs */
			handler_park(h, c, oldest->goid);
		oldest->handler = false;
		stream_emit(h, c, oldest, PT_END_NEXT);
		s = oldest;
	}
	memset(s, 0, sizeof(*s));
	s->sid = sid;
	c->last_sid = sid;
	if (!c->first_sid)
		c->first_sid = sid;
	return s;
}

/* ---- header blocks ---- */

static void copy_path(char *dst, const uint8_t *v, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < PT_PATH_LEN - 1; i++) {
		if (v[i] == '?' || v[i] == '#' || !v[i])
			break;
		dst[i] = v[i];
	}
	dst[i] = 0;
}

static void copy_str(char *dst, size_t cap, const uint8_t *v, size_t n)
{
	n = n < cap - 1 ? n : cap - 1;
	memcpy(dst, v, n);
	dst[n] = 0;
	dst[strnlen(dst, n)] = 0;
}

static bool name_is(const nghttp2_nv *nv, const char *name)
{
	return nv->namelen == strlen(name) && !memcmp(nv->name, name, nv->namelen);
}

/* application/grpc, application/grpc+proto, application/grpc;...: a gRPC stream */
static bool grpc_content_type(const nghttp2_nv *nv)
{
	static const char ct[] = "application/grpc";
	size_t n = sizeof(ct) - 1;

	return name_is(nv, "content-type") && nv->valuelen >= n &&
	       !memcmp(nv->value, ct, n) &&
	       (nv->valuelen == n || nv->value[n] == '+' || nv->value[n] == ';');
}

static void label(struct h2_stream *s, bool request, const nghttp2_nv *nv)
{
	if (grpc_content_type(nv))
		s->grpc = true;
	if (request && name_is(nv, ":method")) {
		copy_str(s->method, sizeof(s->method), nv->value, nv->valuelen);
	} else if (request && name_is(nv, ":path")) {
		copy_path(s->path, nv->value, nv->valuelen);
	} else if (request && name_is(nv, ":authority")) {
		copy_str(s->authority, sizeof(s->authority), nv->value, nv->valuelen);
	} else if (!request && name_is(nv, ":status") && nv->valuelen == 3) {
		int st = (nv->value[0] - '0') * 100 + (nv->value[1] - '0') * 10 +
			 (nv->value[2] - '0');

		if (st >= 200 && st <= 599 && !s->status)
			s->status = st;
	} else if (!request && name_is(nv, "grpc-status") && nv->valuelen &&
		   nv->valuelen <= 2) {
		int g = 0;

		for (size_t i = 0; i < nv->valuelen; i++) {
			if (nv->value[i] < '0' || nv->value[i] > '9')
				return;
			g = g * 10 + nv->value[i] - '0';
		}
		s->has_grpc = true;
		s->grpc_status = g;
	}
}

/* Feed a whole header block to the direction's inflater; labels go to stream s (may be NULL). */
static int inflate_block(struct h2_side *sd, struct h2_stream *s, bool request,
			 const uint8_t *in, size_t len)
{
	for (;;) {
		nghttp2_nv nv;
		int flags = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(sd->inf, &nv, &flags, in, len, 1);

		if (rv < 0)
			return -EINVAL;
		in += rv;
		len -= rv;
		if ((flags & NGHTTP2_HD_INFLATE_EMIT) && s)
			label(s, request, &nv);
		if (flags & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(sd->inf);
			return 0;
		}
		if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && !len)
			return 0;
	}
}

/* END_HEADERS: the block is whole; decode it unless the connection is poisoned. */
static void block_done(struct h2 *h, struct h2_conn *c, int dir)
{
	struct h2_side *sd = &c->side[dir];
	struct h2_stream *s = sd->block_table_only ? NULL : stream_find(c, sd->block_sid);
	bool request = dir == req_dir(c);

	sd->block_open = false;
	if (c->poisoned || !sd->inf)
		return;
	if (inflate_block(sd, s, request, sd->block, sd->block_len)) {
		poison(h, c);
		if (s) {
			s->method[0] = s->path[0] = s->authority[0] = 0;
			s->status = 0;
			s->has_grpc = s->grpc = s->labelled = false;
		}
		return;
	}
	if (s && request)
		s->labelled = true;
}

static void block_add(struct h2 *h, struct h2_conn *c, struct h2_side *sd, const uint8_t *p,
		      size_t n)
{
	if (n > sizeof(sd->block) - sd->block_len) {
		poison(h, c);	/* the table would miss this block's insertions */
		sd->block_len = 0;
		return;
	}
	memcpy(sd->block + sd->block_len, p, n);
	sd->block_len += n;
}

/* ---- frames ---- */

/* HEADERS (PUSH_PROMISE) payload without its padding and priority fields (promised
 * stream id); false if malformed. */
static bool headers_fragment(const struct h2_side *sd, const uint8_t **p, size_t *n)
{
	size_t pad = 0, skip = sd->ftype == F_PUSH_PROMISE ? 4 : 0;

	*p = sd->frame;
	*n = sd->flen;
	if (sd->fflags & FL_PADDED) {
		if (!*n)
			return false;
		pad = (*p)[0];
		skip += 1;	/* the pad length comes first, a promised stream id after it */
	}
	if ((sd->fflags & FL_PRIORITY) && sd->ftype == F_HEADERS)
		skip += 5;
	if (skip + pad > *n)
		return false;
	*p += skip;
	*n -= skip + pad;
	return true;
}

/* A stream event at the frame's time: start, ttfb, the end of either side. */
static void stream_event(struct h2 *h, struct h2_conn *c, const struct sev *e)
{
	struct h2_stream *s = stream_find(c, e->sid);
	bool request = e->dir == req_dir(c);
	uint8_t ftype = e->ftype, fflags = e->fflags;
	uint64_t ts = e->ts, bytes = e->bytes;

	if (!e->sid)
		return;
	if (!s) {
		/* not a stream that started before we looked, server push, or trailers of a
		 * stream already reported (stream ids only grow: RFC 9113 5.1.1) */
		if (!request || ftype != F_HEADERS || e->sid <= c->last_sid)
			return;
		s = stream_new(h, c, e->sid);
		s->req_first = s->req_last = ts;
		s->tid = e->tid;
		s->goid = e->goid;
		s->parent = e->parent;
	}
	if (ftype == F_RST_STREAM) {
		s->error = PT_ERR_RESET;
		if (s->resp_first)
			s->resp_last = ts;
		stream_emit(h, c, s, PT_END_CLOSE);
		return;
	}
	if (request) {
		s->req_last = ts;
		s->bytes_req += bytes;
		return;
	}
	if (!s->resp_first && ftype == F_HEADERS)
		s->resp_first = ts;
	if (s->resp_first)
		s->resp_last = ts;
	s->bytes_resp += bytes;
	if (fflags & FL_END_STREAM)
		stream_emit(h, c, s, PT_END_NEXT);
}

static void settings(struct h2_conn *c, int dir, const uint8_t *p, size_t n)
{
	/* what one side allows the other's encoder: the inflater of the other direction */
	struct h2_side *peer = &c->side[!dir];

	for (size_t i = 0; i + 6 <= n; i += 6) {
		uint16_t id = p[i] << 8 | p[i + 1];
		uint32_t v = (uint32_t)p[i + 2] << 24 | p[i + 3] << 16 | p[i + 4] << 8 | p[i + 5];

		/* a larger bound at once; a smaller one is left to the encoder's own table
		 * size update (RFC 7541 4.2), which comes with its first block after it saw
		 * the setting: applied now, the bound would fail the blocks it encoded before */
		if (id == SETTINGS_HEADER_TABLE_SIZE && peer->inf && v > peer->table_max &&
		    !nghttp2_hd_inflate_change_table_size(peer->inf, v))
			peer->table_max = v;
	}
}

/*
 * The open header block of this direction cannot complete (a piece or a CONTINUATION was
 * lost, or a new block begins): the table misses its insertions (poisoned: no more
 * labels), its stream keeps its timing, and an END_STREAM its HEADERS carried still ends it.
 */
static void block_abandon(struct h2 *h, struct h2_conn *c, struct h2_side *sd)
{
	struct sev e = sd->block_ev;

	poison(h, c);
	if (!sd->block_open)
		return;
	sd->block_open = false;
	sd->block_len = 0;
	if (sd->block_end_stream) {
		e.ftype = F_HEADERS;
		e.fflags = FL_END_STREAM;
		e.bytes = 0;
		stream_event(h, c, &e);
	}
}

/* A frame whose payload went to userspace is complete. */
static void frame_done(struct h2 *h, struct h2_conn *c, int dir)
{
	struct h2_side *sd = &c->side[dir];
	const uint8_t *p = sd->frame;
	size_t n = sd->flen;

	if (sd->ftype == F_SETTINGS) {
		settings(c, dir, sd->frame, sd->flen);
		return;
	}
	if (sd->ftype == F_CONTINUATION) {
		if (!sd->block_open || sd->sid != sd->block_sid) {
			block_abandon(h, c, sd);
			return;
		}
	} else {	/* HEADERS, PUSH_PROMISE: a block starts */
		if (sd->block_open)
			block_abandon(h, c, sd);	/* the one before never ended */
		if (!headers_fragment(sd, &p, &n)) {
			poison(h, c);
			if (sd->ftype == F_HEADERS)	/* the stream still starts (or ends) */
				stream_event(h, c, &sd->ev);
			return;
		}
		sd->block_open = true;
		sd->block_ev = sd->ev;
		sd->block_sid = sd->sid;
		sd->block_len = 0;
		/* a pushed stream is no request of ours: its block only feeds the table */
		sd->block_table_only = sd->ftype == F_PUSH_PROMISE;
		sd->block_end_stream = sd->ftype == F_HEADERS && (sd->fflags & FL_END_STREAM);
	}
	if (!sd->block_table_only) {
		/* the stream exists before its labels: END_STREAM comes after them */
		sd->ev.fflags = 0;
		stream_event(h, c, &sd->ev);
	}
	block_add(h, c, sd, p, n);
	if (!(sd->fflags & FL_END_HEADERS))
		return;
	block_done(h, c, dir);
	if (sd->block_end_stream) {
		sd->ev.ftype = F_HEADERS;
		sd->ev.fflags = FL_END_STREAM;
		sd->ev.bytes = 0;
		stream_event(h, c, &sd->ev);
	}
}

static struct sev rec_event(const struct pt_h2_rec *r)
{
	struct sev e = { .dir = r->dir, .ftype = r->ftype, .fflags = r->fflags, .sid = r->sid,
			 .tid = r->tid, .ts = r->ts, .bytes = r->flen, .goid = r->goid,
			 .parent = r->parent_id };

	return e;
}

/* A piece of a captured frame's payload; the frame is processed once whole. */
static void frame_piece(struct h2 *h, struct h2_conn *c, const struct pt_h2_rec *r)
{
	struct h2_side *sd = &c->side[r->dir];

	if (r->frag_off == 0) {
		if (sd->flen && sd->got < sd->flen)
			poison(h, c);	/* the previous frame never completed */
		sd->ftype = r->ftype;
		sd->fflags = r->fflags;
		sd->sid = r->sid;
		sd->flen = r->flen;
		sd->got = 0;
		sd->ev = rec_event(r);
		sd->frame_bad = r->flen > sizeof(sd->frame);
	}
	if (r->frag_off != sd->got || r->sid != sd->sid || r->ftype != sd->ftype ||
	    r->frag_off > sd->flen || r->frag_len > sd->flen - r->frag_off) {
		poison(h, c);
		sd->frame_bad = true;
	}
	if (!sd->frame_bad)
		memcpy(sd->frame + sd->got, r->data, r->frag_len);
	sd->got = r->frag_off + r->frag_len;
	if (sd->got < sd->flen)
		return;
	if (sd->frame_bad) {
		poison(h, c);
		if (sd->ftype != F_SETTINGS)	/* a block piece: the open block is lost */
			block_abandon(h, c, sd);
		if (sd->ftype == F_HEADERS)	/* the stream still starts */
			stream_event(h, c, &sd->ev);
		return;
	}
	frame_done(h, c, r->dir);
}

/* Every stream in flight ends (connection closed, frame walking lost); so do the
 * connection's handler goroutines no stream carried. */
static void end_all(struct h2 *h, struct h2_conn *c, uint8_t end)
{
	for (uint32_t i = 0; i < c->ncap; i++)
		if (c->streams[i].sid)
			stream_emit(h, c, &c->streams[i], end);
	for (uint32_t i = 0; i < c->nparked; i++)
		handler_done(h, c->base.pid, c->parked[i]);
	c->nparked = 0;
}

/*
 * A Go server's handler goroutine that no stream record will carry: its stream left the
 * table before the handler started (emitted early: more streams at once than
 * H2_MAX_STREAMS), or its connection is not followed (c NULL: table full, record lost).
 * Its state in BPF must still go: with its connection's streams if the connection is
 * followed, else now (what the handler does from then on has no parent).
 */
static void handler_orphaned(struct h2 *h, struct h2_conn *c, const struct pt_h2_rec *r)
{
	h->st.orphan_handlers++;
	if (c && c->base.pid == r->pid)
		handler_park(h, c, r->goid);
	else
		handler_done(h, r->pid, r->goid);
}

/* A Go server's handler goroutine took stream sid: the stream is its request (the id
 * its children carry) and its goroutine. Not in the frame sequence. c: NULL if the
 * connection is not followed. */
static void handler_started(struct h2 *h, struct h2_conn *c, const struct pt_h2_rec *r)
{
	struct h2_stream *s = c && r->sid ? stream_find(c, r->sid) : NULL;

	if (!s || c->base.role != PT_ROLE_SERVER) {
		handler_orphaned(h, c, r);
		return;
	}
	if (s->handler && s->goid != r->goid)	/* a second one for the stream: keep both */
		handler_park(h, c, s->goid);
	s->req_id = r->parent_id;
	s->tid = r->tid;
	s->goid = r->goid;
	s->handler = true;
}

/* The connection ends (closed, or BPF gave up its frame walk): every stream in flight
 * ends, and its state goes. */
static void conn_close(struct h2 *h, struct h2_conn *c)
{
	end_all(h, c, PT_END_CLOSE);
	if (!c->first_taken && (c->base.flags & (PT_F_CONNECT | PT_F_TLS_HS))) {
		/* no stream: the connection still reports its connect/TLS */
		struct pt_req_rec rec = c->base;

		rec.flags &= ~PT_F_H2;
		rec.end_reason = PT_END_CLOSE;
		h->fn(h->ctx, &rec, "");
	}
	u64map_del(&h->conns, c->base.conn_id);
	conn_free(c);
}

void h2__frame(struct h2 *h, const void *data, size_t size)
{
	const struct pt_h2_rec *r = data;
	struct h2_side *sd;
	struct h2_conn *c;
	struct sev ev;

	if (size < offsetof(struct pt_h2_rec, data) || r->dir > 1 ||
	    r->frag_len > size - offsetof(struct pt_h2_rec, data) || r->frag_len > PT_H2_BLOCK)
		return;
	c = u64map_get(&h->conns, r->conn_id);
	if (r->kind == PT_H2_HANDLER) {
		handler_started(h, c, r);
		return;
	}
	if (!c)
		return;
	sd = &c->side[r->dir];
	if (sd->seq_known && r->seq != sd->next_seq) {
		h->st.lost_records++;
		poison(h, c);
	}
	sd->seq_known = true;
	sd->next_seq = r->seq + 1;
	if (r->kind == PT_H2_LOST) {
		/* BPF forgot the connection (it sends no close for it): so do we */
		h->st.walk_lost++;
		poison(h, c);
		conn_close(h, c);
		return;
	}
	switch (r->ftype) {
	case F_HEADERS: case F_CONTINUATION: case F_SETTINGS: case F_PUSH_PROMISE:
		frame_piece(h, c, r);
		break;
	case F_DATA: case F_RST_STREAM:
		ev = rec_event(r);
		ev.bytes = r->data_bytes;
		stream_event(h, c, &ev);
		break;
	}
}

static struct h2_conn *conn_open(struct h2 *h, const struct pt_req_rec *r)
{
	struct h2_conn *c;

	if (h->conns.len >= H2_MAX_CONNS) {
		h->st.conns_overflow++;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->streams = calloc(H2_STREAMS_INIT, sizeof(*c->streams));
	if (!c->streams) {
		free(c);
		return NULL;
	}
	c->ncap = H2_STREAMS_INIT;
	c->base = *r;
	for (int i = 0; i < 2; i++) {
		if (nghttp2_hd_inflate_new(&c->side[i].inf)) {
			conn_free(c);
			return NULL;
		}
		c->side[i].table_max = 4096;	/* RFC 9113 6.5.2's initial value */
	}
	if (u64map_put(&h->conns, r->conn_id, c)) {
		conn_free(c);
		return NULL;
	}
	h->st.conns++;
	return c;
}

void h2__conn(struct h2 *h, const struct pt_req_rec *r)
{
	struct h2_conn *c = u64map_get(&h->conns, r->conn_id);

	if (r->end_reason != PT_END_CLOSE) {
		if (!c)
			conn_open(h, r);
		return;
	}
	if (c)
		conn_close(h, c);
}

static void conn_end(struct h2 *h, struct h2_conn *c)
{
	end_all(h, c, PT_END_CLOSE);
}

void h2__flush(struct h2 *h)
{
	each_conn(h, conn_end);
}
