// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Log-linear latency histogram; see histogram.h for the layout and error bound. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "export/histogram.h"

#define SUB_SHIFT	5	/* log2(HIST_SUB_BUCKETS) */

_Static_assert(HIST_SUB_BUCKETS == 1 << SUB_SHIFT, "SUB_SHIFT");

struct histogram {
	uint64_t count;
	uint64_t sum;
	uint64_t min, max;
	bool lean;		/* no sub-buckets: counts[] not allocated */
	int nbounds;
	/* oct[k]: first bound >= 2^k (nbounds if none), so that a value's bound is searched
	 * among those of its own power of two only */
	uint8_t oct[65];
	uint64_t bounds[HIST_MAX_BOUNDS];
	uint64_t bound_counts[HIST_MAX_BOUNDS];	/* (bounds[i-1], bounds[i]] */
	uint64_t counts[];	/* HIST_NBUCKETS sub-buckets */
};

int histogram__bucket_index(uint64_t v)
{
	int msb;

	if (v < HIST_LINEAR_MAX)
		return (int)v;
	if (v >= HIST_MAX_NS)
		return HIST_NBUCKETS - 1;
	msb = 63 - __builtin_clzll(v);
	/* sub is in [HIST_SUB_BUCKETS, 2 * HIST_SUB_BUCKETS) */
	return HIST_LINEAR_MAX + (msb - SUB_SHIFT - 1) * HIST_SUB_BUCKETS +
	       (int)(v >> (msb - SUB_SHIFT)) - HIST_SUB_BUCKETS;
}

void histogram__bucket_range(int idx, uint64_t *lo, uint64_t *hi)
{
	int octave, shift;
	uint64_t sub;

	if (idx < HIST_LINEAR_MAX) {
		*lo = *hi = (uint64_t)idx;
		return;
	}
	octave = (idx - HIST_LINEAR_MAX) / HIST_SUB_BUCKETS;
	sub = (uint64_t)((idx - HIST_LINEAR_MAX) % HIST_SUB_BUCKETS + HIST_SUB_BUCKETS);
	shift = octave + 1;
	*lo = sub << shift;
	*hi = *lo + (1ULL << shift) - 1;
}

static struct histogram *hist_new(const uint64_t *bounds, int nbounds, bool lean)
{
	struct histogram *h;
	int i;

	if (nbounds < 0 || nbounds > HIST_MAX_BOUNDS || (nbounds && !bounds)) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 1; i < nbounds; i++) {
		if (bounds[i] <= bounds[i - 1]) {
			errno = EINVAL;
			return NULL;
		}
	}
	h = calloc(1, sizeof(*h) + (lean ? 0 : HIST_NBUCKETS * sizeof(h->counts[0])));
	if (!h)
		return NULL;
	h->lean = lean;
	h->nbounds = nbounds;
	if (nbounds)
		memcpy(h->bounds, bounds, nbounds * sizeof(*bounds));
	for (i = 0; i <= 64; i++) {
		int k = i ? h->oct[i - 1] : 0;

		while (k < nbounds && (i < 64 && bounds[k] < 1ULL << i))
			k++;
		h->oct[i] = i < 64 ? k : nbounds;
	}
	return h;
}

struct histogram *histogram__new(const uint64_t *bounds, int nbounds)
{
	return hist_new(bounds, nbounds, false);
}

struct histogram *histogram__new_lean(const uint64_t *bounds, int nbounds)
{
	if (!nbounds) {
		errno = EINVAL;
		return NULL;
	}
	return hist_new(bounds, nbounds, true);
}

bool histogram__lean(const struct histogram *h)
{
	return h->lean;
}

size_t histogram__size(const struct histogram *h)
{
	return sizeof(*h) + (h->lean ? 0 : HIST_NBUCKETS * sizeof(h->counts[0]));
}

void histogram__free(struct histogram *h)
{
	free(h);
}

void histogram__record_n(struct histogram *h, uint64_t v, uint64_t n)
{
	int msb = v ? 63 - __builtin_clzll(v) : 0;
	int lo = v ? h->oct[msb] : 0, hi = v ? h->oct[msb + 1] : h->nbounds;

	if (!n)
		return;
	if (!h->count || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count += n;
	h->sum += v * n;
	if (!h->lean)
		h->counts[histogram__bucket_index(v)] += n;

	/* first bound >= v, which is in [oct[msb], oct[msb + 1]]: bounds there are >= 2^msb,
	 * the one at oct[msb + 1] >= 2^(msb + 1) > v; none means only +Inf holds it */
	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (h->bounds[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < h->nbounds)
		h->bound_counts[lo] += n;
}

void histogram__record(struct histogram *h, uint64_t v)
{
	histogram__record_n(h, v, 1);
}

int histogram__merge(struct histogram *dst, const struct histogram *src)
{
	int i;

	if (dst->lean != src->lean || dst->nbounds != src->nbounds ||
	    memcmp(dst->bounds, src->bounds, dst->nbounds * sizeof(dst->bounds[0])))
		return -EINVAL;
	if (!src->count)
		return 0;
	if (!dst->count || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	for (i = 0; !dst->lean && i < HIST_NBUCKETS; i++)
		dst->counts[i] += src->counts[i];
	for (i = 0; i < dst->nbounds; i++)
		dst->bound_counts[i] += src->bound_counts[i];
	return 0;
}

void histogram__reset(struct histogram *h)
{
	h->count = h->sum = h->min = h->max = 0;
	memset(h->bound_counts, 0, sizeof(h->bound_counts));
	if (!h->lean)
		memset(h->counts, 0, HIST_NBUCKETS * sizeof(h->counts[0]));
}

uint64_t histogram__count(const struct histogram *h)
{
	return h->count;
}

uint64_t histogram__sum(const struct histogram *h)
{
	return h->sum;
}

uint64_t histogram__min(const struct histogram *h)
{
	return h->min;
}

uint64_t histogram__max(const struct histogram *h)
{
	return h->max;
}

static uint64_t rank_of(const struct histogram *h, double p)
{
	double r;

	if (p <= 0)
		return 1;
	if (p >= 1)
		return h->count;
	r = p * (double)h->count;
	/* ceil without libm: smallest rank whose share reaches p */
	if ((double)(uint64_t)r < r)
		r += 1;
	return r < 1 ? 1 : (uint64_t)r;
}

/* Lean: interpolate inside the bound bucket, as PromQL's histogram_quantile() does. */
static uint64_t lean_quantile(const struct histogram *h, uint64_t rank)
{
	uint64_t seen = 0, lo = h->min, hi;
	int i;

	for (i = 0; i < h->nbounds; i++) {
		uint64_t c = h->bound_counts[i];

		hi = h->bounds[i] < h->max ? h->bounds[i] : h->max;
		if (seen + c >= rank && c) {
			if (lo > hi)
				lo = hi;
			return lo + (uint64_t)((double)(hi - lo) * (double)(rank - seen) /
					       (double)c);
		}
		seen += c;
		if (h->bounds[i] + 1 > lo)
			lo = h->bounds[i] + 1;
	}
	/* above the last bound: between it and max */
	if (h->count > seen && lo <= h->max)
		return lo + (uint64_t)((double)(h->max - lo) * (double)(rank - seen) /
				       (double)(h->count - seen));
	return h->max;
}

void histogram__quantiles(const struct histogram *h, const double *ps, int n, uint64_t *out)
{
	uint64_t seen = 0, lo, hi, v;
	int i = 0, k;

	for (k = 0; k < n; k++)
		out[k] = 0;
	if (!h->count)
		return;
	if (h->lean) {
		for (k = 0; k < n; k++) {
			v = ps[k] <= 0 ? h->min : ps[k] >= 1 ? h->max :
			    lean_quantile(h, rank_of(h, ps[k]));
			out[k] = v < h->min ? h->min : v > h->max ? h->max : v;
		}
		return;
	}
	for (k = 0; k < n && i < HIST_NBUCKETS; k++) {
		uint64_t rank = rank_of(h, ps[k]);

		if (ps[k] <= 0) {
			out[k] = h->min;
			continue;
		}
		if (ps[k] >= 1) {
			out[k] = h->max;
			continue;
		}
		while (i < HIST_NBUCKETS && seen + h->counts[i] < rank)
			seen += h->counts[i++];
		if (i == HIST_NBUCKETS) {
			out[k] = h->max;
			continue;
		}
		histogram__bucket_range(i, &lo, &hi);
		v = lo + (hi - lo) / 2;
		if (v < h->min)
			v = h->min;
		if (v > h->max)
			v = h->max;
		out[k] = v;
	}
	for (; k < n; k++)
		out[k] = h->max;
}

uint64_t histogram__quantile(const struct histogram *h, double p)
{
	uint64_t v;

	histogram__quantiles(h, &p, 1, &v);
	return v;
}

int histogram__buckets(const struct histogram *h, const uint64_t *bounds, int n, uint64_t *cum)
{
	uint64_t acc = 0, lo, hi;
	bool exact = true;
	int i, k;

	if (n < 0 || (n && (!bounds || !cum)))
		return -EINVAL;
	for (k = 1; k < n; k++)
		if (bounds[k] <= bounds[k - 1])
			return -EINVAL;

	if (n == h->nbounds && !memcmp(bounds, h->bounds, n * sizeof(*bounds))) {
		for (k = 0; k < n; k++) {
			acc += h->bound_counts[k];
			cum[k] = acc;
		}
		return 1;
	}

	if (h->lean)
		return -EINVAL;
	/* From sub-buckets: exact only if no sub-bucket straddles a bound. */
	i = 0;
	for (k = 0; k < n; k++) {
		while (i < HIST_NBUCKETS) {
			histogram__bucket_range(i, &lo, &hi);
			if (i == HIST_NBUCKETS - 1)
				hi = UINT64_MAX;
			if (hi > bounds[k])
				break;
			acc += h->counts[i++];
		}
		if (i < HIST_NBUCKETS && lo <= bounds[k] && h->counts[i])
			exact = false;
		cum[k] = acc;
	}
	return exact ? 1 : 0;
}

const uint64_t *histogram__bounds(const struct histogram *h, int *n)
{
	*n = h->nbounds;
	return h->nbounds ? h->bounds : NULL;
}

const uint64_t *histogram__bound_counts(const struct histogram *h)
{
	return h->bound_counts;
}

int histogram__add_counts(struct histogram *h, const uint64_t *counts, int n, uint64_t sum)
{
	uint64_t count = 0;
	int i;

	if (!h->lean || n != h->nbounds + 1)
		return -EINVAL;
	for (i = 0; i < n; i++)
		count += counts[i];
	for (i = 0; i < h->nbounds; i++)
		h->bound_counts[i] += counts[i];
	h->count += count;
	h->sum += sum;
	return 0;
}

int histogram__add_sub_counts(struct histogram *h, const uint64_t *counts, int n, uint64_t sum)
{
	uint64_t count = 0, lo, hi;
	int i, first = -1, last = -1;

	if (h->lean || n != HIST_NBUCKETS)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!counts[i])
			continue;
		h->counts[i] += counts[i];
		count += counts[i];
		if (first < 0)
			first = i;
		last = i;
	}
	if (!count)
		return 0;
	histogram__bucket_range(first, &lo, &hi);
	if (!h->count || lo < h->min)
		h->min = lo;
	histogram__bucket_range(last, &lo, &hi);
	if (hi > h->max)
		h->max = hi;
	h->count += count;
	h->sum += sum;
	return 0;
}
