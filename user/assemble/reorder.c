// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The reorder queue: time buckets and a heap for the rest; see reorder.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "assemble/reorder.h"

#define MASK		(REORDER_NBUCKETS - 1)
/* a queue that ran empty starts again this many buckets before its next item (67 ms):
 * items a little older than that one still find their bucket */
#define MARGIN		(REORDER_NBUCKETS / 8)
#define BUCKET_KEEP	64	/* a drained bucket keeps its array up to this many items */
#define SORT_SMALL	64	/* insertion sort up to this many, qsort above */
#define HEAP_D		4

static bool ent_less(const struct reorder_ent *x, const struct reorder_ent *y)
{
	return x->key < y->key || (x->key == y->key && x->seq < y->seq);
}

static int ent_cmp(const void *x, const void *y)
{
	return ent_less(x, y) ? -1 : ent_less(y, x);
}

int reorder_init(struct reorder *q)
{
	memset(q, 0, sizeof(*q));
	q->b = calloc(REORDER_NBUCKETS, sizeof(*q->b));
	return q->b ? 0 : -ENOMEM;
}

void reorder_free(struct reorder *q)
{
	for (int i = 0; q->b && i < REORDER_NBUCKETS; i++)
		free(q->b[i].v);
	free(q->b);
	free(q->heap);
	memset(q, 0, sizeof(*q));
}

/* ---- the heap: four children per node, half the levels of a binary heap ---- */

static int heap_push(struct reorder *q, struct reorder_ent e)
{
	uint32_t i;

	if (q->nheap == q->capheap) {
		uint32_t cap = q->capheap ? 2 * q->capheap : 1024;
		struct reorder_ent *n = realloc(q->heap, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		q->heap = n;
		q->capheap = cap;
	}
	q->to_heap++;
	i = q->nheap++;
	while (i) {
		uint32_t up = (i - 1) / HEAP_D;

		if (!ent_less(&e, &q->heap[up]))
			break;
		q->heap[i] = q->heap[up];
		i = up;
	}
	q->heap[i] = e;
	return 0;
}

static void heap_pop(struct reorder *q)
{
	struct reorder_ent last = q->heap[--q->nheap];
	uint32_t i = 0, n = q->nheap;

	while (1) {
		uint32_t c = HEAP_D * i + 1, m = c, end = c + HEAP_D < n ? c + HEAP_D : n;

		if (c >= n)
			break;
		for (uint32_t k = c + 1; k < end; k++)
			if (ent_less(&q->heap[k], &q->heap[m]))
				m = k;
		if (!ent_less(&q->heap[m], &last))
			break;
		q->heap[i] = q->heap[m];
		i = m;
	}
	if (n)
		q->heap[i] = last;
}

/* ---- buckets ---- */

static int bucket_append(struct reorder_bucket *bk, struct reorder_ent e)
{
	if (bk->len == bk->cap && bk->head) {	/* taken from: move the rest down */
		memmove(bk->v, bk->v + bk->head, (bk->len - bk->head) * sizeof(*bk->v));
		bk->len -= bk->head;
		bk->head = 0;
	}
	if (bk->len == bk->cap) {
		uint32_t cap = bk->cap ? 2 * bk->cap : 16;
		struct reorder_ent *v = realloc(bk->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		bk->v = v;
		bk->cap = cap;
	}
	bk->v[bk->len++] = e;
	return 0;
}

int reorder_push(struct reorder *q, uint64_t key, uint64_t seq, void *p)
{
	struct reorder_ent e = { .key = key, .seq = seq, .p = p };
	uint64_t bn = key >> REORDER_SHIFT;
	struct reorder_bucket *bk;

	q->min = NULL;	/* the arrays may move */
	if (!q->nring)	/* every bucket is empty: start the ring at this item */
		q->base = bn > MARGIN ? bn - MARGIN : 0;
	if (bn < q->base || bn - q->base >= REORDER_NBUCKETS)
		return heap_push(q, e);
	bk = &q->b[bn & MASK];
	if (bk->ready && ent_less(&e, &bk->v[bk->len - 1]))
		return heap_push(q, e);	/* its bucket is sorted and being taken from */
	if (bucket_append(bk, e))
		return -ENOMEM;
	q->nring++;
	return 0;
}

static void sort_ents(struct reorder_ent *v, uint32_t n)
{
	if (n > SORT_SMALL) {
		qsort(v, n, sizeof(*v), ent_cmp);
		return;
	}
	for (uint32_t i = 1; i < n; i++) {
		struct reorder_ent t = v[i];
		uint32_t j = i;

		while (j && ent_less(&t, &v[j - 1])) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = t;
	}
}

/* The oldest bucket that holds items, sorted; NULL if the buckets are empty. */
static struct reorder_bucket *first_bucket(struct reorder *q)
{
	struct reorder_bucket *bk;

	if (!q->nring)
		return NULL;
	/* every item is in [base, base + REORDER_NBUCKETS): this ends */
	for (bk = &q->b[q->base & MASK]; bk->head == bk->len; bk = &q->b[q->base & MASK])
		q->base++;
	if (!bk->ready) {
		sort_ents(bk->v + bk->head, bk->len - bk->head);
		bk->ready = true;
	}
	return bk;
}

const struct reorder_ent *reorder_peek(struct reorder *q)
{
	struct reorder_bucket *bk;
	const struct reorder_ent *best;

	if (q->min)
		return q->min;
	bk = first_bucket(q);
	best = bk ? &bk->v[bk->head] : NULL;
	if (q->nheap && (!best || ent_less(&q->heap[0], best)))
		best = &q->heap[0];
	q->min = best;
	return best;
}

void *reorder_take(struct reorder *q)
{
	const struct reorder_ent *e = reorder_peek(q);
	struct reorder_bucket *bk;
	void *p;

	if (!e)
		return NULL;
	q->min = NULL;
	p = e->p;
	if (e == q->heap) {
		heap_pop(q);
		return p;
	}
	bk = &q->b[q->base & MASK];
	q->nring--;
	if (++bk->head < bk->len)
		return p;
	bk->head = bk->len = 0;
	bk->ready = false;
	if (bk->cap > BUCKET_KEEP) {
		free(bk->v);
		bk->v = NULL;
		bk->cap = 0;
	}
	return p;
}
