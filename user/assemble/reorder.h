/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The assembler's reorder queue: items taken out in the order of (key, seq), key an end
 * time in ns, seq unique (arrival order). Unique (key, seq) make the order exact: it does
 * not depend on how the queue is built.
 *
 * Buckets of REORDER_BUCKET_NS (a ring of REORDER_NBUCKETS from the oldest one that may
 * hold items) take nearly every item in O(1): appended, and sorted once (a few items each)
 * when their bucket becomes the oldest. What falls outside the ring (a late record whose
 * bucket is already being taken, one far ahead) goes to a 4-ary min-heap; the next item is
 * the lesser of the oldest bucket's head and the heap's top.
 */
#ifndef PT_REORDER_H
#define PT_REORDER_H

#include <stdbool.h>
#include <stdint.h>

#define REORDER_SHIFT		17	/* a bucket: 2^17 ns, 131 us */
#define REORDER_BUCKET_NS	(1ULL << REORDER_SHIFT)
#define REORDER_NBUCKETS	4096	/* power of two: the ring spans 537 ms */

struct reorder_ent {
	uint64_t key, seq;
	void *p;
};

struct reorder_bucket {
	struct reorder_ent *v;
	uint32_t head, len, cap;
	bool ready;	/* sorted for taking: appends that would unsort it go to the heap */
};

struct reorder {
	struct reorder_bucket *b;	/* REORDER_NBUCKETS */
	uint64_t base;		/* bucket number (key >> REORDER_SHIFT) of the oldest in use */
	uint32_t nring;		/* items in the buckets */
	struct reorder_ent *heap;
	uint32_t nheap, capheap;
	const struct reorder_ent *min;	/* the last peek's answer, NULL: to be found */
	uint64_t to_heap;	/* items that went to the heap (tests, tuning) */
};

int reorder_init(struct reorder *q);	/* 0 or -ENOMEM */
void reorder_free(struct reorder *q);	/* the storage, not the items */
/* 0, or -ENOMEM (the item is not queued). */
int reorder_push(struct reorder *q, uint64_t key, uint64_t seq, void *p);
/* The least item, NULL if none; valid until the next push or take. */
const struct reorder_ent *reorder_peek(struct reorder *q);
/* Take the least item (NULL if none). */
void *reorder_take(struct reorder *q);
static inline uint32_t reorder_len(const struct reorder *q)
{
	return q->nring + q->nheap;
}

#endif
