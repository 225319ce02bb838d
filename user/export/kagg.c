// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * In-kernel aggregation, userspace side: label ids out to BPF, the kernel's counts back
 * into metrics. See kagg.h.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "export/histogram.h"
#include "export/kagg.h"
#include "phasetrace.h"
#include "util/u64map.h"

/* Connections told their label recently: a connection's requests are all counted
 * here until BPF has its label, and each would tell it again (one syscall each). */
#define KAGG_TOLD	4096

_Static_assert(PHASE_SEND == 3 && PHASE_TTFB == 4 && PHASE_RECV == 5,
	       "bpf/agg.bpf.c names the phases by number");

_Static_assert(PT_KAGG_SLOT_TOTAL == METRICS_TOTAL && PT_KAGG_NSUB == HIST_NBUCKETS,
	       "bpf/agg.bpf.c's top histograms are the metrics' interval histograms");

_Static_assert(PT_KAGG_PH_FIRST == PHASE_SEND && PT_KAGG_PH_FIRST + PT_KAGG_NPH <= METRICS_NPHASES &&
	       PT_KAGG_SLOT_REQ > METRICS_NPHASES && PT_KAGG_NSLOTS < 256,
	       "a kagg_hist entry's phases are metrics phases, its slots fit in 8 bits");

/*
 * One kernel table: a per-CPU value of stride u64s holding nsub histograms, the i-th at
 * sub_off[i], each of n counters at cnt_off and a sum at sum_off (offsets in u64s). The
 * i-th histogram of the entry with key slot s adds to slot s (i = 0), else to phase
 * PT_KAGG_PH_FIRST + i - 1. last: (label << 32 | slot << 8 | i) -> the n + 1 totals
 * (counters, then the sum) merged so far.
 */
struct kagg_table {
	int fd;
	size_t stride, cnt_off, sum_off;
	size_t sub_off[1 + PT_KAGG_NPH];
	int nsub, n;
	uint64_t *vals;			/* one lookup: a value per possible CPU */
	struct u64map last;
	int (*add)(struct metrics *m, uint32_t label, uint32_t slot, const uint64_t *counts,
		   int n, uint64_t sum);
};

struct kagg {
	struct kagg_opts o;
	int ncpu, nle;
	struct kagg_table hist, iv;	/* /metrics; top's interval quantiles (fd -1: none) */
	uint64_t iv_start;		/* the metrics interval kagg_slowest belongs to */
	struct u64map told_map;		/* conn_id -> 1 */
	uint64_t told[KAGG_TOLD];	/* ring of the conn_ids in told_map */
	int told_head;
	struct kagg_stats st;
};

/* metrics' callback, under its lock: BPF learns the label of the connection once. */
static void on_label(void *ctx, uint64_t conn_id, uint32_t label)
{
	struct kagg *k = ctx;
	uint64_t *slot = &k->told[k->told_head];

	if (u64map_get(&k->told_map, conn_id))
		return;
	if (bpf_map_update_elem(k->o.labels_fd, &conn_id, &label, BPF_ANY))
		return;
	if (*slot)
		u64map_del(&k->told_map, *slot);
	*slot = conn_id;
	if (u64map_put(&k->told_map, conn_id, (void *)1))
		*slot = 0;
	k->told_head = (k->told_head + 1) % KAGG_TOLD;
	k->st.labels++;
}

static int table_init(struct kagg_table *t, int ncpu, int fd, size_t size, size_t cnt_off,
		      size_t sum_off, int n)
{
	t->fd = fd;
	t->stride = size / 8;
	t->cnt_off = cnt_off / 8;
	t->sum_off = sum_off / 8;
	t->n = n;
	t->nsub = 1;
	if (fd < 0)
		return 0;
	t->vals = calloc(ncpu, size);
	if (!t->vals || u64map_init(&t->last, 256))
		return -ENOMEM;
	return 0;
}

/* kagg_hist: struct pt_kagg_entry, the request's histogram and its phases'. */
static int hist_init(struct kagg_table *t, int ncpu, int fd, int n)
{
	t->sub_off[0] = offsetof(struct pt_kagg_entry, req) / 8;
	for (int i = 0; i < PT_KAGG_NPH; i++)
		t->sub_off[1 + i] = offsetof(struct pt_kagg_entry, ph[i]) / 8;
	if (table_init(t, ncpu, fd, sizeof(struct pt_kagg_entry),
		       offsetof(struct pt_kagg_hist, le), offsetof(struct pt_kagg_hist, sum), n))
		return -ENOMEM;
	t->nsub = 1 + PT_KAGG_NPH;
	return 0;
}

static void table_free(struct kagg_table *t)
{
	size_t it = 0;
	uint64_t key;
	void *v;

	while (t->last.keys && u64map_next(&t->last, &it, &key, &v))
		free(v);
	u64map_free(&t->last);
	free(t->vals);
}

int kagg__new(struct kagg **out, const struct kagg_opts *o)
{
	struct kagg *k = calloc(1, sizeof(*k));
	int nb;

	*out = NULL;
	if (!k)
		return -ENOMEM;
	k->o = *o;
	metrics__bounds_ns(o->metrics, &nb);
	k->nle = nb + 1;
	k->ncpu = libbpf_num_possible_cpus();
	if (k->ncpu <= 0 || k->nle > PT_KAGG_MAX_BOUNDS + 1) {
		int err = k->ncpu < 0 ? k->ncpu : -EINVAL;

		free(k);
		return err;
	}
	k->hist.add = metrics__kagg_add;
	k->iv.add = metrics__kagg_add_iv;
	if (hist_init(&k->hist, k->ncpu, o->hist_fd, k->nle) ||
	    table_init(&k->iv, k->ncpu, o->iv_fd, sizeof(struct pt_kagg_iv),
		       offsetof(struct pt_kagg_iv, b), offsetof(struct pt_kagg_iv, sum),
		       PT_KAGG_NSUB) ||
	    u64map_init(&k->told_map, 2 * KAGG_TOLD)) {
		kagg__free(k);
		return -ENOMEM;
	}
	metrics__on_label(o->metrics, on_label, k);
	*out = k;
	return 0;
}

bool kagg__told(struct kagg *k, uint64_t conn_id)
{
	return u64map_get(&k->told_map, conn_id) != NULL;
}

void kagg__free(struct kagg *k)
{
	if (!k)
		return;
	if (k->o.metrics)
		metrics__on_label(k->o.metrics, NULL, NULL);
	table_free(&k->hist);
	table_free(&k->iv);
	u64map_free(&k->told_map);
	free(k);
}

/* The i-th histogram of the kernel entry at key (t->vals, one per CPU): what it gained
 * since last time. */
static void merge_sub(struct kagg *k, struct kagg_table *t, const struct pt_kagg_key *key, int i)
{
	uint32_t slot = i ? (uint32_t)(PT_KAGG_PH_FIRST + i - 1) : key->slot;
	uint64_t id = (uint64_t)key->label << 32 | key->slot << 8 | i, tot[PT_KAGG_NSUB + 1] = {};
	uint64_t d[PT_KAGG_NSUB + 1], n = 0;
	uint64_t *last = u64map_get(&t->last, id);

	if (!last) {
		last = calloc(t->n + 1, sizeof(*last));
		if (!last || u64map_put(&t->last, id, last)) {
			free(last);
			return;
		}
	}
	for (int c = 0; c < k->ncpu; c++) {
		const uint64_t *v = t->vals + c * t->stride + t->sub_off[i];

		for (int j = 0; j < t->n; j++)
			tot[j] += v[t->cnt_off + j];
		tot[t->n] += v[t->sum_off];
	}
	for (int j = 0; j <= t->n; j++) {
		d[j] = tot[j] - last[j];
		n += j < t->n ? d[j] : 0;
	}
	if (!n && !d[t->n])
		return;
	if (t->add(k->o.metrics, key->label, slot, d, t->n, d[t->n]))
		k->st.bad += n;
	else if (t == &k->hist && slot >= PT_KAGG_SLOT_REQ)
		k->st.merged += n;
	memcpy(last, tot, (t->n + 1) * sizeof(*last));
}

static void sync_table(struct kagg *k, struct kagg_table *t)
{
	struct pt_kagg_key key, next, *prev = NULL;
	int budget = 4 * 16384;	/* a key deleted under us makes get_next_key restart */

	while (t->fd >= 0 && budget-- > 0 && !bpf_map_get_next_key(t->fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(t->fd, &key, t->vals))
			continue;
		for (int i = 0; i < t->nsub; i++)
			merge_sub(k, t, &key, i);
	}
}

void kagg__sync(struct kagg *k)
{
	uint64_t start;

	if (!k)
		return;
	sync_table(k, &k->hist);
	if (k->iv.fd < 0 || !k->o.slowest)
		return;
	sync_table(k, &k->iv);
	/* a new interval of top: its slowest request must cross again */
	start = metrics__interval_start(k->o.metrics);
	if (start != k->iv_start) {
		k->iv_start = start;
		*k->o.slowest = 0;
	}
}

void kagg__tick_cb(void *ctx, uint64_t now)
{
	kagg__sync(ctx);
}

void kagg__stats(const struct kagg *k, struct kagg_stats *st)
{
	*st = k ? k->st : (struct kagg_stats){ 0 };
}
