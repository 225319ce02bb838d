// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * In-kernel aggregation, userspace side: label ids out to BPF, the kernel's counts back
 * into metrics. See kagg.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "export/kagg.h"
#include "phasetrace.h"
#include "util/u64map.h"

/* Connections told their label recently: a connection's requests are all counted
 * here until BPF has its label, and each would tell it again (one syscall each). */
#define KAGG_TOLD	4096

_Static_assert(PHASE_SEND == 3 && PHASE_TTFB == 4 && PHASE_RECV == 5,
	       "bpf/agg.bpf.c names the phases by number");

/* What was merged of one kernel histogram so far: its totals at the last sync. */
struct kagg_last {
	uint64_t le[PT_KAGG_MAX_BOUNDS + 1];
	uint64_t sum;
};

struct kagg {
	struct kagg_opts o;
	int ncpu, nle;
	struct pt_kagg_hist *vals;	/* one lookup: a value per possible CPU */
	struct u64map last;		/* (label << 32 | slot) -> struct kagg_last */
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
	k->vals = calloc(k->ncpu, sizeof(*k->vals));
	if (!k->vals || u64map_init(&k->last, 256) || u64map_init(&k->told_map, 2 * KAGG_TOLD)) {
		kagg__free(k);
		return -ENOMEM;
	}
	metrics__on_label(o->metrics, on_label, k);
	*out = k;
	return 0;
}

void kagg__free(struct kagg *k)
{
	size_t it = 0;
	uint64_t key;
	void *v;

	if (!k)
		return;
	if (k->o.metrics)
		metrics__on_label(k->o.metrics, NULL, NULL);
	while (k->last.keys && u64map_next(&k->last, &it, &key, &v))
		free(v);
	u64map_free(&k->last);
	u64map_free(&k->told_map);
	free(k->vals);
	free(k);
}

/* The kernel histogram at key (k->vals, one per CPU): what it gained since last time. */
static void merge_one(struct kagg *k, const struct pt_kagg_key *key)
{
	uint64_t id = (uint64_t)key->label << 32 | key->slot, tot[PT_KAGG_MAX_BOUNDS + 1] = {};
	uint64_t d[PT_KAGG_MAX_BOUNDS + 1], sum = 0, n = 0;
	struct kagg_last *last = u64map_get(&k->last, id);

	if (!last) {
		last = calloc(1, sizeof(*last));
		if (!last || u64map_put(&k->last, id, last)) {
			free(last);
			return;
		}
	}
	for (int c = 0; c < k->ncpu; c++) {
		for (int i = 0; i < k->nle; i++)
			tot[i] += k->vals[c].le[i];
		sum += k->vals[c].sum;
	}
	for (int i = 0; i < k->nle; i++) {
		d[i] = tot[i] - last->le[i];
		n += d[i];
	}
	if (!n && sum == last->sum)
		return;
	if (metrics__kagg_add(k->o.metrics, key->label, key->slot, d, k->nle, sum - last->sum))
		k->st.bad += n;
	else if (key->slot >= PT_KAGG_SLOT_REQ)
		k->st.merged += n;
	memcpy(last->le, tot, sizeof(last->le));
	last->sum = sum;
}

void kagg__sync(struct kagg *k)
{
	struct pt_kagg_key key, next, *prev = NULL;
	int budget = 4 * 16384;	/* a key deleted under us makes get_next_key restart */

	if (!k)
		return;
	while (budget-- > 0 && !bpf_map_get_next_key(k->o.hist_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(k->o.hist_fd, &key, k->vals))
			merge_one(k, &key);
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
