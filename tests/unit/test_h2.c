// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP/2 streams (user/assemble/h2.c) fed with frame records as BPF sends
 * them, header blocks encoded by nghttp2's own HPACK deflater: labels through
 * the dynamic table, blocks split into pieces and CONTINUATION frames,
 * multiplexed streams, a reset, a gRPC trailer, and a lost record that must
 * cost labels, never give wrong ones; hostile records (pieces past their frame, a block on
 * stream 0) and lost ones (a CONTINUATION, a whole connection's walk) that must cost no
 * more than that.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "assemble/h2.h"

#define MS 1000000ULL
#define CONN 77
#define SEND 0
#define RECV 1

#define MAX_GOT (H2_MAX_STREAMS + 8)
static struct pt_req_rec got[MAX_GOT];
static char got_host[MAX_GOT][PT_HOST_LEN];
static int ngot;
static uint32_t seq[2];
static nghttp2_hd_deflater *defl[2];

static uint64_t done[8];	/* PT_GO_KEY of handler goroutines handed back */
static int ndone;

static void on_done(void *ctx, uint32_t pid, uint64_t goid)
{
	assert_true(ndone < 8);
	done[ndone++] = PT_GO_KEY(pid, goid);
}

static void on_stream(void *ctx, const struct pt_req_rec *r, const char *authority)
{
	assert_true(ngot < MAX_GOT);
	got[ngot] = *r;
	snprintf(got_host[ngot], PT_HOST_LEN, "%s", authority);
	ngot++;
}

static struct h2 *setup_role(uint8_t role)
{
	struct pt_req_rec c = { .type = PT_REC_REQ, .role = role, .conn_id = CONN, .pid = 5,
				.flags = PT_F_H2 | PT_F_CONNECT, .proto = PT_PROTO_H2 };
	struct h2 *h = h2__new(on_stream, on_done, NULL);

	assert_non_null(h);
	ngot = 0;
	ndone = 0;
	memset(seq, 0, sizeof(seq));
	for (int i = 0; i < 2; i++)
		assert_int_equal(nghttp2_hd_deflate_new(&defl[i], 4096), 0);
	h2__conn(h, &c);
	return h;
}

static struct h2 *setup(void)
{
	return setup_role(PT_ROLE_CLIENT);
}

static void teardown(struct h2 *h)
{
	for (int i = 0; i < 2; i++)
		nghttp2_hd_deflate_del(defl[i]);
	h2__free(h);
}

/* One record: frame ftype/flags of stream sid, payload piece [off, off + n) of flen. */
static void rec(struct h2 *h, int dir, uint8_t ftype, uint8_t flags, uint32_t sid, uint32_t flen,
		uint32_t off, const uint8_t *p, uint32_t n, uint64_t ts)
{
	struct pt_h2_rec r = { .type = PT_REC_H2, .kind = PT_H2_FRAME, .dir = dir, .ftype = ftype,
			       .fflags = flags, .sid = sid, .flen = flen, .seq = seq[dir]++,
			       .frag_off = off, .frag_len = n, .conn_id = CONN, .ts = ts };

	if (n)
		memcpy(r.data, p, n);
	h2__frame(h, &r, offsetof(struct pt_h2_rec, data) + n);
}

/* HEADERS with the encoded block, in pieces of at most piece bytes (a frame split across I/O). */
static void headers(struct h2 *h, int dir, uint32_t sid, bool end, const nghttp2_nv *nv, int n,
		    uint64_t ts, size_t piece)
{
	uint8_t buf[1024];
	ssize_t len = nghttp2_hd_deflate_hd(defl[dir], buf, sizeof(buf), (nghttp2_nv *)nv, n);

	assert_true(len > 0);
	for (size_t off = 0; off < (size_t)len; off += piece) {
		size_t k = (size_t)len - off < piece ? (size_t)len - off : piece;

		rec(h, dir, 1, 0x4 | (end ? 1 : 0), sid, len, off, buf + off, k, ts);
	}
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, 0 }

static const nghttp2_nv req_a[] = { NV(":method", "GET"), NV(":path", "/a?x=1"),
				    NV(":scheme", "https"), NV(":authority", "api.test") };
static const nghttp2_nv req_b[] = { NV(":method", "GET"), NV(":path", "/b"),
				    NV(":scheme", "https"), NV(":authority", "api.test") };
static const nghttp2_nv resp_200[] = { NV(":status", "200"), NV("server", "nginx") };
static const nghttp2_nv resp_404[] = { NV(":status", "404"), NV("server", "nginx") };

static void test_multiplexed(void **state)
{
	struct h2 *h = setup();

	headers(h, SEND, 1, true, req_a, 4, 10 * MS, 512);
	headers(h, SEND, 3, true, req_b, 4, 11 * MS, 3);	/* split in 3-byte pieces */
	headers(h, RECV, 3, false, resp_404, 2, 40 * MS, 512);
	rec(h, RECV, 0, 1, 3, 10, 0, NULL, 0, 41 * MS);		/* DATA, END_STREAM */
	headers(h, RECV, 1, false, resp_200, 2, 90 * MS, 512);
	rec(h, RECV, 0, 1, 1, 5, 0, NULL, 0, 95 * MS);
	assert_int_equal(ngot, 2);
	/* stream 3 ended first; the connect phase goes with the first stream started */
	assert_int_equal(got[0].stream_id, 3);
	assert_string_equal(got[0].path, "/b");
	assert_int_equal(got[0].status, 404);
	assert_int_equal(got[0].req_first, 11 * MS);
	assert_int_equal(got[0].resp_first, 40 * MS);
	assert_int_equal(got[0].resp_last, 41 * MS);
	assert_int_equal(got[1].stream_id, 1);
	assert_string_equal(got[1].method, "GET");
	assert_string_equal(got[1].path, "/a");
	assert_int_equal(got[1].status, 200);
	assert_string_equal(got_host[1], "api.test");
	assert_false(got[0].flags & PT_F_CONNECT);
	assert_true(got[1].flags & PT_F_CONNECT);
	assert_int_equal(got[1].proto, PT_PROTO_H2);
	teardown(h);
}

static void test_reset_and_grpc(void **state)
{
	static const nghttp2_nv post[] = { NV(":method", "POST"), NV(":path", "/pkg.Svc/Do"),
					   NV("content-type", "application/grpc") };
	static const nghttp2_nv trailer[] = { NV("grpc-status", "14") };
	struct h2 *h = setup();

	headers(h, SEND, 1, false, post, 3, 1 * MS, 512);
	rec(h, SEND, 0, 1, 1, 8, 0, NULL, 0, 2 * MS);
	headers(h, RECV, 1, false, resp_200, 2, 30 * MS, 512);
	headers(h, RECV, 1, true, trailer, 1, 31 * MS, 512);
	headers(h, SEND, 3, true, req_b, 4, 40 * MS, 512);
	rec(h, RECV, 3, 0, 3, 4, 0, NULL, 0, 45 * MS);		/* RST_STREAM */
	assert_int_equal(ngot, 2);
	assert_string_equal(got[0].method, "POST");
	assert_int_equal(got[0].req_last, 2 * MS);
	assert_int_equal(got[0].status, 200);
	assert_int_equal(got[0].grpc_status, 14 + 1);
	assert_int_equal(got[0].error, PT_ERR_GRPC);
	assert_true(got[0].flags & PT_F_GRPC);		/* content-type application/grpc */
	assert_int_equal(got[1].error, PT_ERR_RESET);
	assert_false(got[1].flags & PT_F_GRPC);
	assert_string_equal(got[1].path, "/b");
	teardown(h);
}

static void test_lost_record_poisons(void **state)
{
	struct h2 *h = setup();
	uint8_t junk[16] = { 0 };

	headers(h, SEND, 1, true, req_a, 4, 1 * MS, 512);
	headers(h, RECV, 1, true, resp_200, 2, 5 * MS, 512);
	/* a request header block is lost: the deflater's table moved on, ours did not */
	nghttp2_hd_deflate_hd(defl[SEND], junk, sizeof(junk), (nghttp2_nv *)req_b, 4);
	seq[SEND]++;
	headers(h, SEND, 3, true, req_b, 4, 10 * MS, 512);
	headers(h, RECV, 3, true, resp_200, 2, 20 * MS, 512);
	assert_int_equal(ngot, 2);
	assert_string_equal(got[0].path, "/a");
	assert_false(got[1].flags & PT_F_HTTP);		/* no labels, never wrong ones */
	assert_int_equal(got[1].status, 0);
	assert_int_equal(got[1].resp_first, 20 * MS);	/* timing kept */
	assert_string_equal(got_host[1], "");
	teardown(h);
}

/* A server push's block changes the response direction's table: it must be decoded. */
static void test_push_promise_feeds_table(void **state)
{
	static const nghttp2_nv promised[] = { NV(":method", "GET"), NV(":path", "/style.css"),
					       NV("x-trace", "abcdef0123456789") };
	static const nghttp2_nv resp[] = { NV(":status", "203"), NV("x-trace", "abcdef0123456789"),
					   NV(":path", "/style.css") };
	struct h2 *h = setup();
	uint8_t pp[256] = { 0, 0, 0, 2 };	/* promised stream 2 */
	ssize_t len;

	headers(h, SEND, 1, true, req_a, 4, 1 * MS, 512);
	len = nghttp2_hd_deflate_hd(defl[RECV], pp + 4, sizeof(pp) - 4, (nghttp2_nv *)promised, 3);
	assert_true(len > 0);
	rec(h, RECV, 5, 0x4, 1, len + 4, 0, pp, len + 4, 2 * MS);
	headers(h, RECV, 1, true, resp, 3, 3 * MS, 512);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].status, 203);
	assert_string_equal(got[0].path, "/a");
	teardown(h);
}

static void test_close_ends_streams(void **state)
{
	struct pt_req_rec close = { .type = PT_REC_REQ, .role = PT_ROLE_CLIENT, .conn_id = CONN,
				    .flags = PT_F_H2, .end_reason = PT_END_CLOSE };
	struct h2 *h = setup();

	headers(h, SEND, 1, true, req_a, 4, 1 * MS, 512);
	h2__conn(h, &close);
	assert_int_equal(ngot, 1);
	assert_true(got[0].flags & PT_F_NO_RESP);
	assert_int_equal(got[0].end_reason, PT_END_CLOSE);
	teardown(h);
}

/* A Go server's handler goroutine names its stream (outside the frame sequence): the
 * stream's record takes the id the handler's children carry, and its goroutine, which is
 * handed back when the stream ends (its state in BPF goes then). A handler whose
 * connection is not followed is handed back at once; one whose stream is not in the
 * table, when the connection's streams end. */
static void test_go_handler_names_stream(void **state)
{
	struct pt_h2_rec hr = { .type = PT_REC_H2, .kind = PT_H2_HANDLER, .sid = 3, .tid = 7,
				.pid = 5, .goid = 42, .conn_id = CONN, .ts = 12 * MS,
				.parent_id = 0x1234 };
	struct h2 *h = setup_role(PT_ROLE_SERVER);
	struct h2_stats st;

	headers(h, RECV, 1, true, req_a, 4, 10 * MS, 512);
	headers(h, RECV, 3, true, req_b, 4, 11 * MS, 512);
	h2__frame(h, &hr, offsetof(struct pt_h2_rec, data));
	assert_int_equal(ndone, 0);
	hr.sid = 1;	/* no such connection: handed back at once */
	hr.goid = 44;
	hr.conn_id = CONN + 1;
	h2__frame(h, &hr, offsetof(struct pt_h2_rec, data));
	assert_int_equal(ndone, 1);
	assert_int_equal(done[0], PT_GO_KEY(5, 44));
	hr.sid = 9;	/* no such stream: handed back with the connection's streams */
	hr.goid = 43;
	hr.conn_id = CONN;
	h2__frame(h, &hr, offsetof(struct pt_h2_rec, data));
	assert_int_equal(ndone, 1);
	h2__stats(h, &st);
	assert_int_equal(st.orphan_handlers, 2);
	headers(h, SEND, 3, false, resp_200, 2, 40 * MS, 512);
	rec(h, SEND, 0, 1, 3, 10, 0, NULL, 0, 41 * MS);
	assert_int_equal(ndone, 2);	/* stream 3 ended: its handler is done */
	assert_int_equal(done[1], PT_GO_KEY(5, 42));
	headers(h, SEND, 1, false, resp_404, 2, 50 * MS, 512);
	rec(h, SEND, 0, 1, 1, 10, 0, NULL, 0, 51 * MS);
	assert_int_equal(ndone, 2);	/* stream 1 had no handler record */
	assert_int_equal(ngot, 2);
	assert_int_equal(got[0].stream_id, 3);
	assert_int_equal(got[0].req_id, 0x1234);
	assert_int_equal(got[0].goid, 42);
	assert_int_equal(got[0].tid, 7);
	assert_string_equal(got[0].path, "/b");	/* labels intact: no gap in the sequence */
	assert_int_equal(got[0].status, 200);
	assert_int_equal(got[1].stream_id, 1);
	assert_true(got[1].req_id != 0x1234 && got[1].req_id != got[0].req_id);
	assert_string_equal(got[1].path, "/a");
	assert_int_equal(got[1].status, 404);
	h2__flush(h);	/* the connection's streams end */
	assert_int_equal(ndone, 3);
	assert_int_equal(done[2], PT_GO_KEY(5, 43));
	teardown(h);
}

/* More streams at once than the table holds (it grows up to H2_MAX_STREAMS): the oldest
 * is reported early, while its handler still runs. Its goroutine is not handed back then,
 * but when the connection's streams end; the handler's record for a stream already
 * reported waits the same way. */
static void test_go_handler_stream_reported_early(void **state)
{
	struct pt_h2_rec hr = { .type = PT_REC_H2, .kind = PT_H2_HANDLER, .sid = 1, .pid = 5,
				.goid = 100, .conn_id = CONN, .parent_id = 0x99 };
	struct h2 *h = setup_role(PT_ROLE_SERVER);
	uint32_t sid;

	for (sid = 1; sid <= 2 * H2_MAX_STREAMS - 1; sid += 2)
		headers(h, RECV, sid, true, req_a, 4, sid * MS, 512);
	h2__frame(h, &hr, offsetof(struct pt_h2_rec, data));	/* stream 1's handler */
	assert_int_equal(ngot, 0);
	headers(h, RECV, sid, true, req_b, 4, sid * MS, 512);	/* one more: 1 goes early */
	sid += 2;
	headers(h, RECV, sid, true, req_b, 4, sid * MS, 512);	/* and then 3 */
	assert_int_equal(ngot, 2);
	assert_int_equal(got[0].stream_id, 1);
	assert_int_equal(got[0].goid, 100);
	assert_int_equal(got[1].stream_id, 3);
	hr.sid = 3;	/* stream 3's handler starts after its stream was reported */
	hr.goid = 101;
	h2__frame(h, &hr, offsetof(struct pt_h2_rec, data));
	assert_int_equal(ndone, 0);	/* both handlers may still run */
	h2__flush(h);
	/* every stream once, through the table's growth from H2_STREAMS_INIT slots */
	assert_int_equal(ngot, H2_MAX_STREAMS + 2);
	for (int i = 0; i < ngot; i++)
		assert_int_equal(got[i].stream_id % 2, 1);
	for (int i = 2; i < ngot; i++)
		for (int j = i + 1; j < ngot; j++)
			assert_true(got[i].stream_id != got[j].stream_id);
	assert_int_equal(ndone, 2);
	assert_int_equal(done[0], PT_GO_KEY(5, 100));
	assert_int_equal(done[1], PT_GO_KEY(5, 101));
	teardown(h);
}

/* A HEADERS frame whose CONTINUATION is lost: its block can never end. The connection's
 * labels go (poisoned), but every later stream still starts and ends with its timing. */
static void test_lost_continuation_keeps_streams(void **state)
{
	struct h2 *h = setup();
	uint8_t buf[256];
	ssize_t len = nghttp2_hd_deflate_hd(defl[SEND], buf, sizeof(buf), (nghttp2_nv *)req_a, 4);
	struct h2_stats st;

	assert_true(len > 0);
	rec(h, SEND, 1, 0x1, 1, len, 0, buf, len, 1 * MS);	/* END_STREAM, no END_HEADERS */
	seq[SEND]++;						/* its CONTINUATION lost */
	for (uint32_t sid = 3; sid < 23; sid += 2) {
		headers(h, SEND, sid, true, req_b, 4, sid * MS, 512);
		headers(h, RECV, sid, true, resp_200, 2, sid * MS + 1, 512);
	}
	assert_int_equal(ngot, 10);
	for (int i = 0; i < ngot; i++) {
		assert_int_equal(got[i].stream_id, 3 + 2 * i);
		assert_int_equal(got[i].resp_first, got[i].req_first + 1);
		assert_false(got[i].flags & PT_F_HTTP);		/* no labels, never wrong ones */
	}
	h2__stats(h, &st);
	assert_int_equal(st.poisoned, 1);
	h2__flush(h);
	assert_int_equal(ngot, 11);				/* stream 1, without response */
	assert_int_equal(got[10].stream_id, 1);
	teardown(h);
}

/* Pieces of a frame that claim more bytes than the frame has (hostile records): the frame
 * is dropped as bad, nothing past it is written, later streams go on. */
static void test_piece_past_frame(void **state)
{
	struct h2 *h = setup();
	uint8_t junk[PT_H2_BLOCK];

	memset(junk, 0x41, sizeof(junk));
	rec(h, SEND, 9, 0, 1, H2_BLOCK_MAX, 0, junk, 500, 1 * MS);	/* CONTINUATION */
	for (uint32_t off = 500; off + PT_H2_BLOCK <= H2_BLOCK_MAX; off += PT_H2_BLOCK)
		rec(h, SEND, 9, 0, 1, H2_BLOCK_MAX, off, junk, PT_H2_BLOCK, 1 * MS);
	rec(h, SEND, 9, 0, 1, H2_BLOCK_MAX, H2_BLOCK_MAX - 12, junk, PT_H2_BLOCK, 1 * MS);
	headers(h, SEND, 3, true, req_b, 4, 3 * MS, 512);
	headers(h, RECV, 3, true, resp_200, 2, 4 * MS, 512);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].stream_id, 3);
	assert_int_equal(got[0].resp_first, 4 * MS);
	teardown(h);
}

/* BPF gives up a connection's frame walk and forgets it (no close record follows): the
 * collector forgets it too, its streams end, and its connect phase is still reported. */
static void test_walk_lost_frees_conn(void **state)
{
	struct pt_req_rec c = { .type = PT_REC_REQ, .role = PT_ROLE_CLIENT, .pid = 5,
				.flags = PT_F_H2, .proto = PT_PROTO_H2 };
	struct pt_h2_rec lost = { .type = PT_REC_H2, .kind = PT_H2_LOST };
	struct h2 *h = setup();
	struct h2_stats st;

	headers(h, SEND, 1, true, req_a, 4, 1 * MS, 512);
	lost.conn_id = CONN;
	h2__frame(h, &lost, offsetof(struct pt_h2_rec, data));
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].end_reason, PT_END_CLOSE);
	assert_true(got[0].flags & PT_F_CONNECT);
	for (uint64_t id = 1000; id < 1000 + H2_MAX_CONNS; id++) {
		c.conn_id = lost.conn_id = id;
		h2__conn(h, &c);
		h2__frame(h, &lost, offsetof(struct pt_h2_rec, data));
	}
	assert_int_equal(ngot, 1);	/* (no connect phase to report) */
	c.conn_id = 5000;		/* still followed: the table is not full of lost ones */
	c.flags |= PT_F_CONNECT;
	h2__conn(h, &c);
	lost.conn_id = c.conn_id;
	h2__frame(h, &lost, offsetof(struct pt_h2_rec, data));
	assert_int_equal(ngot, 2);	/* its connect, which no stream took */
	assert_false(got[1].flags & PT_F_H2);
	assert_true(got[1].flags & PT_F_CONNECT);
	h2__stats(h, &st);
	assert_int_equal(st.conns_overflow, 0);
	assert_int_equal(st.walk_lost, 2 + H2_MAX_CONNS);
	teardown(h);
}

/* A padded PUSH_PROMISE: pad length, then the promised stream id, then the block. */
static void test_padded_push_promise(void **state)
{
	static const nghttp2_nv promised[] = { NV(":method", "GET"), NV(":path", "/style.css") };
	struct h2 *h = setup();
	uint8_t pp[256] = { 3, 0, 0, 0, 2 };	/* 3 bytes of padding, promised stream 2 */
	struct h2_stats st;
	ssize_t len;

	headers(h, SEND, 1, true, req_a, 4, 1 * MS, 512);
	len = nghttp2_hd_deflate_hd(defl[RECV], pp + 5, sizeof(pp) - 8, (nghttp2_nv *)promised, 2);
	assert_true(len > 0);
	rec(h, RECV, 5, 0x4 | 0x8, 1, len + 8, 0, pp, len + 8, 2 * MS);
	headers(h, RECV, 1, true, resp_200, 2, 3 * MS, 512);
	h2__stats(h, &st);
	assert_int_equal(st.poisoned, 0);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].status, 200);
	teardown(h);
}

/* A header block on stream 0 (hostile) labels no stream: not the next one either. */
static void test_stream0_block_labels_nothing(void **state)
{
	static const nghttp2_nv bad[] = { NV(":status", "503"), NV("grpc-status", "13") };
	struct h2 *h = setup();

	headers(h, RECV, 0, false, bad, 2, 1 * MS, 512);
	headers(h, SEND, 1, true, req_a, 4, 2 * MS, 512);
	headers(h, RECV, 1, true, resp_200, 2, 3 * MS, 512);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].status, 200);
	assert_int_equal(got[0].error, PT_ERR_NONE);
	assert_false(got[0].flags & PT_F_GRPC);
	teardown(h);
}

/* A server lowers SETTINGS_HEADER_TABLE_SIZE before the client has seen it: the client's
 * first blocks, encoded under the old size, still decode (the smaller bound takes effect
 * through the encoder's own table size update). */
static void test_table_size_lowered(void **state)
{
	static const uint8_t s0[6] = { 0, 1, 0, 0, 0, 0 };	/* HEADER_TABLE_SIZE 0 */
	struct h2 *h = setup_role(PT_ROLE_SERVER);
	struct h2_stats st;

	rec(h, SEND, 4, 0, 0, 6, 0, s0, 6, 1 * MS);
	headers(h, RECV, 1, true, req_a, 4, 2 * MS, 512);
	headers(h, SEND, 1, true, resp_200, 2, 3 * MS, 512);
	assert_int_equal(nghttp2_hd_deflate_change_table_size(defl[RECV], 0), 0);
	headers(h, RECV, 3, true, req_b, 4, 4 * MS, 512);	/* with its size update */
	headers(h, SEND, 3, true, resp_404, 2, 5 * MS, 512);
	h2__stats(h, &st);
	assert_int_equal(st.poisoned, 0);
	assert_int_equal(ngot, 2);
	assert_string_equal(got[0].path, "/a");
	assert_string_equal(got[1].path, "/b");
	assert_int_equal(got[1].status, 404);
	teardown(h);
}

/* Request trailers (a HEADERS frame) of a stream already reported make no second stream. */
static void test_trailers_of_reported_stream(void **state)
{
	static const nghttp2_nv trailer[] = { NV("x-checksum", "abc") };
	struct h2 *h = setup();

	headers(h, SEND, 1, false, req_a, 4, 1 * MS, 512);
	headers(h, RECV, 1, true, resp_200, 2, 2 * MS, 512);	/* answered before the end */
	headers(h, SEND, 1, true, trailer, 1, 3 * MS, 512);
	h2__flush(h);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].stream_id, 1);
	teardown(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multiplexed),
		cmocka_unit_test(test_reset_and_grpc),
		cmocka_unit_test(test_lost_record_poisons),
		cmocka_unit_test(test_close_ends_streams),
		cmocka_unit_test(test_push_promise_feeds_table),
		cmocka_unit_test(test_go_handler_names_stream),
		cmocka_unit_test(test_go_handler_stream_reported_early),
		cmocka_unit_test(test_lost_continuation_keeps_streams),
		cmocka_unit_test(test_piece_past_frame),
		cmocka_unit_test(test_walk_lost_frees_conn),
		cmocka_unit_test(test_padded_push_promise),
		cmocka_unit_test(test_stream0_block_labels_nothing),
		cmocka_unit_test(test_table_size_lowered),
		cmocka_unit_test(test_trailers_of_reported_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
