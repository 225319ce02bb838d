/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * util/: helpers every stage uses: log (operator messages), sanitize (terminal-safe
 * strings), u64map (a hash map), cpulist (sysfs CPU lists).
 *
 * u64map: a small open-addressing hash map from u64 keys to pointers. Keys 0 and
 * UINT64_MAX mark its free slots: no entry has them (put refuses them, -EINVAL).
 */
#ifndef PT_U64MAP_H
#define PT_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map {
	uint64_t *keys;		/* 0 = empty, UINT64_MAX = deleted */
	void **vals;
	size_t cap;		/* power of two */
	size_t len;
	size_t used;		/* len + tombstones */
};

int u64map_init(struct u64map *m, size_t cap);
void u64map_free(struct u64map *m);
void *u64map_get(const struct u64map *m, uint64_t key);
/* 0, -ENOMEM, or -EINVAL for a reserved key; replaces an existing value */
int u64map_put(struct u64map *m, uint64_t key, void *val);
void *u64map_del(struct u64map *m, uint64_t key);
/* Iterate: for (size_t i = 0; u64map_next(m, &i, &k, &v); ) */
int u64map_next(const struct u64map *m, size_t *it, uint64_t *key, void **val);

#endif
