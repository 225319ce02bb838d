/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * assemble/: BPF records in, finished request timelines out (assembler: reorder window,
 * dns attribution, nesting; request.h: the struct every output reads; sink.h: where
 * finished requests go).
 *
 * The request assembler: turns BPF records (requests, lookups, spans) into
 * struct request timelines and hands them to the sinks.
 *
 *  - records are released in the order of their end time after a short
 *    reorder window, so delivery order across CPUs does not matter;
 *  - a client request's first connection gets the dns phase of the lookup
 *    (same process, any thread) that resolved its peer address;
 *  - requests and spans carrying a parent id are nested under that server
 *    request; they wait for it (bounded, with a timeout) and are emitted on
 *    their own if it never comes.
 * No BPF here: unit tests feed it recorded sequences.
 */
#ifndef PT_ASSEMBLER_H
#define PT_ASSEMBLER_H

#include <stdint.h>
#include "phasetrace.h"
#include "assemble/request.h"
#include "assemble/sink.h"

struct assembler_opts {
	uint64_t reorder_ns;	/* hold records this long for late arrivals */
	uint64_t dns_gap_ns;	/* lookup end -> connect start allowed for the dns phase */
	uint64_t orphan_ns;	/* children wait this long for their parent */
	uint32_t max_pending;	/* records held at most (oldest released early) */
	uint32_t max_children;	/* children held at most */
};

struct assembler_stats {
	uint64_t reqs_in, dns_in, spans_in;
	uint64_t emitted;		/* top-level requests handed to sinks */
	uint64_t nested;		/* children attached to a parent */
	uint64_t orphans;		/* children emitted without their parent */
	uint64_t duplicates;		/* records already flushed on idle */
	uint64_t idle_cut;		/* of those, responses that went on after the flush */
	uint64_t idle_marked;		/* of those, marked by BPF (PT_F_IDLE_SENT) */
	uint64_t pending_overflow;	/* released early: too many pending */
	uint64_t children_overflow;
	uint64_t empty;			/* records with nothing timed, dropped */
	uint32_t pending, children_waiting, dns_cached;
};

struct assembler;

struct assembler *assembler__new(const struct assembler_opts *opts);
void assembler__free(struct assembler *a);
int assembler__add_sink(struct assembler *a, const struct sink *s);
/*
 * Called with every request and its children just before the sinks see them
 * (the collector fills request->container from its cgroup id: cgroups.h). It must write
 * all of request->container (cgroups__fill() does): until then only its cgroup_id is set.
 * Without one, the rest of the container is zeroed there.
 */
typedef void (*assembler_enrich_fn)(void *ctx, struct request *r);
void assembler__set_enrich(struct assembler *a, assembler_enrich_fn fn, void *ctx);
/* Who made rec and where (role, process, addresses, connection, cgroup_id), the rest of
 * r as request_init() leaves it: what a request's metrics row needs, before it is built. */
void assembler__request_who(const struct pt_req_rec *rec, struct request *r);
/* The host a client's connect record rec will have (assembler.c), if already known. */
bool assembler__connect_host(struct assembler *a, const struct pt_req_rec *rec, char *host,
			     size_t len);
/* Name of --probe span idx ("render" is the render phase). */
int assembler__set_span_name(struct assembler *a, uint32_t idx, const char *name);

/* Feed a record (copied). idle: the collector flushed it from an idle connection. */
void assembler__add_req(struct assembler *a, const struct pt_req_rec *r, bool idle);
/* A request that names its host itself (HTTP/2 :authority), used when no lookup names it. */
void assembler__add_req_host(struct assembler *a, const struct pt_req_rec *r, const char *host);
void assembler__add_dns(struct assembler *a, const struct pt_dns_rec *r);
void assembler__add_span(struct assembler *a, const struct pt_span_rec *r);
/* A process exited at ts: its lookups must not be matched by a later process
 * of that pid (ordered with the other records, so its last requests still are). */
void assembler__proc_exit(struct assembler *a, uint32_t pid, uint64_t ts);

/* Release what is older than now - reorder window (now: CLOCK_MONOTONIC ns). */
void assembler__tick(struct assembler *a, uint64_t now);
/* The same for at most max records (orphans wait for the tick): true if more are ready,
 * so that a caller can read its ring buffers between batches. */
bool assembler__release(struct assembler *a, uint64_t now, size_t max);
/* Release everything (exit). */
void assembler__flush(struct assembler *a);
void assembler__stats(const struct assembler *a, struct assembler_stats *st);

/* Exposed for tests and outputs: build the timeline of one record. */
void assembler__build(const struct pt_req_rec *r, struct request *out);

#endif
