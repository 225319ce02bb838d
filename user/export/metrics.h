/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * export/: finished requests as numbers: histograms, Prometheus families, the /metrics
 * HTTP server (histogram, metrics, metrics_expo, exporter). `top` reads the rows too.
 *
 * Aggregation of finished requests into Prometheus families (cumulative) and
 * per-interval rows for `phasetrace top`. See docs/metrics.md.
 *
 * Threads: metrics__on_request(), metrics__set_self() and
 * metrics__roll_interval() run on the collector thread; metrics__render()
 * runs on the HTTP thread. Every entry point takes the object's mutex; the
 * render path only copies counters under it and formats outside it.
 */
#ifndef PT_METRICS_H
#define PT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "assemble/request.h"
#include "assemble/sink.h"

#define METRICS_DEFAULT_MAX_PEERS	50
#define METRICS_DEFAULT_MAX_COMMS	256
#define METRICS_DEFAULT_MAX_SERIES	512	/* (comm, role, peer) rows */
#define METRICS_PEER_LEN		64	/* longer host names are truncated */
#define METRICS_OTHER			"other"

/* Phases exported as label values: enum phase_id PHASE_DNS..PHASE_RENDER. */
#define METRICS_NPHASES			(PHASE_RENDER + 1)
/* Index of the whole request next to the phases in struct metrics_row. */
#define METRICS_TOTAL			METRICS_NPHASES

struct metrics_opts {
	const double *buckets;	/* seconds, increasing; NULL: default 100us..10s */
	int nbuckets;
	int max_peers;		/* per comm; 0: METRICS_DEFAULT_MAX_PEERS */
	int max_comms;		/* 0: METRICS_DEFAULT_MAX_COMMS */
	int max_series;		/* 0: METRICS_DEFAULT_MAX_SERIES */
	bool intervals;		/* keep per-interval rows for top (2x memory) */
	const char *version;	/* phasetrace_build_info{version}; NULL: "unknown" */
	/* rows per (comm, container) and a `container` label (--labels comm,container);
	 * the cardinality guard counts each pair against max_comms */
	bool by_container;
};

struct metrics;

/* Returns NULL with errno set (EINVAL on bad options). */
struct metrics *metrics__new(const struct metrics_opts *opts);
void metrics__free(struct metrics *m);

/* Count a finished top-level request and each of its children. */
void metrics__on_request(struct metrics *m, const struct request *r);
/* A sink for the collector: {"metrics", on_request, m}. */
struct sink metrics__sink(struct metrics *m);

/*
 * Self statistics, set to absolute values by the collector (for instance
 * every tick, from the BPF stats map and its own counters).
 */
enum metrics_self {
	METRICS_EVENTS_READ,		/* counter, label ignored */
	METRICS_EVENTS_DROPPED,		/* counter {reason}: "ringbuf_full_req", ... */
	METRICS_PROBES,			/* gauge {state}: "attached" | "failed" */
	METRICS_PROCESSES_TRACED,	/* gauge, label ignored */
	METRICS_ASSEMBLER_ENTRIES,	/* gauge {table}: "conns", "pending", ... */
	METRICS_DISCOVERY,		/* counter {outcome}: "file_evicted", "over_budget", ... */
	METRICS_CGROUP_LOOKUPS,		/* counter {outcome}: "hit", "proc", "walk", "unresolved", ... */
	METRICS_OTLP_SPANS,		/* counter {outcome}: "sent", "queue_full", "failed", ... */
	METRICS_OTLP_BATCHES,		/* counter {outcome}: "sent", "failed", "retried" */
	METRICS_KERNEL_COUNTED,		/* counter: requests counted in the kernel (kagg.h) */
	METRICS_SELF__COUNT,
};
#define METRICS_SELF_MAX_LABELS	32	/* distinct label values per family */

/* 0, -EINVAL (bad family / label), -ENOSPC (too many label values). */
int metrics__set_self(struct metrics *m, enum metrics_self f, const char *label, uint64_t v);

/*
 * Prometheus text exposition (format 0.0.4) into a malloc'ed, NUL-terminated
 * buffer the caller frees. 0 or -ENOMEM.
 */
int metrics__render(struct metrics *m, char **buf, size_t *len);

/* One (comm, role, peer) row over the last interval, for top. */
struct metrics_row {
	char comm[PT_COMM_LEN];
	enum pt_role role;
	char peer[METRICS_PEER_LEN];
	uint64_t reqs, errors;		/* during the interval */
	uint64_t reqs_total, errors_total;	/* since start */
	/* [phase or METRICS_TOTAL]: samples, p50 and p99 in ns (0: none) */
	uint64_t n[METRICS_NPHASES + 1];
	uint64_t p50[METRICS_NPHASES + 1];
	uint64_t p99[METRICS_NPHASES + 1];
	char container[CT_UNIT_LEN];	/* short id or unit, "" unless by_container */
};

struct metrics_interval {
	uint64_t start_ns, end_ns;	/* CLOCK_MONOTONIC */
	uint64_t reqs, errors;		/* all rows, during the interval */
	uint64_t reqs_total, errors_total;
	uint64_t events_read, events_dropped;	/* self counters, totals */
	uint64_t processes;
	uint64_t folded_total;
	int nrows;
	struct metrics_row *rows;	/* rows with traffic since start */
	struct request *slowest;	/* deep copy, NULL if no request */
};

/*
 * Close the current interval at now_ns (CLOCK_MONOTONIC) and return its
 * snapshot (free with metrics_interval__free); the next interval starts at
 * now_ns. NULL with errno: EINVAL without opts.intervals, ENOMEM.
 */
struct metrics_interval *metrics__roll_interval(struct metrics *m, uint64_t now_ns);
void metrics_interval__free(struct metrics_interval *iv);

/* Deep copy of a request and its children (NULL on ENOMEM), and its free. */
struct request *metrics__request_dup(const struct request *r);
void metrics__request_free(struct request *r);

/*
 * Parse "0.001,0.01,0.1" (seconds) for --buckets into a malloc'ed array.
 * -EINVAL with a message for the operator in err (e.g. "--buckets: 0.01 after
 * 0.1: bounds must increase").
 */
int metrics__parse_buckets(const char *s, double **out, int *n, char *err, size_t errlen);

/* Label values, shared with top: "client"/"server", "dns".."render". */
const char *metrics__role_label(enum pt_role role);
const char *metrics__phase_label(int phase);
/* Peer label of r: client host (or addr:port), server local port. */
void metrics__peer_label(const struct request *r, char *buf, size_t len);

/*
 * In-kernel aggregation (export/kagg.c; docs/metrics.md, "Counted in the kernel").
 * A label id names what the cardinality guard decided for a request: its row and the
 * folded counters it adds (1 + row * METRICS_LABEL_FOLDS + comm folds * 2 + peer
 * folds). The guard's decision for a (comm, container, role, peer) never changes once
 * made, so a connection keeps the id of its first request.
 */
#define METRICS_LABEL_FOLDS	6
typedef void (*metrics_label_cb)(void *ctx, uint64_t conn_id, uint32_t label);
/* cb is called (collector thread, under the lock) for each request counted. */
void metrics__on_label(struct metrics *m, metrics_label_cb cb, void *ctx);
/*
 * The label of r's connection told to cb now, from the first record of it that arrives,
 * not when the request is counted after the assembler's reorder window (70-270 ms with its
 * grace and tick, during which BPF sends each request of the connection). r: who made the
 * record, with whom, as the request will have it (collector__request_who(): a client's
 * host too). Counts nothing.
 */
void metrics__label_early(struct metrics *m, const struct request *r);
/* Count requests flagged kagg too (by default they are the kernel's to count). */
void metrics__count_kagg(struct metrics *m, bool on);
/*
 * Add what the kernel counted under label: slot is a phase (< METRICS_NPHASES) or
 * PT_KAGG_SLOT_REQ + status class (the request histogram and requests_total); counts
 * has nbounds + 1 entries (the last: above every bound). 0 or -EINVAL.
 */
int metrics__kagg_add(struct metrics *m, uint32_t label, uint32_t slot, const uint64_t *counts,
		      int n, uint64_t sum);
/* top: sub-bucket counts (HIST_NBUCKETS) of the interval's histogram of slot (a phase, or
 * METRICS_TOTAL: the whole request, which also counts the interval's requests). */
int metrics__kagg_add_iv(struct metrics *m, uint32_t label, uint32_t slot,
			 const uint64_t *counts, int n, uint64_t sum);
/* Start of the current interval (CLOCK_MONOTONIC ns): changes at each roll. */
uint64_t metrics__interval_start(struct metrics *m);
/* The histogram bounds in ns. */
const uint64_t *metrics__bounds_ns(const struct metrics *m, int *n);

#endif
