// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * In-kernel aggregation without the kernel: the BPF bucket search (bpf/agg_bucket.h)
 * against the histogram module for every bound and around it, top's sub-bucket index
 * against histogram__bucket_index(), and the kernel's counts
 * merged through metrics__kagg_add() rendering exactly what counting the same requests
 * in userspace renders, folded rows included.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <linux/types.h>
#include "phasetrace.h"
#include "../../bpf/agg_bucket.h"
#include "export/histogram.h"
#include "export/metrics.h"

static uint64_t rng_state;

/* splitmix64: deterministic, so failures reproduce */
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The bucket histogram.c gives v: the bound counter it bumps, or nb for +Inf only. */
static int hist_bucket(const uint64_t *bounds, int nb, uint64_t v)
{
	struct histogram *h = histogram__new_lean(bounds, nb);
	const uint64_t *c;
	int i;

	assert_non_null(h);
	histogram__record(h, v);
	c = histogram__bound_counts(h);
	for (i = 0; i < nb && !c[i]; i++)
		;
	histogram__free(h);
	return i;
}

static void check_value(const uint64_t *bounds, const __u64 *padded, int nb, uint64_t v)
{
	int want = hist_bucket(bounds, nb, v);
	__u32 got = kagg_bucket(padded, v, nb);

	if ((int)got != want)
		fail_msg("value %llu with %d bounds: BPF bucket %u, histogram.c %d",
			 (unsigned long long)v, nb, got, want);
	/* a wider search than nb asks for finds the same: the padding counts for nothing */
	for (__u32 span = 64; span >= (__u32)nb && span; span /= 2)
		if (kagg_search(padded, v, span) != got)
			fail_msg("value %llu with %d bounds: a search over %u finds %u, not %u",
				 (unsigned long long)v, nb, span, kagg_search(padded, v, span), got);
}

static void check_bounds(const uint64_t *bounds, int nb)
{
	__u64 padded[PT_KAGG_MAX_BOUNDS];
	int i;

	kagg_pad_bounds(padded, bounds, nb);
	check_value(bounds, padded, nb, 0);
	check_value(bounds, padded, nb, 1);
	check_value(bounds, padded, nb, KAGG_BOUND_CAP - 1);
	check_value(bounds, padded, nb, KAGG_BOUND_CAP);
	for (i = 0; i < nb; i++) {
		if (bounds[i] > KAGG_BOUND_CAP)
			continue;
		check_value(bounds, padded, nb, bounds[i] - 1);
		check_value(bounds, padded, nb, bounds[i]);
		if (bounds[i] < KAGG_BOUND_CAP)
			check_value(bounds, padded, nb, bounds[i] + 1);
	}
	/* values up to the cap, the domain agg.bpf.c searches (KAGG_MAX_DUR is below) */
	for (i = 0; i < 2000; i++)
		check_value(bounds, padded, nb, rng() >> (2 + rng() % 62));
}

static void test_bucket_default_bounds(void **state)
{
	static const double s[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
				    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
	uint64_t b[16];

	for (int i = 0; i < 16; i++)
		b[i] = (uint64_t)llround(s[i] * 1e9);
	check_bounds(b, 16);
}

static void test_bucket_random_bounds(void **state)
{
	for (int nb = 1; nb <= PT_KAGG_MAX_BOUNDS; nb++) {
		for (int round = 0; round < 20; round++) {
			uint64_t b[PT_KAGG_MAX_BOUNDS], v = 0;

			/* 1 ns .. 1e9 s, as --buckets allows; small steps too */
			for (int i = 0; i < nb; i++) {
				v += 1 + (round % 2 ? rng() % 3 : rng() % 15000000000000ULL);
				b[i] = v;
			}
			check_bounds(b, nb);
		}
	}
}

/* bounds beyond the cap (2^62 ns) count as the cap: values up to it fall the same */
static void test_bucket_bounds_past_cap(void **state)
{
	const uint64_t b[] = { 1000, KAGG_BOUND_CAP - 1, KAGG_BOUND_CAP, KAGG_BOUND_CAP + 1,
			       ~0ULL - 1 };

	for (int nb = 1; nb <= 5; nb++)
		check_bounds(b, nb);
}

/* the status class without a division: status / 100 for every status */
static void test_status_class(void **state)
{
	for (uint32_t st = 0; st <= 0xffff; st++)
		assert_int_equal(kagg_status_class((__u16)st), st >= 100 && st < 600 ? st / 100 : 0);
}

/* top's sub-buckets: every power of two and its neighbours, and at random */
static void test_sub_index(void **state)
{
	for (int b = 0; b < 64; b++) {
		uint64_t p = 1ULL << b;

		for (uint64_t v = p - 2; v <= p + 2; v++)
			assert_int_equal(kagg_sub_index(v), histogram__bucket_index(v));
	}
	assert_int_equal(kagg_sub_index(~0ULL), histogram__bucket_index(~0ULL));
	for (int i = 0; i < 200000; i++) {
		uint64_t v = rng() >> (rng() % 64);

		assert_int_equal(kagg_sub_index(v), histogram__bucket_index(v));
	}
	assert_int_equal(PT_KAGG_NSUB, HIST_NBUCKETS);
}

/* ---- the merge: kernel counts render as userspace counts ---- */

struct labels {
	uint64_t conn[8];
	uint32_t label[8];
	int n;
};

static void on_label(void *ctx, uint64_t conn_id, uint32_t label)
{
	struct labels *l = ctx;

	for (int i = 0; i < l->n; i++)
		if (l->conn[i] == conn_id) {
			assert_int_equal(l->label[i], label);	/* a connection keeps its id */
			return;
		}
	assert_true(l->n < 8);
	l->conn[l->n] = conn_id;
	l->label[l->n++] = label;
}

static uint32_t label_of(const struct labels *l, uint64_t conn_id)
{
	for (int i = 0; i < l->n; i++)
		if (l->conn[i] == conn_id)
			return l->label[i];
	fail_msg("no label for connection %llu", (unsigned long long)conn_id);
	return 0;
}

/* A keep-alive server request on connection conn (local port 8000 + conn). */
static void make_request(struct request *r, uint64_t conn, uint64_t ttfb, uint64_t send,
			 uint16_t status)
{
	memset(r, 0, sizeof(*r));
	r->role = PT_ROLE_SERVER;
	snprintf(r->comm, sizeof(r->comm), "srv");
	r->local.family = 2;
	r->local.port = 8000 + conn;
	r->conn_id = conn;
	r->status = status;
	r->start_ns = 1000;
	r->nphases = 2;
	r->phases[0] = (struct phase){ .id = PHASE_TTFB, .start_ns = 1000, .dur_ns = ttfb };
	r->phases[1] = (struct phase){ .id = PHASE_SEND, .start_ns = 1000 + ttfb, .dur_ns = send };
	r->dur_ns = ttfb + send;
}

/* What bpf/agg.bpf.c adds for one value: one count in its bucket. */
static void kernel_add(struct metrics *m, uint32_t label, uint32_t slot, uint64_t v)
{
	__u64 padded[PT_KAGG_MAX_BOUNDS];
	uint64_t counts[PT_KAGG_MAX_BOUNDS + 1] = {};
	const uint64_t *b;
	int nb;
	__u32 k;

	b = metrics__bounds_ns(m, &nb);
	kagg_pad_bounds(padded, b, nb);
	k = kagg_bucket(padded, v, nb);
	assert_true(k <= (__u32)nb);	/* the +Inf bucket at most, as agg.bpf.c relies on */
	counts[k] = 1;
	assert_int_equal(metrics__kagg_add(m, label, slot, counts, nb + 1, v), 0);
}

/* early: each connection's label told as its first record arrives (metrics__label_early(),
 * which must count nothing, folds included), before that request is counted */
static void merge_renders_the_same(bool early)
{
	/* max_peers 2: the third connection's port folds into peer="other" */
	struct metrics_opts mo = { .max_peers = 2 };
	struct metrics *user = metrics__new(&mo), *kern = metrics__new(&mo);
	struct labels l = { .n = 0 };
	struct request r;
	char *a, *b;
	size_t alen, blen;

	assert_non_null(user);
	assert_non_null(kern);
	metrics__on_label(kern, on_label, &l);
	for (uint64_t conn = 1; conn <= 3; conn++) {
		for (int i = 0; i < 500; i++) {
			uint64_t ttfb = rng() % 20000000, send = rng() % 3000000;
			uint16_t status = i % 7 ? 200 : 503;

			make_request(&r, conn, ttfb, send, status);
			metrics__on_request(user, &r);
			if (!i) {	/* the first request of a connection crosses */
				if (early) {
					metrics__label_early(kern, &r);
					assert_int_equal(l.n, conn);
				}
				metrics__on_request(kern, &r);
				continue;
			}
			kernel_add(kern, label_of(&l, conn), PHASE_TTFB, ttfb);
			kernel_add(kern, label_of(&l, conn), PHASE_SEND, send);
			kernel_add(kern, label_of(&l, conn), PT_KAGG_SLOT_REQ + status / 100,
				   ttfb + send);
		}
	}
	assert_int_equal(metrics__kagg_add(kern, 0, PHASE_TTFB, (uint64_t[17]){ 0 }, 17, 0),
			 -EINVAL);
	assert_int_equal(metrics__render(user, &a, &alen), 0);
	assert_int_equal(metrics__render(kern, &b, &blen), 0);
	assert_non_null(strstr(a, "phasetrace_peers_folded_total 500"));
	assert_string_equal(a, b);
	free(a);
	free(b);
	metrics__free(user);
	metrics__free(kern);
}

static void test_merge_renders_the_same(void **state)
{
	merge_renders_the_same(false);
}

static void test_merge_early_labels(void **state)
{
	merge_renders_the_same(true);
}

/* A connection's last request (a close ended it, or its connect failed) is counted, but
 * its label is not told: no request would use it, and it would sit in BPF's LRU. */
static void test_last_request_not_labelled(void **state)
{
	struct metrics_opts mo = { 0 };
	struct metrics *m = metrics__new(&mo);
	struct labels l = { .n = 0 };
	const uint8_t ends[] = { PT_END_CLOSE, PT_END_ERROR, PT_END_IDLE, PT_END_NEXT };
	struct request r;
	char *out;
	size_t len;

	assert_non_null(m);
	metrics__on_label(m, on_label, &l);
	for (int i = 0; i < 4; i++) {
		make_request(&r, 10 + i, 1000000, 1000, 200);
		r.end_reason = ends[i];
		metrics__label_early(m, &r);
		metrics__on_request(m, &r);
		/* told from the first that leaves its connection open */
		assert_int_equal(l.n, i < 2 ? 0 : i - 1);
	}
	assert_int_equal(l.conn[0], 12);
	assert_int_equal(l.conn[1], 13);
	assert_int_equal(metrics__render(m, &out, &len), 0);
	/* each counted once, told or not */
	for (int i = 0; i < 4; i++) {
		char line[160];

		snprintf(line, sizeof(line), "phasetrace_request_duration_seconds_count{role=\"server\","
			 "comm=\"srv\",peer=\"%d\",status_class=\"2xx\"} 1\n", 8010 + i);
		assert_non_null(strstr(out, line));
	}
	assert_int_equal(pt_end_is_last(PT_END_CLOSE) + pt_end_is_last(PT_END_ERROR) +
			 pt_end_is_last(PT_END_IDLE) + pt_end_is_last(PT_END_NEXT), 2);
	free(out);
	metrics__free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_default_bounds),
		cmocka_unit_test(test_bucket_random_bounds),
		cmocka_unit_test(test_bucket_bounds_past_cap),
		cmocka_unit_test(test_status_class),
		cmocka_unit_test(test_sub_index),
		cmocka_unit_test(test_merge_renders_the_same),
		cmocka_unit_test(test_merge_early_labels),
		cmocka_unit_test(test_last_request_not_labelled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
