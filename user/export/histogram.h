/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Latency histogram in nanoseconds: log-linear (HDR-like) sub-buckets with
 * fixed memory and constant-time record, plus optional exact counters at a
 * list of bounds (the Prometheus "le" values). One module serves both the
 * percentiles of `phasetrace top` and the buckets of /metrics.
 *
 * Layout: values below 64 ns are counted exactly; above, every power of two
 * is split into HIST_SUB_BUCKETS equal sub-buckets, so a sub-bucket is at
 * most 1/32 of its lower edge wide. Quantiles report the middle of the
 * sub-bucket, clamped to the observed min/max: relative error <= 1/64
 * (1.6%). Values >= HIST_MAX_NS are counted in the last sub-bucket (their
 * sum and max stay exact).
 *
 * Decimal bounds (100us, 2.5ms, ...) never fall on power-of-two sub-bucket
 * edges, so exact Prometheus counts come from the bound counters given to
 * histogram__new(): one binary search over at most HIST_MAX_BOUNDS bounds
 * per record. histogram__buckets() for other bounds is computed from the
 * sub-buckets and says so.
 *
 * Not thread-safe: the owner (metrics) locks.
 */
#ifndef PT_HISTOGRAM_H
#define PT_HISTOGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BUCKETS	32
#define HIST_LINEAR_MAX		(2 * HIST_SUB_BUCKETS)	/* exact below this, ns */
#define HIST_MAX_BITS		40			/* 2^40 ns ~ 18 minutes */
#define HIST_MAX_NS		(1ULL << HIST_MAX_BITS)
#define HIST_NBUCKETS		(HIST_LINEAR_MAX + (HIST_MAX_BITS - 6) * HIST_SUB_BUCKETS)
#define HIST_MAX_BOUNDS		64

struct histogram;

/*
 * bounds: strictly increasing upper bounds in ns for exact cumulative counts
 * (copied), or NULL/0. Returns NULL on bad bounds or no memory (errno set).
 */
struct histogram *histogram__new(const uint64_t *bounds, int nbounds);
/*
 * Lean variant for cumulative exposition series: bound counters, count, sum,
 * min and max only (about 1.1 KiB instead of 10 KiB). Quantiles are then
 * interpolated inside the bound bucket, as PromQL's histogram_quantile()
 * does, so their error depends on the bounds. nbounds must be > 0.
 */
struct histogram *histogram__new_lean(const uint64_t *bounds, int nbounds);
bool histogram__lean(const struct histogram *h);
size_t histogram__size(const struct histogram *h);	/* bytes allocated */
void histogram__free(struct histogram *h);	/* NULL-safe */

void histogram__record(struct histogram *h, uint64_t ns);
void histogram__record_n(struct histogram *h, uint64_t ns, uint64_t n);
/* dst += src; -EINVAL if they track different bounds or only one is lean. */
int histogram__merge(struct histogram *dst, const struct histogram *src);
void histogram__reset(struct histogram *h);

uint64_t histogram__count(const struct histogram *h);
uint64_t histogram__sum(const struct histogram *h);	/* ns, exact */
uint64_t histogram__min(const struct histogram *h);	/* 0 if empty */
uint64_t histogram__max(const struct histogram *h);

/* Value at quantile p (0..1) in ns, 0 if empty. */
uint64_t histogram__quantile(const struct histogram *h, double p);
/* n quantiles in one pass; ps must be increasing. */
void histogram__quantiles(const struct histogram *h, const double *ps, int n, uint64_t *out);

/*
 * Cumulative counts of values <= bounds[i] (ns, increasing) into cum[i].
 * Returns 1 if exact (bounds are the ones given to histogram__new, or all
 * fall on sub-bucket edges), 0 if estimated from sub-buckets (a sub-bucket
 * straddling a bound counts as above it), -EINVAL on bad arguments or other
 * bounds on a lean histogram.
 */
int histogram__buckets(const struct histogram *h, const uint64_t *bounds, int n, uint64_t *cum);

/* Bounds tracked exactly (NULL if none). */
const uint64_t *histogram__bounds(const struct histogram *h, int *n);
/* Non-cumulative exact counts per tracked bound (n = nbounds), for snapshots. */
const uint64_t *histogram__bound_counts(const struct histogram *h);

/*
 * Add counts made elsewhere (in-kernel aggregation, export/kagg.c) to a lean histogram:
 * counts[i] values in (bounds[i-1], bounds[i]] for i < nbounds, counts[nbounds] above the
 * last bound; count is their sum. min and max are not known and stay as they are.
 * -EINVAL if h is not lean or n is not nbounds + 1.
 */
int histogram__add_counts(struct histogram *h, const uint64_t *counts, int n, uint64_t sum);

/*
 * Add sub-bucket counts made elsewhere (in-kernel aggregation for top) to a histogram with
 * sub-buckets: counts[i] values in sub-bucket i (n = HIST_NBUCKETS), sum their sum. min
 * and max widen to the edges of the first and last sub-bucket used. -EINVAL if h is lean.
 */
int histogram__add_sub_counts(struct histogram *h, const uint64_t *counts, int n, uint64_t sum);

/* Sub-bucket of a value and its [lo, hi] value range: for tests and docs. */
int histogram__bucket_index(uint64_t ns);
void histogram__bucket_range(int idx, uint64_t *lo, uint64_t *hi);

#endif
