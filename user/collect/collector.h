/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * collect/: the event loop: ring buffer in, assembler fed, sinks and timers called.
 *
 * The collector: owns the BPF object, the probe targets, the ring-buffer
 * reader and the assembler, and runs the event loop that ties them to the
 * outputs of a command (trace, top, serve).
 */
#ifndef PT_COLLECTOR_H
#define PT_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "phasetrace.h"
#include "assemble/sink.h"
#include "attach/spans.h"
#include "assemble/cgroups.h"
#include "collect/cgfilter.h"

#define MAX_PID_FILTERS 64

struct collector_opts {
	pid_t pids[MAX_PID_FILTERS];
	int npids;
	char comms[PT_MAX_COMM_FILTERS][PT_COMM_LEN];
	int ncomms;
	double duration_s;	/* 0: until interrupted */
	const char *btf_path;
	uint64_t idle_ns;	/* flush a response after this much silence */
	uint32_t max_conns;
	uint32_t ring_mb;	/* the ring buffer's size; 0: the default (16) */
	bool quiet;		/* no "ready" / drop lines on stderr (top owns the screen) */
	int io_hooks;		/* enum io_hooks (probes.h) */
	int uprobes;		/* enum uprobes_kind (probes.h) */
	int thread_state;	/* enum thread_state (probes.h) */
	struct span_def spans[MAX_USER_SPANS];
	int nspans;
	/* -C: container ids, id prefixes or systemd unit names (collect/cgfilter.h) */
	const char *containers[CGF_MAX_NAMES];
	int ncontainers;
	uint32_t hold_ms;	/* exec hold timeout; 0: default (300) */
	bool no_hold;		/* --hold-ms 0 */
	bool no_detail;		/* no output shows method, path or span labels: BPF reads
				 * neither the request line nor labels */
	/* in-kernel aggregation (export/kagg.h): enum pt_kagg_mode, the metrics bounds */
	int kagg_mode;
	const uint64_t *kagg_bounds;
	int kagg_nbounds;
	bool kagg_top;		/* top: interval quantiles and the slowest request too */
};

struct collector;

/* Loads and attaches everything; prints one message and returns -errno on failure. */
int collector__new(const struct collector_opts *o, struct collector **out);
void collector__free(struct collector *c);
int collector__add_sink(struct collector *c, const struct sink *s);
/* Called every tick_ms with CLOCK_MONOTONIC now; and when fd is readable. */
typedef void (*collector_cb)(void *ctx, uint64_t now);
int collector__on_tick(struct collector *c, collector_cb cb, void *ctx);
int collector__on_fd(struct collector *c, int fd, collector_cb cb, void *ctx);
/* Called with each server or client request record as it is read from the ring buffer,
 * before the assembler holds it (its reorder window); HTTP/2 streams come later, assembled. */
typedef void (*collector_rec_cb)(void *ctx, struct collector *c, const struct pt_req_rec *rec);
void collector__on_req_record(struct collector *c, collector_rec_cb cb, void *ctx);
/* Who made rec and with whom (assembler__request_who()), its container identity and, for a
 * client's connect, its host (assembler__connect_host()), as the request will have them.
 * False if that is not known yet (a client's other records, lookups that disagree). */
bool collector__request_who(struct collector *c, const struct pt_req_rec *rec, struct request *r);
/* Run until SIGINT/SIGTERM, the duration, or collector__stop(). Returns 0. */
int collector__run(struct collector *c);
void collector__stop(struct collector *c);

/* Self statistics for outputs (metrics, top header, exit summary). */
struct collector_stats {
	uint64_t events_read;
	uint64_t bpf[PT_STAT__MAX];
	int files, uprobes, uprobes_failed, tracepoints;
	uint32_t pending, children_waiting, dns_cached;
	uint64_t idle_flushed, duplicates, orphans;
	uint64_t idle_cut;	/* responses that went on after their idle report */
	uint32_t processes;	/* processes seen doing traced I/O */
	/* discovery (user/attach/worker.h): what it evicted, refused or dropped */
	uint64_t files_evicted, files_refused, scans_dropped, over_budget;
	/* container identity (assemble/cgroups.h) and the -C filter's cgroups */
	struct cgroups_stats cgroups;
	uint32_t cgroup_filter_ids;
	uint64_t cgroup_filter_full;	/* -C: cgroups over PT_MAX_CGROUP_FILTERS, not traced */
	/* HTTP/2 (user/assemble/h2.h): streams that lost their labels, record gaps,
	 * connections not followed (table full) */
	uint64_t h2_unlabelled, h2_record_gaps, h2_conns_overflow;
};
void collector__stats(struct collector *c, struct collector_stats *st);

/* The BPF stats that count what was not recorded (PT_STAT_* index). */
struct drop_reason {
	int stat;
	const char *label;	/* phasetrace_events_dropped_total{reason} */
	const char *what;	/* stderr warning; NULL: not a loss (skipped on purpose) */
};
#define NDROP_REASONS 20
extern const struct drop_reason drop_reasons[NDROP_REASONS];


/* In-kernel aggregation: the maps export/kagg.c reads into ko (its fds; top also reads
 * the per-interval map and the slowest request's slot, else -1 and NULL). */
struct kagg_opts;
void collector__kagg_maps(struct collector *c, bool top, struct kagg_opts *ko);

#endif
