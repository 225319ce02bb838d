// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* histogram: layout, quantile accuracy on known distributions, exact buckets, merge. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include "export/histogram.h"

#define N_SAMPLES	200000

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so failures reproduce */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static double rng_unit(void)
{
	return (double)(rng() >> 11) / (double)(1ULL << 53);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_layout(void **state)
{
	uint64_t lo, hi, prev_hi = 0;
	int i;

	for (i = 0; i < HIST_NBUCKETS; i++) {
		histogram__bucket_range(i, &lo, &hi);
		assert_true(lo <= hi);
		if (i)
			assert_int_equal(lo, prev_hi + 1);	/* contiguous */
		assert_int_equal(histogram__bucket_index(lo), i);
		assert_int_equal(histogram__bucket_index(hi), i);
		/* width <= lo / 32: the relative error bound */
		if (lo >= HIST_LINEAR_MAX)
			assert_true((hi - lo + 1) * HIST_SUB_BUCKETS <= lo);
		prev_hi = hi;
	}
	assert_int_equal(prev_hi + 1, HIST_MAX_NS);
	assert_int_equal(histogram__bucket_index(HIST_MAX_NS), HIST_NBUCKETS - 1);
	assert_int_equal(histogram__bucket_index(UINT64_MAX), HIST_NBUCKETS - 1);
}

static void check_quantiles(struct histogram *h, uint64_t *v, size_t n, const char *what)
{
	static const double ps[] = { 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999 };
	size_t k;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		size_t rank = (size_t)ceil(ps[k] * n);
		uint64_t exact = v[rank ? rank - 1 : 0];
		uint64_t got = histogram__quantile(h, ps[k]);
		double err = fabs((double)got - (double)exact) / (double)exact;

		if (err > 0.02)
			fail_msg("%s p%g: got %llu, exact %llu (error %.3f%% > 2%%)", what,
				 ps[k] * 100, (unsigned long long)got, (unsigned long long)exact,
				 err * 100);
	}
	assert_int_equal(histogram__quantile(h, 0), v[0]);
	assert_int_equal(histogram__quantile(h, 1), v[n - 1]);
	assert_int_equal(histogram__min(h), v[0]);
	assert_int_equal(histogram__max(h), v[n - 1]);
}

static void run_distribution(const char *what, uint64_t (*gen)(void))
{
	uint64_t *v = malloc(N_SAMPLES * sizeof(*v)), sum = 0;
	struct histogram *h = histogram__new(NULL, 0);
	size_t i;

	assert_non_null(v);
	assert_non_null(h);
	for (i = 0; i < N_SAMPLES; i++) {
		v[i] = gen();
		sum += v[i];
		histogram__record(h, v[i]);
	}
	assert_int_equal(histogram__count(h), N_SAMPLES);
	assert_int_equal(histogram__sum(h), sum);
	check_quantiles(h, v, N_SAMPLES, what);
	histogram__free(h);
	free(v);
}

static uint64_t gen_uniform(void)	/* 1us .. 1s */
{
	return 1000 + rng() % 999999000ULL;
}

static uint64_t gen_exponential(void)	/* mean 5ms */
{
	return (uint64_t)(-log(1 - rng_unit()) * 5e6) + 1;
}

static uint64_t gen_lognormal(void)	/* median 20ms, heavy tail */
{
	double u1 = rng_unit() + 1e-12, u2 = rng_unit();
	double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);

	return (uint64_t)exp(log(20e6) + 1.5 * z) + 1;
}

static uint64_t gen_bimodal(void)	/* cache hits 200us, misses 80ms */
{
	return rng() % 10 ? 200000 + rng() % 20000 : 80000000 + rng() % 5000000;
}

static uint64_t gen_small(void)		/* 0..5000 ns: linear region and first octaves */
{
	return rng() % 5000;
}

static void test_quantile_uniform(void **state)
{
	run_distribution("uniform", gen_uniform);
}

static void test_quantile_exponential(void **state)
{
	run_distribution("exponential", gen_exponential);
}

static void test_quantile_lognormal(void **state)
{
	run_distribution("lognormal", gen_lognormal);
}

static void test_quantile_bimodal(void **state)
{
	run_distribution("bimodal", gen_bimodal);
}

static void test_quantile_small(void **state)
{
	run_distribution("small", gen_small);
}

static void test_quantile_edges(void **state)
{
	struct histogram *h = histogram__new(NULL, 0);
	uint64_t q[3];
	const double ps[3] = { 0.5, 0.99, 1 };

	assert_int_equal(histogram__quantile(h, 0.5), 0);	/* empty */
	histogram__record(h, 1234567);
	assert_int_equal(histogram__quantile(h, 0.5), 1234567);	/* clamped to min/max */
	histogram__record(h, HIST_MAX_NS * 4);			/* beyond the range */
	assert_int_equal(histogram__max(h), HIST_MAX_NS * 4);
	assert_int_equal(histogram__quantile(h, 1), HIST_MAX_NS * 4);
	histogram__quantiles(h, ps, 3, q);
	assert_int_equal(q[0], 1234567);
	assert_int_equal(q[2], HIST_MAX_NS * 4);
	histogram__reset(h);
	assert_int_equal(histogram__count(h), 0);
	assert_int_equal(histogram__quantile(h, 0.99), 0);
	histogram__free(h);
	histogram__free(NULL);
}

static const uint64_t prom_bounds[] = {
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
	100000000, 250000000, 500000000, 1000000000, 2500000000ULL, 5000000000ULL,
	10000000000ULL,
};
#define NPROM ((int)(sizeof(prom_bounds) / sizeof(prom_bounds[0])))

static void test_buckets_exact(void **state)
{
	struct histogram *h = histogram__new(prom_bounds, NPROM);
	uint64_t cum[NPROM], expect[NPROM] = {};
	int i, k, n = 0;

	assert_non_null(h);
	/* values exactly at, just above and just below each bound */
	for (i = 0; i < NPROM; i++) {
		uint64_t vals[3] = { prom_bounds[i] - 1, prom_bounds[i], prom_bounds[i] + 1 };

		for (k = 0; k < 3; k++) {
			histogram__record(h, vals[k]);
			n++;
		}
	}
	histogram__record(h, 50);		/* below the first bound */
	histogram__record(h, 20000000000ULL);	/* +Inf only */
	n += 2;
	/* le is inclusive: b-1 and b count at le=b, b+1 at the next bound */
	expect[0] = 1 + 2;
	for (k = 1; k < NPROM; k++)
		expect[k] = expect[k - 1] + 3;
	assert_int_equal(histogram__buckets(h, prom_bounds, NPROM, cum), 1);
	for (k = 0; k < NPROM; k++)
		if (cum[k] != expect[k])
			fail_msg("le=%llu: got %llu, expected %llu",
				 (unsigned long long)prom_bounds[k], (unsigned long long)cum[k],
				 (unsigned long long)expect[k]);
	assert_int_equal(histogram__count(h), n);
	histogram__free(h);
}

static void test_buckets_estimated(void **state)
{
	struct histogram *h = histogram__new(NULL, 0);
	uint64_t edges[2], cum[2], lo, hi;

	/* bounds on sub-bucket edges are exact even without bound counters */
	histogram__bucket_range(500, &lo, &hi);
	edges[0] = hi;
	histogram__bucket_range(700, &lo, &hi);
	edges[1] = hi;
	histogram__record(h, edges[0]);
	histogram__record(h, edges[0] + 1);
	histogram__record(h, edges[1]);
	assert_int_equal(histogram__buckets(h, edges, 2, cum), 1);
	assert_int_equal(cum[0], 1);
	assert_int_equal(cum[1], 3);
	/* 1ms is inside a sub-bucket: flagged as an estimate */
	histogram__record(h, 999990);
	edges[0] = 1000000;
	edges[1] = 2000000;
	assert_int_equal(histogram__buckets(h, edges, 2, cum), 0);
	edges[1] = 1;
	assert_int_equal(histogram__buckets(h, edges, 2, cum), -EINVAL);
	histogram__free(h);
}

static void test_merge(void **state)
{
	struct histogram *a = histogram__new(prom_bounds, NPROM);
	struct histogram *b = histogram__new(prom_bounds, NPROM);
	struct histogram *all = histogram__new(prom_bounds, NPROM);
	struct histogram *other = histogram__new(prom_bounds, 4);
	uint64_t ca[NPROM], call[NPROM];
	int i;

	for (i = 0; i < 50000; i++) {
		uint64_t v = gen_lognormal();

		histogram__record(i % 3 ? a : b, v);
		histogram__record(all, v);
	}
	assert_int_equal(histogram__merge(a, b), 0);
	assert_int_equal(histogram__count(a), histogram__count(all));
	assert_int_equal(histogram__sum(a), histogram__sum(all));
	assert_int_equal(histogram__min(a), histogram__min(all));
	assert_int_equal(histogram__max(a), histogram__max(all));
	assert_int_equal(histogram__quantile(a, 0.5), histogram__quantile(all, 0.5));
	assert_int_equal(histogram__quantile(a, 0.99), histogram__quantile(all, 0.99));
	histogram__buckets(a, prom_bounds, NPROM, ca);
	histogram__buckets(all, prom_bounds, NPROM, call);
	assert_memory_equal(ca, call, sizeof(ca));
	assert_int_equal(histogram__merge(a, other), -EINVAL);
	histogram__free(a);
	histogram__free(b);
	histogram__free(all);
	histogram__free(other);
}

static void test_lean(void **state)
{
	struct histogram *lean = histogram__new_lean(prom_bounds, NPROM);
	struct histogram *full = histogram__new(prom_bounds, NPROM);
	uint64_t cl[NPROM], cf[NPROM], q;
	int i;

	assert_non_null(lean);
	assert_true(histogram__lean(lean));
	assert_false(histogram__lean(full));
	assert_true(histogram__size(lean) * 8 < histogram__size(full));
	assert_null(histogram__new_lean(NULL, 0));
	for (i = 0; i < 100000; i++) {
		uint64_t v = gen_lognormal();

		histogram__record(lean, v);
		histogram__record(full, v);
	}
	/* same exact counts and totals */
	assert_int_equal(histogram__buckets(lean, prom_bounds, NPROM, cl), 1);
	assert_int_equal(histogram__buckets(full, prom_bounds, NPROM, cf), 1);
	assert_memory_equal(cl, cf, sizeof(cl));
	assert_int_equal(histogram__sum(lean), histogram__sum(full));
	assert_int_equal(histogram__max(lean), histogram__max(full));
	assert_int_equal(histogram__buckets(lean, prom_bounds, 3, cl), -EINVAL);
	/* interpolated quantile stays inside the right le bucket */
	q = histogram__quantile(lean, 0.5);
	for (i = 0; i < NPROM && cf[i] < 50000; i++)
		;
	assert_true(q <= prom_bounds[i] && (i == 0 || q > prom_bounds[i - 1]));
	assert_int_equal(histogram__quantile(lean, 1), histogram__max(full));
	assert_int_equal(histogram__merge(lean, full), -EINVAL);
	histogram__free(lean);
	histogram__free(full);
}

static void test_bad_bounds(void **state)
{
	const uint64_t bad[] = { 10, 5 };

	assert_null(histogram__new(bad, 2));
	assert_int_equal(errno, EINVAL);
	assert_null(histogram__new(NULL, 3));
	assert_null(histogram__new(prom_bounds, HIST_MAX_BOUNDS + 1));
}

/* First bound >= v by a plain scan: what the bound counters must agree with. */
static int naive_bound(const uint64_t *b, int n, uint64_t v)
{
	int i = 0;

	while (i < n && b[i] < v)
		i++;
	return i;
}

static uint64_t rnd64(void)
{
	return (uint64_t)rand() << 42 ^ (uint64_t)rand() << 21 ^ (uint64_t)rand();
}

static void test_bound_search(void **state)
{
	/* random bound sets (sparse, dense inside one power of two, from 0, up to 2^64 - 1)
	 * and values on, next to and between the bounds: the counter that grows is the one
	 * of the first bound >= v, or none (+Inf) */
	srand(11);
	for (int set = 0; set < 400; set++) {
		uint64_t b[HIST_MAX_BOUNDS], base = set % 4 == 0 ? 0 : rnd64() >> (rand() % 64);
		int n = 1 + rand() % HIST_MAX_BOUNDS, k;
		struct histogram *h;

		for (k = 0; k < n; k++) {
			uint64_t step = set % 3 ? 1 + (rnd64() >> (rand() % 64)) :
						  1 + (uint64_t)(rand() % 3);

			if (k && (base += step) <= b[k - 1])
				break;	/* wrapped: fewer bounds */
			b[k] = base;
		}
		n = k;
		h = histogram__new_lean(b, n);
		assert_non_null(h);
		for (int j = 0; j < 200; j++) {
			uint64_t v = j % 4 == 0 ? rnd64() >> (rand() % 64) :
				     b[rand() % n] + (uint64_t)(rand() % 3) - 1;
			const uint64_t *c;
			uint64_t before[HIST_MAX_BOUNDS];
			int want;

			if (j == 199)
				v = UINT64_MAX;
			want = naive_bound(b, n, v);
			c = histogram__bound_counts(h);
			for (k = 0; k < n; k++)
				before[k] = c[k];
			histogram__record(h, v);
			for (k = 0; k < n; k++)
				assert_int_equal(c[k] - before[k], k == want);
		}
		histogram__free(h);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_quantile_uniform),
		cmocka_unit_test(test_quantile_exponential),
		cmocka_unit_test(test_quantile_lognormal),
		cmocka_unit_test(test_quantile_bimodal),
		cmocka_unit_test(test_quantile_small),
		cmocka_unit_test(test_quantile_edges),
		cmocka_unit_test(test_buckets_exact),
		cmocka_unit_test(test_buckets_estimated),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_lean),
		cmocka_unit_test(test_bad_bounds),
		cmocka_unit_test(test_bound_search),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
