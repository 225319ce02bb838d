// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include "util/u64map.h"

#define TOMB UINT64_MAX

static size_t slot(uint64_t k, size_t cap)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k & (cap - 1);
}

int u64map_init(struct u64map *m, size_t cap)
{
	size_t c = 16;

	while (c < cap * 2)
		c <<= 1;
	m->keys = calloc(c, sizeof(*m->keys));
	m->vals = calloc(c, sizeof(*m->vals));
	if (!m->keys || !m->vals) {
		u64map_free(m);
		return -ENOMEM;
	}
	m->cap = c;
	m->len = m->used = 0;
	return 0;
}

void u64map_free(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->len = m->used = 0;
}

static size_t find(const struct u64map *m, uint64_t key)
{
	size_t i = slot(key, m->cap);

	while (m->keys[i]) {
		if (m->keys[i] == key)
			return i;
		i = (i + 1) & (m->cap - 1);
	}
	return (size_t)-1;
}

/* 0 and TOMB mark free slots: no entry has them (they come from records: hostile) */
static int reserved(uint64_t key)
{
	return !key || key == TOMB;
}

void *u64map_get(const struct u64map *m, uint64_t key)
{
	size_t i;

	if (!m->cap || reserved(key))
		return NULL;
	i = find(m, key);
	return i == (size_t)-1 ? NULL : m->vals[i];
}

static int grow(struct u64map *m)
{
	struct u64map n;
	size_t i;

	if (u64map_init(&n, m->len * 2 + 8))
		return -ENOMEM;
	for (i = 0; i < m->cap; i++)
		if (m->keys[i] && m->keys[i] != TOMB)
			u64map_put(&n, m->keys[i], m->vals[i]);
	u64map_free(m);
	*m = n;
	return 0;
}

int u64map_put(struct u64map *m, uint64_t key, void *val)
{
	size_t i;

	if (reserved(key))
		return -EINVAL;
	if (!m->cap || (m->used + 1) * 4 > m->cap * 3) {
		if (grow(m))
			return -ENOMEM;
	}
	i = find(m, key);
	if (i != (size_t)-1) {
		m->vals[i] = val;
		return 0;
	}
	i = slot(key, m->cap);
	while (m->keys[i] && m->keys[i] != TOMB)
		i = (i + 1) & (m->cap - 1);
	if (!m->keys[i])
		m->used++;
	m->keys[i] = key;
	m->vals[i] = val;
	m->len++;
	return 0;
}

void *u64map_del(struct u64map *m, uint64_t key)
{
	size_t i;
	void *v;

	if (!m->cap || reserved(key))
		return NULL;
	i = find(m, key);
	if (i == (size_t)-1)
		return NULL;
	v = m->vals[i];
	m->keys[i] = TOMB;
	m->vals[i] = NULL;
	m->len--;
	return v;
}

int u64map_next(const struct u64map *m, size_t *it, uint64_t *key, void **val)
{
	while (*it < m->cap) {
		size_t i = (*it)++;

		if (m->keys[i] && m->keys[i] != TOMB) {
			*key = m->keys[i];
			*val = m->vals[i];
			return 1;
		}
	}
	return 0;
}
