/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/2 streams: BPF's frame records of an h2 connection (PT_REC_H2, between
 * the PT_F_H2 connection records at its detection and its close) in, one
 * request record per stream out, for the assembler like any other.
 *
 *  - per stream: start = request HEADERS, request end = END_STREAM from the
 *    requester, ttfb = response HEADERS, end = END_STREAM of the response or
 *    RST_STREAM (error "reset"); the connection's connect/TLS go on its first
 *    stream;
 *  - labels from HPACK: nghttp2's inflater, one per connection and direction,
 *    fed every header block in order. A block that was not seen whole (a lost
 *    record or CONTINUATION, a block over H2_BLOCK_MAX, pieces that do not fit
 *    their frame) poisons the connection: its streams keep their timing and lose
 *    their labels (counted), never wrong labels; a connection whose frame walk BPF
 *    gave up (PT_H2_LOST) ends as if closed;
 *  - :method, :path (query removed), :authority (the host), :status; a
 *    grpc-status trailer becomes the status, and error "grpc" when not 0.
 * Records arrive in ring-buffer order, which per connection and direction is
 * the order of the bytes (seq numbers check it). Bounded: H2_MAX_CONNS
 * connections, H2_MAX_STREAMS open streams each (overflow emitted early).
 */
#ifndef PT_H2_H
#define PT_H2_H

#include <stddef.h>
#include <stdint.h>
#include "phasetrace.h"

#define H2_MAX_CONNS	1024
#define H2_MAX_STREAMS	256	/* streams at once per connection (Go allows 250) */
#define H2_STREAMS_INIT	16	/* slots a connection starts with, doubled as needed */
#define H2_BLOCK_MAX	8192	/* header block bytes kept per direction */

/* A finished stream; authority: its :authority or "" (both only valid during the call). */
typedef void (*h2_stream_fn)(void *ctx, const struct pt_req_rec *rec, const char *authority);
/*
 * A Go server's stream handler goroutine (pid, goid) is done with, and its state in BPF
 * should go: its stream ended (reported, or reset); or its stream was reported early
 * (more streams at once than H2_MAX_STREAMS) or before the handler started, and the
 * connection's streams ended; or its connection is not followed (at once).
 */
typedef void (*h2_handler_done_fn)(void *ctx, uint32_t pid, uint64_t goid);

struct h2_stats {
	uint64_t conns;			/* HTTP/2 connections seen */
	uint64_t streams;		/* stream records handed on */
	uint64_t poisoned;		/* connections whose HPACK state was lost */
	uint64_t unlabelled;		/* streams without labels because of that */
	uint64_t lost_records;		/* gaps in a direction's record sequence */
	uint64_t walk_lost;		/* connections BPF stopped walking (PT_H2_LOST) */
	uint64_t conns_overflow;	/* connections not followed: table full */
	uint64_t streams_overflow;	/* streams emitted early: stream table full */
	uint64_t orphan_handlers;	/* handler goroutines no stream record carried */
};

struct h2;

/* done may be NULL */
struct h2 *h2__new(h2_stream_fn fn, h2_handler_done_fn done, void *ctx);
void h2__free(struct h2 *h);
/* A PT_REC_REQ with PT_F_H2: the connection starts (PT_END_NEXT) or closes. */
void h2__conn(struct h2 *h, const struct pt_req_rec *r);
/* A PT_REC_H2 record of size bytes as read from the ring. */
void h2__frame(struct h2 *h, const void *data, size_t size);
/* Emit every stream in flight and forget every connection (exit). */
void h2__flush(struct h2 *h);
void h2__stats(const struct h2 *h, struct h2_stats *st);

#endif
