// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The assembler's reorder queue (assemble/reorder.h): items come out in (key, seq) order
 * whatever the buckets and the heap hold; late items, items beyond the ring, items into a
 * bucket being taken from; a random model check against a plain minimum search.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "assemble/reorder.h"

#define B	REORDER_BUCKET_NS
#define T0	(1000ULL * 1000000000ULL)	/* an arbitrary monotonic origin */

static void *tag(uint64_t n)
{
	return (void *)(uintptr_t)(n + 1);
}

static void expect_take(struct reorder *q, uint64_t key, uint64_t seq)
{
	const struct reorder_ent *e = reorder_peek(q);

	assert_non_null(e);
	assert_int_equal(e->key, key);
	assert_int_equal(e->seq, seq);
	assert_ptr_equal(reorder_take(q), tag(seq));
}

static void test_order_within_and_across_buckets(void **state)
{
	/* one bucket out of order, equal keys (arrival order), the next buckets */
	static const uint64_t keys[] = { T0 + 5, T0 + 1, T0 + 5, T0 + B + 3, T0 + 2, T0 + B,
					 T0 + 3 * B, T0 + 1 };
	static const int order[] = { 1, 7, 4, 0, 2, 5, 3, 6 };
	struct reorder q;

	(void)state;
	assert_int_equal(reorder_init(&q), 0);
	assert_null(reorder_peek(&q));
	assert_null(reorder_take(&q));
	for (int i = 0; i < 8; i++)
		assert_int_equal(reorder_push(&q, keys[i], i, tag(i)), 0);
	assert_int_equal(reorder_len(&q), 8);
	for (int i = 0; i < 8; i++)
		expect_take(&q, keys[order[i]], order[i]);
	assert_int_equal(reorder_len(&q), 0);
	assert_int_equal(q.to_heap, 0);	/* all in buckets */
	reorder_free(&q);
}

static void test_late_and_far_items_go_to_the_heap(void **state)
{
	struct reorder q;

	(void)state;
	assert_int_equal(reorder_init(&q), 0);
	reorder_push(&q, T0 + 10, 0, tag(0));
	reorder_push(&q, T0 + 30, 1, tag(1));
	expect_take(&q, T0 + 10, 0);	/* the bucket is being taken from */
	/* into that bucket, before its next item: the heap, still next */
	reorder_push(&q, T0 + 20, 2, tag(2));
	/* older than the ring's start (the release window passed it) */
	reorder_push(&q, T0 - REORDER_NBUCKETS * B, 3, tag(3));
	/* beyond the ring's end */
	reorder_push(&q, T0 + 2 * REORDER_NBUCKETS * B, 4, tag(4));
	/* into the bucket being taken from, after its last item: stays in the bucket */
	reorder_push(&q, T0 + 40, 5, tag(5));
	assert_int_equal(q.to_heap, 3);
	expect_take(&q, T0 - REORDER_NBUCKETS * B, 3);
	expect_take(&q, T0 + 20, 2);
	expect_take(&q, T0 + 30, 1);
	expect_take(&q, T0 + 40, 5);
	expect_take(&q, T0 + 2 * REORDER_NBUCKETS * B, 4);
	assert_null(reorder_peek(&q));
	/* empty: the ring starts again at the next item, wherever it is */
	reorder_push(&q, T0 + 5 * REORDER_NBUCKETS * B, 6, tag(6));
	reorder_push(&q, T0 + 5 * REORDER_NBUCKETS * B - 7 * B, 7, tag(7));
	assert_int_equal(q.to_heap, 3);
	expect_take(&q, T0 + 5 * REORDER_NBUCKETS * B - 7 * B, 7);
	expect_take(&q, T0 + 5 * REORDER_NBUCKETS * B, 6);
	reorder_free(&q);
}

static void test_large_bucket(void **state)
{
	/* more items in one bucket than the insertion sort takes, in reverse order */
	struct reorder q;

	(void)state;
	assert_int_equal(reorder_init(&q), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(reorder_push(&q, T0 + 1000 - i / 2, i, tag(i)), 0);
	for (int i = 0; i < 1000; i++) {
		int seq = (999 - i) / 2 * 2 + i % 2;	/* keys ascend; equal keys: arrival order */

		expect_take(&q, T0 + 1000 - seq / 2, seq);
	}
	reorder_free(&q);
}

/* Random pushes and takes against the minimum found by a search over what is held. */
static void test_random_model(void **state)
{
	enum { N = 40000 };
	static uint64_t key[N];
	static bool held[N];
	struct reorder q;
	uint64_t now = T0, seq = 0;
	uint32_t rnd = 12345, nheld = 0, lo = 0;

	(void)state;
	assert_int_equal(reorder_init(&q), 0);
	while (seq < N || nheld) {
		rnd = rnd * 1103515245 + 12345;
		if (seq < N && (rnd >> 16) % 100 < 55) {
			uint32_t r = (rnd >> 8) % 1000;
			/* mostly a little ahead, some late, a few far ahead or far behind */
			uint64_t k = r < 900 ? now + (r % 97) * 7919 : r < 960 ? now - r * 100000 :
				     r < 990 ? now + (uint64_t)r * 3000000 : now - (uint64_t)r * 9000000;

			key[seq] = k;
			held[seq] = true;
			nheld++;
			assert_int_equal(reorder_push(&q, k, seq, tag(seq)), 0);
			seq++;
			now += 3000;
			continue;
		}
		if (!nheld)
			continue;
		uint64_t best = UINT64_MAX;

		while (!held[lo])
			lo++;
		for (uint64_t i = lo; i < seq; i++)
			if (held[i] && (best == UINT64_MAX || key[i] < key[best]))
				best = i;
		expect_take(&q, key[best], best);
		held[best] = false;
		nheld--;
	}
	assert_true(q.to_heap > 0);
	assert_true(q.to_heap < N / 5);
	reorder_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_within_and_across_buckets),
		cmocka_unit_test(test_late_and_far_items_go_to_the_heap),
		cmocka_unit_test(test_large_bucket),
		cmocka_unit_test(test_random_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
