/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * In-kernel aggregation, userspace side (docs/metrics.md, "Counted in the kernel").
 *
 * BPF (bpf/agg.bpf.c) counts keep-alive requests that need nothing from userspace into
 * per-CPU histograms keyed by (label id, slot). This module gives connections their
 * label id (the cardinality guard's decision for the connection's first request, which
 * crossed the ring buffer: metrics__on_label()) and, once per collector tick, adds what
 * the kernel counted since the last tick into the same metrics rows
 * (metrics__kagg_add()), so /metrics shows one set of families whichever path a request
 * took.
 *
 * Threads: everything runs on the collector thread.
 */
#ifndef PT_KAGG_H
#define PT_KAGG_H

#include <stdint.h>
#include "export/metrics.h"

struct kagg_opts {
	struct metrics *metrics;	/* the rows the kernel's counts go to */
	int hist_fd;			/* kagg_hist map */
	int labels_fd;			/* kagg_labels map */
	int iv_fd;			/* top: kagg_iv map, else -1 */
	volatile uint64_t *slowest;	/* top: kagg_slowest in the object's .bss */
};

struct kagg_stats {
	uint64_t labels;	/* connections given a label id */
	uint64_t merged;	/* requests the kernel counted, merged so far */
	uint64_t bad;		/* kernel entries that did not fit a row (never expected) */
};

struct kagg;

/* 0 or -errno (ENOMEM); registers itself with metrics__on_label(). */
int kagg__new(struct kagg **out, const struct kagg_opts *o);
void kagg__free(struct kagg *k);	/* NULL-safe; unregisters */
/* Merge what the kernel counted since the last call. */
void kagg__sync(struct kagg *k);
/* A collector tick callback: kagg__sync(). */
void kagg__tick_cb(void *ctx, uint64_t now);
void kagg__stats(const struct kagg *k, struct kagg_stats *st);
/* Whether BPF was told the label of connection conn_id (and not forgotten it since). */
bool kagg__told(struct kagg *k, uint64_t conn_id);

#endif
