/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Finished requests as an OTLP ExportTraceServiceRequest (protobuf, packed with the
 * protobuf-c code the Makefile generates from Debian's opentelemetry-proto files).
 * Used by export/otlp.c on its sender thread; pure functions, no I/O.
 *
 * Spans: one per request (SERVER / CLIENT), one INTERNAL child per phase named after it,
 * outbound requests (children) under the span of the server request they ran in. Trace
 * and span ids are a hash of the tracer's request ids and a per-run salt, so the same
 * request always gets the same ids within a run and different ids across runs.
 */
#ifndef PT_OTLP_ENCODE_H
#define PT_OTLP_ENCODE_H

#include <stddef.h>
#include <stdint.h>
#include "assemble/request.h"

struct otlp_salt {
	uint64_t a, b;		/* random, once per run */
};

/* Spans one request tree becomes (the request, its phases, its children's). */
int otlp_span_count(const struct request *r);

/*
 * Pack n request trees into one ExportTraceServiceRequest: one ResourceSpans per
 * (pid, comm) with service.name, host.name, process.pid, process.executable.name.
 * *buf is malloc'ed (the caller frees). 0 or -ENOMEM.
 */
int otlp_encode(const struct otlp_salt *salt, const char *host_name,
		struct request *const *reqs, int n, uint8_t **buf, size_t *len);

/* The ids of request req_id (bytes in the order OTLP sends them). */
void otlp_trace_id(const struct otlp_salt *salt, uint64_t root_req_id, uint8_t out[16]);
/* phase: -1 for the request span, else the index of the phase in request.phases */
void otlp_span_id(const struct otlp_salt *salt, uint64_t req_id, int phase, uint8_t out[8]);

#endif
