/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The bucket of a value among the histogram bounds, as BPF computes it for in-kernel
 * aggregation (bpf/agg.bpf.c). Plain C, also compiled by the unit tests, which check it
 * against user/export/histogram.c for every bound and around it: both must put a value
 * in the same bucket.
 *
 * bounds: PT_KAGG_MAX_BOUNDS increasing values in ns, each capped (kagg_capped()), the
 * unused tail filled with KAGG_BOUND_CAP (kagg_pad_bounds()); nb of them in use. Returns the index of the
 * first bound >= v, or nb when none is (the +Inf bucket): a binary search over the
 * smallest power of two of bounds that holds the nb (four steps and one comparison for
 * the 16 default ones). v must not exceed KAGG_BOUND_CAP (BPF sends longer durations to
 * userspace).
 */
#ifndef PT_AGG_BUCKET_H
#define PT_AGG_BUCKET_H

/*
 * 2^62 ns (146 years): every value searched and every bound is at most this, so their
 * difference never overflows into bit 63 and that bit alone says which is smaller. A
 * bound above the cap becomes the cap: any v <= cap compares with it as with the bound.
 */
#define KAGG_BOUND_CAP	(1ULL << 62)

static inline __u64 kagg_capped(__u64 bound)
{
	return bound < KAGG_BOUND_CAP ? bound : KAGG_BOUND_CAP;
}

#ifndef __bpf__
#include <stdint.h>

/* Userspace: dst (PT_KAGG_MAX_BOUNDS values) as kagg_bucket() wants the n bounds, the
 * loader's (user/attach/probes.c) and the unit tests' alike. */
static inline void kagg_pad_bounds(__u64 *dst, const uint64_t *bounds, int n)
{
	for (int i = 0; i < PT_KAGG_MAX_BOUNDS; i++)
		dst[i] = i < n ? kagg_capped(bounds[i]) : KAGG_BOUND_CAP;
}
#endif

/* 1 if a < b, else 0, without a branch; both at most KAGG_BOUND_CAP. */
static inline __u64 kagg_below(__u64 a, __u64 b)
{
	return (a - b) >> 63;
}

/* lo = how many of bounds[0 .. span - 1] are < v, span a power of two. Branch-free: the
 * BPF verifier follows one path through it, not one per outcome of each comparison, at
 * each of the five histograms a request adds to (with branches, in-kernel aggregation was
 * most of the socket programs' verification). */
static inline __u32 kagg_search(const volatile __u64 *bounds, __u64 v, __u32 span)
{
	__u32 lo = 0;

	for (__u32 step = span / 2; step; step >>= 1)
		lo += step * (__u32)kagg_below(bounds[(lo + step - 1) & (PT_KAGG_MAX_BOUNDS - 1)], v);
	lo += (__u32)kagg_below(bounds[lo & (PT_KAGG_MAX_BOUNDS - 1)], v);
	return lo;
}

/*
 * In BPF, nb is read-only data: the verifier keeps the one search its value takes and
 * drops the others (dead code), so a request's searches read the cache lines of the
 * bounds in use only (two for 16 bounds, where a search over all 64 read six).
 */
static inline __u32 kagg_bucket(const volatile __u64 *bounds, __u64 v, __u32 nb)
{
	_Static_assert(PT_KAGG_MAX_BOUNDS == 64, "one search per power of two up to the max");
	if (nb <= 1)
		return kagg_search(bounds, v, 1);
	if (nb <= 2)
		return kagg_search(bounds, v, 2);
	if (nb <= 4)
		return kagg_search(bounds, v, 4);
	if (nb <= 8)
		return kagg_search(bounds, v, 8);
	if (nb <= 16)
		return kagg_search(bounds, v, 16);
	if (nb <= 32)
		return kagg_search(bounds, v, 32);
	return kagg_search(bounds, v, 64);
}

/*
 * The status class (1..5) of an HTTP status, 0 if not in 100..599: status / 100 without a
 * division (the BPF JIT emits x86's div for it, some 25 cycles, on every request counted),
 * as a multiply and a shift that agree with it over that range (checked by the unit test).
 */
static inline __u32 kagg_status_class(__u16 status)
{
	return status >= 100 && status < 600 ? ((__u32)status * 41) >> 12 : 0;
}

/*
 * The log-linear sub-bucket of v, as histogram__bucket_index() (histogram.c) computes it:
 * exact below 64 ns, 32 sub-buckets per power of two, the last one from 2^40 ns on.
 */
static inline __u32 kagg_sub_index(__u64 v)
{
	__u64 x = v;
	__u32 msb = 0;

	if (v < 64)
		return (__u32)v;
	if (v >> 40)
		return PT_KAGG_NSUB - 1;
	if (x >> 32) {
		x >>= 32;
		msb += 32;
	}
	if (x >> 16) {
		x >>= 16;
		msb += 16;
	}
	if (x >> 8) {
		x >>= 8;
		msb += 8;
	}
	if (x >> 4) {
		x >>= 4;
		msb += 4;
	}
	if (x >> 2) {
		x >>= 2;
		msb += 2;
	}
	if (x >> 1)
		msb += 1;
	return 64 + (msb - 6) * 32 + (__u32)(v >> (msb - 5)) - 32;
}

#endif
