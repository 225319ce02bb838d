/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --otlp URL: every finished request as OpenTelemetry spans, sent as OTLP/HTTP protobuf
 * (POST URL/v1/traces) by a sender thread with libcurl. See docs/otlp.md.
 *
 * Threads: otlp__on_request() (the sink) runs on the collector thread and only copies
 * the request into a bounded queue (a full queue drops it, counted); encoding, batching,
 * the POSTs and the retries with exponential backoff run on the sender thread, so the
 * event loop never waits for the network. otlp__stats() may be called from any thread.
 */
#ifndef PT_OTLP_H
#define PT_OTLP_H

#include <stddef.h>
#include <stdint.h>
#include "assemble/request.h"
#include "assemble/sink.h"

#define OTLP_MAX_HEADERS	16
#define OTLP_DEFAULT_QUEUE	8192	/* spans */
#define OTLP_DEFAULT_BATCH	512	/* spans per POST (a request tree is never split) */
#define OTLP_DEFAULT_DELAY_MS	200	/* how long a partial batch waits for more */
#define OTLP_MAX_TRIES		5	/* a POST and 4 retries, 0.1 .. 0.8 s apart */

struct otlp_opts {
	const char *url;		/* base URL: spans go to URL/v1/traces */
	const char *const *headers;	/* "Key=Value", checked with otlp__check_header() */
	int nheaders;
	int max_queue;			/* 0: OTLP_DEFAULT_QUEUE */
	int batch;			/* 0: OTLP_DEFAULT_BATCH */
	int delay_ms;			/* 0: OTLP_DEFAULT_DELAY_MS */
	int flush_ms;			/* at exit, time to send what is queued; 0: 3000 */
};

/* Totals since start. */
struct otlp_stats {
	uint64_t spans_sent;		/* accepted by the receiver (2xx) */
	uint64_t spans_queue_full;	/* dropped: the queue was full */
	uint64_t spans_failed;		/* dropped: their batch failed every try, or a 4xx */
	uint64_t spans_shutdown;	/* dropped: still queued when the flush time ran out */
	uint64_t batches_sent, batches_failed;	/* POSTed batches, by final outcome */
	uint64_t batches_retried;	/* tries that failed and were tried again */
};

struct otlp;

/* Checks for the command line: 0, or -EINVAL and one sentence in err. */
int otlp__check_url(const char *url, char *err, size_t errlen);
int otlp__check_header(const char *kv, char *err, size_t errlen);

/* Starts the sender thread (with every signal blocked). 0, or -errno and err. */
int otlp__new(struct otlp **out, const struct otlp_opts *opts, char *err, size_t errlen);
/* Queue a finished request tree (copied); never blocks on the network. */
void otlp__on_request(struct otlp *o, const struct request *r);
/* A sink for the collector: {"otlp", on_request, o}. */
struct sink otlp__sink(struct otlp *o);
void otlp__stats(struct otlp *o, struct otlp_stats *st);
/* Sends what is queued (at most opts.flush_ms more) and stops the thread; the sink must
 * not be called after. NULL-safe. */
void otlp__stop(struct otlp *o);
/* otlp__stop(), then frees. NULL-safe. */
void otlp__free(struct otlp *o);

#endif
