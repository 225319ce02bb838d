// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Files already looked at, bounded and evicting; see seen_files.h. */
#include <stdlib.h>
#include <string.h>

#include "attach/seen_files.h"

struct seen_files {
	struct seen_file *ents;
	int n, max, max_probed;
	uint64_t clock;
	struct seen_counts c;
};

struct seen_files *seen_files__new(int max_entries, int max_probed)
{
	struct seen_files *sf = calloc(1, sizeof(*sf));

	if (!sf || max_entries <= 0)
		goto fail;
	sf->ents = calloc(max_entries, sizeof(*sf->ents));
	if (!sf->ents)
		goto fail;
	sf->max = max_entries;
	sf->max_probed = max_probed < max_entries ? max_probed : max_entries - 1;
	return sf;
fail:
	free(sf);
	return NULL;
}

void seen_files__free(struct seen_files *sf)
{
	if (!sf)
		return;
	free(sf->ents);
	free(sf);
}

static bool key_eq(const struct file_key *a, const struct file_key *b)
{
	return a->dev == b->dev && a->ino == b->ino;
}

struct seen_file *seen_files__find(struct seen_files *sf, const struct file_key *key)
{
	for (int i = 0; i < sf->n; i++) {
		if (key_eq(&sf->ents[i].key, key)) {
			sf->ents[i].used = ++sf->clock;
			return &sf->ents[i];
		}
	}
	return NULL;
}

struct seen_file *seen_files__find_probed(struct seen_files *sf, const struct file_key *kid)
{
	for (int i = 0; i < sf->n; i++)
		if (sf->ents[i].state == SEEN_PROBED && key_eq(&sf->ents[i].kid, kid))
			return &sf->ents[i];
	return NULL;
}

/* The least recently used entry without probes. */
static struct seen_file *victim(struct seen_files *sf)
{
	struct seen_file *v = NULL;

	for (int i = 0; i < sf->n; i++) {
		struct seen_file *e = &sf->ents[i];

		if (e->state != SEEN_PROBED && (!v || e->used < v->used))
			v = e;
	}
	return v;
}

struct seen_file *seen_files__add(struct seen_files *sf, const struct file_key *key,
				  const struct file_key *kid)
{
	struct seen_file *e;

	if (sf->n < sf->max) {
		e = &sf->ents[sf->n++];
	} else {
		e = victim(sf);
		if (!e)
			return NULL;
		sf->c.evicted++;
	}
	memset(e, 0, sizeof(*e));
	e->key = *key;
	e->kid = *kid;
	e->state = SEEN_PLAIN;
	e->used = ++sf->clock;
	return e;
}

bool seen_files__may_probe(struct seen_files *sf)
{
	if (sf->c.probed < sf->max_probed)
		return true;
	sf->c.refused++;
	return false;
}

void seen_files__set_state(struct seen_files *sf, struct seen_file *f, enum seen_state st)
{
	if (f->state == SEEN_PROBED)
		sf->c.probed--;
	if (st == SEEN_PROBED)
		sf->c.probed++;
	f->state = st;
}

void seen_files__counts(const struct seen_files *sf, struct seen_counts *out)
{
	*out = sf->c;
	out->entries = sf->n;
}
